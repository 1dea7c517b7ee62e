package hubspot_test

import (
	"encoding/json"
	"testing"

	"github.com/referflow/referflow/internal/hubspot"
)

func TestPropertiesAndGroupsEnsureIdempotently(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)

	props, err := e.client.ListProperties(ctx, hubspot.Contacts)
	if err != nil {
		t.Fatal(err)
	}
	var lifecycle *hubspot.Property
	for i := range props {
		if props[i].Name == "lifecyclestage" {
			lifecycle = &props[i]
		}
	}
	if lifecycle == nil || lifecycle.Type != hubspot.TypeEnumeration || !hasOption(lifecycle.Options, "customer") {
		t.Fatalf("lifecyclestage = %+v, want an enumeration with the customer option", lifecycle)
	}

	group := hubspot.PropertyGroup{Name: "referflow", Label: "referflow"}
	g, created, err := e.client.EnsurePropertyGroup(ctx, hubspot.Contacts, group)
	if err != nil || !created || g.Name != "referflow" {
		t.Fatalf("first ensure of the group: %+v, created %v, err %v", g, created, err)
	}
	g, created, err = e.client.EnsurePropertyGroup(ctx, hubspot.Contacts, group)
	if err != nil || created || g.Name != "referflow" || g.Label != "referflow" {
		t.Fatalf("second ensure of the group: %+v, created %v, err %v", g, created, err)
	}
	_, err = e.client.CreatePropertyGroup(ctx, hubspot.Contacts, group)
	as[*hubspot.ConflictError](t, err)
	groups, err := e.client.ListPropertyGroups(ctx, hubspot.Contacts)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, g := range groups {
		if g.Name == "referflow" {
			found++
		}
	}
	if found != 1 {
		t.Errorf("groups list the referflow group %d times, want once", found)
	}

	code := hubspot.Property{Name: "referflow_referral_code", Label: "Referral code", Type: hubspot.TypeString, FieldType: hubspot.FieldText, GroupName: "referflow"}
	status := hubspot.Property{Name: "referflow_referral_status", Label: "Referral status", Type: hubspot.TypeEnumeration, FieldType: hubspot.FieldSelect, GroupName: "referflow",
		Options: []hubspot.PropertyOption{{Label: "Pending", Value: "pending"}, {Label: "Approved", Value: "approved"}}}
	count := hubspot.Property{Name: "referflow_referral_count", Label: "Referral count", Type: hubspot.TypeNumber, FieldType: hubspot.FieldNumber, GroupName: "referflow"}
	for _, p := range []hubspot.Property{code, status, count} {
		got, created, err := e.client.EnsureProperty(ctx, hubspot.Contacts, p)
		if err != nil || !created || got.Name != p.Name || got.Type != p.Type || got.FieldType != p.FieldType {
			t.Fatalf("first ensure of %s: %+v, created %v, err %v", p.Name, got, created, err)
		}
		got, created, err = e.client.EnsureProperty(ctx, hubspot.Contacts, p)
		if err != nil || created || got.Name != p.Name || got.GroupName != "referflow" {
			t.Fatalf("second ensure of %s: %+v, created %v, err %v", p.Name, got, created, err)
		}
	}
	got, err := e.client.GetProperty(ctx, hubspot.Contacts, "referflow_referral_status")
	if err != nil {
		t.Fatal(err)
	}
	if !hasOption(got.Options, "approved") || got.Label != "Referral status" {
		t.Errorf("status property = %+v", got)
	}
	_, err = e.client.GetProperty(ctx, hubspot.Contacts, "no_such_property")
	as[*hubspot.NotFoundError](t, err)

	// The new property can be written and read on a contact.
	c, err := e.client.Create(ctx, hubspot.Contacts, hubspot.CreateInput{Properties: map[string]string{"email": "x@example.com", "referflow_referral_code": "ADA-42", "referflow_referral_status": "pending"}})
	if err != nil {
		t.Fatal(err)
	}
	read, err := e.client.Get(ctx, hubspot.Contacts, c.ID, hubspot.GetOptions{Properties: []string{"referflow_referral_code", "referflow_referral_status"}})
	if err != nil {
		t.Fatal(err)
	}
	if read.Properties["referflow_referral_code"] != "ADA-42" || read.Properties["referflow_referral_status"] != "pending" {
		t.Errorf("custom properties read back = %v", read.Properties)
	}
	// A value that is not one of the enumeration's options names the property.
	_, err = e.client.Update(ctx, hubspot.Contacts, c.ID, map[string]string{"referflow_referral_status": "bogus"})
	if v := as[*hubspot.ValidationError](t, err); v.Property != "referflow_referral_status" {
		t.Errorf("invalid option: property = %q, want referflow_referral_status", v.Property)
	}
}

func hasOption(opts []hubspot.PropertyOption, value string) bool {
	for _, o := range opts {
		if o.Value == value {
			return true
		}
	}
	return false
}

func TestDealPipelinesWonAndLostByMetadata(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)

	pipelines, err := e.client.ListDealPipelines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var def *hubspot.Pipeline
	for i := range pipelines {
		if pipelines[i].ID == "default" {
			def = &pipelines[i]
		}
	}
	if def == nil {
		t.Fatalf("pipelines = %+v, want the default one", pipelines)
	}
	won, ok := def.Stage("closedwon")
	if !ok || !won.IsWon() || won.IsLost() {
		t.Errorf("closedwon = %+v: want won", won)
	}
	lost, ok := def.Stage("closedlost")
	if !ok || !lost.IsLost() || lost.IsWon() {
		t.Errorf("closedlost = %+v: want lost", lost)
	}
	open, ok := def.Stage("contractsent")
	if !ok || open.IsWon() || open.IsLost() || open.Metadata.IsClosed {
		t.Errorf("contractsent = %+v: want open", open)
	}

	one, err := e.client.GetDealPipeline(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Stages) != len(def.Stages) {
		t.Errorf("get pipeline: %d stages, list said %d", len(one.Stages), len(def.Stages))
	}
	_, err = e.client.GetDealPipeline(ctx, "no-such-pipeline")
	as[*hubspot.NotFoundError](t, err)
}

func TestStageMetadataAcceptsStringsBooleansAndNumbers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		json      string
		won, lost bool
	}{
		{`{"id":"123","metadata":{"isClosed":"true","probability":"1.0"}}`, true, false},
		{`{"id":"124","metadata":{"isClosed":true,"probability":0}}`, false, true},
		{`{"id":"125","metadata":{"isClosed":"false","probability":"0.2"}}`, false, false},
		{`{"id":"126","metadata":{"isClosed":"true"}}`, false, false}, // closed, outcome unknown
		{`{"id":"127","metadata":{}}`, false, false},
	} {
		var s hubspot.Stage
		if err := json.Unmarshal([]byte(tc.json), &s); err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		if s.IsWon() != tc.won || s.IsLost() != tc.lost {
			t.Errorf("%s: won %v lost %v, want %v %v", tc.json, s.IsWon(), s.IsLost(), tc.won, tc.lost)
		}
	}
}
