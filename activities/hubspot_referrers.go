package activities

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// ReferrerResult is what SendMemberToHubSpot did with a member.
type ReferrerResult struct {
	// Skipped says why nothing was sent: the campaign's referrers action is
	// none, or the campaign is archived. Nothing is written back then.
	Skipped string `json:",omitempty"`
	// ContactID and DealID are the member's HubSpot records, as stored on
	// the member.
	ContactID string `json:",omitempty"`
	DealID    string `json:",omitempty"`
	// What this call did in HubSpot (false on a retry that found the work
	// done).
	ContactCreated bool `json:",omitempty"`
	ContactUpdated bool `json:",omitempty"`
	DealCreated    bool `json:",omitempty"`
}

// SendMemberToHubSpot sends a member who joined to HubSpot per the
// campaign's Referrers settings, as SendLeadToHubSpot sends a lead per its
// Leads settings, through the same field mapping (mapFields, with the member
// as the person and as the referrer) and the same find-or-create of the
// contact (findOrCreateContact):
//
//   - create_contact: the member's contact is created with the mapped
//     properties; one HubSpot already had (by email) is updated with them
//     under duplicate handling update_existing, and left as it is under
//     do_nothing. Either way its ID is stored on the member, so the
//     write-back (WriteMemberToHubSpot, the workflow's next step) reaches it:
//     a member is never held back for being in HubSpot already.
//   - create_deal: a deal with the mapped deal properties, associated with
//     the member's contact (found or created as above) when
//     associate_contact is set. The deal carries the member's referral code
//     (referflow_referral_code), by which a retry after a lost create finds
//     it instead of making a second one. Its ID is stored on the member.
//   - none (or an archived campaign): nothing is sent (Skipped).
//
// The referral code, link and counts are not written here: the member's
// workflow calls WriteMemberToHubSpot next, the one function that writes a
// member's referflow properties.
//
// A referrers mapping that needs setup fails with CampaignSetupRequired,
// naming what is missing (the member's workflow waits until the settings
// are saved); it never holds back the campaign's leads. Errors go through
// hubspot.TemporalError, as the lead's do.
func (h *HubSpot) SendMemberToHubSpot(ctx context.Context, memberID string) (ReferrerResult, error) {
	if h == nil || h.Queries == nil {
		return ReferrerResult{}, temporal.NewNonRetryableApplicationError("this worker's HubSpot activities have no database", ErrorTypeHubSpotNotConfigured, nil)
	}
	id, err := uuid.Parse(memberID)
	if err != nil {
		return ReferrerResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%q is not a member ID", memberID), "InvalidInput", err)
	}
	m, err := h.Queries.MemberGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ReferrerResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("member %s does not exist", id), ErrorTypeMemberNotFound, err)
	}
	if err != nil {
		return ReferrerResult{}, fmt.Errorf("load member %s: %w", id, err)
	}
	if m.ErasedAt != nil {
		return ReferrerResult{Skipped: ErasedSkip}, nil
	}
	row, err := h.Queries.CampaignGetByID(ctx, m.CampaignID)
	if err != nil {
		return ReferrerResult{}, fmt.Errorf("load campaign %s of member %s: %w", m.CampaignID, id, err)
	}
	settings, err := CampaignSettings(row)
	if err != nil {
		return ReferrerResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrorTypeLeadMapping, err)
	}
	if campaign.Status(row.Status) == campaign.Archived {
		return ReferrerResult{Skipped: "the campaign is archived: nothing is sent to HubSpot"}, nil
	}
	if missing := settings.ReferrersSetupRequired(); len(missing) > 0 {
		return ReferrerResult{}, temporal.NewNonRetryableApplicationError("campaign setup required: "+strings.Join(missing, "; "), ErrorTypeCampaignSetupRequired, nil)
	}
	refs := settings.Referrers
	if refs.Action == campaign.ActionNone || refs.Action == "" {
		return ReferrerResult{Skipped: "the campaign's referrers action is none: nothing is sent to HubSpot"}, nil
	}
	values := mappingValues(leadString(m.FirstName), m.Email, m.Source, m, row.Name, h.PublicURL)
	mapped, err := mapFields("referrers", refs.FieldMapping, values)
	if err != nil {
		return ReferrerResult{}, err
	}
	c, err := h.client(ctx, m.WorkspaceID)
	if err != nil {
		return ReferrerResult{}, err
	}
	res := ReferrerResult{ContactID: leadIDString(m.HubspotContactID), DealID: leadIDString(m.HubspotDealID)}
	s := &memberSender{h: h, c: c, m: m, refs: refs, mapped: mapped, res: &res}
	if refs.Action == campaign.ActionCreateContact || refs.AssociateContact {
		if err := s.contact(ctx); err != nil {
			return ReferrerResult{}, err
		}
	}
	if refs.Action == campaign.ActionCreateDeal && res.DealID == "" {
		if err := s.deal(ctx); err != nil {
			return ReferrerResult{}, err
		}
	}
	return res, nil
}

