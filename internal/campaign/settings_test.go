package campaign

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/hubspotobject"
)

func fields(ps []Problem) map[string]string {
	m := map[string]string{}
	for _, p := range ps {
		m[p.Field] = p.Message
	}
	return m
}

func dealCampaign() Settings {
	s := Defaults()
	s.Leads = CRMSettings{
		Action:           ActionCreateDeal,
		AssociateContact: true,
		FieldMapping: []FieldMapping{
			{Object: "deal", Value: "default", Property: "pipeline"},
			{Object: "deal", Value: "appointmentscheduled", Property: "dealstage"},
			{Object: "deal", Source: "first_name", Property: "dealname"},
			{Object: "contact", Source: "email", Property: "email"},
			{Object: "contact", Source: "first_name", Property: "firstname"},
			{Object: "contact", Source: "referrer_code", Property: "referflow_referred_by_code"},
		},
	}
	s.StatusRules = StatusRules{
		Qualified: &StatusRule{Object: "deal", Property: "dealstage", Values: []string{"contractsent"}},
		Approved:  &StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}},
		Denied:    &StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedlost"}},
	}
	s.PropertyUpdates = PropertyUpdates{Mappings: []PropertyUpdate{{Object: "deal", Property: "amount", Field: "sale_value", Currency: "EUR"}}}
	s.Rewards = Rewards{
		OnStatus: "approved",
		Member:   &Reward{Kind: RewardPercentage, Percent: "10"},
		Friend:   &Reward{Kind: RewardFixed, Amount: "25.00", Currency: "EUR"},
		HoldDays: 30,
	}
	return s
}

func TestAValidDealCampaign(t *testing.T) {
	s := dealCampaign()
	if ps := s.Validate(); len(ps) != 0 {
		t.Fatalf("problems: %+v", ps)
	}
	if missing := s.SetupRequired(); len(missing) != 0 {
		t.Fatalf("setup required: %v", missing)
	}
	// Settings survive a trip through the database's JSON.
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Settings
	if err := json.Unmarshal(raw, &back); err != nil || len(back.Validate()) != 0 || back.Rewards.Friend.Amount != "25.00" {
		t.Fatalf("round trip: %v %+v", err, back)
	}
}

func TestEveryProblemIsReportedWithItsField(t *testing.T) {
	s := dealCampaign()
	s.Leads.FieldMapping = append(s.Leads.FieldMapping,
		FieldMapping{Object: "company", Source: "email", Property: "domain"},
		FieldMapping{Object: "deal", Property: "description"},
		FieldMapping{Object: "deal", Source: "shoe_size", Property: "shoe"},
		FieldMapping{Object: "deal", Value: "x", Property: "Deal Name"},
		FieldMapping{Object: "deal", Source: "email", Value: "x", Property: "pipeline"},
	)
	s.Leads.DuplicateHandling = "ignore"
	s.StatusRules.Qualified.Object = "ticket"
	s.StatusRules.Approved.Values = nil
	s.PropertyUpdates.Mappings = append(s.PropertyUpdates.Mappings, PropertyUpdate{Object: "contact", Property: "email", Field: "email"})
	s.Rewards.Member.Percent = "150"
	s.Rewards.Friend.Currency = "euro"
	s.Rewards.HoldDays = -1

	got := fields(s.Validate())
	want := map[string]string{
		"leads.duplicate_handling":           "do_nothing or update_existing",
		"leads.field_mapping[6].object":      "deal or contact",
		"leads.field_mapping[7]":             "source",
		"leads.field_mapping[8].source":      `unknown source "shoe_size"`,
		"leads.field_mapping[9].property":    "internal property name",
		"leads.field_mapping[10]":            "both a source and a fixed value",
		"status_rules.qualified.object":      "must be contact, deal or company",
		"status_rules.approved.values":       "at least one",
		"property_updates.mappings[1].field": "allow_contact_detail_updates",
		"rewards.member.percent":             "at most 100",
		"rewards.friend.currency":            "ISO 4217",
		"rewards.hold_days":                  "between 0 and 365",
	}
	for field, part := range want {
		if msg, ok := got[field]; !ok || !strings.Contains(msg, part) {
			t.Errorf("%s: got %q, want a message with %q", field, msg, part)
		}
	}
	// The duplicate pipeline row is reported too (row 10 maps deal.pipeline again).
	if len(got) < len(want) {
		t.Errorf("only %d problems: %v", len(got), got)
	}
}

