package hubspotsim

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func (e *env) get(path string) resp {
	e.t.Helper()
	return e.serve(httptest.NewRequest("GET", path, nil))
}

// follow reads the page a 303 answer points to.
func (e *env) follow(r resp) resp {
	e.t.Helper()
	e.must(r, 303)
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	return e.get(loc.RequestURI())
}

func TestPageListsPortalsContactsAndDeals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	c := e.createContact("ann@example.com", map[string]string{"firstname": "Ann", "lastname": "Lee", "lifecyclestage": "lead", "hs_lead_status": "OPEN"})
	d := e.must(e.do("POST", "/crm/objects/2026-03/deals", "", `{"properties":{"dealname":"Big deal","pipeline":"default","dealstage":"contractsent","amount":"1200"}}`), 201).str("id")
	if err := e.sim.Associate(e.p.ID, "deals", d, "contacts", c); err != nil {
		t.Fatal(err)
	}
	second := e.sim.CreatePortal("Second portal")
	if _, err := e.sim.CreateObject(second.ID, "contacts", map[string]string{"email": "bob@example.com"}); err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{"/", "/portals/" + idString(e.p.ID)} {
		r := e.must(e.get(path), 200)
		page := string(r.raw)
		if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: content type %q", path, r.header.Get("Content-Type"))
		}
		for _, want := range []string{
			"Test portal", idString(e.p.ID), e.p.PrivateAppToken,
			`id="contact-` + c + `"`, "Ann Lee", "ann@example.com",
			`<option value="lead" selected>Lead</option>`, `<option value="OPEN" selected>Open</option>`,
			`id="deal-` + d + `"`, "Big deal", "1200", "Sales Pipeline",
			`<option value="contractsent" selected>Contract Sent</option>`, `<option value="closedwon">Closed Won</option>`,
			`action="/portals/` + idString(e.p.ID) + `/deals/` + d + `"`,
			`action="/portals/` + idString(e.p.ID) + `/contacts"`, `action="/portals/` + idString(e.p.ID) + `/deals"`,
		} {
			if !strings.Contains(page, want) {
				t.Fatalf("%s lacks %q:\n%s", path, want, page)
			}
		}
		// Associations show both ways (deal row names the contact, contact row the deal).
		dealRow := page[strings.Index(page, `id="deal-`+d+`"`):]
		dealRow = dealRow[:strings.Index(dealRow, "</tr>")]
		contactRow := page[strings.Index(page, `id="contact-`+c+`"`):]
		contactRow = contactRow[:strings.Index(contactRow, "</tr>")]
		if !strings.Contains(dealRow, "Ann Lee") || !strings.Contains(contactRow, "Big deal") {
			t.Fatalf("associations not shown:\n%s\n%s", dealRow, contactRow)
		}
		if strings.Contains(page, "bob@example.com") != (path == "/") {
			t.Fatalf("%s: the second portal shows only on /", path)
		}
	}
	e.must(e.get("/portals/424242"), 404)
	// The consent page links to it.
	consent := e.must(e.get("/oauth/authorize?client_id="+DefaultClientID+"&redirect_uri=http://localhost:9/cb&scope=oauth&state=s"), 200)
	if !strings.Contains(string(consent.raw), `<a href="/">`) {
		t.Fatalf("consent page does not link the CRM page:\n%s", consent.raw)
	}
}

