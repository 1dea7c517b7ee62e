package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/personaldata"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/review"
	"github.com/referflow/referflow/internal/salesentry"
)

// The sales-entry workflow's database activities: loading the entry,
// recording each step on it, linking a matched HubSpot object to a referral,
// adding a referral from HubSpot, and the review entry. Matching itself is in
// sales_matching.go, the admins' notification in review_notify.go.

// Error types of the sales-entry activities.
const (
	ErrTypeSalesEntryNotFound = "SalesEntryNotFound"
	ErrTypeMemberNotFound     = "MemberNotFound"
	// ErrTypeNotInWorkspace: the referral or member named belongs to another
	// workspace than the sales entry.
	ErrTypeNotInWorkspace = "NotInWorkspace"
	// ErrTypeNoLeadEmail: a referral cannot be added from an object without
	// an email (its own, or an associated contact's).
	ErrTypeNoLeadEmail = "NoLeadEmail"
	// ErrTypeDuplicateLead: the member's campaign already has a referral of
	// this lead's email (not holding this object).
	ErrTypeDuplicateLead = "DuplicateLead"
	// ErrTypeCampaignNotActive: the member's campaign is not active (a
	// draft, paused or archived: campaign.NotActiveError), so it takes no
	// new referral.
	ErrTypeCampaignNotActive = "CampaignNotActive"
)

// SalesEntry is what a sales entry's workflow loads about its entry.
type SalesEntry struct {
	salesentry.Entry
	// ReadProperties are the HubSpot properties matching reads, per object
	// type: names and company domain, referflow's referral ID, and every
	// active campaign's external ID property and matching-rule properties.
	ReadProperties map[hubspotobject.Type][]string
}

// LoadSalesEntry reads a sales entry and works out which HubSpot properties
// matching needs from the workspace's active campaigns. An entry that does
// not exist is not retried.
func (a *Activities) LoadSalesEntry(ctx context.Context, id int64) (SalesEntry, error) {
	row, err := a.Queries.SalesEntryGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return SalesEntry{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("sales entry %d does not exist", id), ErrTypeSalesEntryNotFound, err)
	}
	if err != nil {
		return SalesEntry{}, fmt.Errorf("load sales entry %d: %w", id, err)
	}
	e := SalesEntry{Entry: SalesEntryOf(row)}
	if row.WorkspaceID == nil {
		return e, nil
	}
	camps, err := a.activeCampaigns(ctx, *row.WorkspaceID)
	if err != nil {
		return SalesEntry{}, err
	}
	e.ReadProperties = readProperties(camps)
	return e, nil
}

// SalesEntryOf reads a sales entry's row as the entry its workflow and the
// dispatcher work with: the one place a row becomes a salesentry.Entry. (The
// dispatcher adds what only the stored event says of merges and
// associations.)
func SalesEntryOf(row db.SalesEntry) salesentry.Entry {
	e := salesentry.Entry{
		ID: row.ID, PortalID: row.PortalID, SubscriptionType: row.SubscriptionType,
		ObjectType: hubspotobject.Type(row.ObjectType), ObjectID: row.ObjectID,
		PropertyName: deref(row.PropertyName), PropertyValue: deref(row.PropertyValue),
		OccurredAt: row.OccurredAt, DedupeKey: row.DedupeKey, Status: salesentry.Status(row.Status),
	}
	if row.WorkspaceID != nil {
		e.WorkspaceID = row.WorkspaceID.String()
	}
	if e.Kind().ListKind() {
		e.ListID = e.PropertyValue
	}
	return e
}

// matchCampaign is an active campaign with its settings, as matching uses it.
type matchCampaign struct {
	row      db.Campaign
	settings campaign.Settings
}

// activeCampaigns lists the workspace's active campaigns, oldest first. A
// campaign whose stored settings cannot be read is skipped: it can match
// nothing until an admin saves it again.
func (a *Activities) activeCampaigns(ctx context.Context, workspaceID uuid.UUID) ([]matchCampaign, error) {
	rows, err := a.Queries.CampaignListByWorkspace(ctx, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("list campaigns of workspace %s: %w", workspaceID, err)
	}
	var out []matchCampaign
	for _, c := range rows {
		if campaign.Status(c.Status) != campaign.Active {
			continue
		}
		s, err := CampaignSettings(c)
		if err != nil {
			continue
		}
		out = append(out, matchCampaign{row: c, settings: s})
	}
	return out, nil
}