// A campaign that creates contacts may qualify on the stage of a deal: the
// deal joins the referral when sales associates it with the lead's contact
// (Referral Factory's documented workaround, built in), and the campaign
// says it needs that association event.
func TestAContactCampaignMayQualifyOnItsContactsDeal(t *testing.T) {
	s := Defaults()
	s.Leads = CRMSettings{Action: ActionCreateContact, FieldMapping: []FieldMapping{
		{Object: "contact", Source: "email", Property: "email"},
		{Object: "contact", Source: "first_name", Property: "firstname"},
	}}
	s.StatusRules.Approved = &StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}}
	if ps := s.Validate(); len(ps) != 0 {
		t.Fatalf("problems: %+v", ps)
	}
	subs := s.WebhookSubscriptions()
	for _, want := range []WebhookSubscription{
		{Type: "contact.creation", NeededBy: []string{"leads.action"}},
		{Type: "deal.associationChange", NeededBy: []string{"status_rules.approved"}},
		{Type: "deal.propertyChange", Property: "dealstage", NeededBy: []string{"status_rules.approved"}},
	} {
		if !slices.ContainsFunc(subs, func(got WebhookSubscription) bool {
			return got.Type == want.Type && got.Property == want.Property && slices.Equal(got.NeededBy, want.NeededBy)
		}) {
			t.Errorf("subscriptions lack %+v: %+v", want, subs)
		}
	}
	s.StatusRules.Approved = &StatusRule{Object: "contact", Property: "lifecyclestage", Values: []string{"customer"}}
	s.StatusRules.Initial = &PropertyValue{Property: "lifecyclestage", Value: "lead"}
	if ps := s.Validate(); len(ps) != 0 {
		t.Fatalf("problems: %+v", ps)
	}
	if slices.ContainsFunc(s.WebhookSubscriptions(), func(got WebhookSubscription) bool { return got.Type == "deal.associationChange" }) {
		t.Errorf("a campaign reading only contacts needs no deal associations: %+v", s.WebhookSubscriptions())
	}
}

// Each subscription is listed once, with every rule that needs it, sorted;
// several campaigns merge into one list naming the campaign of each need.
func TestWebhookSubscriptionsListEachOnceWithWhoNeedsIt(t *testing.T) {
	s := Defaults()
	s.StatusRules.Qualified = &StatusRule{Object: "deal", Property: "dealstage", Values: []string{"contractsent"}}
	s.StatusRules.Approved = &StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}}
	s.ProcessRules.MatchingRules = []MatchingRule{{Object: "contact", Property: "referral_code", Holds: "member_code"}}
	subs := s.WebhookSubscriptions()
	var keys []string
	for _, sub := range subs {
		keys = append(keys, sub.Type+"/"+sub.Property)
	}
	want := []string{"contact.creation/", "contact.propertyChange/referral_code", "deal.deletion/", "deal.merge/", "deal.propertyChange/dealstage"}
	if !slices.Equal(keys, want) {
		t.Fatalf("subscriptions = %v, want %v", keys, want)
	}
	if got := subs[4].NeededBy; !slices.Equal(got, []string{"status_rules.qualified", "status_rules.approved"}) {
		t.Errorf("dealstage needed by %v", got)
	}
	merged := MergeWebhookSubscriptions([]CampaignSubscriptions{{"Autumn", subs[4:]}, {"Spring", subs}})
	if len(merged) != len(subs) {
		t.Fatalf("merged = %+v", merged)
	}
	if got := merged[4].NeededBy; !slices.Equal(got, []string{"Autumn: status_rules.qualified", "Autumn: status_rules.approved", "Spring: status_rules.qualified", "Spring: status_rules.approved"}) {
		t.Errorf("merged dealstage needed by %v", got)
	}
}

