package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
)

// The sales-entry workflow's database activities: loading the entry,
// recording each step on it, linking a matched HubSpot object to a referral,
// adding a referral from HubSpot, and the review entry. Matching itself is in
// sales_matching.go, the admins' notification in review_notify.go.

// Sales entry statuses (sales_entries.status).
const (
	SalesEntryReceived  = "received"
	SalesEntryMatching  = "matching"
	SalesEntryProcessed = "processed"
	SalesEntryReview    = "review"
	SalesEntryIgnored   = "ignored"
	SalesEntryFailed    = "failed"
)

// Review reasons a sales entry can be queued with (review_entries.reason).
const (
	ReviewNoMemberMatch    = "no_member_match"
	ReviewAmbiguousMatch   = "ambiguous_match"
	ReviewUnconfirmedMatch = "unconfirmed_match"
	ReviewManual           = "manual"
)

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
)

// SalesEntry is what a sales entry's workflow loads about its entry.
type SalesEntry struct {
	ID int64
	// WorkspaceID is "" when no workspace is connected to the portal.
	WorkspaceID      string
	PortalID         int64
	SubscriptionType string
	ObjectType       string // contact, deal or company
	ObjectID         int64
	// PropertyName and PropertyValue are set for a property change.
	PropertyName  string `json:",omitempty"`
	PropertyValue string `json:",omitempty"`
	OccurredAt    time.Time
	DedupeKey     string
	Status        string
	// ReadProperties are the HubSpot properties matching reads, per object
	// type: names and company domain, referflow's referral ID, and every
	// active campaign's external ID property and matching-rule properties.
	ReadProperties map[string][]string
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
	e := SalesEntry{
		ID: row.ID, PortalID: row.PortalID, SubscriptionType: row.SubscriptionType,
		ObjectType: row.ObjectType, ObjectID: row.ObjectID,
		PropertyName: deref(row.PropertyName), PropertyValue: deref(row.PropertyValue),
		OccurredAt: row.OccurredAt, DedupeKey: row.DedupeKey, Status: row.Status,
	}
	if row.WorkspaceID == nil {
		return e, nil
	}
	e.WorkspaceID = row.WorkspaceID.String()
	camps, err := a.activeCampaigns(ctx, *row.WorkspaceID)
	if err != nil {
		return SalesEntry{}, err
	}
	e.ReadProperties = readProperties(camps)
	return e, nil
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
		if c.Status != "active" {
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
var baseReadProperties = map[string][]string{
	campaign.ObjectContact: {"email", "firstname", "lastname", "company", campaign.PropReferralID},
	campaign.ObjectDeal:    {"dealname", campaign.PropReferralID},
	campaign.ObjectCompany: {"name", "domain"},
}

func readProperties(camps []matchCampaign) map[string][]string {
	out := map[string][]string{}
	add := func(object, prop string) {
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
		add(campaign.ObjectContact, pr.ExternalIDProperty)
		add(campaign.ObjectDeal, pr.ExternalIDProperty)
		for _, r := range pr.MatchingRules {
			add(r.Object, r.Property)
		}
	}
	for object := range out {
		slices.Sort(out[object])
	}
	return out
}

// SalesEntryAction is one step recorded in a sales entry's actions.
type SalesEntryAction struct {
	// Key makes the step idempotent: a retry with the same key appends
	// nothing.
	Key    string    `json:"key"`
	Step   string    `json:"step"`
	Detail string    `json:"detail"`
	Actor  string    `json:"actor"`
	At     time.Time `json:"at"`
	// Data is what the step saw or decided (IDs, match kinds, edited data).
	Data map[string]any `json:"data,omitempty"`
}

// SalesEntryStep records a step on a sales entry: the action, and when set,
// the status and what the entry was matched to.
type SalesEntryStep struct {
	SalesEntryID int64
	Action       SalesEntryAction
	Status       string `json:",omitempty"`
	CampaignID   string `json:",omitempty"`
	ReferralID   string `json:",omitempty"`
	MemberID     string `json:",omitempty"`
	Error        string `json:",omitempty"`
	WorkflowID   string `json:",omitempty"`
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
		p.Status = &s.Status
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
	ObjectType   string
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
		linked, err := q.ReferralLinkHubSpotObject(ctx, db.ReferralLinkHubSpotObjectParams{ID: id, ObjectType: in.ObjectType, ObjectID: in.ObjectID})
		if err != nil {
			return fmt.Errorf("link %s %d to referral %s: %w", in.ObjectType, in.ObjectID, in.ReferralID, err)
		}
		out = LinkedReferral{ReferralID: ref.ID.String(), CampaignID: ref.CampaignID.String(), MemberID: ref.MemberID.String(),
			Linked: linkedObjectID(linked, in.ObjectType) == in.ObjectID}
		details, _ := json.Marshal(map[string]any{
			"object_type": in.ObjectType, "object_id": in.ObjectID, "how": in.How, "stored": out.Linked,
		})
		key := fmt.Sprintf("hubspot_object_linked:%d:%s", in.SalesEntryID, in.ReferralID)
		entry := in.SalesEntryID
		if _, err := q.ReferralEventInsert(ctx, db.ReferralEventInsertParams{
			ReferralID: id, WorkspaceID: ref.WorkspaceID, Kind: "hubspot_object_linked", Actor: actorOr(in.Actor),
			SalesEntryID: &entry, Details: details, IdempotencyKey: &key,
		}); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("record the link of %s %d on referral %s: %w", in.ObjectType, in.ObjectID, in.ReferralID, err)
		}
		return nil
	})
	return out, err
}

