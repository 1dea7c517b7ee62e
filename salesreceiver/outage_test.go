package salesreceiver_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/devstack"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/temporalclient"
	"github.com/referflow/referflow/salesreceiver"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// The outage test (issue 5, item 1): entries recorded while Temporal is
// down stay undispatched with their error — nothing lost, nothing marked
// done — and once Temporal is back on the same address and database they
// reach the referral's workflow, which approves the referral, and the
// unknown deal's matching starts.
func TestATemporalOutageDelaysEntriesAndLosesNone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := testenv.NewDatabase(t)
	distinctEntryIDs(ctx, t, d)
	srv := newOwnTemporal(ctx, t)
	srv.start(ctx, t)
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.addr, Namespace: testenv.TemporalNamespace, Logger: silentTemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// A referral of a deal, its workflow running on a real worker.
	fx := d.SeedReferral(t)
	s := campaign.Defaults()
	s.Leads = campaign.CRMSettings{Action: campaign.ActionCreateDeal, FieldMapping: []campaign.FieldMapping{}}
	s.StatusRules = campaign.StatusRules{
		Qualified: &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"contractsent"}},
		Approved:  &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}},
	}
	d.SetCampaignSettings(t, fx.Campaign, s)
	deal := int64(4501)
	if _, err := d.Queries.ReferralSetHubSpotObjects(ctx, db.ReferralSetHubSpotObjectsParams{ID: fx.Referral.ID, HubspotDealID: &deal}); err != nil {
		t.Fatal(err)
	}
	queue, hubspotQueue, salesQueue := "outage-"+fx.Referral.ID.String(), "outage-hubspot-"+fx.Referral.ID.String(), "outage-sales-"+fx.Referral.ID.String()
	ws := worker.New(c, d.Pool, worker.Options{TaskQueue: queue, HubSpotTaskQueue: hubspotQueue})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	defer ws.Stop()
	startSalesEntryStandIn(t, c, salesQueue)
	run, err := workflows.StartReferralWorkflow(ctx, c, queue, hubspotQueue, fx.Referral.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	waitForState(ctx, t, c, run.GetID(), func(s workflows.ReferralState) bool { return s.Status == referral.Pending })

	var logs lockedBuffer
	dispatch(t, &salesreceiver.Dispatcher{
		Pool: d.Pool, Temporal: c, TaskQueue: salesQueue, HubSpotTaskQueue: hubspotQueue,
		Logger:      slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		CallTimeout: time.Second, MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second,
	})

	// Temporal goes down; HubSpot's events keep being recorded.
	srv.stop(t)
	wsID := fx.Workspace.ID
	ids := record(ctx, t, d,
		entry{portal: 77, workspace: &wsID, subType: "deal.propertyChange", objectID: deal, property: "dealstage", value: "closedwon", occurredAt: t0.Add(2 * time.Minute)},
		entry{portal: 77, workspace: &wsID, subType: "deal.propertyChange", objectID: deal, property: "dealstage", value: "contractsent", occurredAt: t0.Add(time.Minute)},
		entry{portal: 77, workspace: &wsID, subType: "deal.creation", objectID: 4502, occurredAt: t0},
	)
	// The oldest entry of each group is tried again and again; the deal's
	// later stage waits behind its earlier one, so it still comes second.
	for _, id := range []int64{ids[1], ids[2]} {
		waitEntry(ctx, t, d, id, func(r db.SalesEntry) bool { return r.DispatchAttempts >= 2 })
	}
	for _, id := range ids {
		row, err := d.Queries.SalesEntryGetByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if row.DispatchedAt != nil || row.Status != "received" || row.DispatchError == nil || string(row.Actions) != "[]" {
			t.Fatalf("entry %d during the outage: status %s dispatched %v error %q actions %s",
				id, row.Status, row.DispatchedAt, deref(row.DispatchError), row.Actions)
		}
	}
	if row, _ := d.Queries.SalesEntryGetByID(ctx, ids[0]); !strings.HasPrefix(deref(row.DispatchError), fmt.Sprintf("waits for sales entry %d ", ids[1])) {
		t.Fatalf("the later stage's dispatch error = %q", deref(row.DispatchError))
	}
	// The errors of entries that were tried name the call that failed.
	if row, _ := d.Queries.SalesEntryGetByID(ctx, ids[2]); !containsAny(deref(row.DispatchError), "start sales-entry/", "Temporal unreachable") {
		t.Fatalf("dispatch error = %q", deref(row.DispatchError))
	}

	// The dispatcher's log names the entries it puts off.
	named := regexp.MustCompile(`"sales_entry_ids":"([0-9]+, )*` + strconv.FormatInt(ids[2], 10) + `(, [0-9]+)*"`)
	if !named.MatchString(logs.String()) {
		t.Fatalf("the dispatcher's warnings do not name the entries put off:\n%s", logs.String())
	}

	// Temporal is back on the same address and database.
	srv.start(ctx, t)
	for i, want := range []string{"processed", "processed", "matching"} {
		row := waitEntry(ctx, t, d, ids[i], dispatched)
		if row.Status != want || row.DispatchError != nil || len(actions(t, row)) != 1 {
			t.Fatalf("entry %d after the outage: %s %q %s", ids[i], row.Status, deref(row.DispatchError), row.Actions)
		}
	}
	var final workflows.ReferralState
	if err := run.Get(ctx, &final); err != nil {
		t.Fatal(err)
	}
	if final.Status != referral.Approved || final.Transitions != 2 {
		t.Fatalf("referral after the outage: %+v, want approved through qualified", final)
	}
	var in workflows.SalesEntryInput
	if err := c.GetWorkflow(ctx, workflows.SalesEntryWorkflowID(ids[2]), "").Get(ctx, &in); err != nil || in.SalesEntryID != ids[2] {
		t.Fatalf("the unknown deal's matching: %+v %v", in, err)
	}
}

