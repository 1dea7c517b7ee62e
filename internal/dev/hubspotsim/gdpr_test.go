package hubspotsim

import (
	"testing"
)

// TestGDPRDelete: HubSpot's GDPR deletion, on both path families, by ID and
// by email, deletes the contact for good (reads answer 404, it is not in
// the recycle bin, its associations are gone) and emits a signed
// contact.privacyDeletion and contact.deletion each; an unknown email is
// blocklisted and answered 204; mistakes are HubSpot's error shapes.
func TestGDPRDelete(t *testing.T) {
	t.Parallel()
	e, rc := webhookEnv(t, WebhookOptions{}, nil, "contact.privacyDeletion", "contact.deletion")
	a := e.createContact("ada@example.com", map[string]string{"firstname": "Ada"})
	b := e.createContact("bo@example.com", nil)
	d := e.must(e.do("POST", "/crm/v3/objects/deals", "", `{"properties":{"dealname":"D","pipeline":"default","dealstage":"appointmentscheduled"}}`), 201).str("id")
	e.must(e.do("PUT", "/crm/v4/objects/deals/"+d+"/associations/default/contacts/"+a, "", nil), 200)

	e.must(e.do("POST", "/crm/v3/objects/contacts/gdpr-delete", "", `{"objectId":"`+a+`"}`), 204)
	e.must(e.do("POST", "/crm/objects/2026-03/contacts/gdpr-delete", "", `{"objectId":"BO@example.com","idProperty":"email"}`), 204)
	for _, id := range []string{a, b} {
		e.hubspotError(e.do("GET", "/crm/v3/objects/contacts/"+id, "", nil), 404, "OBJECT_NOT_FOUND")
		e.hubspotError(e.do("GET", "/crm/v3/objects/contacts/"+id+"?archived=true", "", nil), 404, "OBJECT_NOT_FOUND")
	}
	if r := e.must(e.do("GET", "/crm/v4/objects/deals/"+d+"/associations/contacts", "", nil), 200); len(r.get("results").([]any)) != 0 {
		t.Fatalf("the deleted contact is still associated: %s", r)
	}

	// An email no contact has is blocklisted, answered 204 all the same.
	e.must(e.do("POST", "/crm/v3/objects/contacts/gdpr-delete", "", `{"objectId":"nobody@example.com","idProperty":"email"}`), 204)
	if !e.sim.GDPRBlocked(e.p.ID, "Nobody@example.com") {
		t.Fatal("an unknown email must be blocklisted")
	}
	// Mistakes.
	e.hubspotError(e.do("POST", "/crm/v3/objects/contacts/gdpr-delete", "", `{"objectId":"999999"}`), 404, "OBJECT_NOT_FOUND")
	e.hubspotError(e.do("POST", "/crm/v3/objects/contacts/gdpr-delete", "", `{}`), 400, "VALIDATION_ERROR")
	e.hubspotError(e.do("POST", "/crm/v3/objects/contacts/gdpr-delete", "", `{"objectId":"1","idProperty":"phone"}`), 400, "VALIDATION_ERROR")
	e.hubspotError(e.do("POST", "/crm/v3/objects/deals/gdpr-delete", "", `{"objectId":"`+d+`"}`), 400, "VALIDATION_ERROR")

	e.waitIdle()
	rc.check()
	got := map[string][]int64{}
	for _, ev := range rc.events() {
		got[ev.SubscriptionType] = append(got[ev.SubscriptionType], ev.ObjectID)
	}
	for _, typ := range []string{"contact.privacyDeletion", "contact.deletion"} {
		ids := got[typ]
		if len(ids) != 2 || !(ids[0] == idInt(a) && ids[1] == idInt(b) || ids[0] == idInt(b) && ids[1] == idInt(a)) {
			t.Errorf("%s events for %v, want one for each of %s and %s", typ, ids, a, b)
		}
	}
	if len(got) != 2 {
		t.Errorf("events %v, want the two subscribed types only", got)
	}
}

// TestGDPRDeleteContactHelper: the Go helper deletes as a person in
// HubSpot would, with the same two changes.
func TestGDPRDeleteContactHelper(t *testing.T) {
	t.Parallel()
	e, rc := webhookEnv(t, WebhookOptions{}, nil, "contact.privacyDeletion", "contact.deletion")
	a := e.createContact("ada@example.com", nil)
	if err := e.sim.GDPRDeleteContact(e.p.ID, a); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.GDPRDeleteContact(e.p.ID, a); err == nil {
		t.Fatal("a deleted contact cannot be deleted again")
	}
	e.waitIdle()
	rc.check()
	if evs := rc.events(); len(evs) != 2 || evs[0].SubscriptionType == evs[1].SubscriptionType || evs[0].ChangeSource != SourceCRMUI {
		t.Fatalf("events = %+v", evs)
	}
}