// Properties matching reads besides the campaigns' own.
var baseReadProperties = map[hubspotobject.Type][]string{
	hubspotobject.Contact: {"email", "firstname", "lastname", "company", hubspotobject.PropReferralID},
	hubspotobject.Deal:    {"dealname", hubspotobject.PropReferralID},
	hubspotobject.Company: {"name", "domain"},
}

func readProperties(camps []matchCampaign) map[hubspotobject.Type][]string {
	out := map[hubspotobject.Type][]string{}
	add := func(object hubspotobject.Type, prop string) {
		if prop != "" && !slices.Contains(out[object], prop) {
			out[object] = append(out[object], prop)
		}
	}
	for object, props := range baseReadProperties {
		for _, p := range props {
			add(object, p)
		}
	}
	for _, c := range camps {
		pr := c.settings.ProcessRules
		// The external ID lives on the lead's object: a contact or a deal.
		add(hubspotobject.Contact, pr.ExternalIDProperty)
		add(hubspotobject.Deal, pr.ExternalIDProperty)
		for _, r := range pr.MatchingRules {
			add(r.Object, r.Property)
		}
		if e := pr.EnrolMembers; e != nil && len(e.OnLifecycleStages) > 0 {
			add(hubspotobject.Contact, campaign.LifecycleStageProperty)
		}
	}
	for object := range out {
		slices.Sort(out[object])
	}
	return out
}

// SalesEntryStep records a step on a sales entry: the action, and when set,
// the status and what the entry was matched to.
type SalesEntryStep struct {
	SalesEntryID int64
	Action       salesentry.Action
	Status       salesentry.Status `json:",omitempty"`
	CampaignID   string            `json:",omitempty"`
	ReferralID   string            `json:",omitempty"`
	MemberID     string            `json:",omitempty"`
	Error        string            `json:",omitempty"`
	WorkflowID   string            `json:",omitempty"`
}

// RecordSalesEntryStep appends a step to the sales entry's actions (once per
// action key) and sets its status and links.
func (a *Activities) RecordSalesEntryStep(ctx context.Context, s SalesEntryStep) error {
	if s.Action.Key == "" {
		return temporal.NewNonRetryableApplicationError("a sales entry step needs an action key", "InvalidInput", nil)
	}
	action, err := json.Marshal(s.Action)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("sales entry action is not JSON", "InvalidInput", err)
	}
	p := db.SalesEntryRecordStepParams{ID: s.SalesEntryID, Action: action}
	if s.Status != "" {
		status := string(s.Status)
		p.Status = &status
	}
	if s.Error != "" {
		p.Error = &s.Error
	}
	if s.WorkflowID != "" {
		p.WorkflowID = &s.WorkflowID
	}
	for _, f := range []struct {
		in  string
		out **uuid.UUID
	}{{s.CampaignID, &p.CampaignID}, {s.ReferralID, &p.ReferralID}, {s.MemberID, &p.MemberID}} {
		if f.in == "" {
			continue
		}
		id, err := uuid.Parse(f.in)
		if err != nil {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%q is not an ID", f.in), "InvalidInput", err)
		}
		*f.out = &id
	}
	if _, err := a.Queries.SalesEntryRecordStep(ctx, p); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("sales entry %d does not exist", s.SalesEntryID), ErrTypeSalesEntryNotFound, err)
		}
		return fmt.Errorf("record step %s of sales entry %d: %w", s.Action.Step, s.SalesEntryID, err)
	}
	return nil
}

// LinkObjectInput links a HubSpot object a sales entry is about to a
// referral.
type LinkObjectInput struct {
	SalesEntryID int64
	WorkspaceID  string
	ReferralID   string
	ObjectType   hubspotobject.Type
	ObjectID     int64
	// How says how the object was matched, for the audit trail.
	How   string
	Actor string
}

