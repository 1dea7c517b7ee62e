// Package campaign holds a campaign's statuses and its settings — what
// referflow does with HubSpot for it and how it rewards — and checks the
// settings. Validate reports every problem at once, each with the field it
// concerns, so an admin fixes a form in one pass. A campaign whose settings
// are valid but incomplete (a required field-mapping row is missing) is
// "setup required": SetupRequired lists what is missing. An incomplete leads
// mapping holds back leads only, an incomplete referrers mapping members only.
package campaign

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/referflow/referflow/internal/currency"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
)

// Settings is everything an admin configures on a campaign.
type Settings struct {
	Leads           CRMSettings     `json:"leads"`
	Referrers       CRMSettings     `json:"referrers"`
	StatusRules     StatusRules     `json:"status_rules"`
	PropertyUpdates PropertyUpdates `json:"property_updates"`
	ProcessRules    ProcessRules    `json:"process_rules"`
	Rewards         Rewards         `json:"rewards"`
	Public          Public          `json:"public"`
	FraudChecks     FraudChecks     `json:"fraud_checks"`
	Emails          Emails          `json:"emails"`
}

// Public is how people reach the campaign from outside: its referral links,
// hosted pages and the tracking script on the customer's own pages.
type Public struct {
	// Slug names the campaign in its public pages' paths (/c/{slug}/...):
	// URL-safe, unique in the workspace; "" means no hosted pages yet.
	Slug string `json:"slug"`
	// LandingURL is where a referral link (/r/{code}) lands: the customer's
	// own page, given referflow_ref=<code> in its query. "" lands on the
	// hosted lead form.
	LandingURL string `json:"landing_url"`
	// AllowedOrigins may call the public conversions endpoint from the
	// tracking script (CORS), e.g. "https://www.example.com".
	AllowedOrigins []string    `json:"allowed_origins"`
	Attribution    Attribution `json:"attribution"`
}

// Attribution models.
const (
	FirstTouch = "first_touch"
	LastTouch  = "last_touch"
)

// DefaultAttributionWindowDays is how long a click attributes a conversion
// unless the campaign says otherwise.
const DefaultAttributionWindowDays = 90

// Attribution says which click a conversion is credited to.
type Attribution struct {
	// WindowDays is how long after a click a conversion is credited to it.
	WindowDays int `json:"window_days"`
	// Model is first_touch (the first member's link clicked keeps the
	// credit) or last_touch (the latest click wins).
	Model string `json:"model"`
}

// What to create in HubSpot for a lead (or a member).
const (
	ActionCreateContact = "create_contact"
	ActionCreateDeal    = "create_deal"
	ActionNone          = "none"
)

// Duplicate handling when the person is already in HubSpot.
const (
	// DuplicateDoNothing is the default: a lead already in HubSpot can never
	// qualify (fraud prevention).
	DuplicateDoNothing      = "do_nothing"
	DuplicateUpdateExisting = "update_existing"
)

// CRMSettings says what referflow creates in HubSpot for a person.
type CRMSettings struct {
	Action string `json:"action"`
	// AssociateContact also creates (or finds) a contact for a deal and
	// associates the two; only with ActionCreateDeal.
	AssociateContact  bool           `json:"associate_contact,omitempty"`
	FieldMapping      []FieldMapping `json:"field_mapping"`
	DuplicateHandling string         `json:"duplicate_handling,omitempty"`
}

// FieldMapping is one row: a referflow value (Source) or a fixed Value,
// written into a HubSpot property (internal name) of Object.
type FieldMapping struct {
	Object   hubspotobject.Type `json:"object"`
	Source   string             `json:"source,omitempty"`
	Value    string             `json:"value,omitempty"`
	Property string             `json:"property"`
}

// Sources are the referflow values a field-mapping row can copy.
var Sources = []string{
	"first_name", "email", "referral_code", "source", "referral_link", "campaign_name",
	"referrer_first_name", "referrer_email", "referrer_code", "referrer_link", "referrer_referrals_count",
}

// StatusRules say which HubSpot change moves a referral where.
type StatusRules struct {
	Qualified *StatusRule `json:"qualified,omitempty"`
	Approved  *StatusRule `json:"approved,omitempty"`
	Denied    *StatusRule `json:"denied,omitempty"`
	// Initial is set on the created object when the lead is created, e.g.
	// lifecyclestage = lead.
	Initial *PropertyValue `json:"initial,omitempty"`
}

// StatusRule matches a change of Property on Object to one of Values
// (internal values, e.g. closedwon, customer).
type StatusRule struct {
	Object   hubspotobject.Type `json:"object"`
	Property string             `json:"property"`
	Values   []string           `json:"values"`
}

