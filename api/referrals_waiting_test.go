package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/salesreceiver"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// apiClient calls the admin API with an admin's API key.
type apiClient struct {
	t   *testing.T
	url string
	key string
}

func (a apiClient) do(method, path, body string) (int, []byte) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (a apiClient) referral(id string) ReferralView {
	a.t.Helper()
	code, body := a.do("GET", "/api/v1/referrals/"+id, "")
	var v ReferralView
	if code != http.StatusOK || json.Unmarshal(body, &v) != nil {
		a.t.Fatalf("GET referral %s = %d %s", id, code, body)
	}
	return v
}

// await polls the referral until ok holds.
func (a apiClient) await(ctx context.Context, id, what string, ok func(ReferralView) bool) ReferralView {
	a.t.Helper()
	for {
		v := a.referral(id)
		if ok(v) {
			return v
		}
		select {
		case <-ctx.Done():
			raw, _ := json.MarshalIndent(v, "", "  ")
			a.t.Fatalf("referral %s never %s:\n%s", id, what, raw)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func countKind(v ReferralView, kind string) int {
	n := 0
	for _, ev := range v.Events {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// rewardReceiver is a campaign's fulfilment endpoint: it counts reward
// webhooks by event ID.
type rewardReceiver struct {
	mu  sync.Mutex
	ids map[string]int
}

func newRewardReceiver(t *testing.T) (*rewardReceiver, string) {
	r := &rewardReceiver{ids: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var ev struct {
			ID string `json:"id"`
		}
		body, _ := io.ReadAll(req.Body)
		_ = json.Unmarshal(body, &ev)
		r.mu.Lock()
		r.ids[ev.ID]++
		r.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func (r *rewardReceiver) deliveries() (events, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.ids {
		events++
		total += n
	}
	return events, total
}

// winDeal has HubSpot deliver deal-stage webhooks to the API and moves the
// deal to closedwon, as a salesperson winning it would.
func (h *hubspotAPI) winDeal(t *testing.T, dealID string) {
	t.Helper()
	if err := h.sim.SetWebhookSettings(hubspotsim.WebhookSettings{TargetURL: h.url + "/webhooks/hubspot"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sim.Subscribe("deal.propertyChange", "dealstage"); err != nil {
		t.Fatal(err)
	}
	if err := h.sim.UpdateObject(h.portal.ID, "deals", dealID, map[string]string{"dealstage": "closedwon"}); err != nil {
		t.Fatal(err)
	}
}

// runDispatcher runs the Sales Receiver's dispatcher, which hands recorded
// HubSpot events to the workflows, until the test ends.
func (h *hubspotAPI) runDispatcher(t *testing.T) {
	dctx, stop := context.WithCancel(context.Background())
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		d := &salesreceiver.Dispatcher{Pool: h.db.Pool, Temporal: h.tc.Client, TaskQueue: h.tc.TaskQueue, HubSpotTaskQueue: h.tc.HubSpotTaskQueue, Logger: slog.New(slog.DiscardHandler)}
		_ = d.Run(dctx)
	}()
	t.Cleanup(func() { stop(); <-dispatched })
}

// dealCampaign sends each lead to HubSpot as a deal and rewards the member
// 50 USD when the deal is won.
func dealCampaign() campaign.Settings {
	s := campaign.Defaults()
	s.Leads = campaign.CRMSettings{Action: campaign.ActionCreateDeal, FieldMapping: []campaign.FieldMapping{
		{Object: "deal", Value: "default", Property: "pipeline"},
		{Object: "deal", Value: "appointmentscheduled", Property: "dealstage"},
		{Object: "deal", Source: "campaign_name", Property: "dealname"},
		{Object: "deal", Source: "referrer_code", Property: hubspotobject.PropReferredByCode},
	}}
	s.StatusRules = campaign.StatusRules{
		Qualified: &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"contractsent"}},
		Approved:  &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}},
	}
	s.Rewards = campaign.Rewards{OnStatus: referral.Approved, Member: &campaign.Reward{Kind: campaign.RewardFixed, Amount: "50", Currency: "USD"}}
	return s
}

// TestReferralAddedBeforeHubSpotIsConnected is the whole story of a
// referral that meets the outside world before it is ready: added through
// the API while the workspace has no HubSpot connection, its lead waits —
// pending, saying why, its workflow running — and is sent once, by itself,
// when an admin connects HubSpot; the deal is won in HubSpot, the webhook
// moves the referral to approved and the member is rewarded once.
func TestReferralAddedBeforeHubSpotIsConnected(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := newHubSpotAPI(t, hubspotsim.DefaultClientID)
	fx := h.db.SeedReferral(t)
	h.db.SetCampaignSettings(t, fx.Campaign, dealCampaign())
	receiver, fulfilment := newRewardReceiver(t)
	if _, err := h.db.Queries.CampaignUpdateDetails(ctx, db.CampaignUpdateDetailsParams{ID: fx.Campaign.ID, WorkspaceID: fx.Workspace.ID, FulfilmentWebhookUrl: &fulfilment}); err != nil {
		t.Fatal(err)
	}
	_, browser, key := h.admin(t, &fx.Workspace, "ops@acme.test")
	a := apiClient{t: t, url: h.url, key: key}
	h.runDispatcher(t)

	code, body := a.do("POST", "/api/v1/campaigns/"+fx.Campaign.ID.String()+"/referrals",
		`{"member_code":"`+fx.Member.ReferralCode+`","lead":{"email":"nia@example.org","first_name":"Nia"}}`)
	var added ReferralView
	if code != http.StatusCreated || json.Unmarshal(body, &added) != nil {
		t.Fatalf("add referral = %d %s", code, body)
	}

	// Not connected: the lead waits, and the referral says why.
	v := a.await(ctx, added.ID, "waits for HubSpot", func(v ReferralView) bool { return v.Waiting != nil })
	if v.Status != referral.Pending || v.Waiting.Step != string(referral.WaitSendLead) || v.Waiting.Cause != "HubSpotConnectionBroken" ||
		!strings.Contains(v.Waiting.Reason, "not connected") || v.WorkflowStatus != "running" {
		t.Fatalf("waiting referral = %+v, waiting %+v", v, v.Waiting)
	}
	var notSent *ReferralEventView
	for i, ev := range v.Events {
		if ev.Kind == string(referral.EventLeadNotSent) {
			notSent = &v.Events[i]
		}
	}
	if notSent == nil || !strings.Contains(notSent.Reason, "not connected") {
		t.Fatalf("audit trail has no lead_not_sent with why: %+v", v.Events)
	}

	// An admin connects HubSpot: the lead goes at once, exactly once.
	if code, page := open(t, browser, h.startConnect(t, browser, "allow")); code != http.StatusOK {
		t.Fatalf("callback = %d\n%s", code, page)
	}
	v = a.await(ctx, added.ID, "sends its lead", func(v ReferralView) bool { return v.HubSpotDealID != "" && v.Waiting == nil })
	if n := len(h.sim.Objects(h.portal.ID, "deals")); n != 1 {
		t.Fatalf("%d deals in HubSpot, want 1", n)
	}
	if n := countKind(v, string(referral.EventLeadSent)); n != 1 {
		t.Fatalf("%d lead_sent events, want 1: %+v", n, v.Events)
	}

	// The deal is won in HubSpot: approved, rewarded once.
	h.winDeal(t, v.HubSpotDealID)
	v = a.await(ctx, added.ID, "is approved and rewarded", func(v ReferralView) bool {
		return v.Status == referral.Approved && len(v.Rewards) == 1 && v.Rewards[0].Status == "issued"
	})
	for {
		if events, _ := receiver.deliveries(); events == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the reward webhook never arrived")
		case <-time.After(50 * time.Millisecond):
		}
	}
	var approval *ReferralEventView
	for i, ev := range v.Events {
		if ev.Kind == string(referral.EventStatusChanged) && ev.ToStatus == string(referral.Approved) {
			approval = &v.Events[i]
		}
	}
	if approval == nil || approval.HubSpotCause == nil || approval.HubSpotCause.ObjectID != v.HubSpotDealID ||
		approval.HubSpotCause.Property != "dealstage" || approval.HubSpotCause.Value != "closedwon" || approval.SalesEntryID == nil {
		t.Fatalf("the approval does not show its HubSpot cause: %+v", approval)
	}
	if events, total := receiver.deliveries(); events != 1 || total != 1 {
		t.Fatalf("reward webhooks: %d events in %d deliveries, want 1 in 1", events, total)
	}
}

// TestRetryGiveUpAndSettingsWakeAWaitingLead: a lead waiting on the
// campaign's setup is retried by an admin (still waiting, one more
// attempt), is woken at once when the settings are saved (now it waits on
// HubSpot), and is given up for good, with the reason in the audit trail.
func TestRetryGiveUpAndSettingsWakeAWaitingLead(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := newHubSpotAPI(t, hubspotsim.DefaultClientID)
	fx := h.db.SeedReferral(t)
	incomplete := dealCampaign()
	incomplete.Leads.FieldMapping = incomplete.Leads.FieldMapping[:1] // no dealstage or dealname rows
	h.db.SetCampaignSettings(t, fx.Campaign, incomplete)
	_, _, key := h.admin(t, &fx.Workspace, "ops@acme.test")
	a := apiClient{t: t, url: h.url, key: key}
	id := fx.Referral.ID.String()

	// Nothing waits yet: there is nothing to retry or give up.
	code, body := a.do("POST", "/api/v1/referrals/"+id+"/retry", "")
	if code != http.StatusConflict {
		t.Fatalf("retry before the workflow runs = %d %s, want 409", code, body)
	}
	if _, err := workflows.StartReferralWorkflow(ctx, h.tc.Client, h.tc.TaskQueue, h.tc.HubSpotTaskQueue, id); err != nil {
		t.Fatal(err)
	}
	v := a.await(ctx, id, "waits on its setup", func(v ReferralView) bool { return v.Waiting != nil })
	if v.Waiting.Cause != "CampaignSetupRequired" || !strings.Contains(v.Waiting.Reason, "dealstage") {
		t.Fatalf("waiting = %+v", v.Waiting)
	}

	code, body = a.do("POST", "/api/v1/referrals/"+id+"/retry", "")
	var res struct {
		Waiting *WaitingView `json:"waiting"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &res) != nil || res.Waiting == nil || res.Waiting.Attempts != 2 || res.Waiting.Cause != "CampaignSetupRequired" {
		t.Fatalf("retry = %d %s, want the second attempt, still waiting on the setup", code, body)
	}

	// Saving complete settings wakes it: the lead now waits on HubSpot.
	settings, _ := json.Marshal(dealCampaign())
	if code, body := a.do("PUT", "/api/v1/campaigns/"+fx.Campaign.ID.String()+"/settings", string(settings)); code != http.StatusOK {
		t.Fatalf("save settings = %d %s", code, body)
	}
	a.await(ctx, id, "is woken by the settings", func(v ReferralView) bool {
		return v.Waiting != nil && v.Waiting.Cause == "HubSpotConnectionBroken"
	})

	if code, body := a.do("POST", "/api/v1/referrals/"+id+"/give-up", `{}`); code != http.StatusUnprocessableEntity || !bytes.Contains(body, []byte("reason")) {
		t.Fatalf("give up without a reason = %d %s", code, body)
	}
	code, body = a.do("POST", "/api/v1/referrals/"+id+"/give-up", `{"reason":"the lead asked us not to contact them"}`)
	if code != http.StatusOK || !bytes.Contains(body, []byte(`"waiting":null`)) {
		t.Fatalf("give up = %d %s", code, body)
	}
	v = a.await(ctx, id, "records the give-up", func(v ReferralView) bool { return v.Waiting == nil })
	last := v.Events[len(v.Events)-1]
	if last.Kind != string(referral.EventLeadNotSent) || last.Reason != "the lead asked us not to contact them" || !strings.HasPrefix(last.Actor, "admin:") {
		t.Fatalf("last event = %+v", last)
	}
	if v.Status != referral.Pending || v.WorkflowStatus != "running" {
		t.Fatalf("after giving up: %+v", v)
	}
	if code, _ := a.do("POST", "/api/v1/referrals/"+id+"/give-up", `{"reason":"again"}`); code != http.StatusUnprocessableEntity {
		t.Fatalf("give up with nothing waiting = %d, want 422", code)
	}
}

// TestReferralSavedWhileTemporalIsDown: the API saves a referral whose
// workflow cannot start (Temporal unreachable) and says so (503); sending
// the same request again answers with the referral (200) and the
// referral shows it has no workflow yet; the worker's reconciler then
// starts it.
func TestReferralSavedWhileTemporalIsDown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	// A Temporal client for a loopback port where nothing listens.
	down, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Namespace: testenv.TemporalNamespace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Close)
	srv := New(Deps{
		Pool: d.Pool, Temporal: down, Logger: slog.New(slog.DiscardHandler),
		Auth:      &adminauth.Authenticator{Queries: d.Queries, Sessions: adminauth.NewSessions([]byte("test-key-0123456789abcdef0123456"))},
		TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue,
	})
	fx := d.SeedReferral(t)
	_, key, err := adminauth.CreateAdmin(ctx, d.Queries, fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	api := adminClient{t: t, h: srv.Handler(), key: key}
	add := `{"member_code":"` + fx.Member.ReferralCode + `","lead":{"email":"oz@example.org"}}`
	rec := api.call("POST", "/api/v1/campaigns/"+fx.Campaign.ID.String()+"/referrals", add)
	if e := decodeError(t, rec); rec.Code != http.StatusServiceUnavailable || !strings.Contains(e.Message, "saved") {
		t.Fatalf("add with Temporal down = %d %+v", rec.Code, e)
	}
	rec = api.call("POST", "/api/v1/campaigns/"+fx.Campaign.ID.String()+"/referrals", add)
	var v ReferralView
	if err := json.Unmarshal(rec.Body.Bytes(), &v); rec.Code != http.StatusOK || err != nil || v.ID == "" {
		t.Fatalf("the same request again = %d %s, want 200 with the referral", rec.Code, rec.Body)
	}
	if got := getReferralView(t, api, v.ID); got.WorkflowStatus != "unknown" || got.WorkflowProblem == "" {
		t.Fatalf("with Temporal down the referral says workflow %q (%q)", got.WorkflowStatus, got.WorkflowProblem)
	}

	// Temporal is back: the worker's reconciler starts the workflow.
	ws := worker.New(tc.Client, d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Stop)
	r := &worker.Reconciler{Pool: d.Pool, Temporal: tc.Client, TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue, Grace: time.Millisecond}
	if _, err := r.Once(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		row, err := d.Queries.ReferralGetByID(ctx, uuid.MustParse(v.ID))
		if err != nil {
			t.Fatal(err)
		}
		if row.WorkflowStartedAt != nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the reconciled referral's workflow never ran")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
