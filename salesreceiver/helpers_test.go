package salesreceiver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/salesreceiver"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.WithSearchAttributes(workflows.SearchAttributes)))
}

// world is a referral whose campaign qualifies on deal stages, its workflow
// running on a real worker, and a stand-in for the sales-entry workflow
// (built elsewhere) on a queue of its own.
type world struct {
	d          *testenv.Database
	tc         *testenv.Temporal
	fx         testenv.ReferralFixture
	salesQueue string
	run        client.WorkflowRun
}

// newWorld seeds the referral and starts its workflow; the referral holds
// HubSpot deal dealID and contact contactID when they are not 0.
func newWorld(ctx context.Context, t testing.TB, dealID, contactID int64) *world {
	t.Helper()
	return newWorldStarting(ctx, t, dealID, contactID, true)
}

// newWorldStarting is newWorld that may leave the referral's workflow
// unstarted (start starts it).
func newWorldStarting(ctx context.Context, t testing.TB, dealID, contactID int64, startWorkflow bool) *world {
	t.Helper()
	w := &world{d: testenv.NewDatabase(t), tc: testenv.NewTemporal(t)}
	distinctEntryIDs(ctx, t, w.d)
	w.salesQueue = w.tc.TaskQueue + "-sales"
	w.fx = w.d.SeedReferral(t)
	s := campaign.Defaults()
	s.Leads = campaign.CRMSettings{Action: campaign.ActionCreateDeal, FieldMapping: []campaign.FieldMapping{}}
	s.StatusRules = campaign.StatusRules{
		Qualified: &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"contractsent"}},
		Approved:  &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}},
	}
	w.d.SetCampaignSettings(t, w.fx.Campaign, s)
	params := db.ReferralSetHubSpotObjectsParams{ID: w.fx.Referral.ID}
	if dealID != 0 {
		params.HubspotDealID = &dealID
	}
	if contactID != 0 {
		params.HubspotContactID = &contactID
	}
	if _, err := w.d.Queries.ReferralSetHubSpotObjects(ctx, params); err != nil {
		t.Fatal(err)
	}

	ws := worker.New(w.tc.Client, w.d.Pool, worker.Options{TaskQueue: w.tc.TaskQueue, HubSpotTaskQueue: w.tc.HubSpotTaskQueue})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Stop)
	startSalesEntryStandIn(t, w.tc.Client, w.salesQueue)
	if startWorkflow {
		w.start(ctx, t)
	}
	return w
}

// start starts the referral's workflow and waits until it runs.
func (w *world) start(ctx context.Context, t testing.TB) {
	t.Helper()
	var err error
	w.run, err = workflows.StartReferralWorkflow(ctx, w.tc.Client, w.tc.TaskQueue, w.tc.HubSpotTaskQueue, w.fx.Referral.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	waitForState(ctx, t, w.tc.Client, w.run.GetID(), func(s workflows.ReferralState) bool { return s.Status != "" })
}

// distinctEntryIDs starts the schema's sales entry IDs at a random point:
// every test has its own schema but all share one Temporal namespace, where
// sales-entry/<id> must not name another test's workflow.
func distinctEntryIDs(ctx context.Context, t testing.TB, d *testenv.Database) {
	t.Helper()
	start := 1_000_000_000 + rand.Int64N(1_000_000_000_000)
	if _, err := d.Pool.Exec(ctx, fmt.Sprintf("ALTER TABLE sales_entries ALTER COLUMN id RESTART WITH %d", start)); err != nil {
		t.Fatal(err)
	}
}

// startSalesEntryStandIn registers, under the sales-entry workflow's name,
// a workflow that returns its input, so tests see what the dispatcher
// started it with.
func startSalesEntryStandIn(t testing.TB, c client.Client, queue string) {
	t.Helper()
	sw := sdkworker.New(c, queue, sdkworker.Options{})
	sw.RegisterWorkflowWithOptions(func(ctx workflow.Context, in workflows.SalesEntryInput) (workflows.SalesEntryInput, error) {
		return in, nil
	}, workflow.RegisterOptions{Name: workflows.SalesEntryWorkflowType})
	if err := sw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sw.Stop)
}