// memberSender does the HubSpot calls of one SendMemberToHubSpot run.
type memberSender struct {
	h      *HubSpot
	c      *hubspot.Client
	m      db.Member
	refs   campaign.CRMSettings
	mapped map[hubspotobject.Type]map[string]string
	res    *ReferrerResult
}

// contact finds or creates the member's contact and applies the duplicate
// handling to one HubSpot had; its ID is stored on the member at once. A
// member whose contact is stored already (an earlier attempt, a contact
// linked by a reward's write-back) goes by that ID: with update_existing
// the mapped properties are written to it again, which is what an update
// means; otherwise it is left alone.
func (s *memberSender) contact(ctx context.Context) error {
	props := s.mapped[hubspotobject.Contact]
	if s.res.ContactID != "" {
		if s.refs.DuplicateHandling == campaign.DuplicateUpdateExisting {
			return s.updateContact(ctx, s.res.ContactID, props)
		}
		return nil
	}
	email := props["email"]
	if email == "" {
		email = s.m.Email
	}
	found, err := findOrCreateContact(ctx, s.c, email, props, s.m.CreatedAt, fmt.Sprintf("member %s's", s.m.ID))
	if err != nil {
		return err
	}
	if err := s.h.storeMemberContact(ctx, s.m, found.ID); err != nil {
		return err
	}
	s.res.ContactID, s.res.ContactCreated = found.ID, found.Created
	// A contact found rather than created is updated under update_existing
	// whether HubSpot had it before the member joined or an earlier attempt
	// made it (then with the same values): unlike a lead's, a member's
	// duplicate holds nothing back, so the difference does not matter.
	if !found.Created && s.refs.DuplicateHandling == campaign.DuplicateUpdateExisting {
		return s.updateContact(ctx, found.ID, props)
	}
	return nil
}

func (s *memberSender) updateContact(ctx context.Context, contactID string, props map[string]string) error {
	if len(props) > 0 {
		if _, err := s.c.Update(ctx, hubspot.Contacts, contactID, props); err != nil {
			return hubspot.TemporalError(fmt.Errorf("update member %s's contact %s: %w", s.m.ID, contactID, err))
		}
	}
	s.res.ContactUpdated = true
	return nil
}

// deal adopts the deal a lost earlier attempt created, or creates one
// (associated with the member's contact when there is one), and stores its
// ID at once.
func (s *memberSender) deal(ctx context.Context) error {
	props := maps.Clone(s.mapped[hubspotobject.Deal])
	if props == nil {
		props = map[string]string{}
	}
	props[hubspotobject.PropReferralCode] = s.m.ReferralCode
	dealID, err := s.previousDeal(ctx)
	if err != nil {
		return err
	}
	if dealID == "" {
		in := hubspot.CreateInput{Properties: props}
		if s.res.ContactID != "" {
			in.Associations = []hubspot.AssociationInput{hubspot.AssociateWith(s.res.ContactID, hubspot.DealToContact)}
		}
		created, err := createRecord(ctx, s.c, hubspot.Deals, in)
		if err != nil {
			return hubspot.TemporalError(fmt.Errorf("create member %s's deal: %w", s.m.ID, err))
		}
		dealID, s.res.DealCreated = created.ID, true
	}
	n, err := strconv.ParseInt(dealID, 10, 64)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("HubSpot deal ID %q is not a number", dealID), hubspot.ErrorTypeUnexpected, err)
	}
	if _, err := s.h.Queries.MemberSetHubSpotDeal(ctx, db.MemberSetHubSpotDealParams{ID: s.m.ID, HubspotDealID: &n}); err != nil {
		return fmt.Errorf("store HubSpot deal %s on member %s: %w", dealID, s.m.ID, err)
	}
	s.res.DealID = dealID
	return nil
}

// previousDeal finds the deal a lost earlier attempt created, "" when there
// is none: among the member's contact's deals the one with the member's
// code; without a contact, by search, a deal with the code created since the
// member joined and stored on no other member.
func (s *memberSender) previousDeal(ctx context.Context) (string, error) {
	m := s.m
	if s.res.ContactID != "" {
		return contactsDealWith(ctx, s.c, s.res.ContactID, hubspotobject.PropReferralCode, m.ReferralCode)
	}
	deals, err := dealsCreatedSince(ctx, s.c, m.CreatedAt, map[string]string{hubspotobject.PropReferralCode: m.ReferralCode})
	if err != nil {
		return "", err
	}
	for _, d := range deals {
		n, err := strconv.ParseInt(d.ID, 10, 64)
		if err != nil {
			continue
		}
		claimed, err := s.h.Queries.MemberListByHubSpotDeal(ctx, db.MemberListByHubSpotDealParams{WorkspaceID: m.WorkspaceID, HubspotDealID: &n})
		if err != nil {
			return "", fmt.Errorf("check whether deal %s is another member's: %w", d.ID, err)
		}
		if slices.ContainsFunc(claimed, func(o db.Member) bool { return o.ID != m.ID }) {
			continue
		}
		return d.ID, nil
	}
	return "", nil
}