func TestSetupRequiredListsMissingRows(t *testing.T) {
	s := dealCampaign()
	s.Leads.FieldMapping = s.Leads.FieldMapping[1:4] // drop pipeline, firstname
	if ps := s.Validate(); len(ps) != 0 {
		t.Fatalf("valid but incomplete settings reported problems: %+v", ps)
	}
	missing := strings.Join(s.SetupRequired(), "\n")
	for _, want := range []string{"deal property pipeline", "contact property firstname"} {
		if !strings.Contains(missing, want) {
			t.Errorf("setup required %q lacks %q", missing, want)
		}
	}
	if len(s.ReferrersSetupRequired()) != 0 || len(s.LeadsSetupRequired()) != 2 {
		t.Fatalf("leads %v referrers %v", s.LeadsSetupRequired(), s.ReferrersSetupRequired())
	}
	s.Referrers = CRMSettings{Action: ActionCreateContact, DuplicateHandling: DuplicateDoNothing, FieldMapping: []FieldMapping{{Object: "contact", Source: "email", Property: "email"}}}
	if r := strings.Join(s.ReferrersSetupRequired(), "\n"); !strings.Contains(r, "referrers: a field-mapping row for the contact property firstname") || strings.Contains(r, "leads") {
		t.Fatalf("referrers setup required %q", r)
	}
	if l := strings.Join(s.LeadsSetupRequired(), "\n"); strings.Contains(l, "referrers") {
		t.Fatalf("leads setup required %q names referrers", l)
	}
	if d := Defaults(); len(d.SetupRequired()) != 0 || len(d.Validate()) != 0 {
		t.Fatalf("defaults: %v %v", d.SetupRequired(), d.Validate())
	}
}

func TestQualifiedAndApprovedCannotShareAValue(t *testing.T) {
	s := dealCampaign()
	s.StatusRules.Approved.Values = []string{"closedwon", "contractsent"}
	if msg := fields(s.Validate())["status_rules.approved.values"]; !strings.Contains(msg, `"contractsent" also qualifies`) {
		t.Fatalf("got %q", msg)
	}
}

func TestStatusRulesMatch(t *testing.T) {
	r := dealCampaign().StatusRules
	for _, tc := range []struct {
		object, property, value, want string
	}{
		{"deal", "dealstage", "contractsent", "qualified"},
		{"deal", "dealstage", "closedwon", "approved"},
		{"deal", "dealstage", "closedlost", "denied"},
		{"deal", "dealstage", "appointmentscheduled", ""},
		{"contact", "dealstage", "closedwon", ""},
		{"deal", "amount", "closedwon", ""},
	} {
		got, ok := r.Match(hubspotobject.Type(tc.object), tc.property, tc.value)
		if string(got) != tc.want || ok != (tc.want != "") {
			t.Errorf("Match(%s, %s, %s) = %q %v, want %q", tc.object, tc.property, tc.value, got, ok, tc.want)
		}
	}
	if !r.Uses("deal", "dealstage") || r.Uses("deal", "amount") || (StatusRules{}).Uses("deal", "dealstage") {
		t.Fatal("Uses is wrong")
	}
}

