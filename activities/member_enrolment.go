package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
)

// EnrolInput is a HubSpot contact event the Sales Receiver's workflow asks
// to enrol: the contact as read, and whether the event is its creation.
type EnrolInput struct {
	WorkspaceID string
	Contact     MatchObject
	// Created is set when the sales entry is the contact's creation.
	Created bool
	// AddedToList is the HubSpot list the contact was added to, when the
	// sales entry is such an addition (from the webhooks journal): only
	// campaigns enrolling on that list (on_list_ids) take it.
	AddedToList string `json:",omitempty"`
}

// Enrolment is what enrolling did in one campaign.
type Enrolment struct {
	CampaignID string
	MemberID   string `json:",omitempty"`
	// Joined is set when the contact became a member now; a contact
	// already a member of the campaign is not (MemberID names it).
	Joined bool `json:",omitempty"`
	// NotEnrolled says why the campaign's rule matched but no member was
	// added (no email, the campaign left active meanwhile).
	NotEnrolled string `json:",omitempty"`
}

// EnrolContact makes a HubSpot contact a member of every active campaign of
// the workspace whose process_rules.enrol_members the event meets (a
// creation with on_contact_created, a contact whose lifecyclestage is one
// of on_lifecycle_stages, a contact added to one of on_list_ids), through
// AddMember like every way in (source
// hubspot), with the contact's email, first and last name, and keeps the
// contact's ID on the member. Idempotent: a contact already a member of a
// campaign (by email) is reported with that member and not added again, so
// HubSpot's duplicate deliveries and Temporal's retries add one member.
// The member's workflow (started by the worker's reconciler for members
// without one) then writes their referral code and link to the contact.
func (a *Activities) EnrolContact(ctx context.Context, in EnrolInput) ([]Enrolment, error) {
	ws, err := parseEntityID(in.WorkspaceID, "workspace")
	if err != nil {
		return nil, err
	}
	if in.Contact.ObjectType != hubspotobject.Contact || in.Contact.Missing {
		return nil, nil
	}
	camps, err := a.activeCampaigns(ctx, ws)
	if err != nil {
		return nil, err
	}
	stage := strings.TrimSpace(in.Contact.Properties[campaign.LifecycleStageProperty])
	var out []Enrolment
	for _, c := range camps {
		rule := c.settings.ProcessRules.EnrolMembers
		if in.AddedToList != "" && !rule.EnrolsOnList(in.AddedToList) || in.AddedToList == "" && !rule.Enrols(in.Created, stage) {
			continue
		}
		e, err := a.enrolIn(ctx, ws, c.row.ID, in.Contact)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// enrolIn enrols the contact in one campaign (EnrolContactIn).
func (a *Activities) enrolIn(ctx context.Context, ws, campaignID uuid.UUID, contact MatchObject) (Enrolment, error) {
	return EnrolContactIn(ctx, a.Pool, ws, campaignID, contact)
}

// EnrolContactIn is the enrolment verb: it makes a HubSpot contact a member
// of one campaign through AddMember (source hubspot), with the contact's
// email, first and last name, and links the member to the contact. A
// contact already a member (by email) is that member, linked if it was
// not. An error is one a retry may mend (the database); what no retry
// mends is said in NotEnrolled. EnrolContact (a campaign's enrol rules) and
// the "Enrol as member" HubSpot workflow action both call it; the member's
// workflow then writes the code and link to the contact.
func EnrolContactIn(ctx context.Context, pool *pgxpool.Pool, ws, campaignID uuid.UUID, contact MatchObject) (Enrolment, error) {
	e := Enrolment{CampaignID: campaignID.String()}
	email := strings.TrimSpace(contact.Properties["email"])
	if email == "" {
		e.NotEnrolled = "the contact has no email"
		return e, nil
	}
	m, err := AddMember(ctx, pool, NewMember{
		WorkspaceID: ws, CampaignID: campaignID, Email: email,
		FirstName: strings.TrimSpace(contact.Properties["firstname"]), LastName: strings.TrimSpace(contact.Properties["lastname"]),
		Source: referral.MemberSourceHubSpot,
	})
	var dup *DuplicateMemberError
	var notActive *campaign.NotActiveError
	switch {
	case errors.As(err, &dup):
		// Already a member (this event delivered twice, or they joined
		// another way): the contact is linked if the member has none.
		m = dup.Existing
		e.MemberID = m.ID.String()
		if m.HubspotContactID != nil {
			return e, nil
		}
	case errors.As(err, &notActive):
		e.NotEnrolled = notActive.Error()
		return e, nil
	case err != nil:
		return e, fmt.Errorf("enrol contact %d in campaign %s: %w", contact.ObjectID, campaignID, err)
	default:
		e.MemberID, e.Joined = m.ID.String(), true
	}
	contactID := contact.ObjectID
	if _, err := db.New(pool).MemberSetHubSpotContact(ctx, db.MemberSetHubSpotContactParams{ID: m.ID, HubspotContactID: &contactID}); err != nil {
		return e, fmt.Errorf("link member %s to contact %d: %w", m.ID, contactID, err)
	}
	return e, nil
}