// LinkedReferral is the referral an object was linked to.
type LinkedReferral struct {
	ReferralID string
	CampaignID string
	MemberID   string
	// Linked is false when the referral already held another object of that
	// type (it keeps it; the change is still forwarded).
	Linked bool
}

// LinkHubSpotObject stores the object on the referral when the referral
// holds no object of that type yet, and records a hubspot_object_linked
// event naming the sales entry (once per entry and referral). A referral
// that does not exist, or is another workspace's, is a non-retryable error
// saying so.
func (a *Activities) LinkHubSpotObject(ctx context.Context, in LinkObjectInput) (LinkedReferral, error) {
	id, err := parseEntityID(in.ReferralID, "referral")
	if err != nil {
		return LinkedReferral{}, err
	}
	ws, err := parseWorkspaceID(in.WorkspaceID)
	if err != nil {
		return LinkedReferral{}, err
	}
	var out LinkedReferral
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Queries.WithTx(tx)
		ref, err := q.ReferralGetByID(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return temporal.NewNonRetryableApplicationError("referral "+in.ReferralID+" does not exist", ErrorTypeReferralNotFound, err)
		}
		if err != nil {
			return fmt.Errorf("load referral %s: %w", in.ReferralID, err)
		}
		if ref.WorkspaceID != ws {
			return temporal.NewNonRetryableApplicationError("referral "+in.ReferralID+" belongs to another workspace", ErrTypeNotInWorkspace, nil)
		}
		linked, err := q.ReferralLinkHubSpotObject(ctx, db.ReferralLinkHubSpotObjectParams{ID: id, ObjectType: string(in.ObjectType), ObjectID: in.ObjectID})
		if err != nil {
			return fmt.Errorf("link %s %d to referral %s: %w", in.ObjectType, in.ObjectID, in.ReferralID, err)
		}
		out = LinkedReferral{ReferralID: ref.ID.String(), CampaignID: ref.CampaignID.String(), MemberID: ref.MemberID.String(),
			Linked: heldIDs(linked).Of(in.ObjectType) == in.ObjectID}
		details, _ := json.Marshal(map[string]any{
			"object_type": in.ObjectType, "object_id": in.ObjectID, "how": in.How, "stored": out.Linked,
		})
		key := fmt.Sprintf("hubspot_object_linked:%d:%s", in.SalesEntryID, in.ReferralID)
		entry := in.SalesEntryID
		if _, err := q.ReferralEventInsert(ctx, db.ReferralEventInsertParams{
			ReferralID: id, WorkspaceID: ref.WorkspaceID, Kind: string(referral.EventHubSpotObjectLinked), Actor: actorOr(in.Actor),
			SalesEntryID: &entry, Details: details, IdempotencyKey: &key,
		}); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("record the link of %s %d on referral %s: %w", in.ObjectType, in.ObjectID, in.ReferralID, err)
		}
		return nil
	})
	return out, err
}

// AddFromHubSpotInput adds a referral of a member for a HubSpot object.
type AddFromHubSpotInput struct {
	SalesEntryID int64
	WorkspaceID  string
	MemberID     string
	ObjectType   hubspotobject.Type
	ObjectID     int64
	Lead         Lead `personal:""`
	How          string
	Actor        string
	// Source is the way in: referral.SourceHubSpotMatchingRule (the
	// default) or SourceHubSpotReview (an admin's decision).
	Source referral.Source `json:",omitempty"`
}

