package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/devstack"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/temporalclient"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// continueAsNewEvery is the history length at which the test's server
// suggests continue-as-new (the default is 4,096 events). It must stay above
// what a continued run writes before it listens again (start, loading the
// referral, publishing: about a dozen events), or every run would continue
// as new at once; at 60 a run applies a handful of changes before it hands
// over.
const continueAsNewEvery = 60

// TestContinueAsNewOnTheRealServer drives one referral through several
// continue-as-new hand-overs on a real Temporal dev server that suggests
// continuing after continueAsNewEvery events, with a real worker and
// Postgres. HubSpot changes arrive in bursts — duplicates, out-of-order ones,
// redeliveries of changes an earlier run applied — until the referral has
// continued as new at least twice and at least one change reached a run
// after the server had told that run to continue (the signals a careless
// hand-over loses). Then the deal qualifies, an admin denies the referral, a
// stale "closed lost" arrives, the qualifying change is redelivered to a
// later run, and the won deal is held for review until an admin accepts it.
// Nothing may be lost or applied twice: every change is in the audit trail
// exactly once, the stale change denies nothing, the redelivery holds
// nothing for review, the referral ends approved after exactly three moves,
// and the reward webhook arrives exactly once.
func TestContinueAsNewOnTheRealServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	srv := startOwnDevServer(t, "", "limit.historyCount.suggestContinueAsNew="+strconv.Itoa(continueAsNewEvery))
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)

	var mu sync.Mutex
	var deliveries []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		deliveries = append(deliveries, ev.Type+" "+r.Header.Get("Referflow-Event-Id"))
		mu.Unlock()
	}))
	defer receiver.Close()

	s := campaign.Defaults()
	s.StatusRules = campaign.StatusRules{
		Qualified: &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"contractsent"}},
		Approved:  &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}},
		Denied:    &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedlost"}},
	}
	s.Rewards = campaign.Rewards{OnStatus: "approved", Member: &campaign.Reward{Kind: campaign.RewardFixed, Amount: "50", Currency: "USD"}}
	d.SetCampaignSettings(t, fx.Campaign, s)
	fulfilment := receiver.URL + "/rewards"
	if _, err := d.Queries.CampaignUpdateDetails(ctx, db.CampaignUpdateDetailsParams{ID: fx.Campaign.ID, WorkspaceID: fx.Workspace.ID, FulfilmentWebhookUrl: &fulfilment}); err != nil {
		t.Fatal(err)
	}

	queue := "can-" + uuid.NewString()[:8]
	ws := worker.New(srv.Client, d.Pool, worker.Options{TaskQueue: queue, HubSpotTaskQueue: queue + "-hubspot", WebhookPolicy: testenv.LoopbackWebhooks(t)})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	defer ws.Stop()
	run, err := workflows.StartReferralWorkflow(ctx, srv.Client, queue, queue+"-hubspot", fx.Referral.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	wfID, firstRun := run.GetID(), run.GetRunID()

	base := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	unique := map[string]workflows.HubSpotChange{} // every distinct change sent, by dedupe key
	send := func(c workflows.HubSpotChange) {
		t.Helper()
		unique[c.DedupeKey] = c
		if err := srv.Client.SignalWorkflow(ctx, wfID, "", workflows.SignalHubSpotChange, c); err != nil {
			t.Fatalf("signal %s: %v", c.DedupeKey, err)
		}
	}
	deal := func(property, value string, at time.Time, key string) workflows.HubSpotChange {
		return workflows.HubSpotChange{ObjectType: "deal", ObjectID: 3000001, Property: property, Value: value, OccurredAt: at, DedupeKey: key}
	}
	// noise is the i-th change that moves nothing: a deal stage no rule
	// matches (every fifth one older than those before it) or an amount no
	// rule uses.
	stages := []string{"appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin"}
	noise := func(i int) workflows.HubSpotChange {
		key := "n-" + strconv.Itoa(i)
		if i%3 == 2 {
			return deal("amount", strconv.Itoa(1000+i), base.Add(time.Duration(i)*time.Second), key)
		}
		at := base.Add(time.Duration(i) * time.Second)
		if i%5 == 4 {
			at = base.Add(time.Duration(i-10) * time.Second)
		}
		return deal("dealstage", stages[i%len(stages)], at, key)
	}

	// burst sends five changes that move nothing, with HubSpot's
	// redeliveries of earlier ones, and waits until they are in the audit
	// trail.
	next := 0
	burst := func() {
		t.Helper()
		keys := []string{}
		for range 5 {
			c := noise(next)
			send(c)
			keys = append(keys, c.DedupeKey)
			if next%4 == 3 && next >= 7 { // a change from several bursts ago, again
				send(noise(next - 7))
			}
			next++
		}
		send(noise(next - 2)) // and one from this burst
		waitForAuditKeys(ctx, t, d, fx.Referral.ID, keys)
	}

	// Bursts until the referral has continued as new twice and a change
	// has reached a run after the server suggested it continue.
	var runs []runInfo
	for round := 0; ; round++ {
		if round == 100 {
			t.Fatalf("after %d changes: %d hand-overs, %d changes after a continue-as-new suggestion; want at least 2 and 1", next, len(runs)-1, signalsAfterSuggestion(runs))
		}
		burst()
		runs = followRuns(ctx, t, srv.Client, wfID, firstRun)
		if len(runs) >= 3 && signalsAfterSuggestion(runs) >= 1 {
			break
		}
	}

	// The deal qualifies (delivered twice). An admin then denies the
	// referral, and a stale "closed lost" from before arrives late.
	send(deal("dealstage", "contractsent", base.Add(time.Hour), "q1"))
	send(deal("dealstage", "contractsent", base.Add(time.Hour), "q1"))
	waitForReferralState(ctx, t, srv.Client, wfID, func(s workflows.ReferralState) bool { return s.Status == referral.Qualified })
	runsWhenQualified := len(followRuns(ctx, t, srv.Client, wfID, firstRun))
	decide(ctx, t, srv.Client, wfID, workflows.UpdateSetStatus, workflows.SetStatusRequest{Status: referral.Denied, Reason: "the customer churned", Actor: "admin:test"})
	send(deal("dealstage", "closedlost", base.Add(30*time.Minute), "lost-stale"))

	// Once the referral has continued as new since it qualified, HubSpot
	// redelivers the qualifying change. The new run must know it was
	// applied: applying it again would hold the denied referral for review.
	for round := 0; len(followRuns(ctx, t, srv.Client, wfID, firstRun)) == runsWhenQualified; round++ {
		if round == 50 {
			t.Fatalf("the referral never continued as new after it qualified")
		}
		burst()
	}
	send(deal("dealstage", "contractsent", base.Add(time.Hour), "q1"))
	burst() // in the audit trail after it: the redelivery has been handled
	if st := waitForReferralState(ctx, t, srv.Client, wfID, func(workflows.ReferralState) bool { return true }); st.Status != referral.Denied || st.PendingReview != nil {
		t.Fatalf("after a later run got the qualifying change again: status %s, held for review %+v; want denied, nothing held", st.Status, st.PendingReview)
	}

	// The deal is won (delivered twice, with other changes flowing): the
	// denied referral is held for review, an admin accepts, the referral is
	// approved and rewarded.
	send(deal("dealstage", "closedwon", base.Add(2*time.Hour), "won-1"))
	send(noise(next))
	next++
	send(deal("dealstage", "closedwon", base.Add(2*time.Hour), "won-1"))
	waitForReferralState(ctx, t, srv.Client, wfID, func(s workflows.ReferralState) bool {
		return s.PendingReview != nil && s.PendingReview.To == referral.Approved
	})
	decide(ctx, t, srv.Client, wfID, workflows.UpdateResolveReview, workflows.ReviewDecision{Accept: true, Actor: "admin:test"})
	waitForReferralState(ctx, t, srv.Client, wfID, func(s workflows.ReferralState) bool {
		return s.Status == referral.Approved && len(s.Rewards) == 1 && s.Rewards[0].Status == "issued"
	})
	// Late redeliveries of what earlier runs applied, then a last change: once
	// it is in the audit trail, everything sent before it has been handled.
	for _, key := range []string{"q1", "won-1", "lost-stale", "n-0", "n-1"} {
		send(unique[key])
	}
	send(deal("amount", "99999", base.Add(3*time.Hour), "last"))
	waitForAuditKeys(ctx, t, d, fx.Referral.ID, []string{"last"})

	// It really continued as new on the server, more than once.
	runs = followRuns(ctx, t, srv.Client, wfID, firstRun)
	if len(runs) < 3 {
		t.Fatalf("runs = %d, want the referral to have continued as new at least twice", len(runs))
	}
	desc, err := srv.Client.DescribeWorkflowExecution(ctx, wfID, firstRun)
	if err != nil {
		t.Fatal(err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
		t.Fatalf("first run closed %v, want ContinuedAsNew", st)
	}
	current, err := srv.Client.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	if current.GetWorkflowExecutionInfo().GetExecution().GetRunId() == firstRun {
		t.Fatal("the current run is still the first one")
	}
	for i, r := range runs {
		t.Logf("run %d %s: %d events, %d signals, %d after the continue-as-new suggestion, %d hand-overs refused for a new signal, continued as new: %v",
			i+1, r.RunID, r.Events, r.Signals, r.SignalsAfterSuggestion, r.RacedHandOvers, r.ContinuedAsNew)
	}

	// Each change exactly once in the audit trail; the two moves, nothing
	// else, and the stale "closed lost" ignored.
	events, err := d.Queries.ReferralEventListByReferral(ctx, fx.Referral.ID)
	if err != nil {
		t.Fatal(err)
	}
	perKey := map[string]int{}
	var moves []string
	for _, ev := range events {
		key := ""
		if ev.IdempotencyKey != nil {
			key = *ev.IdempotencyKey
		}
		if k, ok := strings.CutPrefix(key, "hubspot:"); ok {
			perKey[k]++
			if _, sent := unique[k]; !sent {
				t.Errorf("audit trail has a change that was never sent: %s", key)
			}
		}
		if ev.Kind == "status_changed" {
			// Admins' decisions are keyed by their update IDs.
			by, _, _ := strings.Cut(key, ":")
			if by == "hubspot" {
				by = key
			}
			moves = append(moves, fmt.Sprintf("%s->%s by %s", deref(ev.FromStatus), deref(ev.ToStatus), by))
		}
		var details struct {
			Outcome string `json:"outcome"`
		}
		_ = json.Unmarshal(ev.Details, &details)
		if key == "hubspot:lost-stale" && (ev.Kind != "hubspot_change" || !strings.HasPrefix(details.Outcome, "ignored: older")) {
			t.Errorf("the stale closed-lost change: %s %s, want it ignored as older", ev.Kind, ev.Details)
		}
		if key == "hubspot:won-1" && (ev.Kind != "hubspot_change" || !strings.HasPrefix(details.Outcome, "held for review")) {
			t.Errorf("the winning change: %s %s, want it held for review", ev.Kind, ev.Details)
		}
	}
	for key := range unique {
		if perKey[key] != 1 {
			t.Errorf("change %s is in the audit trail %d times, want once", key, perKey[key])
		}
	}
	if want := []string{"pending->qualified by hubspot:q1", "qualified->denied by update", "denied->approved by review"}; strings.Join(moves, "; ") != strings.Join(want, "; ") {
		t.Errorf("status moves = %v, want %v", moves, want)
	}
	t.Logf("%d distinct changes sent, %d audit events", len(unique), len(events))

	state := waitForReferralState(ctx, t, srv.Client, wfID, func(workflows.ReferralState) bool { return true })
	if state.Status != referral.Approved || state.Transitions != 3 || state.Conversions != 1 || state.PendingReview != nil {
		t.Errorf("state after the hand-overs = status %s, %d transitions, %d conversions, review %+v; want approved, 3, 1, none", state.Status, state.Transitions, state.Conversions, state.PendingReview)
	}
	row, err := d.Queries.ReferralGetByID(ctx, fx.Referral.ID)
	if err != nil || row.Status != "approved" {
		t.Errorf("referral in Postgres: %s %v", row.Status, err)
	}
	rewards, err := d.Queries.RewardListByReferral(ctx, fx.Referral.ID)
	if err != nil || len(rewards) != 1 || rewards[0].Status != "issued" {
		t.Errorf("rewards in Postgres: %+v %v", rewards, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(deliveries) != 1 || !strings.HasPrefix(deliveries[0], "reward.issued ") {
		t.Errorf("reward webhooks received = %q, want one reward.issued", deliveries)
	}
}

// runInfo is one run of a workflow, as its history on the server tells it.
type runInfo struct {
	RunID          string
	Events         int
	Signals        int
	ContinuedAsNew bool
	// RacedHandOvers counts the run's attempts to continue as new that the
	// server refused because a signal had arrived meanwhile (a workflow task
	// failed with UnhandledCommand); the workflow then had to apply it first.
	RacedHandOvers int
	// SignalsAfterSuggestion counts signals the server recorded after it had
	// first suggested this run continue as new: the ones a hand-over that
	// does not drain its channel would lose.
	SignalsAfterSuggestion int
}

// followRuns reads the chain of runs of a workflow from firstRun, following
// each continue-as-new to the run it started.
func followRuns(ctx context.Context, t *testing.T, c client.Client, workflowID, firstRun string) []runInfo {
	t.Helper()
	var runs []runInfo
	for runID := firstRun; runID != ""; {
		r := runInfo{RunID: runID}
		next, suggested := "", false
		it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatalf("history of run %s: %v", runID, err)
			}
			r.Events++
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
				if ev.GetWorkflowTaskStartedEventAttributes().GetSuggestContinueAsNew() {
					suggested = true
				}
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
				if ev.GetWorkflowTaskFailedEventAttributes().GetCause() == enumspb.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND {
					r.RacedHandOvers++
				}
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
				r.Signals++
				if suggested {
					r.SignalsAfterSuggestion++
				}
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
				r.ContinuedAsNew = true
				next = ev.GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
			}
		}
		runs = append(runs, r)
		runID = next
	}
	return runs
}