func TestPageDealStageChangeIsDeliveredAsWebhook(t *testing.T) {
	t.Parallel()
	e, rc := webhookEnv(t, WebhookOptions{}, nil, "deal.propertyChange dealstage")
	d, err := e.sim.CreateObject(e.p.ID, "deals", map[string]string{"dealname": "Demo", "pipeline": "default", "dealstage": "appointmentscheduled"})
	if err != nil {
		t.Fatal(err)
	}
	e.waitIdle()
	e.clock.Advance(time.Minute)
	r := e.form("/portals/"+idString(e.p.ID)+"/deals/"+d, url.Values{"property": {"dealstage"}, "value": {"closedwon"}, "back": {"/"}})
	e.must(r, 303)
	if loc := r.header.Get("Location"); !strings.HasPrefix(loc, "/?msg=") {
		t.Fatalf("redirect to %q", loc)
	}
	page := string(e.follow(r).raw)
	if !strings.Contains(page, `id="msg"`) || !strings.Contains(page, `<option value="closedwon" selected>`) {
		t.Fatalf("page after the move:\n%s", page)
	}
	if o, _ := e.sim.GetObject(e.p.ID, "deals", d); o.Properties["dealstage"] != "closedwon" || o.Properties["hs_is_closed_won"] != "true" {
		t.Fatalf("deal not updated: %v", o.Properties)
	}
	e.waitIdle()
	rc.check()
	var got *WebhookEvent
	for _, ev := range rc.events() {
		if ev.PropertyValue != nil && *ev.PropertyValue == "closedwon" {
			got = &ev
		}
	}
	if got == nil || got.SubscriptionType != "deal.propertyChange" || got.PropertyName != "dealstage" || got.ObjectID != idInt(d) ||
		got.ChangeSource != SourceCRMUI || got.OccurredAt != e.clock.Now().UnixMilli() {
		t.Fatalf("webhook for the page's change: %+v (all: %+v)", got, rc.events())
	}

	// A stage the pipeline does not have is refused as the API refuses it.
	bad := e.follow(e.form("/portals/"+idString(e.p.ID)+"/deals/"+d, url.Values{"property": {"dealstage"}, "value": {"won"}}))
	if !strings.Contains(string(bad.raw), `id="err"`) || !strings.Contains(string(bad.raw), "won was not one of the allowed options") {
		t.Fatalf("invalid stage:\n%s", bad.raw)
	}
	if o, _ := e.sim.GetObject(e.p.ID, "deals", d); o.Properties["dealstage"] != "closedwon" {
		t.Fatal("invalid stage applied")
	}
}

func TestPageContactPropertiesAndCreation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	base := "/portals/" + idString(e.p.ID)
	r := e.form(base+"/contacts", url.Values{"email": {"Cat@Example.com"}, "firstname": {"Cat"}, "lifecyclestage": {"lead"}})
	page := string(e.follow(r).raw)
	cat, ok := e.sim.FindContactByEmail(e.p.ID, "cat@example.com")
	if !ok || cat.Properties["lifecyclestage"] != "lead" || !strings.Contains(page, "Contact "+cat.ID+" created.") {
		t.Fatalf("create contact: %+v\n%s", cat, page)
	}
	if ch := e.sim.Changes(e.p.ID); ch[0].ChangeSource != SourceCRMUI {
		t.Fatalf("page writes are a person's: %v", ch[0])
	}
	e.must(e.form(base+"/contacts/"+cat.ID, url.Values{"property": {"lifecyclestage"}, "value": {"customer"}}), 303)
	e.must(e.form(base+"/contacts/"+cat.ID, url.Values{"property": {"hs_lead_status"}, "value": {"CONNECTED"}}), 303)
	e.must(e.form(base+"/contacts/"+cat.ID, url.Values{"property": {"jobtitle"}, "value": {"CTO"}}), 303)
	got, _ := e.sim.GetObject(e.p.ID, "contacts", cat.ID)
	if got.Properties["lifecyclestage"] != "customer" || got.Properties["hs_lead_status"] != "CONNECTED" || got.Properties["jobtitle"] != "CTO" {
		t.Fatalf("properties: %v", got.Properties)
	}
	// Errors come back on the page; the redirect stays on the site.
	for _, vals := range []url.Values{
		{"property": {"no_such_property"}, "value": {"x"}},
		{"property": {"hs_lead_status"}, "value": {"new"}},
		{"property": {""}, "value": {"x"}},
	} {
		vals.Set("back", "//evil.example.com/")
		r := e.form(base+"/contacts/"+cat.ID, vals)
		if loc := r.header.Get("Location"); !strings.HasPrefix(loc, base+"?err=") {
			t.Fatalf("%v: redirect %q", vals, loc)
		}
	}
	e.must(e.form(base+"/contacts/999999", url.Values{"property": {"jobtitle"}, "value": {"x"}}), 303)
	e.must(e.form("/portals/424242/contacts", url.Values{"email": {"x@example.com"}}), 404)

	// A deal, created associated with the contact.
	r = e.form(base+"/deals", url.Values{"dealname": {"Cat's deal"}, "amount": {"500"}, "stage": {"default/qualifiedtobuy"}, "contact_id": {cat.ID}})
	page = string(e.follow(r).raw)
	deals := e.sim.Objects(e.p.ID, "deals")
	if len(deals) != 1 || deals[0].Properties["dealstage"] != "qualifiedtobuy" || deals[0].Properties["amount"] != "500" {
		t.Fatalf("deal: %+v", deals)
	}
	if a := e.sim.Associations(e.p.ID, "deals", deals[0].ID, "contacts"); len(a) != 1 || a[0] != cat.ID {
		t.Fatalf("deal associations: %v", a)
	}
	if !strings.Contains(page, "Cat&#39;s deal") {
		t.Fatalf("page lacks the new deal:\n%s", page)
	}
	bad := e.follow(e.form(base+"/deals", url.Values{"dealname": {"No stage"}}))
	if !strings.Contains(string(bad.raw), `id="err"`) {
		t.Fatalf("a deal without stage must be refused:\n%s", bad.raw)
	}
}