// PropertyValue is a HubSpot property and a value.
type PropertyValue struct {
	Property string `json:"property"`
	Value    string `json:"value"`
}

// PropertyUpdates copy HubSpot values onto the referral.
type PropertyUpdates struct {
	Mappings []PropertyUpdate `json:"mappings"`
	// AllowContactDetailUpdates lets HubSpot change the referral's name and
	// email.
	AllowContactDetailUpdates bool `json:"allow_contact_detail_updates,omitempty"`
}

// PropertyUpdate copies Object's Property into the referral's Field.
type PropertyUpdate struct {
	Object   hubspotobject.Type `json:"object"`
	Property string             `json:"property"`
	Field    string             `json:"field"`
	// Currency is the currency of a sale value (HubSpot sends amounts as
	// bare numbers); required for the sale_value field.
	Currency string `json:"currency,omitempty"`
}

// UpdateFor returns the property update a HubSpot change feeds, if any.
func (p PropertyUpdates) UpdateFor(object hubspotobject.Type, property string) (PropertyUpdate, bool) {
	for _, u := range p.Mappings {
		if u.Object == object && u.Property == property {
			return u, true
		}
	}
	return PropertyUpdate{}, false
}

// Referral fields a property update can write.
var ReferralFields = []string{"sale_value", "external_id", "name", "email"}

// ProcessRules decide what is done automatically and what waits for a person.
type ProcessRules struct {
	AutoProcessDirectMatches  bool `json:"auto_process_direct_matches"`
	AutoProcessFuzzyMatches   bool `json:"auto_process_fuzzy_matches"`
	ReviewWhenNoMemberMatches bool `json:"review_when_no_member_matches"`
	ReviewDeniedToQualified   bool `json:"review_denied_to_qualified"`
	NotifyOnReview            bool `json:"notify_on_review"`
	// NotifyOnStatusChange announces every change of a referral's status
	// (referral.status_changed) to the fulfilment URL. Off by default: a
	// receiver built for reward.issued is not flooded.
	NotifyOnStatusChange bool `json:"notify_on_status_change"`
	// ExternalIDProperty names a HubSpot property (on the lead's object)
	// holding the referral's external ID: a direct match, like the
	// referflow_referral_id property referflow writes on leads it creates.
	ExternalIDProperty string `json:"external_id_property,omitempty"`
	// MatchingRules add a referral from HubSpot: an object of unknown
	// origin whose property holds a member's referral code (or email,
	// external ID or ID) becomes a new referral of that member.
	MatchingRules []MatchingRule `json:"matching_rules,omitempty"`
	// EnrolMembers makes HubSpot contacts members the moment HubSpot says
	// so (Advocate's "create participants when a contact is created"),
	// without waiting for a contact sync.
	EnrolMembers *EnrolMembers `json:"enrol_members,omitempty"`
}

// EnrolMembers says which HubSpot contact events make the contact a member
// of the campaign, through the Sales Receiver: at once, with the contact's
// email, first and last name, its contact ID kept on the member.
type EnrolMembers struct {
	// OnContactCreated enrols every contact created in HubSpot.
	OnContactCreated bool `json:"on_contact_created,omitempty"`
	// OnLifecycleStages enrols a contact when its lifecyclestage becomes
	// one of these internal values (e.g. customer).
	OnLifecycleStages []string `json:"on_lifecycle_stages,omitempty"`
	// OnListIDs enrols a contact when it is added to one of these HubSpot
	// lists (list IDs, strings of digits; static or dynamic lists of
	// contacts). HubSpot's classic webhooks send no list-membership events:
	// referflow keeps a LIST_MEMBERSHIP subscription of the webhooks journal
	// for these lists and its worker polls the journal. A contact removed
	// from the list stays a member.
	OnListIDs []string `json:"on_list_ids,omitempty"`
}

// ListIDPattern is what a HubSpot list ID looks like: its ILS ID, digits.
const ListIDPattern = `^[0-9]{1,18}$`

var listIDRE = regexp.MustCompile(ListIDPattern)

// EnrolsOnList tells whether a contact added to list listID enrols.
func (e *EnrolMembers) EnrolsOnList(listID string) bool {
	return e != nil && listID != "" && slices.Contains(e.OnListIDs, listID)
}

// LifecycleStageProperty is the contact property OnLifecycleStages reads.
const LifecycleStageProperty = "lifecyclestage"

