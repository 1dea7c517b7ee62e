package salesreceiver_test

import (
	"fmt"

	"github.com/referflow/referflow/salesreceiver"
)

// A retry of a delivery carries a higher attemptNumber; it is the same event
// and gets the same dedupe key.
func ExampleEvent_DedupeKey() {
	first, _ := salesreceiver.Parse([]byte(`[{"eventId":1,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"deal.propertyChange","attemptNumber":0,"objectId":123,"propertyName":"dealstage","propertyValue":"closedwon"}]`))
	retry, _ := salesreceiver.Parse([]byte(`[{"eventId":1,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"deal.propertyChange","attemptNumber":3,"objectId":123,"propertyName":"dealstage","propertyValue":"closedwon"}]`))
	fmt.Println(first[0].ObjectType(), first[0].Kind(), first[0].OccurredAt)
	fmt.Println(first[0].DedupeKey() == retry[0].DedupeKey())
	// Output:
	// deal propertyChange 2019-07-26 04:00:00 +0000 UTC
	// true
}

// What is wrong with a delivery names the event and the field.
func ExampleParse_error() {
	_, err := salesreceiver.Parse([]byte(`[{"portalId":62515,"objectId":1,"occurredAt":1564113600000,"subscriptionType":"contact.creation"},{"objectId":2}]`))
	fmt.Println(err)
	// Output:
	// event 1: portalId is required
}
