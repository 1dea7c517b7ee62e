package salesreceiver

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/salesentry"
)

func TestAssociationEnds(t *testing.T) {
	for _, c := range []struct {
		in       string
		from, to hubspotobject.Type
	}{
		{"CONTACT_TO_DEAL", "contact", "deal"},
		{"DEAL_TO_CONTACT", "deal", "contact"},
		{"contact_to_company", "contact", "company"},
		{"CHILD_TO_PARENT_COMPANY", "", "company"},
		{"CONTACT_TO_TICKET", "contact", "ticket"},
		{"GARBAGE", "", ""},
	} {
		from, to := associationEnds(c.in)
		if from != c.from || to != c.to {
			t.Errorf("associationEnds(%q) = %q, %q; want %q, %q", c.in, from, to, c.from, c.to)
		}
	}
}

func row(subType, objectType string, objectID int64, payload string) db.SalesEntry {
	return db.SalesEntry{ID: 9, SubscriptionType: subType, ObjectType: objectType, ObjectID: objectID,
		Payload: []byte(payload), DedupeKey: "k", OccurredAt: time.Unix(1700000000, 0)}
}

// A referral found through either end of an association gets the change
// from its own object's side.
func TestAssociationChangeIsSeenFromTheReferralsObject(t *testing.T) {
	ev, err := readEvent(row("contact.associationChange", "contact", 5, `{"associationType":"CONTACT_TO_DEAL","fromObjectId":5,"toObjectId":8,"associationRemoved":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.lookups(); !slices.Equal(got, []hubspotobject.Ref{{Type: "contact", ID: 5}, {Type: "deal", ID: 8}}) {
		t.Fatalf("lookups = %v", got)
	}
	c, _ := ev.entry.ChangeFor(hubspotobject.Ref{Type: "deal", ID: 8})
	if c.Kind != salesentry.ChangeAssociation || c.ObjectType != "deal" || c.ObjectID != 8 || c.ToObjectType != "contact" || c.ToObjectID != 5 || !c.AssociationRemoved {
		t.Fatalf("from the deal's side: %+v", c)
	}
	c, _ = ev.entry.ChangeFor(hubspotobject.Ref{Type: "contact", ID: 5})
	if c.ObjectType != "contact" || c.ObjectID != 5 || c.ToObjectType != "deal" || c.ToObjectID != 8 {
		t.Fatalf("from the contact's side: %+v", c)
	}
}

// A merge that made a new ID (contacts) moves referrals holding the primary
// record too; one that kept the primary moves those holding the others.
func TestMergeLooksUpEveryRecordThatWentAway(t *testing.T) {
	ev, err := readEvent(row("contact.merge", "contact", 3, `{"primaryObjectId":1,"mergedObjectIds":[1,2],"newObjectId":3}`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ev.entry.MergedObjectIDs, []int64{1, 2}) || ev.entry.SurvivingObjectID != 3 {
		t.Fatalf("merged %v surviving %d", ev.entry.MergedObjectIDs, ev.entry.SurvivingObjectID)
	}
	ev, err = readEvent(row("deal.merge", "deal", 1, `{"primaryObjectId":1,"mergedObjectIds":[2]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ev.entry.MergedObjectIDs, []int64{2}) || ev.entry.SurvivingObjectID != 1 {
		t.Fatalf("merged %v surviving %d", ev.entry.MergedObjectIDs, ev.entry.SurvivingObjectID)
	}
	c, _ := ev.entry.ChangeFor(hubspotobject.Ref{Type: "deal", ID: 2})
	if c.Kind != salesentry.ChangeMerge || c.ObjectID != 2 || c.SurvivingObjectID != 1 || c.SalesEntryID != 9 || c.DedupeKey != "k" {
		t.Fatalf("change = %+v", c)
	}
}

func TestUnroutableEntriesSayWhy(t *testing.T) {
	for _, c := range []struct {
		row  db.SalesEntry
		want string
	}{
		{row("deal.propertyChange", "deal", 1, `{}`), "without a propertyName"},
		{row("deal.merge", "deal", 1, `{"mergedObjectIds":"1"}`), "not readable"},
		{row("deal.associationChange", "deal", 1, `{"associationType":"DEAL_TO_CONTACT"}`), "without toObjectId"},
	} {
		if _, err := readEvent(c.row); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: error %v, want %q", c.row.SubscriptionType, c.row.Payload, err, c.want)
		}
	}
	// Kinds that need nothing from the payload do not read it.
	if _, err := readEvent(row("deal.deletion", "deal", 1, `"not an object"`)); err != nil {
		t.Errorf("deletion: %v", err)
	}
}

func TestBackoffDoublesFromOneSecondToFiveMinutesWithJitter(t *testing.T) {
	for failed, base := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 9: 256 * time.Second, 10: 5 * time.Minute, 50: 5 * time.Minute} {
		for range 50 {
			d := backoff(failed, time.Second, 5*time.Minute)
			lo, hi := time.Duration(float64(base)*0.8), min(time.Duration(float64(base)*1.2), 5*time.Minute)
			if d < lo || d > hi {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", failed, d, lo, hi)
			}
		}
	}
}

// Entries about a referral's contact and its deal form one group (routed in
// order); another referral's entries and an unknown object's are apart.
func TestEntriesAreGroupedByReferral(t *testing.T) {
	ws := uuid.New()
	r1, r2 := referralRef{ID: uuid.New()}, referralRef{ID: uuid.New()}
	mk := func(id int64, objectType string, objectID int64, refs ...referralRef) *item {
		property := "dealstage"
		row := db.SalesEntry{ID: id, WorkspaceID: &ws, SubscriptionType: objectType + ".propertyChange", ObjectType: objectType, ObjectID: objectID, PropertyName: &property}
		ev, err := readEvent(row)
		if err != nil {
			t.Fatal(err)
		}
		obj := hubspotobject.Ref{Type: hubspotobject.Type(objectType), ID: objectID}
		return &item{ev: ev, refs: map[hubspotobject.Ref][]referralRef{obj: refs}}
	}
	items := []*item{
		mk(1, "contact", 10, r1),
		mk(2, "deal", 20, r2),
		mk(3, "deal", 11, r1), // r1's deal
		mk(4, "deal", 99),     // unknown
		mk(5, "deal", 99),     // the same unknown deal
		mk(6, "contact", 10, r1),
	}
	var got [][]int64
	for _, g := range groupByReferral(items) {
		var ids []int64
		for _, it := range g {
			ids = append(ids, it.ev.row.ID)
		}
		got = append(got, ids)
	}
	want := [][]int64{{1, 3, 6}, {2}, {4, 5}}
	if !slices.EqualFunc(got, want, slices.Equal[[]int64]) {
		t.Fatalf("groups = %v, want %v", got, want)
	}
}
