package hubspotsim

import (
	"bytes"
	"reflect"
	"strconv"
	"testing"
)

// labelIDs maps a label list's labels to their type IDs.
func labelIDs(t *testing.T, r resp) map[string]int {
	t.Helper()
	out := map[string]int{}
	for i := range r.get("results").([]any) {
		p := "results." + strconv.Itoa(i)
		id, _ := strconv.Atoi(r.str(p + ".typeId"))
		out[r.str(p+".category")+"/"+r.str(p+".label")] = id
	}
	return out
}

// Association labels (v4 schema API, both path families): a paired label
// makes two types, one each way; a single label between two object types
// makes the same label both ways; the list shows HubSpot's types (the
// unlabeled default with a null label) and the portal's own; names are
// unique per pair of object types.
func TestAssociationLabelDefinitions(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"/crm/v4/associations", "/crm/associations/2026-03"} {
		t.Run(base, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Options{})
			paired := e.must(e.do("POST", base+"/contacts/contacts/labels", "", `{"label":"Referrer","name":"referrer","inverseLabel":"Referred"}`), 200)
			if paired.str("results.0.category") != "USER_DEFINED" || paired.str("results.0.label") != "Referrer" ||
				paired.str("results.1.label") != "Referred" || paired.str("results.0.typeId") == paired.str("results.1.typeId") {
				t.Fatalf("paired label: %s", paired)
			}
			list := e.must(e.do("GET", base+"/contacts/contacts/labels", "", nil), 200)
			if list.str("results.0.category") != "HUBSPOT_DEFINED" || list.str("results.0.typeId") != "449" || list.get("results.0.label") != nil {
				t.Fatalf("the unlabeled contact-to-contact type comes first, label null: %s", list)
			}
			ids := labelIDs(t, list)
			if ids["USER_DEFINED/Referrer"] == 0 || ids["USER_DEFINED/Referred"] == 0 {
				t.Fatalf("both halves of a paired contact label are listed: %s", list)
			}
			// A single label between deals and contacts: one type each way.
			single := e.must(e.do("POST", base+"/deals/contacts/labels", "", `{"label":"Referred by","name":"referred_by"}`), 200)
			if single.str("results.0.label") != "Referred by" || single.str("results.1.label") != "Referred by" {
				t.Fatalf("single label: %s", single)
			}
			back := labelIDs(t, e.must(e.do("GET", base+"/contacts/deals/labels", "", nil), 200))
			if back["USER_DEFINED/Referred by"] != int(mustAtoi(t, single.str("results.1.typeId"))) || back["HUBSPOT_DEFINED/"] != 4 {
				t.Fatalf("contact-to-deal types: %v", back)
			}
			// The same name again, either way round: HubSpot's conflict.
			e.hubspotError(e.do("POST", base+"/deals/contacts/labels", "", `{"label":"Other","name":"referred_by"}`), 409, "OBJECT_ALREADY_EXISTS")
			e.hubspotError(e.do("POST", base+"/contacts/contacts/labels", "", `{"label":"Referrer","name":"referrer_2"}`), 409, "OBJECT_ALREADY_EXISTS")
			// Missing fields, a bad name, an unknown object type: 400s.
			r := e.hubspotError(e.do("POST", base+"/deals/contacts/labels", "", `{"label":"X"}`), 400, "VALIDATION_ERROR")
			if r.str("errors.0.in") != "name" {
				t.Fatalf("missing name: %s", r)
			}
			e.hubspotError(e.do("POST", base+"/deals/contacts/labels", "", `{"label":"X","name":"Has Spaces"}`), 400, "VALIDATION_ERROR")
			e.hubspotError(e.do("POST", base+"/deals/contacts/labels", "", `{"label":`), 400, "VALIDATION_ERROR")
			e.hubspotError(e.do("GET", base+"/widgets/contacts/labels", "", nil), 400, "")
			// Rename, then delete (both directions go).
			e.must(e.do("PUT", base+"/deals/contacts/labels", "", map[string]any{"associationTypeId": mustAtoi(t, single.str("results.0.typeId")), "label": "Brought by"}), 204)
			if got := labelIDs(t, e.must(e.do("GET", base+"/deals/contacts/labels", "", nil), 200)); got["USER_DEFINED/Brought by"] == 0 {
				t.Fatalf("renamed: %v", got)
			}
			e.hubspotError(e.do("PUT", base+"/deals/contacts/labels", "", `{"associationTypeId":3,"label":"Mine"}`), 404, "OBJECT_NOT_FOUND")
			e.must(e.do("DELETE", base+"/deals/contacts/labels/"+single.str("results.0.typeId"), "", nil), 204)
			if got := labelIDs(t, e.must(e.do("GET", base+"/contacts/deals/labels", "", nil), 200)); len(got) != 1 {
				t.Fatalf("after delete only HubSpot's type is left: %v", got)
			}
			e.hubspotError(e.do("DELETE", base+"/deals/contacts/labels/"+single.str("results.0.typeId"), "", nil), 404, "OBJECT_NOT_FOUND")
		})
	}
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}