func linkedObjectID(r db.Referral, objectType string) int64 {
	var p *int64
	switch objectType {
	case campaign.ObjectContact:
		p = r.HubspotContactID
	case campaign.ObjectDeal:
		p = r.HubspotDealID
	case campaign.ObjectCompany:
		p = r.HubspotCompanyID
	}
	if p == nil {
		return 0
	}
	return *p
}

func actorOr(actor string) string {
	if actor == "" {
		return "system"
	}
	return actor
}

// Lead is the referred person as a HubSpot object gives it.
type Lead struct {
	Email     string `json:",omitempty"`
	FirstName string `json:",omitempty"`
	LastName  string `json:",omitempty"`
	Company   string `json:",omitempty"`
}

// AddFromHubSpotInput adds a referral of a member for a HubSpot object.
type AddFromHubSpotInput struct {
	SalesEntryID int64
	WorkspaceID  string
	MemberID     string
	ObjectType   string
	ObjectID     int64
	Lead         Lead
	How          string
	Actor        string
}

// AddedReferral is the referral added from HubSpot.
type AddedReferral struct {
	ReferralID string
	CampaignID string
	MemberID   string
	// Created is false when an earlier attempt had added it.
	Created bool
}

// AddReferralFromHubSpot adds a referral (source hubspot) of the member for
// the object, with the lead's email and name from HubSpot and the object's
// ID already set, and records an added_from_hubspot event naming the sales
// entry. It is idempotent per campaign and object: a referral of the
// member's campaign already holding the object is returned as it is. The
// member's referral counts are recomputed.
//
// Non-retryable errors: the member does not exist or is another
// workspace's (MemberNotFound, NotInWorkspace), there is no lead email
// (NoLeadEmail), or the campaign already has this lead under another
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
	existing, err := a.Queries.ReferralGetOfCampaignByHubSpotObject(ctx, db.ReferralGetOfCampaignByHubSpotObjectParams{
		CampaignID: m.CampaignID, ObjectType: in.ObjectType, ObjectID: in.ObjectID,
	})
	switch {
	case err == nil:
		return AddedReferral{ReferralID: existing.ID.String(), CampaignID: existing.CampaignID.String(), MemberID: existing.MemberID.String()}, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return AddedReferral{}, fmt.Errorf("look for a referral already holding %s %d: %w", in.ObjectType, in.ObjectID, err)
	}
	email := strings.TrimSpace(in.Lead.Email)
	if email == "" {
		return AddedReferral{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s %d has no email (nor an associated contact with one): a referral needs the lead's email", in.ObjectType, in.ObjectID),
			ErrTypeNoLeadEmail, nil)
	}
	p := db.ReferralInsertParams{
		WorkspaceID: m.WorkspaceID, CampaignID: m.CampaignID, MemberID: m.ID,
		LeadEmail: email, LeadEmailNormalized: referral.NormalizeEmail(email),
		LeadFirstName: optional(in.Lead.FirstName), LeadLastName: optional(in.Lead.LastName), LeadCompany: optional(in.Lead.Company),
		Source: "hubspot",
	}
	objectID := in.ObjectID
	switch in.ObjectType {
	case campaign.ObjectContact:
		p.HubspotContactID = &objectID
	case campaign.ObjectDeal:
		p.HubspotDealID = &objectID
	case campaign.ObjectCompany:
		p.HubspotCompanyID = &objectID
	default:
		return AddedReferral{}, temporal.NewNonRetryableApplicationError("unknown HubSpot object type "+in.ObjectType, "InvalidInput", nil)
	}
	var out AddedReferral
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Queries.WithTx(tx)
		row, err := q.ReferralInsert(ctx, p)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			// Another entry about the same object (its creation and a
			// property change arrive together) may have added it just now.
			if same, gerr := a.Queries.ReferralGetOfCampaignByHubSpotObject(ctx, db.ReferralGetOfCampaignByHubSpotObjectParams{
				CampaignID: m.CampaignID, ObjectType: in.ObjectType, ObjectID: in.ObjectID,
			}); gerr == nil {
				out = AddedReferral{ReferralID: same.ID.String(), CampaignID: same.CampaignID.String(), MemberID: same.MemberID.String()}
				return errAddedConcurrently
			}
			other, gerr := a.Queries.ReferralGetByLeadEmail(ctx, db.ReferralGetByLeadEmailParams{CampaignID: m.CampaignID, LeadEmail: email})
			which := ""
			if gerr == nil {
				which = " as referral " + other.ID.String()
			}
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("campaign %s already has this lead%s: attach the entry to that referral instead", m.CampaignID, which), ErrTypeDuplicateLead, err)
		}
		if err != nil {
			return fmt.Errorf("add a referral of member %s from %s %d: %w", m.ID, in.ObjectType, in.ObjectID, err)
		}
		details, _ := json.Marshal(map[string]any{"object_type": in.ObjectType, "object_id": in.ObjectID, "how": in.How})
		key := fmt.Sprintf("added_from_hubspot:%d:%s", in.SalesEntryID, row.ID)
		entry := in.SalesEntryID
		if _, err := q.ReferralEventInsert(ctx, db.ReferralEventInsertParams{
			ReferralID: row.ID, WorkspaceID: row.WorkspaceID, Kind: "added_from_hubspot", Actor: actorOr(in.Actor),
			SalesEntryID: &entry, Details: details, IdempotencyKey: &key,
		}); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("record referral %s added from HubSpot: %w", row.ID, err)
		}
		if _, err := q.MemberRefreshReferralCounts(ctx, m.ID); err != nil {
			return fmt.Errorf("update member %s's referral counts: %w", m.ID, err)
		}
		out = AddedReferral{ReferralID: row.ID.String(), CampaignID: row.CampaignID.String(), MemberID: row.MemberID.String(), Created: true}
		return nil
	})
	if errors.Is(err, errAddedConcurrently) {
		return out, nil
	}
	return out, err
}