// Enrols tells whether a contact event enrols: a creation when
// OnContactCreated, any event of a contact whose lifecyclestage (as read
// now) is one of OnLifecycleStages.
func (e *EnrolMembers) Enrols(created bool, lifecycleStage string) bool {
	if e == nil {
		return false
	}
	return (created && e.OnContactCreated) || (lifecycleStage != "" && slices.Contains(e.OnLifecycleStages, lifecycleStage))
}

// What a matching rule's property holds.
const (
	HoldsReferralCode     = "referral_code"
	HoldsMemberEmail      = "member_email"
	HoldsMemberExternalID = "member_external_id"
	HoldsMemberID         = "member_id"
)

// MatchingHolds lists what a matching rule's property may hold.
var MatchingHolds = []string{HoldsReferralCode, HoldsMemberEmail, HoldsMemberExternalID, HoldsMemberID}

// MatchingRule says that Object's Property holds a value identifying the
// member who referred it.
type MatchingRule struct {
	Object   hubspotobject.Type `json:"object"`
	Property string             `json:"property"`
	Holds    string             `json:"holds"`
}

// UsesProperty tells whether anything in these settings reads a HubSpot
// property of an object: status rules, property updates, the external ID
// property, matching rules, and referflow's own referral ID property. A
// change to any other property is kept and marked ignored.
func (s Settings) UsesProperty(object hubspotobject.Type, property string) bool {
	if property == hubspotobject.PropReferralID && slices.Contains(hubspotobject.PropertyTypes, object) {
		return true
	}
	if s.StatusRules.Uses(object, property) {
		return true
	}
	if e := s.ProcessRules.EnrolMembers; e != nil && len(e.OnLifecycleStages) > 0 && object == hubspotobject.Contact && property == LifecycleStageProperty {
		return true
	}
	if _, ok := s.PropertyUpdates.UpdateFor(object, property); ok {
		return true
	}
	if s.ProcessRules.ExternalIDProperty == property && property != "" {
		return true
	}
	for _, r := range s.ProcessRules.MatchingRules {
		if r.Object == object && r.Property == property {
			return true
		}
	}
	return false
}

// Rewards say what the member and the referred friend earn, and when.
type Rewards struct {
	Member *Reward `json:"member,omitempty"`
	Friend *Reward `json:"friend,omitempty"`
	// OnStatus is the referral status that earns the rewards.
	OnStatus referral.Status `json:"on_status,omitempty"`
	// EveryConversion rewards each conversion; by default only the first.
	EveryConversion bool `json:"every_conversion,omitempty"`
	// HoldDays delays issuing; a change that takes the referral out of
	// OnStatus during the hold cancels the reward.
	HoldDays int `json:"hold_days,omitempty"`
	// ExpireAfterDays denies a referral still pending after that many days
	// (0: never).
	ExpireAfterDays int `json:"expire_after_days,omitempty"`
}

// Reward kinds.
const (
	RewardFixed      = "fixed"
	RewardPercentage = "percentage"
)