// Every list and text in the settings has a limit, every amount and currency
// is money: a 5,000-row mapping, a 0 reward or currency XXX is refused with
// the field, and a list over its limit is reported once, not row by row.
func TestSettingsLimits(t *testing.T) {
	s := dealCampaign()
	for i := range 5000 {
		s.Leads.FieldMapping = append(s.Leads.FieldMapping, FieldMapping{Object: "deal", Value: "x", Property: fmt.Sprintf("p%d", i)})
	}
	s.Referrers.FieldMapping = []FieldMapping{{Object: "contact", Value: strings.Repeat("é", MaxValueLength+1), Property: "email"}}
	s.Referrers.Action = ActionCreateContact
	s.StatusRules.Qualified.Values = make([]string, MaxStatusRuleValues+1)
	s.StatusRules.Approved.Values = []string{strings.Repeat("v", MaxValueLength+1)}
	s.Rewards.Member = &Reward{Kind: RewardFixed, Amount: "0.00", Currency: "XXX"}
	s.Rewards.Friend = &Reward{Kind: RewardFixed, Amount: "0", Currency: "usd"}
	for range MaxMatchingRules + 1 {
		s.ProcessRules.MatchingRules = append(s.ProcessRules.MatchingRules, MatchingRule{Object: "contact", Property: "x", Holds: HoldsReferralCode})
	}
	for range MaxPropertyUpdates + 1 {
		s.PropertyUpdates.Mappings = append(s.PropertyUpdates.Mappings, PropertyUpdate{Object: "deal", Property: "amount", Field: "sale_value", Currency: "USD"})
	}
	problems := s.Validate()
	got := fields(problems)
	want := map[string]string{
		"leads.field_mapping":              "rows; at most 100",
		"referrers.field_mapping[0].value": "has 501 characters; at most 500",
		"status_rules.qualified.values":    "at most 20",
		"status_rules.approved.values[0]":  "at most 500",
		"rewards.member.amount":            "more than 0",
		"rewards.member.currency":          `ISO 4217 currency code like USD or EUR, not "XXX"`,
		"rewards.friend.amount":            "more than 0",
		"rewards.friend.currency":          `not "usd"`,
		"process_rules.matching_rules":     "has 21 rules; at most 20",
		"property_updates.mappings":        "mappings; at most 20",
	}
	for field, part := range want {
		if msg, ok := got[field]; !ok || !strings.Contains(msg, part) {
			t.Errorf("%s: got %q, want a message with %q", field, msg, part)
		}
	}
	if len(problems) > 50 {
		t.Fatalf("%d problems: a list over its limit is reported once", len(problems))
	}

	ok := dealCampaign()
	ok.Rewards.Member = &Reward{Kind: RewardFixed, Amount: "0.01", Currency: "JPY"}
	ok.StatusRules.Approved.Values = []string{strings.Repeat("v", MaxValueLength)}
	if p := ok.Validate(); len(p) != 0 {
		t.Fatalf("settings at the limits: %+v", p)
	}
}

// Enrolling members on HubSpot events: the stages are internal values, the
// rule reads the contact's lifecyclestage (so its changes reach matching),
// and the campaign says which webhooks it needs.
func TestEnrolMembersOnHubSpotEvents(t *testing.T) {
	s := Defaults()
	s.ProcessRules.EnrolMembers = &EnrolMembers{OnContactCreated: true, OnLifecycleStages: []string{"customer", " evangelist", ""}}
	got := fields(s.Validate())
	for _, f := range []string{"process_rules.enrol_members.on_lifecycle_stages[1]", "process_rules.enrol_members.on_lifecycle_stages[2]"} {
		if !strings.Contains(got[f], "lifecyclestage internal value") {
			t.Errorf("%s: %q", f, got[f])
		}
	}
	s.ProcessRules.EnrolMembers.OnLifecycleStages = []string{"customer", "evangelist"}
	if ps := s.Validate(); len(ps) != 0 {
		t.Fatalf("problems: %+v", ps)
	}
	e := s.ProcessRules.EnrolMembers
	for _, c := range []struct {
		created bool
		stage   string
		want    bool
	}{{true, "", true}, {false, "customer", true}, {false, "lead", false}, {false, "", false}} {
		if got := e.Enrols(c.created, c.stage); got != c.want {
			t.Errorf("Enrols(created %v, stage %q) = %v", c.created, c.stage, got)
		}
	}
	if (*EnrolMembers)(nil).Enrols(true, "customer") {
		t.Error("no enrolment rule enrols")
	}
	if !s.UsesProperty("contact", "lifecyclestage") || s.UsesProperty("company", "lifecyclestage") {
		t.Error("lifecyclestage changes must reach matching (contacts only)")
	}
	var subs []string
	for _, sub := range s.WebhookSubscriptions() {
		subs = append(subs, sub.Type+"/"+sub.Property)
	}
	if want := []string{"contact.creation/", "contact.propertyChange/lifecyclestage"}; !slices.Equal(subs, want) {
		t.Errorf("subscriptions = %v, want %v", subs, want)
	}
}
