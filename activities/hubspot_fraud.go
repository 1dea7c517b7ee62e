package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/internal/hubspot"
)

// SameCompanyResult is what CheckSameHubSpotCompany found: whether the lead
// and the member are associated with the same HubSpot company (Detail says
// which, by IDs), or why the check could not look (Skipped).
type SameCompanyResult struct {
	Fired   bool   `json:",omitempty"`
	Detail  string `json:",omitempty"`
	Skipped string `json:",omitempty"`
}

// maxCompanyPages bounds the association pages read per contact (500
// companies each): a contact with more is no ordinary person.
const maxCompanyPages = 4

// CheckSameHubSpotCompany runs the same_hubspot_company fraud check: the
// lead's HubSpot contact (the referral's own, or the contact HubSpot has
// under the lead's email) and the member's contact are read for their
// company associations (contact→company, HubSpot's 279, any label), and the
// check fires when they share one. A lead HubSpot does not know yet, or a
// member without a contact, cannot be checked: Skipped says so. HubSpot's
// errors go through hubspot.TemporalError (a rate limit retries after its
// wait); the workflow never fails on them.
func (h *HubSpot) CheckSameHubSpotCompany(ctx context.Context, referralID string) (SameCompanyResult, error) {
	if h == nil || h.Queries == nil {
		return SameCompanyResult{}, temporal.NewNonRetryableApplicationError("this worker's HubSpot activities have no database", ErrorTypeHubSpotNotConfigured, nil)
	}
	id, err := uuid.Parse(referralID)
	if err != nil {
		return SameCompanyResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%q is not a referral ID", referralID), "InvalidInput", err)
	}
	detail, err := h.Queries.ReferralGetDetail(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return SameCompanyResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("referral %s does not exist", id), ErrorTypeReferralNotFound, err)
	}
	if err != nil {
		return SameCompanyResult{}, fmt.Errorf("load referral %s: %w", id, err)
	}
	r := detail.Referral
	member, err := h.Queries.MemberGetByID(ctx, r.MemberID)
	if err != nil {
		return SameCompanyResult{}, fmt.Errorf("load member %s of referral %s: %w", r.MemberID, id, err)
	}
	if member.HubspotContactID == nil {
		return SameCompanyResult{Skipped: "the member has no HubSpot contact"}, nil
	}
	c, err := h.client(ctx, r.WorkspaceID)
	if err != nil {
		return SameCompanyResult{}, err
	}
	memberContact := strconv.FormatInt(*member.HubspotContactID, 10)
	var leadContact string
	if r.HubspotContactID != nil {
		leadContact = strconv.FormatInt(*r.HubspotContactID, 10)
	} else {
		found, err := c.GetContactByEmail(ctx, r.LeadEmail)
		var notFound *hubspot.NotFoundError
		switch {
		case errors.As(err, &notFound):
			return SameCompanyResult{Skipped: "HubSpot has no contact for the lead yet"}, nil
		case err != nil:
			return SameCompanyResult{}, hubspot.TemporalError(fmt.Errorf("find the lead's contact: %w", err))
		}
		leadContact = found.ID
	}
	if leadContact == memberContact {
		// The same person: self_referral's business, not this check's.
		return SameCompanyResult{Skipped: "the lead's contact is the member's own"}, nil
	}
	memberCompanies, err := contactCompanies(ctx, c, memberContact)
	if err != nil {
		return SameCompanyResult{}, err
	}
	if len(memberCompanies) == 0 {
		return SameCompanyResult{}, nil
	}
	leadCompanies, err := contactCompanies(ctx, c, leadContact)
	if err != nil {
		return SameCompanyResult{}, err
	}
	for _, co := range leadCompanies {
		if slices.Contains(memberCompanies, co) {
			return SameCompanyResult{Fired: true, Detail: fmt.Sprintf(
				"the lead's HubSpot contact %s and the member's contact %s are both associated with HubSpot company %s", leadContact, memberContact, co)}, nil
		}
	}
	return SameCompanyResult{}, nil
}

// contactCompanies lists the IDs of the companies a contact is associated
// with, under any label.
func contactCompanies(ctx context.Context, c *hubspot.Client, contactID string) ([]string, error) {
	var ids []string
	opts := hubspot.AssociationListOptions{Limit: hubspot.MaxAssociationsLimit}
	for range maxCompanyPages {
		page, err := c.ListAssociations(ctx, hubspot.Contacts, contactID, hubspot.Companies, opts)
		var notFound *hubspot.NotFoundError
		if errors.As(err, &notFound) {
			return ids, nil // deleted meanwhile: no companies
		}
		if err != nil {
			return nil, hubspot.TemporalError(fmt.Errorf("read the companies of contact %s: %w", contactID, err))
		}
		for _, a := range page.Results {
			ids = append(ids, a.ToObjectID)
		}
		if page.After == "" {
			break
		}
		opts.After = page.After
	}
	return ids, nil
}
