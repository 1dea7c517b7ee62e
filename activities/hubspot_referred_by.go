package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/referral"
)

// Who referred whom, inside HubSpot: each referral associates its lead's
// records with its member's contact under referflow's association labels
// (hubspotconn.EnsureAssociationLabels), so HubSpot's own lists, reports and
// workflows can use them. The lead's contact gets the member's contact as
// its "Referrer" (HubSpot adds the inverse: the lead is the member's
// "Referred"); the lead's deal gets it as "Referred by".

// LabelsInput names the portal whose association labels must exist.
type LabelsInput struct {
	WorkspaceID string
	// PortalID is the portal the setup was started for; a connection since
	// moved to another portal fails the activity (a new setup runs for it).
	PortalID int64
}

// LabelsResult lists the labels the activity created (none when the portal
// had them).
type LabelsResult struct {
	Created []string `json:",omitempty"`
}

// EnsureHubSpotAssociationLabels finds or creates referflow's association
// labels in the workspace's portal and stores their type IDs on the
// connection. Run by the portal's setup (workflows/hubspot_setup.go) after
// its properties; running it again (a reconnect) reuses what exists.
func (h *HubSpot) EnsureHubSpotAssociationLabels(ctx context.Context, in LabelsInput) (LabelsResult, error) {
	if h == nil || h.Conn == nil || h.Queries == nil {
		return LabelsResult{}, temporal.NewNonRetryableApplicationError("this worker has no HubSpot connection manager", ErrorTypeHubSpotNotConfigured, nil)
	}
	ws, err := parseWorkspaceID(in.WorkspaceID)
	if err != nil {
		return LabelsResult{}, err
	}
	c, portalID, err := h.Conn.Client(ctx, ws)
	if err != nil {
		return LabelsResult{}, hubspot.TemporalError(err)
	}
	if portalID != in.PortalID {
		return LabelsResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the workspace is now connected to portal %d, not %d", portalID, in.PortalID), ErrorTypeConnectionChanged, nil)
	}
	_, created, err := h.ensureLabels(ctx, ws, portalID, c)
	return LabelsResult{Created: created}, err
}

// ensureLabels finds or creates the portal's labels and stores their IDs.
func (h *HubSpot) ensureLabels(ctx context.Context, ws uuid.UUID, portalID int64, c *hubspot.Client) (hubspotconn.ReferralLabels, []string, error) {
	ids, created, err := hubspotconn.EnsureAssociationLabels(ctx, c)
	if err != nil {
		return ids, created, hubspot.TemporalError(err)
	}
	if _, err := h.Queries.HubSpotConnectionSetAssociationLabels(ctx, db.HubSpotConnectionSetAssociationLabelsParams{
		WorkspaceID: ws, PortalID: portalID,
		ReferrerTypeID: new(int32(ids.Referrer)), ReferredTypeID: new(int32(ids.Referred)), ReferredByTypeID: new(int32(ids.ReferredBy)),
	}); err != nil {
		return ids, created, fmt.Errorf("store the association labels of portal %d: %w", portalID, err)
	}
	return ids, created, nil
}

// storedLabels are the label type IDs stored on the workspace's connection
// to portalID; incomplete when the portal's setup has not stored them.
func (h *HubSpot) storedLabels(ctx context.Context, ws uuid.UUID, portalID int64) (hubspotconn.ReferralLabels, error) {
	conn, err := h.Queries.HubSpotConnectionGetByWorkspace(ctx, ws)
	if err != nil {
		return hubspotconn.ReferralLabels{}, fmt.Errorf("load the HubSpot connection of workspace %s: %w", ws, err)
	}
	if conn.PortalID != portalID {
		return hubspotconn.ReferralLabels{}, nil
	}
	id := func(p *int32) int {
		if p == nil {
			return 0
		}
		return int(*p)
	}
	return hubspotconn.ReferralLabels{
		Referrer: id(conn.ReferrerAssociationTypeID), Referred: id(conn.ReferredAssociationTypeID), ReferredBy: id(conn.ReferredByAssociationTypeID),
	}, nil
}