// MarshalJSON seals the lead under their key in Temporal's histories
// (internal/personaldata).
func (in AddFromHubSpotInput) MarshalJSON() ([]byte, error) {
	type plain AddFromHubSpotInput
	return personaldata.MarshalFields(plain(in), in.Lead.Email)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (in *AddFromHubSpotInput) UnmarshalJSON(b []byte) error {
	type plain AddFromHubSpotInput
	_, err := personaldata.UnmarshalFields(b, (*plain)(in))
	return err
}

// AddedReferral is the referral added from HubSpot.
type AddedReferral struct {
	ReferralID string
	CampaignID string
	MemberID   string
	// Created is false when an earlier attempt had added it.
	Created bool
}

// AddReferralFromHubSpot adds a referral of the member for the object
// (AddReferral: its referrals.source is hubspot), with the lead's email and
// name from HubSpot and the object's ID already set, and the sales entry
// named in its added event. It is idempotent per campaign and object: a
// referral of the member's campaign already holding the object is returned
// as it is.
//
// Non-retryable errors: the member does not exist or is another
// workspace's (MemberNotFound, NotInWorkspace), its campaign is not active
// (CampaignNotActive), there is no lead email (NoLeadEmail), or the campaign already has this lead under another
// referral (DuplicateLead: an admin attaches the entry to that referral).
func (a *Activities) AddReferralFromHubSpot(ctx context.Context, in AddFromHubSpotInput) (AddedReferral, error) {
	memberID, err := parseEntityID(in.MemberID, "member")
	if err != nil {
		return AddedReferral{}, err
	}
	ws, err := parseWorkspaceID(in.WorkspaceID)
	if err != nil {
		return AddedReferral{}, err
	}
	m, err := a.Queries.MemberGetByID(ctx, memberID)
	if errors.Is(err, pgx.ErrNoRows) {
		return AddedReferral{}, temporal.NewNonRetryableApplicationError("member "+in.MemberID+" does not exist", ErrTypeMemberNotFound, err)
	}
	if err != nil {
		return AddedReferral{}, fmt.Errorf("load member %s: %w", in.MemberID, err)
	}
	if m.WorkspaceID != ws {
		return AddedReferral{}, temporal.NewNonRetryableApplicationError("member "+in.MemberID+" belongs to another workspace", ErrTypeNotInWorkspace, nil)
	}
	if existing, found, err := a.referralHolding(ctx, m, in); err != nil || found {
		return existing, err
	}
	if strings.TrimSpace(in.Lead.Email) == "" {
		return AddedReferral{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s %d has no email (nor an associated contact with one): a referral needs the lead's email", in.ObjectType, in.ObjectID),
			ErrTypeNoLeadEmail, nil)
	}
	var held hubspotobject.IDs
	if !held.Set(in.ObjectType, in.ObjectID) {
		return AddedReferral{}, temporal.NewNonRetryableApplicationError("unknown HubSpot object type "+string(in.ObjectType), "InvalidInput", nil)
	}
	source := in.Source
	if source == "" {
		source = referral.SourceHubSpotMatchingRule
	}
	row, err := AddReferral(ctx, a.Pool, NewReferral{
		Member: m, Lead: in.Lead, Source: source, HubSpot: held, Actor: in.Actor, SalesEntryID: in.SalesEntryID,
		Details: map[string]any{"object_type": in.ObjectType, "object_id": in.ObjectID, "how": in.How},
	})
	var notActive *campaign.NotActiveError
	if errors.As(err, &notActive) {
		return AddedReferral{}, temporal.NewNonRetryableApplicationError(notActive.Error(), ErrTypeCampaignNotActive, nil)
	}
	var dup *DuplicateLeadError
	if errors.As(err, &dup) {
		// Another entry about the same object (its creation and a property
		// change arrive together) may have added it just now.
		if existing, found, ferr := a.referralHolding(ctx, m, in); ferr != nil || found {
			return existing, ferr
		}
		return AddedReferral{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("campaign %s already has this lead as referral %s: attach the entry to that referral instead", m.CampaignID, dup.Existing.ID),
			ErrTypeDuplicateLead, err)
	}
	if err != nil {
		return AddedReferral{}, fmt.Errorf("add a referral of member %s from %s %d: %w", m.ID, in.ObjectType, in.ObjectID, err)
	}
	return AddedReferral{ReferralID: row.ID.String(), CampaignID: row.CampaignID.String(), MemberID: row.MemberID.String(), Created: true}, nil
}

// referralHolding finds the referral of the member's campaign that already
// holds the object.
func (a *Activities) referralHolding(ctx context.Context, m db.Member, in AddFromHubSpotInput) (AddedReferral, bool, error) {
	r, err := a.Queries.ReferralGetOfCampaignByHubSpotObject(ctx, db.ReferralGetOfCampaignByHubSpotObjectParams{
		CampaignID: m.CampaignID, ObjectType: string(in.ObjectType), ObjectID: in.ObjectID,
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return AddedReferral{}, false, nil
	case err != nil:
		return AddedReferral{}, false, fmt.Errorf("look for a referral already holding %s %d: %w", in.ObjectType, in.ObjectID, err)
	}
	return AddedReferral{ReferralID: r.ID.String(), CampaignID: r.CampaignID.String(), MemberID: r.MemberID.String()}, true, nil
}

// OpenReviewInput puts a sales entry in the review queue.
type OpenReviewInput struct {
	SalesEntryID int64
	WorkspaceID  string
	CampaignID   string `json:",omitempty"`
	Reason       review.Reason
	// Data is what matching saw and proposes, shown to the admin.
	Data       map[string]any
	WorkflowID string
	Action     salesentry.Action
}

// OpenSalesEntryReview creates the sales entry's open review entry (or
// updates it: one open entry per sales entry, so a retry or a second round
// after an edit queues nothing twice), and sets the sales entry's status to
// review with the action, in one transaction; in it too, when the campaign
// notifies on review, the review.created webhook is queued in the outbox. It
// returns the review entry's ID.
func (a *Activities) OpenSalesEntryReview(ctx context.Context, in OpenReviewInput) (string, error) {
	ws, err := parseWorkspaceID(in.WorkspaceID)
	if err != nil {
		return "", err
	}
	var campaignID *uuid.UUID
	if in.CampaignID != "" {
		id, err := parseEntityID(in.CampaignID, "campaign")
		if err != nil {
			return "", err
		}
		campaignID = &id
	}
	if in.Data == nil {
		in.Data = map[string]any{}
	}
	data, err := json.Marshal(in.Data)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError("review data is not JSON", "InvalidInput", err)
	}
	action, err := json.Marshal(in.Action)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError("sales entry action is not JSON", "InvalidInput", err)
	}
	var id string
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Queries.WithTx(tx)
		entry := in.SalesEntryID
		wf := in.WorkflowID
		row, err := q.ReviewEntryOpenForSalesEntry(ctx, db.ReviewEntryOpenForSalesEntryParams{
			WorkspaceID: ws, CampaignID: campaignID, SalesEntryID: &entry, Reason: string(in.Reason), Data: data, WorkflowID: &wf,
		})
		if err != nil {
			return fmt.Errorf("queue sales entry %d for review: %w", in.SalesEntryID, err)
		}
		status := string(salesentry.InReview)
		if _, err := q.SalesEntryRecordStep(ctx, db.SalesEntryRecordStepParams{
			ID: in.SalesEntryID, Status: &status, CampaignID: campaignID, Action: action, WorkflowID: &wf,
		}); err != nil {
			return fmt.Errorf("set sales entry %d in review: %w", in.SalesEntryID, err)
		}
		// Admins are told (review.created) when the campaign asks for it,
		// once per review entry: a second round keeps the same entry.
		if _, err := queueReviewCreated(ctx, q, row); err != nil {
			return err
		}
		id = row.ID.String()
		return nil
	})
	return id, err
}

// CloseReviewInput closes a sales entry's review entry.
type CloseReviewInput struct {
	ReviewEntryID string
	// Status is review.Resolved or review.Dismissed.
	Status    review.Status
	Decision  string
	DecidedBy string
}

// CloseReviewEntry resolves or dismisses an open review entry with the
// admin's decision. An entry already closed (an earlier attempt) is left as
// it is.
func (a *Activities) CloseReviewEntry(ctx context.Context, in CloseReviewInput) error {
	id, err := parseEntityID(in.ReviewEntryID, "review entry")
	if err != nil {
		return err
	}
	if in.Status != review.Resolved && in.Status != review.Dismissed {
		return temporal.NewNonRetryableApplicationError("a review entry closes as resolved or dismissed, not "+string(in.Status), "InvalidInput", nil)
	}
	_, err = a.Queries.ReviewEntryDecide(ctx, db.ReviewEntryDecideParams{
		ID: id, Status: string(in.Status), Decision: &in.Decision, DecidedBy: &in.DecidedBy,
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("close review entry %s: %w", in.ReviewEntryID, err)
	}
	return nil
}
