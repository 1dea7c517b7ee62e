package activities

import (
	"context"
	"errors"
	"fmt"
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

// LeadResult is what SendLeadToHubSpot did with a referral's lead. At most
// one of Skipped and CannotQualify is set.
type LeadResult struct {
	// Skipped says why nothing was sent: the campaign needs setup, or its
	// leads action is none.
	Skipped string `json:",omitempty"`
	// CannotQualify is set when HubSpot already had the lead as a contact and
	// the campaign's duplicate handling is do_nothing: the referral can never
	// qualify (stored as the referral's cannot_qualify_reason).
	CannotQualify string `json:",omitempty"`
	// ContactID and DealID are the HubSpot objects stored on the referral.
	ContactID string `json:",omitempty"`
	DealID    string `json:",omitempty"`
	// What this call did in HubSpot (false on a retry that found the work
	// done).
	ContactCreated bool `json:",omitempty"`
	ContactUpdated bool `json:",omitempty"`
	DealCreated    bool `json:",omitempty"`
}

// Error types of the lead activity besides hubspot's ErrorType constants.
const (
	ErrorTypeReferralNotFound = "ReferralNotFound"
	ErrorTypeLeadMapping      = "LeadMappingInvalid"
	// ErrorTypeCampaignSetupRequired: the campaign's settings lack what
	// sending the lead needs (its mapping rows).
	ErrorTypeCampaignSetupRequired = "CampaignSetupRequired"
)

// SendLeadToHubSpot sends a referral's lead to HubSpot per its campaign's
// Leads settings: a contact, a deal, or a deal with an associated contact,
// with the mapped properties and the status rules' initial value; the HubSpot
// object IDs are stored on the referral.
//
// A campaign whose leads action is none, or that is archived, sends nothing
// (LeadResult.Skipped); a draft's lead waits (CampaignNotActive) until it is
// active; a paused campaign's referrals, taken while it was active, keep
// living and their leads are sent. One whose leads mapping needs setup fails
// with CampaignSetupRequired, naming what is missing; an incomplete referrers
// mapping does not stop leads. A lead HubSpot already has as a contact is updated
// (duplicate handling update_existing) or left alone (do_nothing): then the
// referral cannot qualify, the reason and the contact's ID are stored, and no
// deal is created for it.
//
// Idempotence. Each object's ID is written to the referral as soon as HubSpot
// returns it, and an ID already stored is never created again, so a retry
// after a failure past that point repeats nothing. What is left is the window
// between HubSpot creating an object and the database write (a lost answer, a
// crash, a failed write):
//   - contact: HubSpot keys contacts by email, so a retry finds the contact by
//     email. A contact created at or after the referral row was written is
//     taken as this referral's own (created by the lost attempt) and adopted,
//     not treated as a duplicate; one created earlier is a duplicate. A
//     contact with the lead's email that someone else creates in HubSpot in
//     the moments between the referral being added and its lead being sent is
//     therefore adopted too (the capture-time fraud check looks for existing
//     contacts before that).
//   - deal with an associated contact: the deal is created already
//     associated with the contact and carrying the referral's ID
//     (referflow_referral_id), so before creating one the contact's deals
//     are read (associations and a batch read: consistent at once, unlike
//     search) and the one holding this referral's ID is adopted. A lost
//     create answer (a 5xx after the write, an answer slower than the
//     client's timeout) therefore never makes a second deal.
//   - deal without a contact: before creating one a search looks for a deal
//     with the same dealname and pipeline created at or after the referral
//     row and not stored on any referral of the workspace; the oldest is
//     adopted. HubSpot's search is eventually consistent (a deal can take a
//     few seconds to be searchable), so a retry that runs sooner than that
//     after a lost create can still create a second deal; Temporal's retry
//     backoff makes that unlikely, not impossible. Two referrals of one
//     campaign with identical deal names that both lose their create answer
//     at the same moment could adopt each other's deal.
//
// Errors go through hubspot.TemporalError: a rate limit retries after
// HubSpot's wait; a refused property (one the portal lacks) fails at once and
// names the property.
func (h *HubSpot) SendLeadToHubSpot(ctx context.Context, referralID string) (LeadResult, error) {
	if h == nil || h.Queries == nil {
		return LeadResult{}, temporal.NewNonRetryableApplicationError("this worker's HubSpot activities have no database", ErrorTypeHubSpotNotConfigured, nil)
	}
	id, err := uuid.Parse(referralID)
	if err != nil {
		return LeadResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%q is not a referral ID", referralID), "InvalidInput", err)
	}
	lead, err := h.loadLead(ctx, id)
	if err != nil {
		return LeadResult{}, err
	}
	if lead.referral.ErasedAt != nil {
		return LeadResult{Skipped: ErasedSkip}, nil
	}
	switch lead.status {
	case campaign.Archived:
		return LeadResult{Skipped: "the campaign is archived: nothing is sent to HubSpot"}, nil
	case campaign.Draft:
		// Only a referral added before campaign statuses were enforced can
		// be a draft's: its lead waits until the campaign is active.
		return LeadResult{}, temporal.NewNonRetryableApplicationError(
			"the campaign is a draft: its leads are sent to HubSpot once it is active", ErrTypeCampaignNotActive, nil)
	}
	if missing := lead.settings.LeadsSetupRequired(); len(missing) > 0 {
		// Nothing can be sent until an admin completes the leads settings;
		// the referral's workflow waits and tries again when they are saved.
		// The referrers settings never hold a lead back.
		return LeadResult{}, temporal.NewNonRetryableApplicationError("campaign setup required: "+strings.Join(missing, "; "), ErrorTypeCampaignSetupRequired, nil)
	}
	leads := lead.settings.Leads
	if leads.Action == campaign.ActionNone || leads.Action == "" {
		return LeadResult{Skipped: "the campaign's leads action is none: nothing is sent to HubSpot"}, nil
	}
	r := lead.referral
	res := LeadResult{ContactID: leadIDString(r.HubspotContactID), DealID: leadIDString(r.HubspotDealID)}
	if r.CannotQualifyReason != nil {
		// A previous attempt found the lead in HubSpot already.
		res.CannotQualify = *r.CannotQualifyReason
		return res, nil
	}
	props, err := lead.properties(h.PublicURL)
	if err != nil {
		return LeadResult{}, err
	}

	c, err := h.client(ctx, r.WorkspaceID)
	if err != nil {
		return LeadResult{}, err
	}
	s := &leadSender{h: h, c: c, lead: lead, props: props, res: &res}

	needContact := leads.Action == campaign.ActionCreateContact || (leads.Action == campaign.ActionCreateDeal && leads.AssociateContact)
	if needContact && res.ContactID == "" {
		if err := s.contact(ctx); err != nil {
			return LeadResult{}, err
		}
		if res.CannotQualify != "" {
			return res, nil
		}
	}
	if leads.Action == campaign.ActionCreateDeal && res.DealID == "" {
		if err := s.deal(ctx); err != nil {
			return LeadResult{}, err
		}
	}
	return res, nil
}

// lead is what the lead activity loads: the referral, its member and its
// campaign's settings.
type lead struct {
	referral     db.Referral
	member       db.Member
	campaignName string
	status       campaign.Status
	settings     campaign.Settings
}

func (h *HubSpot) loadLead(ctx context.Context, id uuid.UUID) (lead, error) {
	detail, err := h.Queries.ReferralGetDetail(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return lead{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("referral %s does not exist", id), ErrorTypeReferralNotFound, err)
	}
	if err != nil {
		return lead{}, fmt.Errorf("load referral %s: %w", id, err)
	}
	member, err := h.Queries.MemberGetByID(ctx, detail.Referral.MemberID)
	if err != nil {
		return lead{}, fmt.Errorf("load member %s of referral %s: %w", detail.Referral.MemberID, id, err)
	}
	row, err := h.Queries.CampaignGetByID(ctx, detail.Referral.CampaignID)
	if err != nil {
		return lead{}, fmt.Errorf("load campaign %s of referral %s: %w", detail.Referral.CampaignID, id, err)
	}
	settings, err := CampaignSettings(row)
	if err != nil {
		return lead{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrorTypeLeadMapping, err)
	}
	return lead{referral: detail.Referral, member: member, campaignName: detail.CampaignName, status: campaign.Status(row.Status), settings: settings}, nil
}

// objectProps are the properties to write per campaign object ("contact",
// "deal"): Mapped on create and update, Initial added on create only.
type objectProps struct {
	Mapped  map[hubspotobject.Type]map[string]string
	Initial *campaign.PropertyValue
	// ReferralID is written into referflow_referral_id on every object
	// created for the lead: the Sales Receiver's direct match.
	ReferralID string
}

// create is what a created object of obj gets: its mapped properties and, on
// the object the campaign's leads action creates, the initial status value.
func (p objectProps) create(obj, createdObject hubspotobject.Type) map[string]string {
	out := map[string]string{}
	for k, v := range p.Mapped[obj] {
		out[k] = v
	}
	if p.Initial != nil && obj == createdObject {
		out[p.Initial.Property] = p.Initial.Value
	}
	if p.ReferralID != "" {
		out[hubspotobject.PropReferralID] = p.ReferralID
	}
	return out
}

// properties resolves the campaign's Leads field-mapping rows (mapFields)
// with the lead's values: the lead is the person, the member their
// referrer.
func (l lead) properties(publicURL string) (objectProps, error) {
	r := l.referral
	values := mappingValues(leadString(r.LeadFirstName), r.LeadEmail, r.Source, l.member, l.campaignName, publicURL)
	mapped, err := mapFields("leads", l.settings.Leads.FieldMapping, values)
	if err != nil {
		return objectProps{}, err
	}
	return objectProps{Mapped: mapped, Initial: l.settings.StatusRules.Initial, ReferralID: r.ID.String()}, nil
}

// leadSender does the HubSpot calls of one activity run.
type leadSender struct {
	h     *HubSpot
	c     *hubspot.Client
	lead  lead
	props objectProps
	res   *LeadResult
}

func (s *leadSender) createdObject() hubspotobject.Type {
	return campaign.CreatedObject(s.lead.settings.Leads.Action)
}

// contact finds the lead's contact by email and applies the duplicate
// handling, or creates it; the contact's ID (and a cannot-qualify reason) is
// stored at once.
func (s *leadSender) contact(ctx context.Context) error {
	email := s.props.Mapped[hubspotobject.Contact]["email"]
	if email == "" {
		email = s.lead.referral.LeadEmail
	}
	found, err := findOrCreateContact(ctx, s.c, email, s.props.create(hubspotobject.Contact, s.createdObject()), s.lead.referral.CreatedAt, "the lead's")
	if err != nil {
		return err
	}
	if found.Existing {
		return s.existingContact(ctx, found.ID)
	}
	s.res.ContactCreated = found.Created
	return s.storeContact(ctx, found.ID, nil)
}

// existingContact applies the duplicate handling to a contact HubSpot had
// before the referral.
func (s *leadSender) existingContact(ctx context.Context, contactID string) error {
	if s.lead.settings.Leads.DuplicateHandling == campaign.DuplicateUpdateExisting {
		if props := s.props.Mapped[hubspotobject.Contact]; len(props) > 0 {
			if _, err := s.c.Update(ctx, hubspot.Contacts, contactID, props); err != nil {
				return hubspot.TemporalError(fmt.Errorf("update the lead's existing contact %s: %w", contactID, err))
			}
		}
		s.res.ContactUpdated = true
		return s.storeContact(ctx, contactID, nil)
	}
	reason := fmt.Sprintf("already in HubSpot as contact %s: duplicate handling is do nothing", contactID)
	s.res.CannotQualify = reason
	return s.storeContact(ctx, contactID, &reason)
}

func (s *leadSender) storeContact(ctx context.Context, contactID string, reason *string) error {
	n, err := strconv.ParseInt(contactID, 10, 64)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("HubSpot contact ID %q is not a number", contactID), hubspot.ErrorTypeUnexpected, err)
	}
	if _, err := s.h.Queries.ReferralSetHubSpotObjects(ctx, db.ReferralSetHubSpotObjectsParams{
		ID: s.lead.referral.ID, HubspotContactID: &n, CannotQualifyReason: reason,
	}); err != nil {
		return fmt.Errorf("store HubSpot contact %s on referral %s: %w", contactID, s.lead.referral.ID, err)
	}
	s.res.ContactID = contactID
	return nil
}