// ReferredByResult is what AssociateReferredByInHubSpot did: the
// associations made, or why there were none yet.
type ReferredByResult struct {
	// Associated describes each labelled association made (HubSpot IDs and
	// labels only).
	Associated []string `json:",omitempty"`
	// Skipped says why nothing was associated: the referral has no HubSpot
	// record, or its member no contact yet.
	Skipped string `json:",omitempty"`
	// MemberWaits: the member has no HubSpot contact yet; their referrals
	// are associated when their workflow links one
	// (LabelMemberReferralsInHubSpot).
	MemberWaits     bool   `json:",omitempty"`
	MemberContactID string `json:",omitempty"`
}

// AssociateReferredByInHubSpot associates a referral's lead contact (and
// deal) with its member's contact under referflow's labels. Associating
// twice is harmless (HubSpot's PUT), so a retry repeats nothing that
// matters. Labels the portal lost (an admin deleted them in HubSpot: its
// 400 for an unknown type) are made again once.
func (h *HubSpot) AssociateReferredByInHubSpot(ctx context.Context, referralID string) (ReferredByResult, error) {
	if h == nil || h.Queries == nil {
		return ReferredByResult{}, temporal.NewNonRetryableApplicationError("this worker's HubSpot activities have no database", ErrorTypeHubSpotNotConfigured, nil)
	}
	id, err := uuid.Parse(referralID)
	if err != nil {
		return ReferredByResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%q is not a referral ID", referralID), "InvalidInput", err)
	}
	detail, err := h.Queries.ReferralGetDetail(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ReferredByResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("referral %s does not exist", id), ErrorTypeReferralNotFound, err)
	}
	if err != nil {
		return ReferredByResult{}, fmt.Errorf("load referral %s: %w", id, err)
	}
	member, err := h.Queries.MemberGetByID(ctx, detail.Referral.MemberID)
	if err != nil {
		return ReferredByResult{}, fmt.Errorf("load member %s of referral %s: %w", detail.Referral.MemberID, id, err)
	}
	return h.associateReferredBy(ctx, detail.Referral, member)
}

func (h *HubSpot) associateReferredBy(ctx context.Context, r db.Referral, member db.Member) (ReferredByResult, error) {
	var res ReferredByResult
	if r.ErasedAt != nil || member.ErasedAt != nil {
		res.Skipped = ErasedSkip
		return res, nil
	}
	if r.HubspotContactID == nil && r.HubspotDealID == nil {
		res.Skipped = "the referral has no HubSpot contact or deal"
		return res, nil
	}
	if member.HubspotContactID == nil {
		res.Skipped = "the member has no HubSpot contact yet: the referral is labelled when the member gets one"
		res.MemberWaits = true
		return res, nil
	}
	memberContact := strconv.FormatInt(*member.HubspotContactID, 10)
	res.MemberContactID = memberContact
	if r.HubspotContactID != nil && *r.HubspotContactID == *member.HubspotContactID && r.HubspotDealID == nil {
		res.Skipped = "the lead's contact is the member's own"
		return res, nil
	}
	if h.Conn == nil {
		return res, temporal.NewNonRetryableApplicationError("this worker's HubSpot activities have no connection manager", ErrorTypeHubSpotNotConfigured, nil)
	}
	c, portalID, err := h.Conn.Client(ctx, r.WorkspaceID)
	if err != nil {
		return res, hubspot.TemporalError(err)
	}
	labels, err := h.storedLabels(ctx, r.WorkspaceID, portalID)
	if err != nil {
		return res, err
	}
	if !labels.Complete() {
		// The portal's setup has not stored them (a connection older than
		// the labels, or a setup still running): find or make them now.
		if labels, _, err = h.ensureLabels(ctx, r.WorkspaceID, portalID, c); err != nil {
			return res, err
		}
	}
	type write struct {
		from   hubspot.ObjectType
		fromID int64
		label  string
		typeID func(hubspotconn.ReferralLabels) int
	}
	var writes []write
	if r.HubspotContactID != nil && *r.HubspotContactID != *member.HubspotContactID {
		writes = append(writes, write{hubspot.Contacts, *r.HubspotContactID, hubspotconn.LabelReferrer, func(l hubspotconn.ReferralLabels) int { return l.Referrer }})
	}
	if r.HubspotDealID != nil {
		writes = append(writes, write{hubspot.Deals, *r.HubspotDealID, hubspotconn.LabelReferredBy, func(l hubspotconn.ReferralLabels) int { return l.ReferredBy }})
	}
	relabelled := false
	for _, wr := range writes {
		fromID := strconv.FormatInt(wr.fromID, 10)
		err := c.Associate(ctx, wr.from, fromID, hubspot.Contacts, memberContact, hubspot.AssociationType{Category: hubspot.UserDefined, TypeID: wr.typeID(labels)})
		var invalid *hubspot.ValidationError
		if errors.As(err, &invalid) && !relabelled {
			// The stored type is gone from the portal: make the labels
			// again and retry once.
			relabelled = true
			if labels, _, err = h.ensureLabels(ctx, r.WorkspaceID, portalID, c); err != nil {
				return res, err
			}
			err = c.Associate(ctx, wr.from, fromID, hubspot.Contacts, memberContact, hubspot.AssociationType{Category: hubspot.UserDefined, TypeID: wr.typeID(labels)})
		}
		var notFound *hubspot.NotFoundError
		if errors.As(err, &notFound) {
			res.Associated = append(res.Associated, fmt.Sprintf("not %s %s: HubSpot no longer has it or contact %s", wr.from, fromID, memberContact))
			continue
		}
		if err != nil {
			return res, hubspot.TemporalError(fmt.Errorf("associate %s %s with the member's contact %s as %q: %w", wr.from, fromID, memberContact, wr.label, err))
		}
		res.Associated = append(res.Associated, fmt.Sprintf("%s %s → contact %s (%s)", wr.from, fromID, memberContact, wr.label))
	}
	return res, nil
}

