package salesreceiver

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/hubspotobject"
)

// contractExample is the body HubSpot's own signature tests use.
const contractExample = `[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]`

func TestParseContractExample(t *testing.T) {
	evs, err := Parse([]byte(contractExample))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("want 1 event, got %d", len(evs))
	}
	ev := evs[0]
	want := Event{
		EventID: 1, SubscriptionID: 12345, PortalID: 62515, AppID: 54321,
		OccurredAt: time.Date(2019, 7, 26, 4, 0, 0, 0, time.UTC), SubscriptionType: "contact.creation",
		ObjectID: 123, ChangeSource: "CRM", ChangeFlag: "NEW",
	}
	if ev.EventID != want.EventID || ev.SubscriptionID != want.SubscriptionID || ev.PortalID != want.PortalID ||
		ev.AppID != want.AppID || !ev.OccurredAt.Equal(want.OccurredAt) || ev.OccurredAt.Location() != time.UTC ||
		ev.SubscriptionType != want.SubscriptionType || ev.ObjectID != want.ObjectID || ev.ChangeSource != want.ChangeSource ||
		ev.ChangeFlag != want.ChangeFlag || ev.AttemptNumber != 0 || ev.PropertyValue != nil {
		t.Fatalf("parsed %+v", ev)
	}
	if ev.ObjectType() != hubspotobject.Contact || ev.Kind() != "creation" {
		t.Fatalf("object type %q kind %q", ev.ObjectType(), ev.Kind())
	}
	if string(ev.Raw) != contractExample[1:len(contractExample)-1] {
		t.Fatalf("raw is not the event's own JSON: %s", ev.Raw)
	}
}

func TestParseEveryField(t *testing.T) {
	body := `[
	 {"eventId":7,"subscriptionId":2,"portalId":9,"appId":3,"occurredAt":1700000000123,"subscriptionType":"deal.propertyChange",
	  "attemptNumber":4,"objectId":55,"propertyName":"dealstage","propertyValue":"closedwon","changeSource":"CRM_UI","sourceId":"userId:1","newField":{"x":[1,2]}},
	 {"eventId":8,"portalId":9,"occurredAt":1700000000124,"subscriptionType":"contact.merge","objectId":10,
	  "primaryObjectId":10,"mergedObjectIds":[11,12],"newObjectId":13},
	 {"eventId":9,"portalId":9,"occurredAt":1700000000125,"subscriptionType":"contact.associationChange",
	  "associationType":"CONTACT_TO_DEAL","fromObjectId":21,"toObjectId":55,"associationRemoved":false},
	 {"eventId":10,"portalId":9,"occurredAt":1700000000126,"subscriptionType":"object.propertyChange","objectTypeId":"0-3",
	  "objectId":55,"propertyName":"amount","propertyValue":""},
	 {"eventId":11,"portalId":9,"occurredAt":1700000000127,"subscriptionType":"ticket.creation","objectId":5},
	 {"eventId":12,"portalId":9,"occurredAt":1700000000128,"subscriptionType":"object.creation","objectTypeId":"2-123","objectId":5}
	]`
	evs, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	pc, merge, assoc, obj := evs[0], evs[1], evs[2], evs[3]
	if pc.PropertyName != "dealstage" || pc.PropertyValue == nil || *pc.PropertyValue != "closedwon" || pc.AttemptNumber != 4 ||
		pc.SourceID != "userId:1" || pc.ObjectType() != hubspotobject.Deal || !strings.Contains(string(pc.Raw), `"newField":{"x":[1,2]}`) {
		t.Fatalf("property change: %+v", pc)
	}
	if merge.PrimaryObjectID != 10 || fmt.Sprint(merge.MergedObjectIDs) != "[11 12]" || merge.NewObjectID != 13 || merge.Kind() != "merge" {
		t.Fatalf("merge: %+v", merge)
	}
	if assoc.ObjectID != 21 || assoc.FromObjectID != 21 || assoc.ToObjectID != 55 || assoc.AssociationType != "CONTACT_TO_DEAL" ||
		assoc.AssociationRemoved == nil || *assoc.AssociationRemoved {
		t.Fatalf("association change without objectId is about its from object: %+v", assoc)
	}
	if obj.ObjectType() != hubspotobject.Deal || obj.PropertyValue == nil || *obj.PropertyValue != "" {
		t.Fatalf("object.* deal event with a cleared value: %+v (type %q)", obj, obj.ObjectType())
	}
	if evs[4].ObjectType() != "" || evs[5].ObjectType() != "" {
		t.Fatalf("tickets and custom objects are not referflow's: %q %q", evs[4].ObjectType(), evs[5].ObjectType())
	}
}

