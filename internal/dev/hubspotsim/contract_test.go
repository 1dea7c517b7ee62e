package hubspotsim

// Contract tests: each pins one fact of HubSpot's documented behaviour (its
// developer documentation and official clients) to the simulator's
// behaviour.

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestObjectShapeAndDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.must(e.do("POST", "/crm/objects/2026-03/contacts", "", `{"properties":{"email":"Ann@Example.com","firstname":"Ann","lifecyclestage":"lead","hs_lead_status":"NEW"}}`), 201)
	id := r.str("id")
	for _, k := range []string{"id", "properties", "createdAt", "updatedAt", "archived"} {
		if r.get(k) == nil {
			t.Fatalf("object lacks %s: %s", k, r)
		}
	}
	if r.str("properties.email") != "ann@example.com" || r.str("properties.hs_object_id") != id || r.str("properties.createdate") == "" || r.str("properties.lastmodifieddate") == "" {
		t.Fatalf("default properties: %s", r)
	}
	// Property values are strings, even when sent as numbers.
	d := e.must(e.do("POST", "/crm/v3/objects/deals", "", `{"properties":{"dealname":"D","pipeline":"default","dealstage":"appointmentscheduled","amount":1200.5}}`), 201)
	if v, ok := d.get("properties.amount").(string); !ok || v != "1200.5" {
		t.Fatalf("amount not a string: %s", d)
	}
	if d.str("properties.hs_lastmodifieddate") == "" {
		t.Fatalf("deal lacks hs_lastmodifieddate: %s", d)
	}
	// ?properties=a,b returns those (null when unset) plus the always-returned ones.
	g := e.must(e.do("GET", "/crm/v3/objects/contacts/"+id+"?properties=firstname,lastname", "", nil), 200)
	props := g.get("properties").(map[string]any)
	want := []string{"createdate", "firstname", "hs_object_id", "lastmodifieddate", "lastname"}
	if len(props) != len(want) {
		t.Fatalf("properties: %v", props)
	}
	for _, k := range want {
		if _, ok := props[k]; !ok {
			t.Fatalf("missing %s: %v", k, props)
		}
	}
	if props["lastname"] != nil {
		t.Fatalf("unset property must be null: %v", props)
	}
	// idProperty=email reads by email.
	byEmail := e.must(e.do("GET", "/crm/objects/2026-03/contacts/ann@example.com?idProperty=email", "", nil), 200)
	if byEmail.str("id") != id {
		t.Fatalf("by email: %s", byEmail)
	}
	e.hubspotError(e.do("GET", "/crm/objects/2026-03/contacts/999", "", nil), 404, "OBJECT_NOT_FOUND")
	// Update, then archive: reads answer 404 and archive stays 204.
	u := e.must(e.do("PATCH", "/crm/objects/2026-03/contacts/"+id, "", `{"properties":{"lifecyclestage":"customer"}}`), 200)
	if u.str("properties.lifecyclestage") != "customer" {
		t.Fatalf("update: %s", u)
	}
	e.must(e.do("DELETE", "/crm/objects/2026-03/contacts/"+id, "", nil), 204)
	e.must(e.do("DELETE", "/crm/objects/2026-03/contacts/"+id, "", nil), 204)
	e.hubspotError(e.do("GET", "/crm/objects/2026-03/contacts/"+id, "", nil), 404, "OBJECT_NOT_FOUND")
	if a := e.must(e.do("GET", "/crm/objects/2026-03/contacts/"+id+"?archived=true", "", nil), 200); a.get("archived") != true {
		t.Fatalf("archived read: %s", a)
	}
}

func TestValidationErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.hubspotError(e.do("POST", "/crm/objects/2026-03/contacts", "", `{"properties":{"email":"a@b.co","referral_code":"X"}}`), 400, "VALIDATION_ERROR")
	if r.str("errors.0.code") != "PROPERTY_DOESNT_EXIST" || r.str("errors.0.context.propertyName.0") != "referral_code" || !strings.Contains(r.str("message"), "referral_code") {
		t.Fatalf("unknown property: %s", r)
	}
	r = e.hubspotError(e.do("POST", "/crm/objects/2026-03/contacts", "", `{"properties":{"email":"a@b.co","lifecyclestage":"Customer"}}`), 400, "VALIDATION_ERROR")
	if r.str("errors.0.code") != "INVALID_OPTION" || r.str("errors.0.context.propertyName.0") != "lifecyclestage" || !strings.Contains(r.str("message"), "Customer") {
		t.Fatalf("bad option: %s", r)
	}
	r = e.hubspotError(e.do("POST", "/crm/objects/2026-03/contacts", "", `{"properties":{"email":"a@b.co","hs_lead_status":"new"}}`), 400, "VALIDATION_ERROR")
	if r.str("errors.0.code") != "INVALID_OPTION" {
		t.Fatalf("lead status values are upper case: %s", r)
	}
	r = e.hubspotError(e.do("POST", "/crm/objects/2026-03/contacts", "", `{"properties":{"email":"not-an-email"}}`), 400, "VALIDATION_ERROR")
	if r.str("errors.0.code") != "INVALID_EMAIL" {
		t.Fatalf("bad email: %s", r)
	}
	r = e.hubspotError(e.do("PATCH", "/crm/objects/2026-03/contacts/1", "", `{"properties":{"hs_object_id":"5"}}`), 404, "")
	// Deals need dealname, dealstage and pipeline; the stage must be in the pipeline.
	r = e.hubspotError(e.do("POST", "/crm/objects/2026-03/deals", "", `{"properties":{"dealname":"D"}}`), 400, "VALIDATION_ERROR")
	if !strings.Contains(r.str("message"), "dealstage") || !strings.Contains(r.str("message"), "pipeline") {
		t.Fatalf("deal required: %s", r)
	}
	r = e.hubspotError(e.do("POST", "/crm/objects/2026-03/deals", "", `{"properties":{"dealname":"D","pipeline":"default","dealstage":"won"}}`), 400, "VALIDATION_ERROR")
	if r.str("errors.0.code") != "INVALID_OPTION" || r.str("errors.0.context.propertyName.0") != "dealstage" {
		t.Fatalf("bad stage: %s", r)
	}
	// Duplicate email → 409 with HubSpot's message.
	id := e.createContact("dup@example.com", nil)
	r = e.hubspotError(e.do("POST", "/crm/v3/objects/contacts", "", `{"properties":{"email":"DUP@example.com"}}`), 409, "CONFLICT")
	if r.str("message") != "Contact already exists. Existing ID: "+id {
		t.Fatalf("conflict message: %s", r)
	}
	// Read-only values and invalid JSON.
	r = e.hubspotError(e.do("PATCH", "/crm/v3/objects/contacts/"+id, "", `{"properties":{"lastmodifieddate":"1"}}`), 400, "VALIDATION_ERROR")
	if r.str("errors.0.code") != "READ_ONLY_VALUE" {
		t.Fatalf("read only: %s", r)
	}
	e.hubspotError(e.do("POST", "/crm/v3/objects/contacts", "", `{"properties":`), 400, "VALIDATION_ERROR")
	// Unknown route.
	e.hubspotError(e.do("GET", "/crm/v3/nothing/here", "", nil), 404, "")
}

func TestPropertiesAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for _, base := range []string{"/crm/properties/2026-03/contacts", "/crm/v3/properties/contacts"} {
		r := e.must(e.do("GET", base+"/lifecyclestage", "", nil), 200)
		opts := r.get("options").([]any)
		var vals []string
		for _, o := range opts {
			vals = append(vals, o.(map[string]any)["value"].(string))
		}
		if !reflect.DeepEqual(vals, lifecycleStages) || r.str("type") != "enumeration" {
			t.Fatalf("lifecyclestage: %s", r)
		}
	}
	ls := e.must(e.do("GET", "/crm/v3/properties/contacts/hs_lead_status", "", nil), 200)
	if len(ls.get("options").([]any)) != 8 || ls.str("options.0.value") != "NEW" {
		t.Fatalf("hs_lead_status: %s", ls)
	}
	e.must(e.do("POST", "/crm/properties/2026-03/contacts/groups", "", `{"name":"referflow","label":"referflow"}`), 201)
	e.hubspotError(e.do("POST", "/crm/v3/properties/contacts/groups", "", `{"name":"referflow","label":"referflow"}`), 409, "")
	prop := `{"groupName":"referflow","name":"referral_code","label":"Referral code","type":"string","fieldType":"text"}`
	e.must(e.do("POST", "/crm/properties/2026-03/contacts", "", prop), 201)
	e.hubspotError(e.do("POST", "/crm/v3/properties/contacts", "", prop), 409, "")
	e.hubspotError(e.do("POST", "/crm/v3/properties/contacts", "", `{"groupName":"nope","name":"x_y","label":"x","type":"string","fieldType":"text"}`), 400, "VALIDATION_ERROR")
	e.hubspotError(e.do("POST", "/crm/v3/properties/contacts", "", `{"groupName":"referflow","name":"x_y","label":"x","type":"string","fieldType":"select"}`), 400, "VALIDATION_ERROR")
	e.createContact("a@b.co", map[string]string{"referral_code": "ABC"})
	list := e.must(e.do("GET", "/crm/v3/properties/contacts", "", nil), 200)
	found := false
	for _, p := range list.get("results").([]any) {
		found = found || p.(map[string]any)["name"] == "referral_code"
	}
	if !found {
		t.Fatal("custom property not listed")
	}
	groups := e.must(e.do("GET", "/crm/v3/properties/contacts/groups", "", nil), 200)
	if len(groups.get("results").([]any)) != 2 {
		t.Fatalf("groups: %s", groups)
	}
}