// Reward is fixed (Amount in Currency) or a percentage of the sale value.
type Reward struct {
	Kind string `json:"kind"`
	// Amount is a decimal string ("50", "19.99"), never a float.
	Amount   string `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
	// Percent is a decimal string ("10", "2.5").
	Percent string `json:"percent,omitempty"`
}

// Defaults are the settings of a new campaign: nothing sent to HubSpot,
// duplicates never qualify, direct matches processed automatically, and the
// brief's review rules on.
func Defaults() Settings {
	return Settings{
		Leads:           CRMSettings{Action: ActionNone, FieldMapping: []FieldMapping{}, DuplicateHandling: DuplicateDoNothing},
		Referrers:       CRMSettings{Action: ActionNone, FieldMapping: []FieldMapping{}, DuplicateHandling: DuplicateDoNothing},
		PropertyUpdates: PropertyUpdates{Mappings: []PropertyUpdate{}},
		ProcessRules: ProcessRules{
			AutoProcessDirectMatches:  true,
			ReviewWhenNoMemberMatches: true,
			ReviewDeniedToQualified:   true,
		},
		Rewards:     Rewards{OnStatus: referral.Approved},
		Public:      Public{AllowedOrigins: []string{}, Attribution: Attribution{WindowDays: DefaultAttributionWindowDays, Model: LastTouch}},
		FraudChecks: DefaultFraudChecks(),
		Emails:      DefaultEmails(),
	}
}

// Problem is one thing wrong with the settings.
type Problem struct {
	// Field is the JSON path of the setting, e.g. "leads.field_mapping[2].property".
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Patterns of a HubSpot property's internal name, a fixed reward's amount
// (more than 0, checked besides) and a percentage reward's percent.
const (
	PropertyNamePattern = `^[a-z][a-z0-9_]{0,99}$`
	AmountPattern       = `^\d{1,12}(\.\d{1,2})?$`
	PercentPattern      = `^\d{1,3}(\.\d{1,4})?$`
)

var (
	propertyName = regexp.MustCompile(PropertyNamePattern)
	decimal      = regexp.MustCompile(AmountPattern)
	percent      = regexp.MustCompile(PercentPattern)
)

// Limits on what settings hold: far above what a real campaign needs, and
// low enough that a campaign's settings stay well under the admin API's
// body limit (the OpenAPI document states them; api tests tie the two).
const (
	// MaxFieldMappingRows per leads or referrers section: a HubSpot contact
	// or deal has a few dozen properties worth writing.
	MaxFieldMappingRows = 100
	// MaxStatusRuleValues per status rule.
	MaxStatusRuleValues = 20
	// MaxEnrolListIDs is how many HubSpot lists one campaign enrols from.
	MaxEnrolListIDs = 20
	// MaxPropertyUpdates and MaxMatchingRules per campaign.
	MaxPropertyUpdates = 20
	MaxMatchingRules   = 20
	// MaxValueLength is the longest fixed value, status-rule value or
	// initial value, in characters.
	MaxValueLength = 500
	// MaxHoldDays and MaxExpireAfterDays bound the rewards' delays.
	MaxHoldDays        = 365
	MaxExpireAfterDays = 3650
	// MaxURLLength bounds the landing URL and each allowed origin, in
	// bytes: what browsers and proxies reliably carry.
	MaxURLLength = 2048
	// MaxAllowedOrigins per campaign: the customer's own sites.
	MaxAllowedOrigins = 20
	// MaxAttributionWindowDays bounds how long a referral code a visitor
	// brought counts.
	MaxAttributionWindowDays = 365
)

// SlugPattern is a campaign's public slug (its hosted pages' /c/{slug}/...):
// lowercase letters, digits and inner hyphens, at most 64 characters.
const SlugPattern = `^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`

var slug = regexp.MustCompile(SlugPattern)

// PublishableKeyPattern is the form of a campaign's publishable key, as the
// campaigns table's default makes it (migration 0012): a malformed key names
// no campaign and need not be looked up.
const PublishableKeyPattern = `^pk_[0-9a-f]{32}$`

// Validate reports every problem in s; none means the settings may be saved.
func (s Settings) Validate() []Problem {
	v := &validator{}
	v.crm("leads", s.Leads)
	v.crm("referrers", s.Referrers)
	v.statusRules(s.Leads.Action, s.StatusRules)
	v.propertyUpdates(s.PropertyUpdates)
	v.rewards(s.Rewards)
	v.processRules(s.ProcessRules)
	v.public(s.Public)
	v.fraudChecks(s.FraudChecks)
	v.emails(s.Emails)
	return v.problems
}

type validator struct{ problems []Problem }

func (v *validator) add(field, format string, args ...any) {
	v.problems = append(v.problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) crm(at string, c CRMSettings) {
	switch c.Action {
	case ActionCreateContact, ActionCreateDeal, ActionNone:
	case "":
		v.add(at+".action", "is required: create_contact, create_deal or none")
	default:
		v.add(at+".action", "must be create_contact, create_deal or none, not %q", c.Action)
	}
	if c.AssociateContact && c.Action != ActionCreateDeal {
		v.add(at+".associate_contact", "only applies when action is create_deal")
	}
	switch c.DuplicateHandling {
	case "", DuplicateDoNothing, DuplicateUpdateExisting:
	default:
		v.add(at+".duplicate_handling", "must be do_nothing or update_existing, not %q", c.DuplicateHandling)
	}
	if len(c.FieldMapping) > MaxFieldMappingRows {
		v.add(at+".field_mapping", "has %d rows; at most %d", len(c.FieldMapping), MaxFieldMappingRows)
		return
	}
	allowed := objectsFor(c)
	seen := map[string]int{}
	for i, row := range c.FieldMapping {
		f := fmt.Sprintf("%s.field_mapping[%d]", at, i)
		if !slices.Contains(allowed, row.Object) {
			v.add(f+".object", "must be %s for action %s, not %q", joinTypes(allowed, " or "), c.Action, row.Object)
		}
		switch {
		case row.Source == "" && row.Value == "":
			v.add(f, "needs a source (a referflow value) or a fixed value")
		case row.Source != "" && row.Value != "":
			v.add(f, "has both a source and a fixed value: keep one")
		case row.Source != "" && !slices.Contains(Sources, row.Source):
			v.add(f+".source", "unknown source %q; one of %s", row.Source, strings.Join(Sources, ", "))
		}
		v.length(f+".value", row.Value)
		if !propertyName.MatchString(row.Property) {
			v.add(f+".property", "must be a HubSpot internal property name (lowercase letters, digits, _), not %q", row.Property)
		}
		key := string(row.Object) + "." + row.Property
		if j, dup := seen[key]; dup {
			v.add(f+".property", "%s is already mapped by row %d", key, j)
		} else {
			seen[key] = i
		}
	}
}

// objectsFor lists the objects mapping rows may write for an action.
func objectsFor(c CRMSettings) []hubspotobject.Type {
	switch {
	case c.Action == ActionCreateContact:
		return []hubspotobject.Type{hubspotobject.Contact}
	case c.Action == ActionCreateDeal && c.AssociateContact:
		return []hubspotobject.Type{hubspotobject.Deal, hubspotobject.Contact}
	case c.Action == ActionCreateDeal:
		return []hubspotobject.Type{hubspotobject.Deal}
	}
	return nil
}

// CreatedObject is the object a lead action creates ("" for none): the one
// a status rule's initial value and the external ID property are on.
func CreatedObject(action string) hubspotobject.Type {
	switch action {
	case ActionCreateContact:
		return hubspotobject.Contact
	case ActionCreateDeal:
		return hubspotobject.Deal
	}
	return ""
}

func (v *validator) statusRules(leadAction string, r StatusRules) {
	for _, rule := range []struct {
		name string
		r    *StatusRule
	}{{"qualified", r.Qualified}, {"approved", r.Approved}, {"denied", r.Denied}} {
		if rule.r == nil {
			continue
		}
		at := "status_rules." + rule.name
		v.object(at+".object", rule.r.Object)
		// A rule may read an object the leads action does not create (a
		// deal stage for a campaign that creates contacts): the record
		// joins the referral when HubSpot associates it with the lead's
		// record (WebhookSubscriptions lists the associationChange).
		if !propertyName.MatchString(rule.r.Property) {
			v.add(at+".property", "must be a HubSpot internal property name, not %q", rule.r.Property)
		}
		switch {
		case len(rule.r.Values) == 0:
			v.add(at+".values", "needs at least one matching value (internal values, e.g. closedwon)")
		case len(rule.r.Values) > MaxStatusRuleValues:
			v.add(at+".values", "has %d values; at most %d", len(rule.r.Values), MaxStatusRuleValues)
			continue
		}
		for i, val := range rule.r.Values {
			if strings.TrimSpace(val) == "" {
				v.add(fmt.Sprintf("%s.values[%d]", at, i), "is empty")
			}
			v.length(fmt.Sprintf("%s.values[%d]", at, i), val)
		}
	}
	if r.Qualified != nil && r.Approved != nil && r.Qualified.Object == r.Approved.Object && r.Qualified.Property == r.Approved.Property {
		for _, val := range r.Qualified.Values {
			if slices.Contains(r.Approved.Values, val) {
				v.add("status_rules.approved.values", "%q also qualifies: one value cannot mean both qualified and approved", val)
			}
		}
	}
	if r.Initial != nil {
		if CreatedObject(leadAction) == "" {
			v.add("status_rules.initial", "needs leads.action create_contact or create_deal: nothing is created to set it on")
		}
		if !propertyName.MatchString(r.Initial.Property) {
			v.add("status_rules.initial.property", "must be a HubSpot internal property name, not %q", r.Initial.Property)
		}
		if r.Initial.Value == "" {
			v.add("status_rules.initial.value", "is required")
		}
		v.length("status_rules.initial.value", r.Initial.Value)
	}
}

func (v *validator) object(at string, o hubspotobject.Type) {
	if !o.Known() {
		v.add(at, "must be contact, deal or company, not %q", o)
	}
}

// length refuses a value longer than MaxValueLength characters.
func (v *validator) length(at, value string) {
	if n := utf8.RuneCountInString(value); n > MaxValueLength {
		v.add(at, "has %d characters; at most %d", n, MaxValueLength)
	}
}

func (v *validator) propertyUpdates(p PropertyUpdates) {
	if len(p.Mappings) > MaxPropertyUpdates {
		v.add("property_updates.mappings", "has %d mappings; at most %d", len(p.Mappings), MaxPropertyUpdates)
		return
	}
	fields := map[string]int{}
	for i, u := range p.Mappings {
		at := fmt.Sprintf("property_updates.mappings[%d]", i)
		v.object(at+".object", u.Object)
		if !propertyName.MatchString(u.Property) {
			v.add(at+".property", "must be a HubSpot internal property name, not %q", u.Property)
		}
		if !slices.Contains(ReferralFields, u.Field) {
			v.add(at+".field", "must be one of %s, not %q", strings.Join(ReferralFields, ", "), u.Field)
		} else if j, dup := fields[u.Field]; dup {
			v.add(at+".field", "%s is already written by mapping %d", u.Field, j)
		} else {
			fields[u.Field] = i
		}
		if u.Field == "sale_value" && !currency.Known(u.Currency) {
			v.add(at+".currency", "a sale value needs its currency, an ISO 4217 code like USD or EUR, not %q", u.Currency)
		}
		if (u.Field == "name" || u.Field == "email") && !p.AllowContactDetailUpdates {
			v.add(at+".field", "writing the referral's %s needs allow_contact_detail_updates", u.Field)
		}
	}
}

func (v *validator) processRules(p ProcessRules) {
	if p.ExternalIDProperty != "" && !propertyName.MatchString(p.ExternalIDProperty) {
		v.add("process_rules.external_id_property", "must be a HubSpot internal property name, not %q", p.ExternalIDProperty)
	}
	if len(p.MatchingRules) > MaxMatchingRules {
		v.add("process_rules.matching_rules", "has %d rules; at most %d", len(p.MatchingRules), MaxMatchingRules)
		return
	}
	seen := map[string]int{}
	for i, r := range p.MatchingRules {
		at := fmt.Sprintf("process_rules.matching_rules[%d]", i)
		v.object(at+".object", r.Object)
		if !propertyName.MatchString(r.Property) {
			v.add(at+".property", "must be a HubSpot internal property name, not %q", r.Property)
		}
		if !slices.Contains(MatchingHolds, r.Holds) {
			v.add(at+".holds", "must be one of %s, not %q", strings.Join(MatchingHolds, ", "), r.Holds)
		}
		key := string(r.Object) + "." + r.Property
		if j, dup := seen[key]; dup {
			v.add(at+".property", "%s is already read by matching rule %d", key, j)
		} else {
			seen[key] = i
		}
	}
	if e := p.EnrolMembers; e != nil {
		at := "process_rules.enrol_members.on_lifecycle_stages"
		if len(e.OnLifecycleStages) > MaxStatusRuleValues {
			v.add(at, "has %d stages; at most %d", len(e.OnLifecycleStages), MaxStatusRuleValues)
		}
		for i, stage := range e.OnLifecycleStages {
			if strings.TrimSpace(stage) == "" || stage != strings.TrimSpace(stage) {
				v.add(fmt.Sprintf("%s[%d]", at, i), "must be a lifecyclestage internal value such as customer, not %q", stage)
			}
			v.length(fmt.Sprintf("%s[%d]", at, i), stage)
		}
		at = "process_rules.enrol_members.on_list_ids"
		if len(e.OnListIDs) > MaxEnrolListIDs {
			v.add(at, "has %d lists; at most %d", len(e.OnListIDs), MaxEnrolListIDs)
		}
		seen := map[string]int{}
		for i, id := range e.OnListIDs {
			f := fmt.Sprintf("%s[%d]", at, i)
			if !listIDRE.MatchString(id) {
				v.add(f, "must be a HubSpot list ID (digits, as GET /api/v1/hubspot/lists shows), not %q", id)
				continue
			}
			if j, dup := seen[id]; dup {
				v.add(f, "list %s is already named at %d", id, j)
				continue
			}
			seen[id] = i
		}
	}
}

func (v *validator) rewards(r Rewards) {
	switch r.OnStatus {
	case "", referral.Qualified, referral.Approved:
	default:
		v.add("rewards.on_status", "must be qualified or approved, not %q", r.OnStatus)
	}
	v.reward("rewards.member", r.Member)
	v.reward("rewards.friend", r.Friend)
	if r.HoldDays < 0 || r.HoldDays > MaxHoldDays {
		v.add("rewards.hold_days", "must be between 0 and %d, not %d", MaxHoldDays, r.HoldDays)
	}
	if r.ExpireAfterDays < 0 || r.ExpireAfterDays > MaxExpireAfterDays {
		v.add("rewards.expire_after_days", "must be between 0 (never) and %d, not %d", MaxExpireAfterDays, r.ExpireAfterDays)
	}
}

func (v *validator) reward(at string, r *Reward) {
	if r == nil {
		return
	}
	switch r.Kind {
	case RewardFixed:
		switch {
		case !decimal.MatchString(r.Amount):
			v.add(at+".amount", "must be an amount like 50 or 19.99, not %q", r.Amount)
		case strings.Trim(r.Amount, "0.") == "":
			v.add(at+".amount", "must be more than 0, not %q", r.Amount)
		}
		if !currency.Known(r.Currency) {
			v.add(at+".currency", "must be an ISO 4217 currency code like USD or EUR, not %q", r.Currency)
		}
		if r.Percent != "" {
			v.add(at+".percent", "only applies to percentage rewards")
		}
	case RewardPercentage:
		if p, err := strconv.ParseFloat(r.Percent, 64); !percent.MatchString(r.Percent) || err != nil || p <= 0 || p > 100 {
			v.add(at+".percent", "must be a percentage above 0 and at most 100, like 10 or 2.5, not %q", r.Percent)
		}
		if r.Amount != "" {
			v.add(at+".amount", "only applies to fixed rewards (a percentage takes the sale value's currency)")
		}
	default:
		v.add(at+".kind", "must be fixed or percentage, not %q", r.Kind)
	}
}

// Normalize puts the public settings in the form they are stored and shown
// in: allowed origins as browsers send them (lowercase, without a default
// port or a trailing slash) and without repeats, and an absent attribution
// window or model (0, "") as its default; a fraud check's absent action or
// threshold is its default too. Call it before Validate: a value that
// cannot be normalised is left as it is, for Validate to report.
func (s *Settings) Normalize() {
	s.FraudChecks.normalize()
	p := &s.Public
	if p.Attribution.WindowDays == 0 {
		p.Attribution.WindowDays = DefaultAttributionWindowDays
	}
	if p.Attribution.Model == "" {
		p.Attribution.Model = LastTouch
	}
	if p.AllowedOrigins == nil {
		p.AllowedOrigins = []string{}
	}
	if len(p.AllowedOrigins) > MaxAllowedOrigins {
		return // refused as it is
	}
	origins := make([]string, 0, len(p.AllowedOrigins))
	for _, o := range p.AllowedOrigins {
		if n, err := NormalizeOrigin(o); err == nil {
			o = n
		}
		if !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	p.AllowedOrigins = origins
}

// NormalizeOrigin reads a web origin, scheme://host[:port] with scheme http
// or https, as a browser's Origin header carries it: lowercase, without the
// scheme's default port; a trailing slash is forgiven. It refuses a path,
// query, fragment, user info, a wildcard and a non-ASCII host (write it as
// punycode, xn--...), saying why.
func NormalizeOrigin(raw string) (string, error) {
	if len(raw) > MaxURLLength {
		return "", fmt.Errorf("has %d bytes; at most %d", len(raw), MaxURLLength)
	}
	if strings.ContainsAny(raw, "*") {
		return "", errors.New("wildcards are not allowed: list each origin")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || strings.ContainsFunc(raw, unicode.IsSpace):
		return "", errors.New("must be an origin like https://www.example.com")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("must be an http or https origin like https://www.example.com")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return "", errors.New("must be an origin like https://www.example.com")
	case u.User != nil:
		return "", errors.New("must not hold a user name or password")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return "", errors.New("must be a bare origin, scheme://host[:port], without a path, query or fragment")
	case strings.ContainsFunc(u.Host, func(r rune) bool { return r > unicode.MaxASCII }):
		return "", errors.New("the host must be ASCII: write an international name as punycode (xn--...)")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("port %q is not a port number", port)
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6
	}
	if port == "" || (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		return u.Scheme + "://" + host, nil
	}
	return u.Scheme + "://" + host + ":" + port, nil
}

func (v *validator) public(p Public) {
	if p.Slug != "" && !slug.MatchString(p.Slug) {
		v.add("public.slug", "must be 1 to 64 lowercase letters, digits and hyphens (not first or last), like %q; not %q", suggestSlug(p.Slug), p.Slug)
	}
	if p.LandingURL != "" {
		if reason := landingURLProblem(p.LandingURL); reason != "" {
			v.add("public.landing_url", "%s", reason)
		}
	}
	if len(p.AllowedOrigins) > MaxAllowedOrigins {
		v.add("public.allowed_origins", "has %d origins; at most %d", len(p.AllowedOrigins), MaxAllowedOrigins)
	} else {
		for i, o := range p.AllowedOrigins {
			if _, err := NormalizeOrigin(o); err != nil {
				v.add(fmt.Sprintf("public.allowed_origins[%d]", i), "%s", err)
			}
		}
	}
	if d := p.Attribution.WindowDays; d < 1 || d > MaxAttributionWindowDays {
		v.add("public.attribution.window_days", "must be between 1 and %d days, not %d", MaxAttributionWindowDays, d)
	}
	if m := p.Attribution.Model; m != FirstTouch && m != LastTouch {
		v.add("public.attribution.model", "must be %s or %s, not %q", FirstTouch, LastTouch, m)
	}
}

// landingURLProblem says what is wrong with a landing URL, "" if nothing: a
// browser is sent there, so it must be an absolute http or https URL (no
// javascript: or data:), without user info, at most MaxURLLength bytes.
// Unlike a fulfilment URL it is never fetched by referflow, so any host is
// allowed.
func landingURLProblem(raw string) string {
	if len(raw) > MaxURLLength {
		return fmt.Sprintf("has %d bytes; at most %d", len(raw), MaxURLLength)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || strings.ContainsFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return "must be an absolute URL like https://www.example.com/welcome"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http or https URL like https://www.example.com/welcome"
	case u.Opaque != "" || u.Hostname() == "":
		return "must be an absolute URL with a host, like https://www.example.com/welcome"
	case u.User != nil:
		return "must not hold a user name or password"
	}
	return ""
}

// suggestSlug turns a refused slug into one that would do, for the message.
func suggestSlug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 64 {
		out = strings.TrimRight(out[:64], "-")
	}
	if out == "" {
		return "spring-referrals"
	}
	return out
}

// SetupRequired lists the field-mapping rows a campaign still needs, for
// leads and referrers both: contact rows email and firstname; deal rows
// pipeline, dealstage and dealname; plus the contact rows when a deal has an
// associated contact. Each half blocks only what it sends: see
// LeadsSetupRequired and ReferrersSetupRequired.
func (s Settings) SetupRequired() []string {
	return append(s.LeadsSetupRequired(), s.ReferrersSetupRequired()...)
}

// LeadsSetupRequired lists the leads field-mapping rows still missing:
// nothing of a lead is sent to HubSpot until it is empty. An incomplete
// referrers mapping never holds leads back.
func (s Settings) LeadsSetupRequired() []string { return missingRows("leads", s.Leads) }

// ReferrersSetupRequired lists the referrers field-mapping rows still
// missing: no member is sent to HubSpot until it is empty.
func (s Settings) ReferrersSetupRequired() []string {
	return missingRows("referrers", s.Referrers)
}

func missingRows(at string, c CRMSettings) []string {
	var need []string
	switch c.Action {
	case ActionCreateContact:
		need = []string{"contact.email", "contact.firstname"}
	case ActionCreateDeal:
		need = []string{"deal.pipeline", "deal.dealstage", "deal.dealname"}
		if c.AssociateContact {
			need = append(need, "contact.email", "contact.firstname")
		}
	}
	var missing []string
	for _, n := range need {
		obj, prop, _ := strings.Cut(n, ".")
		if !slices.ContainsFunc(c.FieldMapping, func(r FieldMapping) bool { return string(r.Object) == obj && r.Property == prop }) {
			missing = append(missing, fmt.Sprintf("%s: a field-mapping row for the %s property %s", at, obj, prop))
		}
	}
	return missing
}

// Match says which status a HubSpot change (object, property, new value)
// moves a referral to under these rules, if any. Denied wins over approved,
// approved over qualified, should one value appear in several rules.
func (r StatusRules) Match(object hubspotobject.Type, property, value string) (status referral.Status, ok bool) {
	for _, rule := range []struct {
		status referral.Status
		r      *StatusRule
	}{{referral.Denied, r.Denied}, {referral.Approved, r.Approved}, {referral.Qualified, r.Qualified}} {
		if rule.r != nil && rule.r.Object == object && rule.r.Property == property && slices.Contains(rule.r.Values, value) {
			return rule.status, true
		}
	}
	return "", false
}

// Uses tells whether any rule watches a property of an object, so a change to
// another property can be kept and marked ignored.
func (r StatusRules) Uses(object hubspotobject.Type, property string) bool {
	for _, rule := range []*StatusRule{r.Qualified, r.Approved, r.Denied} {
		if rule != nil && rule.Object == object && rule.Property == property {
			return true
		}
	}
	return false
}

func joinTypes(types []hubspotobject.Type, sep string) string {
	words := make([]string, len(types))
	for i, t := range types {
		words[i] = string(t)
	}
	return strings.Join(words, sep)
}