func TestPageEscapesHTML(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	if _, err := e.sim.CreateObject(e.p.ID, "contacts", map[string]string{"firstname": "<script>alert(1)</script>", "lastname": `"><b>x</b>`}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.CreateObject(e.p.ID, "deals", map[string]string{"dealname": "<img src=x onerror=alert(2)>", "pipeline": "default", "dealstage": "closedwon"}); err != nil {
		t.Fatal(err)
	}
	page := string(e.must(e.get("/?msg=%3Cscript%3Ealert(3)%3C/script%3E"), 200).raw)
	for _, raw := range []string{"<script>alert", "<b>x</b>", "<img src=x", "<script>alert(3)"} {
		if strings.Contains(page, raw) {
			t.Fatalf("page contains unescaped %q", raw)
		}
	}
	for _, esc := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;", "&lt;script&gt;alert(3)&lt;/script&gt;"} {
		if !strings.Contains(page, esc) {
			t.Fatalf("page lacks escaped %q:\n%s", esc, page)
		}
	}
}

// The page shows labelled associations: a lead's contact lists its
// referrer with the label, the referrer lists the lead as Referred, and a
// deal its contact as Referred by.
func TestPageShowsAssociationLabels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	lead, member := e.createContact("lead@example.com", nil), e.createContact("member@example.com", nil)
	ids := labelIDs(t, e.must(e.do("POST", "/crm/v4/associations/contacts/contacts/labels", "", `{"label":"Referrer","name":"referrer","inverseLabel":"Referred"}`), 200))
	by := mustAtoi(t, e.must(e.do("POST", "/crm/v4/associations/deals/contacts/labels", "", `{"label":"Referred by","name":"referred_by"}`), 200).str("results.0.typeId"))
	e.must(e.do("PUT", "/crm/v4/objects/contacts/"+lead+"/associations/contacts/"+member, "", []map[string]any{{"associationCategory": "USER_DEFINED", "associationTypeId": ids["USER_DEFINED/Referrer"]}}), 201)
	d := e.must(e.do("POST", "/crm/objects/2026-03/deals", "", `{"properties":{"dealname":"Big deal","pipeline":"default","dealstage":"contractsent"}}`), 201).str("id")
	e.must(e.do("PUT", "/crm/v4/objects/deals/"+d+"/associations/contacts/"+member, "", []map[string]any{{"associationCategory": "USER_DEFINED", "associationTypeId": by}}), 201)
	page := string(e.must(e.get("/portals/"+idString(e.p.ID)), 200).raw)
	for _, want := range []string{
		"<th>Contacts</th>",
		`(` + member + `)</span> <span class="assoc-label">Referrer</span>`,
		`(` + lead + `)</span> <span class="assoc-label">Referred</span>`,
		`<span class="assoc-label">Referred by</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Fatalf("the page lacks %q", want)
		}
	}
}
