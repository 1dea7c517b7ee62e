package salesreceiver_test

import (
	"testing"
	"time"

	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/salesentry"
	"github.com/referflow/referflow/salesreceiver"
)

func TestJournalEventsBecomeListMembershipEvents(t *testing.T) {
	at := time.UnixMilli(1764700000000).UTC()
	added := hubspot.JournalEvent{EventID: 1, PortalID: 7, OccurredAt: at, SubscriptionType: hubspot.JournalListMembership, Action: hubspot.JournalAddedToList, ObjectTypeID: "0-1", ObjectID: 10, ListID: 5}
	removed := added
	removed.Action = hubspot.JournalRemovedFromList
	otherList := added
	otherList.ListID = 6
	deal := added
	deal.ObjectTypeID = "0-3"
	evs, skipped := salesreceiver.JournalEvents([]hubspot.JournalEvent{added, removed, otherList, deal, added})
	if skipped != 1 || len(evs) != 4 {
		t.Fatalf("got %d events, %d skipped", len(evs), skipped)
	}
	if evs[0].SubscriptionType != "contact.addedToList" || evs[0].Kind() != salesentry.AddedToList || *evs[0].PropertyValue != "5" || evs[0].ObjectID != 10 {
		t.Fatalf("added: %+v", evs[0])
	}
	if evs[1].Kind() != salesentry.RemovedFromList {
		t.Fatalf("removed: %+v", evs[1])
	}
	if evs[0].DedupeKey() != evs[3].DedupeKey() {
		t.Fatal("the same journal event read twice has two dedupe keys")
	}
	if evs[0].DedupeKey() == evs[2].DedupeKey() || evs[0].DedupeKey() == evs[1].DedupeKey() {
		t.Fatal("different list events share a dedupe key")
	}
}