// Labelled associations: PUT with the label's type associates both ways
// (the inverse label on the way back) with the unlabeled default; reads of
// either path family show category, typeId and label; an unknown type ID,
// or a label of another pair of object types, is HubSpot's 400.
func TestLabelledAssociations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	lead, member := e.createContact("lead@example.com", nil), e.createContact("member@example.com", nil)
	ids := labelIDs(t, e.must(e.do("POST", "/crm/associations/2026-03/contacts/contacts/labels", "", `{"label":"Referrer","name":"referrer","inverseLabel":"Referred"}`), 200))
	referrer := ids["USER_DEFINED/Referrer"]
	put := e.must(e.do("PUT", "/crm/v4/objects/contacts/"+lead+"/associations/contacts/"+member, "", []map[string]any{{"associationCategory": "USER_DEFINED", "associationTypeId": referrer}}), 201)
	if put.str("labels.0") != "Referrer" {
		t.Fatalf("put: %s", put)
	}
	// Again: harmless.
	e.must(e.do("PUT", "/crm/objects/2026-03/contacts/"+lead+"/associations/contacts/"+member, "", []map[string]any{{"associationCategory": "USER_DEFINED", "associationTypeId": referrer}}), 201)
	fromLead := e.must(e.do("GET", "/crm/v4/objects/contacts/"+lead+"/associations/contacts", "", nil), 200)
	v26 := e.must(e.do("GET", "/crm/objects/2026-03/contacts/"+lead+"/associations/contacts", "", nil), 200)
	if !reflect.DeepEqual(fromLead.body, v26.body) {
		t.Fatalf("path families differ: %s / %s", fromLead, v26)
	}
	if fromLead.str("results.0.toObjectId") != member || fromLead.str("results.0.associationTypes.0.typeId") != "449" ||
		fromLead.str("results.0.associationTypes.1.category") != "USER_DEFINED" || fromLead.str("results.0.associationTypes.1.label") != "Referrer" {
		t.Fatalf("the lead's side: %s", fromLead)
	}
	fromMember := e.must(e.do("GET", "/crm/v4/objects/contacts/"+member+"/associations/contacts", "", nil), 200)
	if fromMember.str("results.0.toObjectId") != lead || fromMember.str("results.0.associationTypes.1.label") != "Referred" ||
		fromMember.str("results.0.associationTypes.1.typeId") != strconv.Itoa(ids["USER_DEFINED/Referred"]) {
		t.Fatalf("the member's side carries the inverse label: %s", fromMember)
	}
	// An unknown type ID, a HubSpot-defined category on a user label, a
	// label of another pair: 400 with HubSpot's body, naming the type.
	for _, body := range []string{
		`[{"associationCategory":"USER_DEFINED","associationTypeId":999999}]`,
		`[{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":` + strconv.Itoa(referrer) + `}]`,
	} {
		r := e.hubspotError(e.do("PUT", "/crm/v4/objects/contacts/"+lead+"/associations/contacts/"+member, "", body), 400, "VALIDATION_ERROR")
		if r.str("errors.0.code") != "INVALID_ASSOCIATION_TYPE" || r.str("errors.0.context.associationTypeId.0") == "" {
			t.Fatalf("bad type: %s", r)
		}
	}
	deal := e.must(e.do("POST", "/crm/objects/2026-03/deals", "", `{"properties":{"dealname":"D","pipeline":"default","dealstage":"qualifiedtobuy"}}`), 201).str("id")
	e.hubspotError(e.do("PUT", "/crm/v4/objects/deals/"+deal+"/associations/contacts/"+member, "", []map[string]any{{"associationCategory": "USER_DEFINED", "associationTypeId": referrer}}), 400, "VALIDATION_ERROR")
	// Labels survive a save and load of the simulator's state.
	var buf bytes.Buffer
	e.sim.Close()
	if err := e.sim.SaveState(&buf); err != nil {
		t.Fatal(err)
	}
	again := New(Options{})
	if err := again.LoadState(&buf); err != nil {
		t.Fatal(err)
	}
	p := again.Portal(e.p.ID)
	if at, ok := p.assocType(referrer); !ok || at.label != "Referrer" || at.category != userDefined {
		t.Fatalf("label after load: %+v %v", at, ok)
	}
}
