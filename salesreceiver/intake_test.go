package salesreceiver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/salesreceiver"
)

func parse(t *testing.T, body string) []salesreceiver.Event {
	t.Helper()
	evs, err := salesreceiver.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func connect(t *testing.T, d *testenv.Database, portalID int64) db.Workspace {
	t.Helper()
	ctx := context.Background()
	ws, err := d.Queries.WorkspaceCreate(ctx, db.WorkspaceCreateParams{Name: fmt.Sprint("portal ", portalID), WebhookSigningSecret: "whsec"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Queries.HubSpotConnectionUpsert(ctx, db.HubSpotConnectionUpsertParams{WorkspaceID: ws.ID, PortalID: portalID, Scopes: []string{}}); err != nil {
		t.Fatal(err)
	}
	return ws
}

func TestRecord(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	ctx := context.Background()
	ws := connect(t, d, 100)

	// The dispatcher's view: a LISTEN on the channel.
	listener, err := d.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Release()
	if _, err := listener.Exec(ctx, "LISTEN "+salesreceiver.NotifyChannel); err != nil {
		t.Fatal(err)
	}

	body := `[
	 {"eventId":1,"portalId":100,"occurredAt":1700000000000,"subscriptionType":"deal.propertyChange","objectId":5,"propertyName":"dealstage","propertyValue":"closedwon","attemptNumber":0,"changeSource":"CRM_UI"},
	 {"eventId":1,"portalId":100,"occurredAt":1700000000000,"subscriptionType":"deal.propertyChange","objectId":5,"propertyName":"dealstage","propertyValue":"closedwon","attemptNumber":1,"changeSource":"CRM_UI"},
	 {"eventId":2,"portalId":200,"occurredAt":1700000000001,"subscriptionType":"contact.creation","objectId":6},
	 {"eventId":3,"portalId":100,"occurredAt":1700000000002,"subscriptionType":"ticket.creation","objectId":7}
	]`
	res, err := salesreceiver.Record(ctx, d.Pool, parse(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if res.Received != 4 || res.Recorded != 2 || res.Duplicates != 1 || res.Skipped != 1 || len(res.EntryIDs) != 2 {
		t.Fatalf("result %+v", res)
	}
	notifyCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	n, err := listener.Conn().WaitForNotification(notifyCtx)
	cancel()
	if err != nil || n.Channel != "sales_entries" || n.Payload != "" {
		t.Fatalf("notification %+v, %v", n, err)
	}

	deal, err := d.Queries.SalesEntryGetByDedupeKey(ctx, db.SalesEntryGetByDedupeKeyParams{PortalID: 100, DedupeKey: parse(t, body)[0].DedupeKey()})
	if err != nil {
		t.Fatal(err)
	}
	if deal.WorkspaceID == nil || *deal.WorkspaceID != ws.ID || deal.ObjectType != "deal" || deal.ObjectID != 5 ||
		deal.EventID == nil || *deal.EventID != 1 || deal.SubscriptionType != "deal.propertyChange" ||
		*deal.PropertyName != "dealstage" || *deal.PropertyValue != "closedwon" || *deal.AttemptNumber != 0 || *deal.ChangeSource != "CRM_UI" ||
		!deal.OccurredAt.Equal(time.UnixMilli(1700000000000)) || deal.Status != "received" || deal.DispatchedAt != nil {
		t.Fatalf("deal entry %+v", deal)
	}
	var payload map[string]any
	if err := json.Unmarshal(deal.Payload, &payload); err != nil || payload["propertyValue"] != "closedwon" || payload["attemptNumber"] != 0.0 {
		t.Fatalf("payload is not the event's own JSON: %s", deal.Payload)
	}
	contact, err := d.Queries.SalesEntryGetByDedupeKey(ctx, db.SalesEntryGetByDedupeKeyParams{PortalID: 200, DedupeKey: parse(t, body)[2].DedupeKey()})
	if err != nil {
		t.Fatal(err)
	}
	if contact.WorkspaceID != nil || contact.PropertyName != nil || contact.PropertyValue != nil || contact.ChangeSource != nil {
		t.Fatalf("an unconnected portal's entry is kept without a workspace: %+v", contact)
	}
	conn, err := d.Queries.HubSpotConnectionGetByWorkspace(ctx, ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	if conn.LastWebhookAt == nil || conn.LastEntryAt == nil {
		t.Fatalf("connection times not set: %+v %+v", conn.LastWebhookAt, conn.LastEntryAt)
	}

	// Within the second, another delivery leaves the times alone: they are
	// kept to the second so concurrent deliveries do not queue on the row.
	res, err = salesreceiver.Record(ctx, d.Pool, parse(t, body))
	if err != nil || res.Recorded != 0 || res.Duplicates != 3 || res.Skipped != 1 {
		t.Fatalf("redelivery %+v %v", res, err)
	}
	if again, _ := d.Queries.HubSpotConnectionGetByWorkspace(ctx, ws.ID); !again.LastEntryAt.Equal(*conn.LastEntryAt) || !again.LastWebhookAt.Equal(*conn.LastWebhookAt) {
		t.Fatalf("within the second: last entry %v → %v, last webhook %v → %v", conn.LastEntryAt, again.LastEntryAt, conn.LastWebhookAt, again.LastWebhookAt)
	}
	// An hour later, the same delivery again: nothing new, so the entry
	// time stays; the webhook time moves.
	if _, err := d.Pool.Exec(ctx, "UPDATE hubspot_connections SET last_webhook_at = last_webhook_at - interval '1 hour', last_entry_at = last_entry_at - interval '1 hour'"); err != nil {
		t.Fatal(err)
	}
	conn, _ = d.Queries.HubSpotConnectionGetByWorkspace(ctx, ws.ID)
	if _, err := salesreceiver.Record(ctx, d.Pool, parse(t, body)); err != nil {
		t.Fatal(err)
	}
	again, _ := d.Queries.HubSpotConnectionGetByWorkspace(ctx, ws.ID)
	if !again.LastEntryAt.Equal(*conn.LastEntryAt) || time.Since(*again.LastWebhookAt) > time.Minute {
		t.Fatalf("redelivery an hour later: last entry %v → %v, last webhook %v → %v", conn.LastEntryAt, again.LastEntryAt, conn.LastWebhookAt, again.LastWebhookAt)
	}
	// And a new event then moves both.
	res, err = salesreceiver.Record(ctx, d.Pool, parse(t, `[{"portalId":100,"occurredAt":1700000000005,"subscriptionType":"contact.creation","objectId":8}]`))
	if err != nil || res.Recorded != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if again, _ := d.Queries.HubSpotConnectionGetByWorkspace(ctx, ws.ID); time.Since(*again.LastEntryAt) > time.Minute {
		t.Fatalf("a new entry an hour later: last entry %v", again.LastEntryAt)
	}
	var total int
	if err := d.Pool.QueryRow(ctx, "SELECT count(*) FROM sales_entries").Scan(&total); err != nil || total != 3 {
		t.Fatalf("%d entries (%v), want 3", total, err)
	}
}

// Concurrent deliveries sharing events in opposite orders neither deadlock
// nor record an event twice.
func TestRecordConcurrentOverlappingDeliveries(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	connect(t, d, 300)
	ctx := context.Background()
	event := func(i int) string {
		return fmt.Sprintf(`{"eventId":%d,"portalId":300,"occurredAt":%d,"subscriptionType":"contact.propertyChange","objectId":%d,"propertyName":"email","propertyValue":"x"}`, i, 1700000000000+i, i+1)
	}
	var forward, backward []string
	for i := range 100 {
		forward = append(forward, event(i))
		backward = append(backward, event(99-i))
	}
	var wg sync.WaitGroup
	results := make([]salesreceiver.Result, 8)
	errs := make([]error, 8)
	for g := range 8 {
		body := forward
		if g%2 == 1 {
			body = backward
		}
		evs := parse(t, "["+strings.Join(body, ",")+"]")
		wg.Go(func() { results[g], errs[g] = salesreceiver.Record(ctx, d.Pool, evs) })
	}
	wg.Wait()
	recorded := 0
	for g := range 8 {
		if errs[g] != nil {
			t.Fatalf("delivery %d: %v", g, errs[g])
		}
		recorded += results[g].Recorded
	}
	var total int
	if err := d.Pool.QueryRow(ctx, "SELECT count(*) FROM sales_entries").Scan(&total); err != nil {
		t.Fatal(err)
	}
	if recorded != 100 || total != 100 {
		t.Fatalf("recorded %d, %d rows; want 100", recorded, total)
	}
}

func TestRecordFailsWithoutTheDatabase(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	ctx := context.Background()
	if _, err := d.Pool.Exec(ctx, "DROP TABLE sales_entries CASCADE"); err != nil {
		t.Fatal(err)
	}
	res, err := salesreceiver.Record(ctx, d.Pool, parse(t, `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"contact.creation"}]`))
	if err == nil || res.Recorded != 0 {
		t.Fatalf("want an error, got %+v", res)
	}
	d.Pool.Close()
	if _, err := salesreceiver.Record(ctx, d.Pool, parse(t, `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"contact.creation"}]`)); err == nil {
		t.Fatal("a closed pool must fail")
	}
}

// What Parse lets through, Postgres stores: escapes that only look like the
// refused ones, surrogate pairs, numbers near the edges, nesting up to the
// limit.
func TestRecordStoresOddButValidJSON(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	body := `[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"deal.propertyChange","propertyName":"note",
	  "propertyValue":"a\\u0000 \ud83d\ude00 \u00e9 \u2028","n":[1e300,-0.5e-300,1E+1000,1e-1000,` + strings.Repeat("9", 1000) + `],
	  "d":` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}]`
	res, err := salesreceiver.Record(context.Background(), d.Pool, parse(t, body))
	if err != nil || res.Recorded != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	var value string
	if err := d.Pool.QueryRow(context.Background(), "SELECT property_value FROM sales_entries").Scan(&value); err != nil || value != "a\\u0000 😀 é \u2028" {
		t.Fatalf("stored %q (%v)", value, err)
	}
}
