package hubspot_test

import (
	"testing"
	"time"

	"github.com/referflow/referflow/internal/hubspot"
)

func TestParseJournalFileReadsListMembershipEvents(t *testing.T) {
	arr := `[{"eventId":7,"subscriptionId":3,"portalId":62515,"appId":9,"occurredAt":1764700000000,"subscriptionType":"LIST_MEMBERSHIP","action":"ADDED_TO_LIST","objectTypeId":"0-1","objectId":"123","listId":"45"}]`
	obj := `{"events":[{"eventId":8,"portalId":62515,"occurredAt":1764700000001,"subscriptionType":"LIST_MEMBERSHIP","action":"REMOVED_FROM_LIST","objectTypeId":"0-1","objectId":124,"listId":45}]}`
	evs, err := hubspot.ParseJournalFile([]byte(arr))
	if err != nil || len(evs) != 1 {
		t.Fatalf("array: %v %v", evs, err)
	}
	e := evs[0]
	if e.EventID != 7 || e.SubscriptionID != 3 || e.PortalID != 62515 || e.ObjectID != 123 || e.ListID != 45 || e.Action != hubspot.JournalAddedToList ||
		!e.OccurredAt.Equal(time.UnixMilli(1764700000000)) || len(e.Raw) == 0 {
		t.Fatalf("event: %+v", e)
	}
	evs, err = hubspot.ParseJournalFile([]byte(obj))
	if err != nil || len(evs) != 1 || evs[0].ObjectID != 124 || evs[0].Action != hubspot.JournalRemovedFromList {
		t.Fatalf("object: %v %v", evs, err)
	}
	for _, bad := range []string{`<Error/>`, `[{"eventId":"x1"}]`} {
		if _, err := hubspot.ParseJournalFile([]byte(bad)); err == nil {
			t.Errorf("%s read without error", bad)
		}
	}
}
