package campaign

import (
	"encoding/json"
	"fmt"
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
	s.StatusRules.Qualified.Object = "contact"
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
		"status_rules.qualified.object":      "creates a deal for each lead",
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

func TestAContactCampaignQualifiesOnContactProperties(t *testing.T) {
	s := Defaults()
	s.Leads = CRMSettings{Action: ActionCreateContact, FieldMapping: []FieldMapping{
		{Object: "contact", Source: "email", Property: "email"},
		{Object: "contact", Source: "first_name", Property: "firstname"},
	}}
	s.StatusRules.Approved = &StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}}
	got := fields(s.Validate())
	if !strings.Contains(got["status_rules.approved.object"], "must be contact") {
		t.Fatalf("problems: %v", got)
	}
	s.StatusRules.Approved = &StatusRule{Object: "contact", Property: "lifecyclestage", Values: []string{"customer"}}
	s.StatusRules.Initial = &PropertyValue{Property: "lifecyclestage", Value: "lead"}
	if ps := s.Validate(); len(ps) != 0 {
		t.Fatalf("problems: %+v", ps)
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