// deal adopts a deal a lost previous attempt created, or creates one
// (associated with the contact when there is one), and stores its ID at once.
func (s *leadSender) deal(ctx context.Context) error {
	props := s.props.create(hubspotobject.Deal, s.createdObject())
	found, err := s.previousDeal(ctx, props)
	if err != nil {
		return err
	}
	dealID := found
	if dealID == "" {
		in := hubspot.CreateInput{Properties: props}
		if s.res.ContactID != "" {
			in.Associations = []hubspot.AssociationInput{hubspot.AssociateWith(s.res.ContactID, hubspot.DealToContact)}
		}
		created, err := createRecord(ctx, s.c, hubspot.Deals, in)
		if err != nil {
			return hubspot.TemporalError(fmt.Errorf("create the lead's deal: %w", err))
		}
		dealID = created.ID
		s.res.DealCreated = true
	}
	n, err := strconv.ParseInt(dealID, 10, 64)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("HubSpot deal ID %q is not a number", dealID), hubspot.ErrorTypeUnexpected, err)
	}
	if _, err := s.h.Queries.ReferralSetHubSpotObjects(ctx, db.ReferralSetHubSpotObjectsParams{ID: s.lead.referral.ID, HubspotDealID: &n}); err != nil {
		return fmt.Errorf("store HubSpot deal %s on referral %s: %w", dealID, s.lead.referral.ID, err)
	}
	s.res.DealID = dealID
	return nil
}