func TestPipelines(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	a := e.must(e.do("GET", "/crm/pipelines/2026-03/deals", "", nil), 200)
	b := e.must(e.do("GET", "/crm/v3/pipelines/deals", "", nil), 200)
	if !reflect.DeepEqual(a.body, b.body) {
		t.Fatalf("pipeline paths differ:\n%s\n%s", a, b)
	}
	if a.str("results.0.id") != "default" {
		t.Fatalf("default pipeline: %s", a)
	}
	var ids []string
	for _, st := range a.get("results.0.stages").([]any) {
		m := st.(map[string]any)
		ids = append(ids, m["id"].(string))
		md := m["metadata"].(map[string]any)
		if _, ok := md["probability"].(string); !ok {
			t.Fatalf("probability must be a string: %v", m)
		}
		if _, ok := md["isClosed"].(string); !ok {
			t.Fatalf("isClosed must be a string: %v", m)
		}
	}
	want := []string{"appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent", "closedwon", "closedlost"}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("stages %v", ids)
	}
	if a.str("results.0.stages.5.metadata.isClosed") != "true" || a.str("results.0.stages.5.metadata.probability") != "1.0" || a.str("results.0.stages.6.metadata.probability") != "0.0" {
		t.Fatalf("closed stages: %s", a)
	}
	// Custom pipelines get numeric IDs.
	pid, sids, err := e.sim.AddDealPipeline(e.p.ID, "Partners", []PipelineStageInput{
		{Label: "New", Metadata: map[string]string{"probability": "0.1"}},
		{Label: "Won", Metadata: map[string]string{"probability": "1.0"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := e.must(e.do("POST", "/crm/objects/2026-03/deals", "", map[string]any{"properties": map[string]string{"dealname": "P", "pipeline": pid, "dealstage": sids[1]}}), 201)
	if d.str("properties.hs_is_closed_won") != "true" {
		t.Fatalf("won in custom pipeline: %s", d)
	}
	e.hubspotError(e.do("PATCH", "/crm/objects/2026-03/deals/"+d.str("id"), "", `{"properties":{"dealstage":"closedwon"}}`), 400, "VALIDATION_ERROR")
	st := e.must(e.do("GET", "/crm/v3/pipelines/deals/"+pid+"/stages", "", nil), 200)
	if st.str("results.1.id") != sids[1] || st.str("results.1.metadata.isClosed") != "true" {
		t.Fatalf("stages: %s", st)
	}
}

func TestAssociationsBothWays(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	c := e.createContact("a@b.co", nil)
	co := e.must(e.do("POST", "/crm/objects/2026-03/companies", "", `{"properties":{"name":"Acme","domain":"acme.com"}}`), 201).str("id")
	deal := e.must(e.do("POST", "/crm/objects/2026-03/deals", "", map[string]any{
		"properties":   map[string]string{"dealname": "D", "pipeline": "default", "dealstage": "qualifiedtobuy"},
		"associations": []any{map[string]any{"to": map[string]string{"id": c}, "types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}}}},
	}), 201).str("id")
	// From the contact, v4 (legacy) and 2026-03 answer alike, with type 4.
	v4 := e.must(e.do("GET", "/crm/v4/objects/contacts/"+c+"/associations/deals", "", nil), 200)
	v26 := e.must(e.do("GET", "/crm/objects/2026-03/contacts/"+c+"/associations/deals", "", nil), 200)
	if !reflect.DeepEqual(v4.body, v26.body) || v4.str("results.0.toObjectId") != deal || v4.str("results.0.associationTypes.0.typeId") != "4" {
		t.Fatalf("contact→deal: %s / %s", v4, v26)
	}
	g := e.must(e.do("GET", "/crm/v3/objects/deals/"+deal+"?associations=contacts", "", nil), 200)
	if g.str("associations.contacts.results.0.id") != c || g.str("associations.contacts.results.0.type") != "deal_to_contact" {
		t.Fatalf("?associations: %s", g)
	}
	// Contact→company by PUT default (279 one way, 280 the other).
	for _, path := range []string{"/crm/v4/objects/contacts/" + c + "/associations/default/companies/" + co, "/crm/objects/2026-03/contacts/" + c + "/associations/default/companies/" + co} {
		r := e.must(e.do("PUT", path, "", nil), 200)
		if r.str("status") != "COMPLETE" || r.str("results.0.associationSpec.associationTypeId") != "279" || r.str("results.1.associationSpec.associationTypeId") != "280" {
			t.Fatalf("default: %s", r)
		}
	}
	back := e.must(e.do("GET", "/crm/v4/objects/companies/"+co+"/associations/contacts", "", nil), 200)
	if back.str("results.0.toObjectId") != c || back.str("results.0.associationTypes.0.typeId") != "280" {
		t.Fatalf("company→contact: %s", back)
	}
	// Batch read; a missing association is a 207 error.
	br := e.must(e.do("POST", "/crm/associations/2026-03/deals/contacts/batch/read", "", `{"inputs":[{"id":"`+deal+`"},{"id":"999"}]}`), 207)
	if br.str("results.0.from.id") != deal || br.str("results.0.to.0.toObjectId") != c || br.str("numErrors") != "1" {
		t.Fatalf("batch read: %s", br)
	}
	// Wrong type ID for the pair → 400; unknown target → 404.
	e.hubspotError(e.do("PUT", "/crm/v4/objects/deals/"+deal+"/associations/contacts/"+c, "", `[{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":279}]`), 400, "VALIDATION_ERROR")
	e.hubspotError(e.do("PUT", "/crm/v4/objects/deals/"+deal+"/associations/default/contacts/424242", "", nil), 404, "")
	// Delete removes both directions.
	e.must(e.do("DELETE", "/crm/v4/objects/deals/"+deal+"/associations/contacts/"+c, "", nil), 204)
	if r := e.must(e.do("GET", "/crm/v4/objects/contacts/"+c+"/associations/deals", "", nil), 200); len(r.get("results").([]any)) != 0 {
		t.Fatalf("after delete: %s", r)
	}
}

func TestListAndBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	var inputs []map[string]any
	for i := range 100 {
		inputs = append(inputs, map[string]any{"properties": map[string]string{"email": fmt.Sprintf("u%03d@example.com", i)}})
	}
	r := e.must(e.do("POST", "/crm/objects/2026-03/contacts/batch/create", "", map[string]any{"inputs": inputs}), 201)
	if len(r.get("results").([]any)) != 100 || r.str("status") != "COMPLETE" {
		t.Fatalf("batch create: %d results", len(r.get("results").([]any)))
	}
	// 101 inputs → 400, for every batch action.
	inputs = append(inputs, map[string]any{"properties": map[string]string{"email": "x@example.com"}})
	for _, action := range []string{"create", "read", "update", "upsert", "archive"} {
		e.hubspotError(e.do("POST", "/crm/v3/objects/contacts/batch/"+action, "", map[string]any{"inputs": inputs}), 400, "VALIDATION_ERROR")
	}
	if n := len(e.sim.Objects(e.p.ID, "contacts")); n != 100 {
		t.Fatalf("a refused batch must create nothing: %d contacts", n)
	}
	// Paging: 100 contacts, pages of ≤100; more than 100 → 400.
	e.hubspotError(e.do("GET", "/crm/objects/2026-03/contacts?limit=101", "", nil), 400, "VALIDATION_ERROR")
	seen := 0
	after := ""
	for pages := 0; ; pages++ {
		path := "/crm/objects/2026-03/contacts?limit=30"
		if after != "" {
			path += "&after=" + after
		}
		r := e.must(e.do("GET", path, "", nil), 200)
		seen += len(r.get("results").([]any))
		after = r.str("paging.next.after")
		if after == "" {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if seen != 100 {
		t.Fatalf("paged %d contacts", seen)
	}
	// Batch read with a missing ID → 207 with errors[].
	first := e.sim.Objects(e.p.ID, "contacts")[0].ID
	br := e.must(e.do("POST", "/crm/v3/objects/contacts/batch/read", "", `{"properties":["email"],"inputs":[{"id":"`+first+`"},{"id":"1"}]}`), 207)
	if br.str("errors.0.category") != "OBJECT_NOT_FOUND" || br.str("errors.0.context.ids.0") != "1" || len(br.get("results").([]any)) != 1 {
		t.Fatalf("partial read: %s", br)
	}
	// Batch update with a missing ID → 207; duplicates → 400.
	bu := e.must(e.do("POST", "/crm/v3/objects/contacts/batch/update", "", `{"inputs":[{"id":"`+first+`","properties":{"firstname":"F"}},{"id":"2","properties":{"firstname":"G"}}]}`), 207)
	if bu.str("results.0.properties.firstname") != "F" {
		t.Fatalf("partial update: %s", bu)
	}
	e.hubspotError(e.do("POST", "/crm/v3/objects/contacts/batch/update", "", `{"inputs":[{"id":"`+first+`","properties":{}},{"id":"`+first+`","properties":{}}]}`), 400, "VALIDATION_ERROR")
	// Upsert by email: one existing, one new.
	up := e.must(e.do("POST", "/crm/objects/2026-03/contacts/batch/upsert", "", `{"inputs":[{"id":"u001@example.com","idProperty":"email","properties":{"lastname":"L"}},{"id":"new@example.com","idProperty":"email","properties":{"firstname":"N"}}]}`), 200)
	if up.get("results.0.new") != false || up.get("results.1.new") != true || up.str("results.1.properties.email") != "new@example.com" {
		t.Fatalf("upsert: %s", up)
	}
	e.hubspotError(e.do("POST", "/crm/objects/2026-03/contacts/batch/upsert", "", `{"inputs":[{"id":"x@example.com","properties":{}}]}`), 400, "VALIDATION_ERROR")
	// Batch archive → 204.
	e.must(e.do("POST", "/crm/objects/2026-03/contacts/batch/archive", "", `{"inputs":[{"id":"`+first+`"}]}`), 204)
	if _, ok := e.sim.GetObject(e.p.ID, "contacts", first); ok {
		t.Fatal("archived contact still readable")
	}
}

func TestSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{SearchPerSecond: -1})
	for i := range 25 {
		stage := "lead"
		if i%5 == 0 {
			stage = "customer"
		}
		e.createContact(fmt.Sprintf("person%02d@example.com", i), map[string]string{"firstname": fmt.Sprintf("P%02d", i), "lifecyclestage": stage})
	}
	search := func(body string) resp { return e.do("POST", "/crm/objects/2026-03/contacts/search", "", body) }
	r := e.must(search(`{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"PERSON03@example.com"}]}]}`), 200)
	if r.str("total") != "1" || r.str("results.0.properties.email") != "person03@example.com" {
		t.Fatalf("EQ: %s", r)
	}
	r = e.must(search(`{"filterGroups":[{"filters":[{"propertyName":"lifecyclestage","operator":"EQ","value":"customer"}]},{"filters":[{"propertyName":"firstname","operator":"EQ","value":"P01"}]}],"properties":["lifecyclestage"],"limit":3}`), 200)
	if r.str("total") != "6" || len(r.get("results").([]any)) != 3 || r.str("paging.next.after") != "3" {
		t.Fatalf("OR groups + paging: %s", r)
	}
	r = e.must(search(`{"filterGroups":[{"filters":[{"propertyName":"lifecyclestage","operator":"IN","values":["customer"]},{"propertyName":"firstname","operator":"NEQ","value":"P00"}]}],"sorts":[{"propertyName":"firstname","direction":"DESCENDING"}]}`), 200)
	if r.str("total") != "4" || r.str("results.0.properties.firstname") != "P20" {
		t.Fatalf("AND + sort: %s", r)
	}
	r = e.must(search(`{"filterGroups":[{"filters":[{"propertyName":"email","operator":"CONTAINS_TOKEN","value":"person1*"}]}]}`), 200)
	if r.str("total") != "10" {
		t.Fatalf("CONTAINS_TOKEN: %s", r)
	}
	r = e.must(search(`{"filterGroups":[{"filters":[{"propertyName":"lastname","operator":"NOT_HAS_PROPERTY"}]}]}`), 200)
	if r.str("total") != "25" {
		t.Fatalf("NOT_HAS_PROPERTY: %s", r)
	}
	r = e.must(search(`{"filterGroups":[{"filters":[{"propertyName":"hs_object_id","operator":"BETWEEN","value":"1000002","highValue":"1000004"}]}]}`), 200)
	if r.str("total") != "3" {
		t.Fatalf("BETWEEN: %s", r)
	}
	r = e.must(search(`{"filterGroups":[{"filters":[{"propertyName":"createdate","operator":"GTE","value":"0"}]}],"limit":0}`), 200)
	if r.str("total") != "25" {
		t.Fatalf("GTE date: %s", r)
	}
	// Limits: 200 per page, 5 groups, 6 per group, 18 filters, 10,000 results, one sort.
	e.hubspotError(search(`{"limit":201}`), 400, "VALIDATION_ERROR")
	e.must(search(`{"limit":200}`), 200)
	f := `{"propertyName":"email","operator":"HAS_PROPERTY"}`
	group := func(n int) string { return `{"filters":[` + strings.TrimSuffix(strings.Repeat(f+",", n), ",") + `]}` }
	groups := func(sizes ...int) string {
		var gs []string
		for _, n := range sizes {
			gs = append(gs, group(n))
		}
		return `{"filterGroups":[` + strings.Join(gs, ",") + `]}`
	}
	e.must(search(groups(6, 6, 6)), 200)
	e.hubspotError(search(groups(1, 1, 1, 1, 1, 1)), 400, "VALIDATION_ERROR")
	e.hubspotError(search(groups(7)), 400, "VALIDATION_ERROR")
	e.hubspotError(search(groups(6, 6, 6, 1)), 400, "VALIDATION_ERROR")
	e.hubspotError(search(`{"after":"10000"}`), 400, "VALIDATION_ERROR")
	e.hubspotError(search(`{"sorts":[{"propertyName":"email"},{"propertyName":"firstname"}]}`), 400, "VALIDATION_ERROR")
	e.hubspotError(search(`{"filterGroups":[{"filters":[{"propertyName":"nope","operator":"EQ","value":"x"}]}]}`), 400, "VALIDATION_ERROR")
	e.hubspotError(search(`{"filterGroups":[{"filters":[{"propertyName":"email","operator":"LIKE","value":"x"}]}]}`), 400, "VALIDATION_ERROR")
}

func TestSearchLag(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{SearchLag: 2 * time.Second})
	id := e.createContact("lag@example.com", nil)
	q := `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"lag@example.com"}]}]}`
	if r := e.must(e.do("POST", "/crm/v3/objects/contacts/search", "", q), 200); r.str("total") != "0" {
		t.Fatalf("a new contact must not be searchable yet: %s", r)
	}
	// Reads by ID see it at once.
	e.must(e.do("GET", "/crm/v3/objects/contacts/"+id, "", nil), 200)
	e.clock.Advance(2 * time.Second)
	if r := e.must(e.do("POST", "/crm/v3/objects/contacts/search", "", q), 200); r.str("total") != "1" {
		t.Fatalf("after the lag: %s", r)
	}
	// An update is searchable with its old value until the lag passes.
	e.must(e.do("PATCH", "/crm/v3/objects/contacts/"+id, "", `{"properties":{"firstname":"New"}}`), 200)
	q2 := `{"filterGroups":[{"filters":[{"propertyName":"firstname","operator":"EQ","value":"New"}]}]}`
	e.clock.Advance(time.Second)
	if r := e.must(e.do("POST", "/crm/v3/objects/contacts/search", "", q2), 200); r.str("total") != "0" {
		t.Fatalf("update visible too early: %s", r)
	}
	e.clock.Advance(time.Second)
	if r := e.must(e.do("POST", "/crm/v3/objects/contacts/search", "", q2), 200); r.str("total") != "1" {
		t.Fatalf("update not visible: %s", r)
	}
}

func TestTenSecondlyRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for i := range 110 {
		r := e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 200)
		if got, want := r.header.Get("X-HubSpot-RateLimit-Remaining"), fmt.Sprint(109-i); got != want {
			t.Fatalf("request %d: remaining %s, want %s", i+1, got, want)
		}
	}
	r := e.must(e.do("GET", "/crm/objects/2026-03/contacts", "", nil), 429)
	if r.str("policyName") != "TEN_SECONDLY_ROLLING" || r.str("errorType") != "RATE_LIMIT" || r.str("status") != "error" ||
		r.str("message") != "You have reached your ten_secondly_rolling limit." || r.str("correlationId") == "" {
		t.Fatalf("429 body: %s", r)
	}
	if r.header.Get("X-HubSpot-RateLimit-Max") != "110" || r.header.Get("X-HubSpot-RateLimit-Remaining") != "0" || r.header.Get("X-HubSpot-RateLimit-Interval-Milliseconds") != "10000" {
		t.Fatalf("429 headers: %v", r.header)
	}
	if r.header.Get("X-HubSpot-RateLimit-Daily") != "250000" {
		t.Fatalf("private apps get daily headers: %v", r.header)
	}
	if e.sim.Requests(e.p.ID) != 110 {
		t.Fatalf("requests counted: %d", e.sim.Requests(e.p.ID))
	}
	// OAuth endpoints do not count; other portals have their own window.
	e.hubspotError(e.do("GET", "/oauth/v1/access-tokens/nope", "-", nil), 404, "")
	other := e.sim.CreatePortal("other")
	e.must(e.do("GET", "/crm/v3/objects/contacts", other.PrivateAppToken, nil), 200)
	// The window rolls.
	e.clock.Advance(10 * time.Second)
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 200)
}

func TestSearchSecondlyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for range 5 {
		e.must(e.do("POST", "/crm/v3/objects/contacts/search", "", `{}`), 200)
	}
	r := e.must(e.do("POST", "/crm/v3/objects/contacts/search", "", `{}`), 429)
	// HubSpot's Node client recognises this exact message.
	if r.str("message") != "You have reached your secondly limit." || r.str("policyName") != "SECONDLY" || r.str("errorType") != "RATE_LIMIT" {
		t.Fatalf("search 429: %s", r)
	}
	// Other endpoints are not held back by the search limit.
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 200)
	e.clock.Advance(time.Second)
	e.must(e.do("POST", "/crm/v3/objects/contacts/search", "", `{}`), 200)
}

func TestDailyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{DailyLimit: 3, RateLimitPerTenSeconds: -1})
	for range 3 {
		e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 200)
	}
	r := e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 429)
	if r.str("policyName") != "DAILY" || r.header.Get("X-HubSpot-RateLimit-Daily-Remaining") != "0" {
		t.Fatalf("daily: %s %v", r, r.header)
	}
	e.clock.Advance(24 * time.Hour)
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 200)
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.sim.FailNext(e.p.ID, 502, 2)
	e.hubspotError(e.do("GET", "/crm/v3/objects/contacts", "", nil), 502, "")
	e.hubspotError(e.do("GET", "/crm/v3/objects/contacts", "", nil), 502, "")
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 200)
	e.sim.FailNext(e.p.ID, 429, 1)
	if r := e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 429); r.str("policyName") != "TEN_SECONDLY_ROLLING" {
		t.Fatalf("injected 429: %s", r)
	}
}

func TestAuthErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.hubspotError(e.do("GET", "/crm/v3/objects/contacts", "-", nil), 401, "INVALID_AUTHENTICATION")
	e.hubspotError(e.do("GET", "/crm/v3/objects/contacts", "garbage", nil), 401, "INVALID_AUTHENTICATION")
	access, _ := e.sim.IssueTokens(e.p.ID)
	e.must(e.do("GET", "/crm/v3/objects/contacts", access, nil), 200)
	e.clock.Advance(30 * time.Minute)
	r := e.hubspotError(e.do("GET", "/crm/v3/objects/contacts", access, nil), 401, "EXPIRED_AUTHENTICATION")
	if !strings.Contains(r.str("message"), "expired") {
		t.Fatalf("expired: %s", r)
	}
	// A token reaches only its own portal.
	id := e.createContact("mine@example.com", nil)
	other := e.sim.CreatePortal("other")
	e.hubspotError(e.do("GET", "/crm/v3/objects/contacts/"+id, other.PrivateAppToken, nil), 404, "OBJECT_NOT_FOUND")
	// Scopes are enforced for OAuth tokens.
	limited, _ := e.sim.IssueTokens(e.p.ID, "oauth", "crm.objects.contacts.read")
	e.must(e.do("GET", "/crm/v3/objects/contacts/"+id, limited, nil), 200)
	r = e.hubspotError(e.do("POST", "/crm/v3/objects/contacts", limited, `{"properties":{}}`), 403, "MISSING_SCOPES")
	if r.str("errors.0.context.requiredGranularScopes.0") != "crm.objects.contacts.write" {
		t.Fatalf("missing scope: %s", r)
	}
	e.hubspotError(e.do("GET", "/crm/v3/pipelines/deals", limited, nil), 403, "MISSING_SCOPES")
	if r := e.do("GET", "/crm/v3/objects/contacts", limited, nil); r.header.Get("X-HubSpot-RateLimit-Daily") != "" {
		t.Fatal("OAuth answers carry no daily headers")
	}
}