// dispatch runs a Dispatcher until the test ends.
func dispatch(t testing.TB, d *salesreceiver.Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func (w *world) dispatcher() *salesreceiver.Dispatcher {
	return &salesreceiver.Dispatcher{
		Pool: w.d.Pool, Temporal: w.tc.Client, TaskQueue: w.salesQueue, HubSpotTaskQueue: w.tc.HubSpotTaskQueue,
		Logger: testLogger(),
	}
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// entry is a HubSpot event to record as the webhook endpoint does.
type entry struct {
	portal      int64
	workspace   *uuid.UUID
	subType     string // e.g. deal.propertyChange
	objectID    int64
	property    string
	value       string
	occurredAt  time.Time
	extra       map[string]any // merge and association fields of the payload
	rawPayload  string         // overrides the payload built from the fields
	objectTypeF string         // overrides the object type read from subType
}

var eventIDs atomic.Int64

// record writes entries in one transaction and notifies the dispatcher, as
// the webhook endpoint does; it returns their IDs.
func record(ctx context.Context, t testing.TB, d *testenv.Database, entries ...entry) []int64 {
	t.Helper()
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	ids := recordIn(ctx, t, db.New(tx), entries...)
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, '')", salesreceiver.NotifyChannel); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return ids
}

func recordIn(ctx context.Context, t testing.TB, q *db.Queries, entries ...entry) []int64 {
	t.Helper()
	var ids []int64
	for _, e := range entries {
		eventID := eventIDs.Add(1)
		objectType := e.objectTypeF
		if objectType == "" {
			objectType = e.subType[:strings.Index(e.subType, ".")]
		}
		ev := map[string]any{
			"eventId": eventID, "subscriptionId": 1, "portalId": e.portal, "appId": 1,
			"occurredAt": e.occurredAt.UnixMilli(), "subscriptionType": e.subType, "attemptNumber": 0,
			"objectId": e.objectID, "changeSource": "CRM_UI",
		}
		p := db.SalesEntryInsertParams{
			PortalID: e.portal, WorkspaceID: e.workspace, EventID: &eventID, SubscriptionType: e.subType,
			ObjectType: objectType, ObjectID: e.objectID, OccurredAt: e.occurredAt,
			DedupeKey: fmt.Sprintf("%d:%s:%d:%s:%s:%d", eventID, e.subType, e.objectID, e.property, e.value, e.occurredAt.UnixMilli()),
		}
		if e.property != "" {
			p.PropertyName, p.PropertyValue = &e.property, &e.value
			ev["propertyName"], ev["propertyValue"] = e.property, e.value
		}
		for k, v := range e.extra {
			ev[k] = v
		}
		raw, _ := json.Marshal(ev)
		if e.rawPayload != "" {
			raw = []byte(e.rawPayload)
		}
		p.Payload = raw
		row, err := q.SalesEntryInsert(ctx, p)
		if err != nil {
			t.Fatalf("record %s %d: %v", e.subType, e.objectID, err)
		}
		ids = append(ids, row.ID)
	}
	return ids
}

// waitEntry polls a sales entry until ok says so.
func waitEntry(ctx context.Context, t testing.TB, d *testenv.Database, id int64, ok func(db.SalesEntry) bool) db.SalesEntry {
	t.Helper()
	var last db.SalesEntry
	for {
		row, err := d.Queries.SalesEntryGetByID(ctx, id)
		if err == nil {
			last = row
			if ok(row) {
				return row
			}
		} else if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("sales entry %d never reached the expected state; last: status %s, attempts %d, dispatch error %v, actions %s",
				id, last.Status, last.DispatchAttempts, deref(last.DispatchError), last.Actions)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func dispatched(row db.SalesEntry) bool { return row.DispatchedAt != nil }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// actions decodes an entry's actions.
func actions(t testing.TB, row db.SalesEntry) []salesreceiver.Action {
	t.Helper()
	var out []salesreceiver.Action
	if err := json.Unmarshal(row.Actions, &out); err != nil {
		t.Fatalf("actions of entry %d: %v (%s)", row.ID, err, row.Actions)
	}
	return out
}

// onlyAction returns the entry's single action's text.
func onlyAction(t testing.TB, row db.SalesEntry) string {
	t.Helper()
	acts := actions(t, row)
	if len(acts) != 1 {
		t.Fatalf("entry %d has %d actions, want 1: %s", row.ID, len(acts), row.Actions)
	}
	if a := acts[0]; a.Actor != "dispatcher" || a.At.IsZero() || a.Key == "" || a.Step == "" || a.Detail != a.Sentence {
		t.Fatalf("entry %d: incomplete action %+v", row.ID, a)
	}
	return acts[0].Sentence
}

func waitForState(ctx context.Context, t testing.TB, c client.Client, workflowID string, ok func(workflows.ReferralState) bool) workflows.ReferralState {
	t.Helper()
	for {
		var s workflows.ReferralState
		v, err := c.QueryWorkflow(ctx, workflowID, "", workflows.QueryReferralState)
		if err == nil {
			if err := v.Get(&s); err != nil {
				t.Fatal(err)
			}
			if ok(s) {
				return s
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("workflow %s never reached the expected state (last %+v, err %v)", workflowID, s, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