// signalsAfterSuggestion sums, over the runs that continued as new, the
// signals that reached them after the server's suggestion.
func signalsAfterSuggestion(runs []runInfo) int {
	n := 0
	for _, r := range runs {
		if r.ContinuedAsNew {
			n += r.SignalsAfterSuggestion
		}
	}
	return n
}

// waitForAuditKeys waits until the referral's audit trail holds an event for
// each HubSpot change dedupe key. A lost change never arrives: it gives up
// after a minute rather than the test's whole budget.
func waitForAuditKeys(ctx context.Context, t *testing.T, d *testenv.Database, referralID uuid.UUID, keys []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	want := make([]string, len(keys))
	for i, k := range keys {
		want[i] = "hubspot:" + k
	}
	for {
		var n int
		err := d.Pool.QueryRow(ctx, `SELECT count(DISTINCT idempotency_key) FROM referral_events WHERE referral_id = $1 AND idempotency_key = ANY($2)`, referralID, want).Scan(&n)
		if err != nil && ctx.Err() == nil {
			t.Fatalf("audit trail: %v", err)
		}
		if err == nil && n == len(want) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("only %d of the changes %v reached the audit trail", n, keys)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitForReferralState polls the referral workflow's state query until ok
// holds; it works with benchmarks too.
func waitForReferralState(ctx context.Context, tb testing.TB, c client.Client, workflowID string, ok func(workflows.ReferralState) bool) workflows.ReferralState {
	tb.Helper()
	for {
		var s workflows.ReferralState
		v, err := c.QueryWorkflow(ctx, workflowID, "", workflows.QueryReferralState)
		if err == nil {
			if err = v.Get(&s); err == nil && ok(s) {
				return s
			}
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("workflow %s never reached the expected state (last %+v, err %v)", workflowID, s, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// decide sends an admin's decision as the workflow update name and waits
// for it to complete.
func decide(ctx context.Context, t *testing.T, c client.Client, workflowID, name string, arg any) workflows.ReferralState {
	t.Helper()
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var s workflows.ReferralState
	if err == nil {
		err = h.Get(ctx, &s)
	}
	if err != nil {
		t.Fatalf("update %s: %v", name, err)
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ownDevServer is a Temporal dev server (the pinned CLI in bin/) that one
// test or benchmark starts for itself, rather than the dev server the
// package's tests share: for server settings of its own (dynamic config such
// as the continue-as-new threshold) or to know its process (its memory) and
// its database file.
type ownDevServer struct {
	Client  client.Client
	Address string
	// PID is the server's process: `temporal server start-dev` runs the
	// whole server (frontend, history, matching, worker services) in it.
	PID int
	// DBFile is its SQLite file; empty when it keeps everything in memory.
	DBFile string
}

// startOwnDevServer starts a dev server on a free loopback port, with its
// SQLite database in dbFile (WAL, as `referflow dev` runs it) or in memory
// when dbFile is empty, and the given dynamic config values (key=JSON
// value). referflow's search attributes are registered; the server is
// stopped when the test ends.
func startOwnDevServer(tb testing.TB, dbFile string, dynamicConfig ...string) *ownDevServer {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	root, err := devstack.FindRepoRoot(wd)
	if err != nil {
		tb.Fatal(err)
	}
	cli := filepath.Join(root, "bin", "temporal")
	if _, err := os.Stat(cli); err != nil {
		tb.Fatalf("the pinned Temporal CLI is not at %s: run `make tools`", cli)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)

	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", port, "--headless", "--log-level", "error",
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false"}
	for _, kv := range dynamicConfig {
		args = append(args, "--dynamic-config-value", kv)
	}
	if dbFile != "" {
		args = append(args, "--db-filename", dbFile, "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")
	}
	logf, err := os.CreateTemp("", "referflow-own-temporal-*.log")
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(cli, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		tb.Fatalf("start %s: %v", cli, err)
	}
	logf.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		_ = os.Remove(logf.Name())
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var c client.Client
	for {
		dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
		c, err = client.DialContext(dctx, client.Options{HostPort: addr, Namespace: testenv.TemporalNamespace, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
		dcancel()
		if err == nil {
			if _, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: testenv.TemporalNamespace}); err == nil {
				break
			}
			c.Close()
		}
		select {
		case <-exited:
			tb.Fatalf("the Temporal dev server exited during start-up; see %s", logf.Name())
		case <-ctx.Done():
			tb.Fatalf("the Temporal dev server on %s was not ready within 60s: %v", addr, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	tb.Cleanup(c.Close)
	if err := temporalclient.RegisterSearchAttributes(ctx, c, testenv.TemporalNamespace, workflows.SearchAttributes); err != nil {
		tb.Fatal(err)
	}
	return &ownDevServer{Client: c, Address: addr, PID: cmd.Process.Pid, DBFile: dbFile}
}
