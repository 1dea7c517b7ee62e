package hubspotconn

import (
	"context"
	"errors"
	"fmt"

	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// PropertyGroup is the group referflow's properties live in, on contacts and
// deals.
var PropertyGroup = hubspot.PropertyGroup{Name: "referflow", Label: "referflow referrals", DisplayOrder: -1}

// Properties are the definitions of the properties referflow keeps on
// records (named in hubspotobject), created on each of
// hubspotobject.PropertyTypes, in PropertyGroup.
func Properties() []hubspot.Property {
	group := PropertyGroup.Name
	return []hubspot.Property{
		{Name: hubspotobject.PropReferralCode, Label: "Referral code", Type: hubspot.TypeString, FieldType: hubspot.FieldText, GroupName: group,
			Description: "This record's own referral code in referflow (as a member)."},
		{Name: hubspotobject.PropReferralLink, Label: "Referral link", Type: hubspot.TypeString, FieldType: hubspot.FieldText, GroupName: group,
			Description: "This record's referral link to share (as a member)."},
		{Name: hubspotobject.PropReferredByCode, Label: "Referred by (referral code)", Type: hubspot.TypeString, FieldType: hubspot.FieldText, GroupName: group,
			Description: "The referral code of the member who referred this record."},
		{Name: hubspotobject.PropReferralStatus, Label: "Referral status", Type: hubspot.TypeEnumeration, FieldType: hubspot.FieldSelect, GroupName: group,
			Description: "Where this record's referral stands in referflow.",
			Options: []hubspot.PropertyOption{
				{Label: "Pending", Value: "pending", DisplayOrder: 0},
				{Label: "Qualified", Value: "qualified", DisplayOrder: 1},
				{Label: "Approved", Value: "approved", DisplayOrder: 2},
				{Label: "Denied", Value: "denied", DisplayOrder: 3},
			}},
		{Name: hubspotobject.PropReferralID, Label: "Referral ID", Type: hubspot.TypeString, FieldType: hubspot.FieldText, GroupName: group,
			Description: "The ID of the referral referflow created this record for (matches HubSpot changes back to it)."},
		{Name: hubspotobject.PropReferralCount, Label: "Referrals", Type: hubspot.TypeNumber, FieldType: hubspot.FieldNumber, GroupName: group,
			Description: "How many people this member has referred."},
		{Name: hubspotobject.PropConvertedReferralCount, Label: "Converted referrals", Type: hubspot.TypeNumber, FieldType: hubspot.FieldNumber, GroupName: group,
			Description: "How many of this member's referrals converted (qualified or approved)."},
	}
}

// EnsureProperties creates referflow's property group and properties on an
// object type where they are missing, and returns the names it created.
// Properties that exist are left as they are. It reads before it writes, so
// a retry after a rate limit only creates what is still missing.
func EnsureProperties(ctx context.Context, c *hubspot.Client, t hubspot.ObjectType) ([]string, error) {
	var created []string
	if _, err := c.GetPropertyGroup(ctx, t, PropertyGroup.Name); err != nil {
		var nf *hubspot.NotFoundError
		if !errors.As(err, &nf) {
			return created, fmt.Errorf("%s property group: %w", t, err)
		}
		if _, made, err := c.EnsurePropertyGroup(ctx, t, PropertyGroup); err != nil {
			return created, fmt.Errorf("%s property group: %w", t, err)
		} else if made {
			created = append(created, string(t)+" group "+PropertyGroup.Name)
		}
	}
	existing, err := c.ListProperties(ctx, t)
	if err != nil {
		return created, fmt.Errorf("%s properties: %w", t, err)
	}
	have := map[string]bool{}
	for _, p := range existing {
		have[p.Name] = true
	}
	for _, p := range Properties() {
		if have[p.Name] {
			continue
		}
		if _, made, err := c.EnsureProperty(ctx, t, p); err != nil {
			return created, fmt.Errorf("%s property %s: %w", t, p.Name, err)
		} else if made {
			created = append(created, string(t)+"."+p.Name)
		}
	}
	return created, nil
}
