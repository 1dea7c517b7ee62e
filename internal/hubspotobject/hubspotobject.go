// Package hubspotobject names the HubSpot records referflow links referrals
// to — contacts, deals and companies — once, for every place that speaks of
// them: the webhook events and sales entries (sales_entries.object_type),
// campaign rules, the signal a referral's workflow receives, and the
// referrals table's columns (IDs). It also names the properties referflow
// keeps on those records in HubSpot.
package hubspotobject

import "fmt"

// Type is a kind of HubSpot record, as referflow writes it everywhere: in
// the singular, as HubSpot names it in webhook subscription types
// ("deal.propertyChange"). HubSpot's API paths use the plural (Plural).
type Type string

// The record types referflow links referrals to.
const (
	Contact Type = "contact"
	Deal    Type = "deal"
	Company Type = "company"
)

// Types lists them.
var Types = []Type{Contact, Deal, Company}

// Known tells whether referflow links referrals to records of this type.
func (t Type) Known() bool {
	return t == Contact || t == Deal || t == Company
}

// Plural is the type as HubSpot's API paths name it: "contacts", "deals",
// "companies".
func (t Type) Plural() string {
	if t == Company {
		return "companies"
	}
	return string(t) + "s"
}

// typeIDs maps HubSpot's objectTypeId (sent by the generic object.* webhook
// events) to the types referflow handles.
var typeIDs = map[string]Type{"0-1": Contact, "0-2": Company, "0-3": Deal}

// FromTypeID is the type of HubSpot's objectTypeId ("0-1" contacts, "0-2"
// companies, "0-3" deals), or "" for objects referflow does not handle.
func FromTypeID(id string) Type { return typeIDs[id] }

// Ref names one record of a portal.
type Ref struct {
	Type Type
	ID   int64
}

func (r Ref) String() string { return fmt.Sprintf("%s %d", r.Type, r.ID) }

// IDs are the records a referral holds, one of each type: the referrals
// table's hubspot_contact_id, hubspot_deal_id and hubspot_company_id
// columns. A nil ID is a record the referral does not hold.
type IDs struct {
	Contact, Deal, Company *int64
}

// Of is the ID of the record of type t the referral holds, or 0.
func (ids IDs) Of(t Type) int64 {
	if p := ids.column(t); p != nil && *p != nil {
		return **p
	}
	return 0
}

// Set makes the referral hold record id of type t. It reports false for a
// type referflow does not link referrals to.
func (ids *IDs) Set(t Type, id int64) bool {
	p := ids.column(t)
	if p == nil {
		return false
	}
	*p = &id
	return true
}

func (ids *IDs) column(t Type) **int64 {
	switch t {
	case Contact:
		return &ids.Contact
	case Deal:
		return &ids.Deal
	case Company:
		return &ids.Company
	}
	return nil
}

// The properties referflow keeps on HubSpot records. It creates them in its
// own property group when a portal is connected (on PropertyTypes), writes
// them, and reads PropReferralID back to match a record to its referral.
const (
	// PropReferralID, on the contacts and deals referflow creates for
	// leads, holds the referral's ID: a change of such a record matches its
	// referral directly.
	PropReferralID             = "referflow_referral_id"
	PropReferralCode           = "referflow_referral_code"
	PropReferralLink           = "referflow_referral_link"
	PropReferredByCode         = "referflow_referred_by_code"
	PropReferralStatus         = "referflow_referral_status"
	PropReferralCount          = "referflow_referral_count"
	PropConvertedReferralCount = "referflow_converted_referral_count"
)

// PropertyTypes are the record types referflow creates its properties on.
var PropertyTypes = []Type{Contact, Deal}
