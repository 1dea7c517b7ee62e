package hubspotconn

import (
	"context"
	"errors"
	"fmt"

	"github.com/referflow/referflow/internal/hubspot"
)

// The association labels referflow defines in a connected portal, so that
// HubSpot's own lists, reports and workflows can use who referred whom.
// HubSpot reads a labelled association from→to as "to is <label> of from"
// (contact→company "Primary": the contact's primary company), so:
//
//   - lead's contact → member's contact is "Referrer" (the member referred
//     the lead), and HubSpot adds the inverse, member → lead, "Referred";
//   - lead's deal → member's contact is "Referred by".
const (
	LabelReferrer   = "Referrer"
	LabelReferred   = "Referred"
	LabelReferredBy = "Referred by"
)

// ReferralLabels are the type IDs of referflow's labels in one portal.
type ReferralLabels struct {
	// Referrer: contact→contact, from the lead's contact to the member's.
	Referrer int
	// Referred: contact→contact, the inverse, from the member to the lead.
	Referred int
	// ReferredBy: deal→contact, from the lead's deal to the member's
	// contact.
	ReferredBy int
}

// Complete tells whether every type ID is known.
func (l ReferralLabels) Complete() bool {
	return l.Referrer > 0 && l.Referred > 0 && l.ReferredBy > 0
}

// labelDefinitions are the definitions EnsureAssociationLabels creates where
// they are missing. The internal names carry referflow's prefix, so they
// never take a name the portal's admins might use themselves.
var labelDefinitions = []struct {
	from, to hubspot.ObjectType
	def      hubspot.NewAssociationLabel
}{
	{hubspot.Contacts, hubspot.Contacts, hubspot.NewAssociationLabel{Label: LabelReferrer, Name: "referflow_referrer", InverseLabel: LabelReferred}},
	{hubspot.Deals, hubspot.Contacts, hubspot.NewAssociationLabel{Label: LabelReferredBy, Name: "referflow_referred_by"}},
}

// EnsureAssociationLabels finds referflow's association labels in the portal
// and creates those missing, returning their type IDs and what it created.
// A label the portal already has (made by an earlier connect, or by its
// admins under the same wording) is reused, whatever its internal name. It
// reads before it writes, so a retry creates only what is still missing; a
// create that loses a race (HubSpot's 409) reads again.
func EnsureAssociationLabels(ctx context.Context, c *hubspot.Client) (ReferralLabels, []string, error) {
	var ids ReferralLabels
	var created []string
	for _, d := range labelDefinitions {
		find := func() (map[string]int, error) {
			types, err := c.ListAssociationLabels(ctx, d.from, d.to)
			if err != nil {
				return nil, fmt.Errorf("%s to %s association labels: %w", d.from, d.to, err)
			}
			byLabel := map[string]int{}
			for _, t := range types {
				if t.Category == hubspot.UserDefined && t.Label != "" {
					if _, seen := byLabel[t.Label]; !seen {
						byLabel[t.Label] = t.TypeID
					}
				}
			}
			return byLabel, nil
		}
		have, err := find()
		if err != nil {
			return ids, created, err
		}
		if !hasLabels(have, d.def) {
			_, err := c.CreateAssociationLabel(ctx, d.from, d.to, d.def)
			var conflict *hubspot.ConflictError
			switch {
			case errors.As(err, &conflict):
				// Created meanwhile (another setup), or the name is taken by a
				// label since renamed: read again and say which.
			case err != nil:
				return ids, created, fmt.Errorf("create the %s to %s association label %q: %w", d.from, d.to, d.def.Label, err)
			default:
				created = append(created, fmt.Sprintf("%s to %s association label %s", d.from, d.to, labelWording(d.def)))
			}
			if have, err = find(); err != nil {
				return ids, created, err
			}
			if !hasLabels(have, d.def) {
				return ids, created, fmt.Errorf("%w: the portal has an association label named %s from %s to %s, but not labelled %s: rename it back in HubSpot's settings (Objects, associations) or delete it, then connect again",
					hubspot.ErrInvalidRequest, d.def.Name, d.from, d.to, labelWording(d.def))
			}
		}
		switch d.def.Label {
		case LabelReferrer:
			ids.Referrer, ids.Referred = have[LabelReferrer], have[LabelReferred]
		case LabelReferredBy:
			ids.ReferredBy = have[LabelReferredBy]
		}
	}
	return ids, created, nil
}

func hasLabels(have map[string]int, def hubspot.NewAssociationLabel) bool {
	if have[def.Label] == 0 {
		return false
	}
	return def.InverseLabel == "" || have[def.InverseLabel] != 0
}

func labelWording(def hubspot.NewAssociationLabel) string {
	if def.InverseLabel != "" {
		return fmt.Sprintf("%q / %q", def.Label, def.InverseLabel)
	}
	return fmt.Sprintf("%q", def.Label)
}