// MemberLabelsResult is what LabelMemberReferralsInHubSpot did.
type MemberLabelsResult struct {
	// Labelled counts the referrals labelled; Associated describes each
	// association made.
	Labelled   int      `json:",omitempty"`
	Associated []string `json:",omitempty"`
}

// LabelMemberReferralsInHubSpot labels, once a member has a HubSpot contact,
// the referrals whose leads reached HubSpot before it (their workflows
// recorded that they could not be labelled: ReferralListAwaitingReferrerContact):
// each lead's contact and deal is associated with the member's contact as
// AssociateReferredByInHubSpot does, and a referred_by_labelled event is
// appended to its trail (keyed, so a retry writes it once). Referrals still
// without records are left to their own workflows, which now find the
// member's contact.
func (h *HubSpot) LabelMemberReferralsInHubSpot(ctx context.Context, memberID string) (MemberLabelsResult, error) {
	var res MemberLabelsResult
	if h == nil || h.Queries == nil {
		return res, temporal.NewNonRetryableApplicationError("this worker's HubSpot activities have no database", ErrorTypeHubSpotNotConfigured, nil)
	}
	id, err := uuid.Parse(memberID)
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%q is not a member ID", memberID), "InvalidInput", err)
	}
	member, err := h.Queries.MemberGetByID(ctx, id)
	if err != nil {
		return res, fmt.Errorf("load member %s: %w", id, err)
	}
	if member.HubspotContactID == nil {
		return res, nil
	}
	refs, err := h.Queries.ReferralListAwaitingReferrerContact(ctx, id)
	if err != nil {
		return res, fmt.Errorf("list member %s's referrals awaiting their contact: %w", id, err)
	}
	for _, r := range refs {
		out, err := h.associateReferredBy(ctx, r, member)
		if err != nil {
			return res, err
		}
		if out.Skipped != "" {
			continue
		}
		details, err := json.Marshal(map[string]any{
			"reason": strings.Join(out.Associated, "; "), "associated": out.Associated, "member_contact_id": out.MemberContactID,
		})
		if err != nil {
			return res, err
		}
		key := "referred_by:member_contact:" + r.ID.String()
		if _, err := h.Queries.ReferralEventInsert(ctx, db.ReferralEventInsertParams{
			ReferralID: r.ID, WorkspaceID: r.WorkspaceID, Kind: string(referral.EventReferredByLabelled), Actor: "system",
			Details: details, IdempotencyKey: &key,
		}); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return res, fmt.Errorf("record the labels of referral %s: %w", r.ID, err)
		}
		res.Labelled++
		res.Associated = append(res.Associated, out.Associated...)
	}
	return res, nil
}