// errAddedConcurrently rolls back an insert that lost the race to another
// entry adding the same object's referral; that referral is the answer.
var errAddedConcurrently = errors.New("the referral was added concurrently by another sales entry")

func optional(s string) *string {
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	return &s
}

// OpenReviewInput puts a sales entry in the review queue.
type OpenReviewInput struct {
	SalesEntryID int64
	WorkspaceID  string
	CampaignID   string `json:",omitempty"`
	Reason       string
	// Data is what matching saw and proposes, shown to the admin.
	Data       map[string]any
	WorkflowID string
	Action     SalesEntryAction
}

// OpenSalesEntryReview creates the sales entry's open review entry (or
// updates it: one open entry per sales entry, so a retry or a second round
// after an edit queues nothing twice), and sets the sales entry's status to
// review with the action, in one transaction. It returns the review entry's
// ID.
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
			WorkspaceID: ws, CampaignID: campaignID, SalesEntryID: &entry, Reason: in.Reason, Data: data, WorkflowID: &wf,
		})
		if err != nil {
			return fmt.Errorf("queue sales entry %d for review: %w", in.SalesEntryID, err)
		}
		status := SalesEntryReview
		if _, err := q.SalesEntryRecordStep(ctx, db.SalesEntryRecordStepParams{
			ID: in.SalesEntryID, Status: &status, CampaignID: campaignID, Action: action, WorkflowID: &wf,
		}); err != nil {
			return fmt.Errorf("set sales entry %d in review: %w", in.SalesEntryID, err)
		}
		id = row.ID.String()
		return nil
	})
	return id, err
}

// CloseReviewInput closes a sales entry's review entry.
type CloseReviewInput struct {
	ReviewEntryID string
	// Status is resolved or dismissed.
	Status    string
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
	if in.Status != "resolved" && in.Status != "dismissed" {
		return temporal.NewNonRetryableApplicationError("a review entry closes as resolved or dismissed, not "+in.Status, "InvalidInput", nil)
	}
	_, err = a.Queries.ReviewEntryDecide(ctx, db.ReviewEntryDecideParams{
		ID: id, Status: in.Status, Decision: &in.Decision, DecidedBy: &in.DecidedBy,
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("close review entry %s: %w", in.ReviewEntryID, err)
	}
	return nil
}