func TestParseRefusesWhatCannotBeRight(t *testing.T) {
	ok := `{"portalId":1,"objectId":2,"occurredAt":1700000000000,"subscriptionType":"contact.creation"}`
	cases := []struct {
		name, body  string
		index       int
		field, want string
	}{
		{"empty", ``, -1, "", "empty"},
		{"spaces", " \n ", -1, "", "empty"},
		{"not JSON", `[{]`, -1, "", "not valid JSON"},
		{"not UTF-8", "[\xff]", -1, "", "UTF-8"},
		{"object", ok, -1, "", "array"},
		{"null", `null`, -1, "", "array"},
		{"no events", `[]`, -1, "", "no events"},
		{"101 events", "[" + strings.Repeat(ok+",", 100) + ok + "]", -1, "", "at most 100"},
		{"not an object", `[` + ok + `,3]`, 1, "", "JSON object"},
		{"no portalId", `[{"objectId":2,"occurredAt":1,"subscriptionType":"contact.creation"}]`, 0, "portalId", "required"},
		{"no objectId", `[` + ok + `,{"portalId":1,"occurredAt":1,"subscriptionType":"contact.creation"}]`, 1, "objectId", "required"},
		{"no occurredAt", `[{"portalId":1,"objectId":2,"subscriptionType":"contact.creation"}]`, 0, "occurredAt", "required"},
		{"no subscriptionType", `[{"portalId":1,"objectId":2,"occurredAt":1}]`, 0, "subscriptionType", "required"},
		{"odd subscriptionType", `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"contact"}]`, 0, "subscriptionType", "<object>.<kind>"},
		{"object.* without objectTypeId", `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"object.creation"}]`, 0, "objectTypeId", "required"},
		{"odd objectTypeId", `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"object.creation","objectTypeId":"contacts"}]`, 0, "objectTypeId", "object type ID"},
		{"portalId as string", `[{"portalId":"1","objectId":2,"occurredAt":1,"subscriptionType":"contact.creation"}]`, 0, "portalId", "whole number"},
		{"fractional objectId", `[{"portalId":1,"objectId":2.5,"occurredAt":1,"subscriptionType":"contact.creation"}]`, 0, "objectId", "whole number"},
		{"zero portalId", `[{"portalId":0,"objectId":2,"occurredAt":1,"subscriptionType":"contact.creation"}]`, 0, "portalId", "positive"},
		{"negative objectId", `[{"portalId":1,"objectId":-2,"occurredAt":1,"subscriptionType":"contact.creation"}]`, 0, "objectId", "positive"},
		{"occurredAt in year 10000", `[{"portalId":1,"objectId":2,"occurredAt":253402300800000,"subscriptionType":"contact.creation"}]`, 0, "occurredAt", "epoch milliseconds"},
		{"huge attemptNumber", `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"contact.creation","attemptNumber":3000000000}]`, 0, "attemptNumber", "whole number"},
		{"propertyValue number", `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"deal.propertyChange","propertyName":"amount","propertyValue":5}]`, 0, "propertyValue", "a string"},
		{"propertyChange without property", `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"deal.propertyChange"}]`, 0, "propertyName", "required"},
		{"mergedObjectIds strings", `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"contact.merge","mergedObjectIds":["a"]}]`, 0, "mergedObjectIds", "array of whole numbers"},
		{"NUL in a value", `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"deal.propertyChange","propertyName":"x","propertyValue":"a\u0000b"}]`, 0, "propertyValue", `\u0000`},
		{"NUL in an extra field", `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"contact.creation","extra":{"k":"\u0000"}}]`, 0, "extra", `\u0000`},
		{"lone surrogate", `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"contact.creation","note":"\ud800x"}]`, 0, "note", "surrogate"},
		{"huge exponent", `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"contact.creation","n":1e999999}]`, 0, "n", "out of range"},
		{"deep nesting", `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"contact.creation","d":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}]`, 0, "d", "nested"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := Parse([]byte(tc.body))
			var perr *ParseError
			if !errors.As(err, &perr) {
				t.Fatalf("want a *ParseError, got %v (events %+v)", err, evs)
			}
			if perr.Index != tc.index || perr.Field != tc.field || !strings.Contains(perr.Error(), tc.want) {
				t.Fatalf("got index %d field %q: %v; want index %d field %q mentioning %q", perr.Index, perr.Field, perr, tc.index, tc.field, tc.want)
			}
		})
	}
}