// ownTemporal is a Temporal dev server this test stops and starts again on
// the same address and SQLite file.
type ownTemporal struct {
	cli, addr, dbFile string
	log               *os.File
	srv               *testsuite.DevServer
}

func newOwnTemporal(ctx context.Context, t *testing.T) *ownTemporal {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := devstack.FindRepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	dir := t.TempDir()
	logFile, err := os.Create(filepath.Join(dir, "temporal.log"))
	if err != nil {
		t.Fatal(err)
	}
	o := &ownTemporal{cli: filepath.Join(root, "bin", "temporal"), addr: addr, dbFile: filepath.Join(dir, "temporal.db"), log: logFile}
	t.Cleanup(func() {
		if o.srv != nil {
			o.stop(t)
		}
		_ = logFile.Close()
	})
	return o
}

func (o *ownTemporal) start(ctx context.Context, t *testing.T) {
	t.Helper()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  o.cli,
		ClientOptions: &client.Options{HostPort: o.addr, Namespace: testenv.TemporalNamespace, Logger: silentTemporalLogger()},
		DBFilename:    o.dbFile,
		LogLevel:      "error",
		Stdout:        o.log,
		Stderr:        o.log,
	})
	if err != nil {
		t.Fatalf("start Temporal at %s (log %s): %v", o.addr, o.log.Name(), err)
	}
	o.srv = srv
	if err := temporalclient.RegisterSearchAttributes(ctx, srv.Client(), testenv.TemporalNamespace, workflows.SearchAttributes); err != nil {
		t.Fatal(err)
	}
}

func (o *ownTemporal) stop(t *testing.T) {
	t.Helper()
	o.srv.Client().Close()
	if err := o.srv.Stop(); err != nil {
		t.Logf("stop Temporal: %v", err)
	}
	o.srv = nil
}

// lockedBuffer collects a logger's lines from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// silentLogger and silentTemporalLogger keep the outage's expected
// connection errors out of the test output.
func silentLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4}))
}

func silentTemporalLogger() sdklog.Logger { return sdklog.NewStructuredLogger(silentLogger()) }

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