// authorize drives the consent page as a browser would and returns the code.
func (e *env) authorize(redirect, state, scope string) string {
	e.t.Helper()
	q := url.Values{"client_id": {DefaultClientID}, "redirect_uri": {redirect}, "scope": {scope}, "state": {state}}
	page := e.do("GET", "/oauth/authorize?"+q.Encode(), "-", nil)
	if page.status != 200 || !strings.Contains(string(page.raw), "Test portal") || !strings.Contains(string(page.raw), `name="portal_id"`) {
		e.t.Fatalf("consent page: %s", page)
	}
	q.Set("portal_id", fmt.Sprint(e.p.ID))
	q.Set("decision", "allow")
	r := e.form("/oauth/authorize", q)
	if r.status != 302 {
		e.t.Fatalf("consent: %s", r)
	}
	loc, _ := url.Parse(r.header.Get("Location"))
	if loc.Query().Get("state") != state || !strings.HasPrefix(loc.String(), redirect) {
		e.t.Fatalf("redirect %s", loc)
	}
	return loc.Query().Get("code")
}

func TestOAuthFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	const redirect = "http://localhost:8080/oauth/hubspot/callback"
	scopes := "oauth crm.objects.contacts.read crm.objects.contacts.write crm.objects.deals.read"
	code := e.authorize(redirect, "s1", scopes)
	tok := func(path string, v url.Values) resp {
		v.Set("client_id", DefaultClientID)
		if v.Get("client_secret") == "" {
			v.Set("client_secret", DefaultClientSecret)
		}
		return e.form(path, v)
	}
	// Wrong redirect_uri, then the real exchange, then reuse.
	r := tok("/oauth/2026-03/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://evil/cb"}})
	if r.status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("redirect mismatch: %s", r)
	}
	r = e.must(tok("/oauth/2026-03/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}), 200)
	if r.str("token_type") != "bearer" || r.str("expires_in") != "1800" || r.str("hub_id") != fmt.Sprint(e.p.ID) || r.str("access_token") == "" || r.str("refresh_token") == "" || len(r.get("scopes").([]any)) != 4 {
		t.Fatalf("token: %s", r)
	}
	access, refresh := r.str("access_token"), r.str("refresh_token")
	r = tok("/oauth/2026-03/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}})
	if r.status != 400 || r.str("error") != "invalid_grant" || r.str("status") != "BAD_AUTH_CODE" {
		t.Fatalf("code reuse: %s", r)
	}
	r = tok("/oauth/v1/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_secret": {"wrong"}})
	if r.status != 400 || r.str("error") != "invalid_client" {
		t.Fatalf("bad secret: %s", r)
	}
	// The CRM answers the access token.
	e.must(e.do("GET", "/crm/v3/objects/contacts", access, nil), 200)
	// Introspection on both path families.
	in := e.must(tok("/oauth/2026-03/token/introspect", url.Values{"token": {access}}), 200)
	if in.get("active") != true || in.str("hub_id") != fmt.Sprint(e.p.ID) || in.str("token_type") != "access" || in.str("app_id") != "1" {
		t.Fatalf("introspect: %s", in)
	}
	v1 := e.must(e.do("GET", "/oauth/v1/access-tokens/"+access, "-", nil), 200)
	for _, k := range []string{"hub_id", "scopes", "expires_in", "token_type", "app_id", "user"} {
		if v1.get(k) == nil {
			t.Fatalf("v1 introspection lacks %s: %s", k, v1)
		}
	}
	// v1 refresh has no hub_id; the refresh token stays the same.
	r = e.must(tok("/oauth/v1/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}), 200)
	if r.get("hub_id") != nil || r.str("refresh_token") != refresh || r.str("access_token") == access {
		t.Fatalf("v1 refresh: %s", r)
	}
	// Revoked refresh tokens → invalid_grant / BAD_REFRESH_TOKEN.
	e.sim.RevokeRefreshTokens(e.p.ID)
	r = tok("/oauth/2026-03/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if r.status != 400 || r.str("error") != "invalid_grant" || r.str("status") != "BAD_REFRESH_TOKEN" || r.str("error_description") == "" || r.str("message") == "" {
		t.Fatalf("revoked refresh: %s", r)
	}
	// A second connection, revoked through the API, stops its access tokens too.
	code = e.authorize(redirect, "s2", scopes)
	r = e.must(tok("/oauth/2026-03/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}), 200)
	e.must(tok("/oauth/2026-03/token/revoke", url.Values{"token": {r.str("refresh_token")}}), 200)
	e.hubspotError(e.do("GET", "/crm/v3/objects/contacts", r.str("access_token"), nil), 401, "INVALID_AUTHENTICATION")
	if in := e.must(tok("/oauth/2026-03/token/introspect", url.Values{"token": {r.str("refresh_token")}}), 200); in.get("active") != false {
		t.Fatalf("revoked introspection: %s", in)
	}
	// Wrong client_id → an error page, not a redirect.
	bad := e.do("GET", "/oauth/authorize?"+url.Values{"client_id": {"nope"}, "redirect_uri": {redirect}, "scope": {"oauth"}}.Encode(), "-", nil)
	if bad.status != 400 || !strings.Contains(string(bad.raw), "client_id") {
		t.Fatalf("bad client: %s", bad)
	}
	// Deny redirects with error=access_denied.
	q := url.Values{"client_id": {DefaultClientID}, "redirect_uri": {redirect}, "scope": {"oauth"}, "state": {"s3"}, "decision": {"deny"}}
	if d := e.form("/oauth/authorize", q); d.status != 302 || !strings.Contains(d.header.Get("Location"), "error=access_denied") {
		t.Fatalf("deny: %s %v", d, d.header)
	}
}

func TestOAuthNewPortal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	q := url.Values{"client_id": {DefaultClientID}, "redirect_uri": {"http://localhost/cb"}, "scope": {"oauth"}, "portal_id": {"new"}, "portal_name": {"Fresh"}, "decision": {"allow"}}
	r := e.form("/oauth/authorize", q)
	loc, _ := url.Parse(r.header.Get("Location"))
	tr := e.must(e.form("/oauth/2026-03/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {"http://localhost/cb"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}), 200)
	ps := e.sim.Portals()
	if len(ps) != 2 || ps[1].Name != "Fresh" || tr.str("hub_id") != fmt.Sprint(ps[1].ID) {
		t.Fatalf("new portal: %v %s", ps, tr)
	}
}

func TestPathFamiliesAnswerAlike(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	id := e.createContact("same@example.com", map[string]string{"firstname": "S"})
	pairs := [][2]string{
		{"/crm/objects/2026-03/contacts/" + id, "/crm/v3/objects/contacts/" + id},
		{"/crm/objects/2026-03/contacts?limit=5", "/crm/v3/objects/contacts?limit=5"},
		{"/crm/properties/2026-03/deals", "/crm/v3/properties/deals"},
		{"/crm/properties/2026-03/contacts/groups", "/crm/v3/properties/contacts/groups"},
		{"/crm/pipelines/2026-03/deals/default/stages", "/crm/v3/pipelines/deals/default/stages"},
	}
	for _, p := range pairs {
		a, b := e.must(e.do("GET", p[0], "", nil), 200), e.must(e.do("GET", p[1], "", nil), 200)
		if !reflect.DeepEqual(a.body, b.body) {
			t.Fatalf("%s and %s differ:\n%s\n%s", p[0], p[1], a, b)
		}
	}
	q := `{"filterGroups":[{"filters":[{"propertyName":"firstname","operator":"EQ","value":"S"}]}]}`
	a := e.must(e.do("POST", "/crm/objects/2026-03/contacts/search", "", q), 200)
	b := e.must(e.do("POST", "/crm/v3/objects/contacts/search", "", q), 200)
	if !reflect.DeepEqual(a.body, b.body) || a.str("total") != "1" {
		t.Fatalf("search differs: %s / %s", a, b)
	}
}

func TestLists(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	var ids []string
	for i := range 5 {
		stage := "lead"
		if i < 2 {
			stage = "customer"
		}
		ids = append(ids, e.createContact(fmt.Sprintf("l%d@example.com", i), map[string]string{"lifecyclestage": stage}))
	}
	m := e.must(e.do("POST", "/crm/lists/2026-03", "", `{"name":"Referrers","objectTypeId":"0-1","processingType":"MANUAL"}`), 200)
	manual := m.str("list.listId")
	r := e.must(e.do("PUT", "/crm/v3/lists/"+manual+"/memberships/add", "", []string{ids[0], ids[3], "12345"}), 200)
	if len(r.get("recordsIdsAdded").([]any)) != 2 || r.str("recordIdsMissing.0") != "12345" {
		t.Fatalf("add: %s", r)
	}
	dyn := e.must(e.do("POST", "/crm/v3/lists/", "", `{"name":"Customers","objectTypeId":"0-1","processingType":"DYNAMIC","filterBranch":{"filterBranchType":"OR","filters":[],"filterBranches":[{"filterBranchType":"AND","filterBranches":[],"filters":[{"filterType":"PROPERTY","property":"lifecyclestage","operation":{"operationType":"ENUMERATION","operator":"IS_ANY_OF","values":["customer"]}}]}]}}`), 200).str("list.listId")
	mem := e.must(e.do("GET", "/crm/lists/2026-03/"+dyn+"/memberships?limit=1", "", nil), 200)
	if mem.str("results.0.recordId") != ids[0] || mem.str("paging.next.after") == "" {
		t.Fatalf("dynamic memberships: %s", mem)
	}
	// Re-evaluated on read.
	e.must(e.do("PATCH", "/crm/v3/objects/contacts/"+ids[4], "", `{"properties":{"lifecyclestage":"customer"}}`), 200)
	if g := e.must(e.do("GET", "/crm/v3/lists/"+dyn, "", nil), 200); g.str("list.size") != "3" || g.str("list.processingType") != "DYNAMIC" {
		t.Fatalf("dynamic size: %s", g)
	}
	e.hubspotError(e.do("PUT", "/crm/v3/lists/"+dyn+"/memberships/add", "", []string{ids[1]}), 400, "VALIDATION_ERROR")
	s := e.must(e.do("POST", "/crm/v3/lists/search", "", `{"query":"cust","processingTypes":["DYNAMIC"]}`), 200)
	if s.str("total") != "1" || s.str("lists.0.listId") != dyn {
		t.Fatalf("lists search: %s", s)
	}
	e.hubspotError(e.do("POST", "/crm/v3/lists/", "", `{"name":"Bad","objectTypeId":"0-1","processingType":"DYNAMIC"}`), 400, "VALIDATION_ERROR")
	e.hubspotError(e.do("GET", "/crm/v3/lists/999/memberships", "", nil), 404, "")
}

func TestChangesAreRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	var mu sync.Mutex
	var got []Change
	stop := e.sim.OnChange(func(c Change) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, c)
	})
	c := e.createContact("ch@example.com", map[string]string{"lifecyclestage": "lead"})
	d := e.must(e.do("POST", "/crm/v3/objects/deals", "", `{"properties":{"dealname":"D","pipeline":"default","dealstage":"appointmentscheduled"}}`), 201).str("id")
	e.must(e.do("PUT", "/crm/v4/objects/deals/"+d+"/associations/default/contacts/"+c, "", nil), 200)
	if err := e.sim.UpdateObject(e.p.ID, "deals", d, map[string]string{"dealstage": "closedwon"}); err != nil {
		t.Fatal(err)
	}
	e.must(e.do("DELETE", "/crm/v3/objects/contacts/"+c, "", nil), 204)
	stop()
	find := func(sub, prop string) *Change {
		mu.Lock()
		defer mu.Unlock()
		for i := range got {
			if got[i].SubscriptionType() == sub && (prop == "" || got[i].PropertyName == prop) {
				return &got[i]
			}
		}
		return nil
	}
	if ch := find("contact.creation", ""); ch == nil || ch.ChangeSource != SourceIntegration || ch.ObjectTypeID != "0-1" {
		t.Fatalf("creation: %v", got)
	}
	if ch := find("contact.propertyChange", "lifecyclestage"); ch == nil || ch.PropertyValue != "lead" {
		t.Fatalf("property on create: %v", got)
	}
	ch := find("deal.propertyChange", "dealstage")
	for _, x := range got {
		if x.SubscriptionType() == "deal.propertyChange" && x.PropertyName == "dealstage" && x.PropertyValue == "closedwon" {
			ch = &x
		}
	}
	if ch == nil || ch.OldValue != "appointmentscheduled" || ch.ChangeSource != SourceCRMUI || ch.OccurredAt.IsZero() {
		t.Fatalf("stage change: %v", ch)
	}
	if ch := find("deal.associationChange", ""); ch == nil || ch.AssociationType != "DEAL_TO_CONTACT" || ch.ToObjectType != "contact" || ch.AssociationRemoved {
		t.Fatalf("association: %v", got)
	}
	if ch := find("contact.associationChange", ""); ch == nil || ch.AssociationType != "CONTACT_TO_DEAL" {
		t.Fatalf("association back: %v", got)
	}
	if find("contact.deletion", "") == nil || find("deal.propertyChange", "hs_is_closed_won") == nil {
		t.Fatalf("deletion / calculated: %v", got)
	}
	all := e.sim.Changes(e.p.ID)
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq {
			t.Fatal("Changes not in order")
		}
	}
	if len(all) != len(got) {
		t.Fatalf("log %d, hook %d", len(all), len(got))
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	a := e.createContact("a@example.com", nil)
	b := e.createContact("b@example.com", map[string]string{"firstname": "Bee"})
	r := e.must(e.do("POST", "/crm/v3/objects/contacts/merge", "", map[string]string{"primaryObjectId": a, "objectIdToMerge": b}), 200)
	if r.str("id") != a || r.str("properties.firstname") != "Bee" || r.str("properties.email") != "a@example.com" {
		t.Fatalf("merge: %s", r)
	}
	if g := e.must(e.do("GET", "/crm/v3/objects/contacts/"+b, "", nil), 200); g.str("id") != a {
		t.Fatalf("merged ID reads the winner: %s", g)
	}
	var merge *Change
	for _, c := range e.sim.Changes(e.p.ID) {
		if c.Kind == ChangeMerge {
			merge = &c
		}
	}
	if merge == nil || merge.PrimaryObjectID != idInt(a) || len(merge.MergedObjectIDs) != 1 || merge.MergedObjectIDs[0] != idInt(b) {
		t.Fatalf("merge change: %v", merge)
	}
}

func idInt(s string) int64 {
	var n int64
	fmt.Sscan(s, &n)
	return n
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{RateLimitPerTenSeconds: -1, SearchPerSecond: -1})
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				r := e.do("POST", "/crm/v3/objects/contacts", "", fmt.Sprintf(`{"properties":{"email":"c%d-%d@example.com"}}`, g, i))
				if r.status != 201 {
					errs <- r.String()
				}
				e.do("POST", "/crm/v3/objects/contacts/search", "", `{}`)
				_, _ = e.sim.GetObject(e.p.ID, "contacts", r.str("id"))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Fatal(msg)
	}
	objs := e.sim.Objects(e.p.ID, "contacts")
	if len(objs) != 64 || objs[0].ID != "1000001" || objs[63].ID != "1000064" {
		t.Fatalf("IDs not deterministic: %d objects", len(objs))
	}
}