// previousDeal looks for the deal an earlier attempt created but could not
// store (see SendLeadToHubSpot): among the contact's deals, the one holding
// the referral's ID; without a contact, one found by search with the same
// dealname and pipeline, created at or after the referral and on no referral
// yet. It returns "" when there is none.
func (s *leadSender) previousDeal(ctx context.Context, props map[string]string) (string, error) {
	r := s.lead.referral
	if s.res.ContactID != "" {
		return contactsDealWith(ctx, s.c, s.res.ContactID, hubspotobject.PropReferralID, r.ID.String())
	}
	deals, err := dealsCreatedSince(ctx, s.c, r.CreatedAt, map[string]string{"dealname": props["dealname"], "pipeline": props["pipeline"]})
	if err != nil {
		return "", err
	}
	for _, d := range deals {
		n, err := strconv.ParseInt(d.ID, 10, 64)
		if err != nil {
			continue
		}
		claimed, err := s.h.Queries.ReferralListByHubSpotObject(ctx, db.ReferralListByHubSpotObjectParams{WorkspaceID: r.WorkspaceID, ObjectType: string(hubspotobject.Deal), ObjectID: n})
		if err != nil {
			return "", fmt.Errorf("check whether deal %s is another referral's: %w", d.ID, err)
		}
		if slices.ContainsFunc(claimed, func(o db.Referral) bool { return o.ID != r.ID }) {
			continue
		}
		return d.ID, nil
	}
	return "", nil
}

func leadIDString(id *int64) string {
	if id == nil {
		return ""
	}
	return strconv.FormatInt(*id, 10)
}

func leadString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