// Fields referflow only passes along do not fail a delivery when HubSpot
// sends them with another type.
func TestParseIsLenientWithFieldsReferflowDoesNotUse(t *testing.T) {
	evs, err := Parse([]byte(`[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"contact.creation",
	  "subscriptionId":"12","appId":null,"changeFlag":7,"sourceId":{"userId":3},"isPrimaryAssociation":"yes"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if ev := evs[0]; ev.SubscriptionID != 0 || ev.AppID != 0 || ev.ChangeFlag != "" || ev.SourceID != "" || !strings.Contains(string(ev.Raw), `"sourceId":{"userId":3}`) {
		t.Fatalf("%+v", ev)
	}
}

func TestParseAcceptsWhatPostgresStores(t *testing.T) {
	// Escapes that look like the refused ones but are not.
	body := `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"deal.propertyChange","propertyName":"note",
	  "propertyValue":"a\\u0000 \ud83d\ude00 \u00e9","n":[1e300,-0.5e-300,12345678901234567890123],"d":` + strings.Repeat("[", 30) + strings.Repeat("]", 30) + `}]`
	evs, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if *evs[0].PropertyValue != `a\u0000 😀 é` {
		t.Fatalf("value %q", *evs[0].PropertyValue)
	}
}

func TestDedupeKey(t *testing.T) {
	base := `"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"deal.propertyChange","objectId":123,"propertyName":"dealstage"`
	key := func(fields string) string {
		t.Helper()
		evs, err := Parse([]byte(`[{` + fields + `}]`))
		if err != nil {
			t.Fatal(err)
		}
		return evs[0].DedupeKey()
	}
	first := key(`"eventId":1,"attemptNumber":0,"subscriptionId":1,"appId":1,"propertyValue":"closedwon",` + base)
	if len(first) != 64 || strings.Trim(first, "0123456789abcdef") != "" {
		t.Fatalf("key %q is not hex SHA-256", first)
	}
	// A retry, another subscription or app, another field order: the same event.
	for _, same := range []string{
		`"eventId":1,"attemptNumber":3,"subscriptionId":1,"appId":1,"propertyValue":"closedwon",` + base,
		`"eventId":1,"attemptNumber":0,"subscriptionId":2,"appId":9,"propertyValue":"closedwon",` + base,
		base + `,"propertyValue":"closedwon","eventId":1,"extra":true`,
	} {
		if k := key(same); k != first {
			t.Errorf("%s: key %s, want %s", same, k, first)
		}
	}
	// Anything that says something else happened: another key.
	seen := map[string]string{first: "first"}
	for _, other := range []string{
		`"eventId":2,"propertyValue":"closedwon",` + base,
		`"eventId":1,"propertyValue":"closedlost",` + base,
		`"eventId":1,"propertyValue":"",` + base,
		`"eventId":1,` + base,
		`"eventId":1,"propertyValue":"closedwon",` + strings.Replace(base, "123", "124", 1),
		`"eventId":1,"propertyValue":"closedwon",` + strings.Replace(base, "62515", "62516", 1),
		`"eventId":1,"propertyValue":"closedwon",` + strings.Replace(base, "1564113600000", "1564113600001", 1),
		`"eventId":1,"propertyValue":"closedwon",` + strings.Replace(base, `"dealstage"`, `"dealstag"`, 1),
		`"eventId":1,"propertyValue":"closedwon",` + strings.Replace(base, "deal.propertyChange", "contact.propertyChange", 1),
		// Values cannot run into each other.
		`"eventId":1,"propertyValue":"ewon",` + strings.Replace(base, `"dealstage"`, `"dealstageclos"`, 1),
		`"eventId":1,"propertyValue":"closedwon","primaryObjectId":5,` + base,
		`"eventId":1,"propertyValue":"closedwon","mergedObjectIds":[5],` + base,
		`"eventId":1,"propertyValue":"closedwon","mergedObjectIds":[5,6],` + base,
		`"eventId":1,"propertyValue":"closedwon","newObjectId":5,` + base,
		`"eventId":1,"propertyValue":"closedwon","associationType":"X",` + base,
		`"eventId":1,"propertyValue":"closedwon","fromObjectId":5,` + base,
		`"eventId":1,"propertyValue":"closedwon","toObjectId":5,` + base,
		`"eventId":1,"propertyValue":"closedwon","associationRemoved":false,` + base,
		`"eventId":1,"propertyValue":"closedwon","associationRemoved":true,` + base,
	} {
		k := key(other)
		if prev, dup := seen[k]; dup {
			t.Errorf("%s has the same key as %s", other, prev)
		}
		seen[k] = other
	}
}

// TestParseEvent: one event on its own (an admin's edited payload) is read
// exactly as an event of a delivery, and a problem names the field.
func TestParseEvent(t *testing.T) {
	one := contractExample[1 : len(contractExample)-1]
	ev, err := ParseEvent([]byte("  " + one + "\n"))
	if err != nil || ev.PortalID != 62515 || ev.ObjectID != 123 || string(ev.Raw) != one || ev.DedupeKey() == "" {
		t.Fatalf("ParseEvent = %+v %v", ev, err)
	}
	if evs, _ := Parse([]byte(contractExample)); evs[0].DedupeKey() != ev.DedupeKey() {
		t.Fatal("the same event parsed alone has another dedupe key")
	}
	for _, c := range []struct{ body, path, problem string }{
		{"", "body", "is empty"},
		{"{", "body", "not valid JSON"},
		{"\xff", "body", "not valid UTF-8"},
		{contractExample, "[0]", "must be a JSON object"},
		{`"x"`, "[0]", "must be a JSON object"},
		{strings.Replace(one, `"objectId":123,`, "", 1), "[0].objectId", "is required"},
		{strings.Replace(one, `"portalId":62515`, `"portalId":"62515"`, 1), "[0].portalId", "must be a whole number"},
		{strings.Replace(one, `"CRM"`, `"C\u0000RM"`, 1), "[0].changeSource", `\u0000`},
	} {
		_, err := ParseEvent([]byte(c.body))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Path() != c.path || !strings.Contains(pe.Problem, c.problem) {
			t.Errorf("ParseEvent(%q) = %v, want %s %s", c.body, err, c.path, c.problem)
		}
	}
}
