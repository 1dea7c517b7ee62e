package worker_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/temporalclient"
	"github.com/referflow/referflow/salesreceiver"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// An operator scraping a worker's /metrics sees what is going on: a HubSpot
// event waiting for dispatch and how old it is, a referral waiting on a
// broken HubSpot connection, a reward issued and its webhook delivered, the
// HubSpot calls the lead took, the workspace's connection, a failed
// referral workflow, and the Temporal SDK's own metrics.
func TestWorkerServesWhatOperatorsNeedOnMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	fx := d.SeedReferral(t)
	hs := testenv.ConnectHubSpot(t, d, fx.Workspace.ID, "https://refer.acme.test")

	// The worker's metrics, its Temporal client and HubSpot manager
	// reporting into them, as `referflow worker` wires them.
	metrics := worker.NewMetrics()
	wc, err := temporalclient.Dial(ctx, tc.Address, tc.Namespace, slog.New(slog.DiscardHandler), metrics.Temporal, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	hsOpts := hs.ManagerOptions
	hsOpts.Metrics = metrics.HubSpot
	manager, err := hubspotconn.New(d.Pool, hsOpts)
	if err != nil {
		t.Fatal(err)
	}

	// The campaign sends each lead to HubSpot as a contact and rewards the
	// member on approval, announced to the fulfilment endpoint.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer receiver.Close()
	s := campaign.Defaults()
	s.Leads = campaign.CRMSettings{
		Action: campaign.ActionCreateContact, DuplicateHandling: campaign.DuplicateDoNothing,
		FieldMapping: []campaign.FieldMapping{
			{Object: "contact", Source: "email", Property: "email"},
			{Object: "contact", Source: "first_name", Property: "firstname"},
		},
	}
	s.Rewards = campaign.Rewards{OnStatus: referral.Approved, Member: &campaign.Reward{Kind: campaign.RewardFixed, Amount: "50", Currency: "USD"}}
	d.SetCampaignSettings(t, fx.Campaign, s)
	fulfilment := receiver.URL + "/rewards"
	if _, err := d.Queries.CampaignUpdateDetails(ctx, db.CampaignUpdateDetailsParams{ID: fx.Campaign.ID, WorkspaceID: fx.Workspace.ID, FulfilmentWebhookUrl: &fulfilment}); err != nil {
		t.Fatal(err)
	}

	// A HubSpot event recorded and put off for an hour: it waits for
	// dispatch.
	events, err := salesreceiver.Parse([]byte(`[{"eventId":7,"subscriptionId":2,"portalId":987654,"occurredAt":1764547200000,
		"subscriptionType":"contact.creation","attemptNumber":0,"objectId":31}]`))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := salesreceiver.Record(ctx, d.Pool, events)
	if err != nil || rec.Recorded != 1 {
		t.Fatalf("record = %+v, %v", rec, err)
	}
	if err := d.Queries.SalesEntryDefer(ctx, db.SalesEntryDeferParams{
		Ids: rec.EntryIDs, Errors: []string{"Temporal unreachable"}, DelaysMs: []int64{time.Hour.Milliseconds()}, Attempted: []int32{1},
	}); err != nil {
		t.Fatal(err)
	}

	// Another referral waits on a broken HubSpot connection.
	first := "Ann"
	waiting, err := d.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
		WorkspaceID: fx.Workspace.ID, CampaignID: fx.Campaign.ID, MemberID: fx.Member.ID,
		LeadEmail: "ann@example.org", LeadEmailNormalized: "ann@example.org", LeadFirstName: &first, Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Queries.ReferralSetWaiting(ctx, db.ReferralSetWaitingParams{
		ID: waiting.ID, WaitingStep: "send_lead", WaitingCause: "HubSpotConnectionBroken", WaitingReason: "HubSpot refused the refresh token",
	}); err != nil {
		t.Fatal(err)
	}
	// As its workflow would have: the reconciler leaves it alone.
	if err := d.Queries.ReferralMarkWorkflowStarted(ctx, waiting.ID); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(runCtx, wc, d.Pool, worker.Options{
			TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue, HubSpot: manager, PublicURL: "https://refer.acme.test",
			WebhookPolicy: testenv.LoopbackWebhooks(t),
			Metrics:       metrics, MetricsListener: ln,
		})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("worker.Run: %v", err)
		}
	}()

	// A referral workflow that fails (started without a referral ID).
	failed, err := wc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "referral/broken-" + strconv.FormatInt(time.Now().UnixNano(), 36), TaskQueue: tc.TaskQueue},
		worker.ReferralWorkflowType, workflows.ReferralInput{})
	if err != nil {
		t.Fatal(err)
	}
	if err := failed.Get(ctx, nil); err == nil {
		t.Fatal("a referral workflow without a referral ID succeeded")
	}

	// The seeded referral's lead goes to HubSpot, an admin approves it, its
	// reward is issued and announced.
	if _, err := workflows.StartReferralWorkflow(ctx, wc, tc.TaskQueue, tc.HubSpotTaskQueue, fx.Referral.ID.String()); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the lead reaches HubSpot", func() bool {
		r, err := d.Queries.ReferralGetByID(ctx, fx.Referral.ID)
		return err == nil && r.HubspotContactID != nil
	})
	handle, err := wc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.ReferralWorkflowID(fx.Referral.ID.String()), UpdateName: workflows.UpdateSetStatus,
		Args:         []any{workflows.SetStatusRequest{Status: referral.Approved, Actor: "admin:test"}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := handle.Get(ctx, nil); err != nil {
		t.Fatalf("approve: %v", err)
	}

	url := "http://" + ln.Addr().String() + "/metrics"
	ws := fx.Workspace.ID.String()
	want := map[string]func(float64) bool{
		`referflow_sales_entries_undispatched`:                                                         eq(1),
		`referflow_sales_entries_undispatched_oldest_age_seconds`:                                      gt(0),
		`referflow_referrals_waiting{cause="HubSpotConnectionBroken",step="send_lead"}`:                eq(1),
		`referflow_referrals_waiting_oldest_seconds{cause="HubSpotConnectionBroken",step="send_lead"}`: ge(0),
		`referflow_rewards{status="issued"}`:                                                           eq(1),
		`referflow_rewards{status="failed"}`:                                                           eq(0),
		`referflow_webhook_deliveries_total{outcome="delivered",type="reward.issued"}`:                 eq(1),
		`referflow_webhook_delivery_attempts_total{result="delivered",type="reward.issued"}`:           eq(1),
		`referflow_webhook_deliveries_pending`:                                                         eq(0),
		`referflow_webhook_deliveries_failed`:                                                          eq(0),
		`referflow_hubspot_calls_total{outcome="ok"}`:                                                  gt(0),
		`referflow_hubspot_connection{status="connected",workspace_id="` + ws + `"}`:                   eq(1),
		`referflow_hubspot_connection_missing_scopes{workspace_id="` + ws + `"}`:                       eq(0),
		`referflow_referral_workflow_runs{status="failed"}`:                                            eq(1),
		`referflow_referral_workflow_runs{status="running"}`:                                           eq(1),
		`referflow_referral_workflow_runs_closed_last_hour{status="failed"}`:                           eq(1),
		`referflow_ops_source_up{source="postgres"}`:                                                   eq(1),
		`referflow_ops_source_up{source="temporal"}`:                                                   eq(1),
	}
	var got map[string]float64
	var wrong []string
	poll(t, ctx, "the metrics show it all", func() bool {
		got = scrape(t, url)
		wrong = wrong[:0]
		for name, ok := range want {
			if v, found := got[name]; !found || !ok(v) {
				wrong = append(wrong, fmt.Sprintf("%s = %v (found %v)", name, v, found))
			}
		}
		if len(wrong) > 0 {
			t.Logf("not yet: %v", wrong)
		}
		return len(wrong) == 0
	})
	// The SDK's own, under the names of Temporal's Prometheus integration.
	for _, prefix := range []string{"temporal_activity_schedule_to_start_latency_seconds_count{", "temporal_workflow_failed_total{", "temporal_request_total{"} {
		found := false
		for name, v := range got {
			found = found || strings.HasPrefix(name, prefix) && v > 0
		}
		if !found {
			t.Errorf("no %s…} above 0 on the worker's /metrics", prefix)
		}
	}
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
func gt(min float64) func(float64) bool  { return func(v float64) bool { return v > min } }
func ge(min float64) func(float64) bool  { return func(v float64) bool { return v >= min } }

// poll checks cond every 50 ms until it holds or ctx ends.
func poll(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not before the deadline", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// scrape GETs a /metrics page and returns each sample by its name and
// labels as written (labels in the order Prometheus sorts them).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape %s: bad sample %q", url, line)
		}
		out[line[:i]] = v
	}
	return out
}
