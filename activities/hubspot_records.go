package activities

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// What sending a lead (settings.leads, hubspot_leads.go) and sending a
// member (settings.referrers, hubspot_referrers.go) share: the field
// mapping, and finding or creating a person's contact and deal so that a
// retry after a lost answer never makes a second one. Each caller applies
// its own duplicate handling and stores the IDs on its own row.

// mappingValues are the referflow values field-mapping rows can copy
// (campaign.Sources): the person's own (first name, email, source: the
// lead's, or for referrers the member's) and their referrer's (the member).
func mappingValues(firstName, email, source string, m db.Member, campaignName, publicURL string) map[string]string {
	link := ""
	if publicURL != "" {
		link = strings.TrimRight(publicURL, "/") + "/r/" + m.ReferralCode
	}
	return map[string]string{
		"first_name":               firstName,
		"email":                    email,
		"referral_code":            m.ReferralCode,
		"source":                   source,
		"referral_link":            link,
		"campaign_name":            campaignName,
		"referrer_first_name":      leadString(m.FirstName),
		"referrer_email":           m.Email,
		"referrer_code":            m.ReferralCode,
		"referrer_link":            link,
		"referrer_referrals_count": strconv.Itoa(int(m.ReferralCount)),
	}
}

// mapFields resolves field-mapping rows (of the campaign's settings at "at":
// leads or referrers) into the properties to write per object, taking
// dynamic values from values (mappingValues). A dynamic value that is empty
// (a person without a first name) is left out rather than written as "",
// which would clear the property of an updated record.
func mapFields(at string, rows []campaign.FieldMapping, values map[string]string) (map[hubspotobject.Type]map[string]string, error) {
	out := map[hubspotobject.Type]map[string]string{}
	for i, row := range rows {
		v := row.Value
		if row.Source != "" {
			var known bool
			if v, known = values[row.Source]; !known {
				return nil, temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("%s.field_mapping[%d]: unknown source %q", at, i, row.Source), ErrorTypeLeadMapping, nil)
			}
			if v == "" && (row.Source == "referral_link" || row.Source == "referrer_link") {
				return nil, temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("%s.field_mapping[%d] maps the referral link into %s, but this worker has no public URL (REFERFLOW_PUBLIC_URL)", at, i, row.Property),
					ErrorTypeHubSpotNotConfigured, nil)
			}
		}
		if v == "" {
			continue
		}
		if out[row.Object] == nil {
			out[row.Object] = map[string]string{}
		}
		out[row.Object][row.Property] = v
	}
	return out, nil
}

// personContact is what findOrCreateContact found or made.
type personContact struct {
	ID string
	// Created: this call created the contact with the properties given.
	Created bool
	// Existing: HubSpot had the contact before the person was added to
	// referflow; the caller's duplicate handling decides what to write.
	// A contact created since (by an earlier attempt whose answer or
	// database write was lost) is the caller's own: neither flag is set.
	Existing bool
}

// findOrCreateContact finds the contact with email, or creates it with
// props. since is when the person's row was written: a contact HubSpot
// created at or after it is taken as made by an earlier attempt of the
// caller (HubSpot keys contacts by email, so a retry finds it), one created
// before as a duplicate. who names the person in errors ("the lead's").
func findOrCreateContact(ctx context.Context, c *hubspot.Client, email string, props map[string]string, since time.Time, who string) (personContact, error) {
	existing, err := c.GetContactByEmail(ctx, email, "email")
	var notFound *hubspot.NotFoundError
	switch {
	case errors.As(err, &notFound):
		created, err := createRecord(ctx, c, hubspot.Contacts, hubspot.CreateInput{Properties: props})
		var conflict *hubspot.ConflictError
		if errors.As(err, &conflict) && conflict.ExistingID != "" {
			// Created by someone else between the lookup and the create.
			return personContact{ID: conflict.ExistingID, Existing: true}, nil
		}
		if err != nil {
			return personContact{}, hubspot.TemporalError(fmt.Errorf("create %s contact: %w", who, err))
		}
		return personContact{ID: created.ID, Created: true}, nil
	case err != nil:
		return personContact{}, hubspot.TemporalError(fmt.Errorf("look up %s contact by email: %w", who, err))
	}
	if !existing.CreatedAt.IsZero() && !existing.CreatedAt.Before(since) {
		return personContact{ID: existing.ID}, nil
	}
	return personContact{ID: existing.ID, Existing: true}, nil
}

// createRecord creates a HubSpot record. A portal connected before
// referflow wrote one of its own properties (referflow_referral_id on a
// lead's records, referflow_referral_code on a member's deal) lacks it, and
// HubSpot refuses a create naming a property it does not have: referflow's
// properties are then created on the object type (as the connection's setup
// does) and the create tried once more.
func createRecord(ctx context.Context, c *hubspot.Client, t hubspot.ObjectType, in hubspot.CreateInput) (*hubspot.Object, error) {
	created, err := c.Create(ctx, t, in)
	var invalid *hubspot.ValidationError
	if !errors.As(err, &invalid) || !slices.ContainsFunc(invalid.Properties, func(p string) bool { return strings.HasPrefix(p, "referflow_") }) {
		return created, err
	}
	if _, err := hubspotconn.EnsureProperties(ctx, c, t); err != nil {
		return nil, fmt.Errorf("create referflow's missing properties: %w", err)
	}
	return c.Create(ctx, t, in)
}

// updateRecord updates a HubSpot record, creating referflow's properties on
// the object type and trying once more when HubSpot refuses one of them (a
// member written the moment HubSpot is connected, before the portal's setup
// has created them), as createRecord does for creates.
func updateRecord(ctx context.Context, c *hubspot.Client, t hubspot.ObjectType, id string, props map[string]string) (*hubspot.Object, error) {
	updated, err := c.Update(ctx, t, id, props)
	var invalid *hubspot.ValidationError
	if !errors.As(err, &invalid) || !slices.ContainsFunc(invalid.Properties, func(p string) bool { return strings.HasPrefix(p, "referflow_") }) {
		return updated, err
	}
	if _, err := hubspotconn.EnsureProperties(ctx, c, t); err != nil {
		return nil, fmt.Errorf("create referflow's missing properties: %w", err)
	}
	return c.Update(ctx, t, id, props)
}

// contactsDealWith returns the deal associated with contactID whose
// property prop holds value (the referral's ID, the member's code), "" when
// there is none: how a retry finds the deal a lost attempt created with its
// contact. Reads by ID and associations see a write at once, where search
// may lag.
func contactsDealWith(ctx context.Context, c *hubspot.Client, contactID, prop, value string) (string, error) {
	assocs, err := c.ListAssociations(ctx, hubspot.Contacts, contactID, hubspot.Deals, hubspot.AssociationListOptions{Limit: hubspot.MaxAssociationsLimit})
	if err != nil {
		return "", hubspot.TemporalError(fmt.Errorf("read contact %s's deals: %w", contactID, err))
	}
	if len(assocs.Results) == 0 {
		return "", nil
	}
	ids := make([]string, 0, len(assocs.Results))
	for _, a := range assocs.Results {
		ids = append(ids, a.ToObjectID)
	}
	deals, err := c.BatchRead(ctx, hubspot.Deals, ids, hubspot.BatchReadOptions{Properties: []string{prop}})
	if err != nil {
		return "", hubspot.TemporalError(fmt.Errorf("read contact %s's deals: %w", contactID, err))
	}
	for _, d := range deals.Results {
		if d.Properties[prop] == value {
			return d.ID, nil
		}
	}
	return "", nil
}

// dealsCreatedSince searches for deals created at or after since whose
// properties equal filters' values, oldest first: how a retry finds the
// deal a lost attempt created without a contact. HubSpot's search is
// eventually consistent (a deal can take seconds to be searchable), so the
// caller's retry backoff is what makes a second deal unlikely.
func dealsCreatedSince(ctx context.Context, c *hubspot.Client, since time.Time, filters map[string]string) ([]hubspot.Object, error) {
	fs := []hubspot.Filter{{PropertyName: "createdate", Operator: hubspot.OpGTE, Value: strconv.FormatInt(since.UnixMilli(), 10)}}
	for _, p := range slices.Sorted(maps.Keys(filters)) {
		if v := filters[p]; v != "" {
			fs = append(fs, hubspot.Filter{PropertyName: p, Operator: hubspot.OpEQ, Value: v})
		}
	}
	page, err := c.Search(ctx, hubspot.Deals, hubspot.SearchRequest{
		FilterGroups: []hubspot.FilterGroup{{Filters: fs}},
		Sort:         &hubspot.Sort{PropertyName: "createdate"},
		Properties:   []string{"dealname"},
		Limit:        10,
	})
	if err != nil {
		return nil, hubspot.TemporalError(fmt.Errorf("search for a deal created by an earlier attempt: %w", err))
	}
	return page.Results, nil
}
