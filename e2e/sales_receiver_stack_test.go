package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/referflow/referflow/api"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/outgoing"
	"github.com/referflow/referflow/internal/personaldata"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/tokencrypt"
	"github.com/referflow/referflow/salesreceiver"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// salesReceiverStack is referflow as a user runs it, HubSpot aside: the API
// with its webhook endpoint on a real HTTP listener, a worker, the Sales
// Receiver's dispatcher, Postgres and the Temporal dev server. HubSpot is the
// simulator, connected over OAuth, delivering real signed webhooks to the
// endpoint (batched, retried, and duplicated and shuffled when asked), and
// the campaign's fulfilment endpoint records every reward webhook.
type salesReceiverStack struct {
	d  *testenv.Database
	tc *testenv.Temporal
	// keys seal personal data in every payload of the stack's client and
	// worker, as in referflow's processes.
	keys *personaldata.Keyring
	fx   testenv.ReferralFixture
	hs   *testenv.HubSpotWorld

	mu sync.Mutex
	// rewards are the reward.issued webhooks received, by referral ID, with
	// when each arrived.
	rewards map[string][]time.Time
	// apiURL is the API's base URL.
	apiURL string
}

// metadataHost is a public-looking host name the stack's resolver answers
// with the cloud metadata address: a URL naming it passes the check on save
// (names are resolved when sending) and is refused by the worker's dialer.
const metadataHost = "payouts.acme-rewards.test"

// stackWebhooks is the stack's webhook policy: http to loopback receivers,
// as an operator allows it, metadataHost resolving to 169.254.169.254, and
// no dial beyond loopback.
func stackWebhooks(tb testing.TB) outgoing.Policy {
	return testenv.GuardedWebhooks(tb, map[string][]netip.Addr{metadataHost: {netip.MustParseAddr("169.254.169.254")}})
}

func newSalesReceiverStack(tb testing.TB, ctx context.Context, webhooks hubspotsim.WebhookOptions, workerOpts ...func(*worker.Options)) *salesReceiverStack {
	tb.Helper()
	st := &salesReceiverStack{d: testenv.NewDatabase(tb), rewards: map[string][]time.Time{}}
	box, err := tokencrypt.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		tb.Fatal(err)
	}
	st.keys = personaldata.NewKeyring(st.d.Pool, box)
	st.tc = testenv.NewTemporal(tb).WithDataConverter(tb, personaldata.DataConverter(st.keys))
	st.fx = st.d.SeedReferral(tb)

	// The API listens first: its URL is the public URL HubSpot signs.
	var handler http.Handler
	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	tb.Cleanup(apiSrv.Close)
	public, err := url.Parse(apiSrv.URL)
	if err != nil {
		tb.Fatal(err)
	}
	st.hs = testenv.ConnectHubSpot(tb, st.d, st.fx.Workspace.ID, apiSrv.URL, hubspotsim.Options{Webhooks: webhooks})
	quiet := slog.New(slog.DiscardHandler)
	handler = api.New(api.Deps{
		Pool: st.d.Pool, Temporal: st.tc.Client, Logger: quiet, PublicURL: public, HubSpot: st.hs.Manager,
		TaskQueue: st.tc.TaskQueue, HubSpotTaskQueue: st.tc.HubSpotTaskQueue, WebhookSecret: hubspotsim.DefaultClientSecret,
		Auth:          &adminauth.Authenticator{Queries: st.d.Queries, Sessions: adminauth.NewSessions([]byte("test-key-0123456789abcdef0123456"))},
		WebhookPolicy: stackWebhooks(tb),
	}).Handler()
	st.apiURL = apiSrv.URL
	if err := st.hs.Sim.SetWebhookSettings(hubspotsim.WebhookSettings{TargetURL: apiSrv.URL + "/webhooks/hubspot"}); err != nil {
		tb.Fatal(err)
	}

	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Type string `json:"type"`
			Data struct {
				ReferralID string `json:"referral_id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &ev)
		if ev.Type == "reward.issued" {
			st.mu.Lock()
			st.rewards[ev.Data.ReferralID] = append(st.rewards[ev.Data.ReferralID], now)
			st.mu.Unlock()
		}
	}))
	tb.Cleanup(receiver.Close)

	s := campaign.Defaults()
	s.StatusRules = campaign.StatusRules{
		Qualified: &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"contractsent"}},
		Approved:  &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}},
		Denied:    &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedlost"}},
	}
	s.Rewards = campaign.Rewards{OnStatus: "approved", Member: &campaign.Reward{Kind: campaign.RewardFixed, Amount: "50", Currency: "USD"}}
	st.d.SetCampaignSettings(tb, st.fx.Campaign, s)
	fulfilment := receiver.URL
	if _, err := st.d.Queries.CampaignUpdateDetails(ctx, db.CampaignUpdateDetailsParams{ID: st.fx.Campaign.ID, WorkspaceID: st.fx.Workspace.ID, FulfilmentWebhookUrl: &fulfilment}); err != nil {
		tb.Fatal(err)
	}

	wopts := worker.Options{
		TaskQueue: st.tc.TaskQueue, HubSpotTaskQueue: st.tc.HubSpotTaskQueue, HubSpot: st.hs.Manager, PublicURL: apiSrv.URL,
		WebhookPolicy: stackWebhooks(tb), PersonalData: st.keys,
	}
	for _, o := range workerOpts {
		o(&wopts)
	}
	ws := worker.New(st.tc.Client, st.d.Pool, wopts)
	if err := ws.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(ws.Stop)
	dctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d := &salesreceiver.Dispatcher{Pool: st.d.Pool, Temporal: st.tc.Client, TaskQueue: st.tc.TaskQueue, HubSpotTaskQueue: st.tc.HubSpotTaskQueue, Logger: quiet}
		if err := d.Run(dctx); err != nil {
			tb.Error(err)
		}
	}()
	tb.Cleanup(func() { stop(); <-done })
	return st
}

// addReferrals adds n referrals whose leads are deals already in HubSpot (in
// the appointment stage), starts their workflows and waits until each
// listens for HubSpot. It returns the referral IDs and their deal IDs.
func (st *salesReceiverStack) addReferrals(tb testing.TB, ctx context.Context, n int) (ids []string, deals []string) {
	tb.Helper()
	for i := range n {
		email := fmt.Sprintf("lead-%d@example.org", i)
		dealID, err := st.hs.Sim.CreateObject(st.hs.PortalID, "deals", map[string]string{
			"dealname": "Referral " + strconv.Itoa(i), "pipeline": "default", "dealstage": "appointmentscheduled",
		})
		if err != nil {
			tb.Fatal(err)
		}
		deal, _ := strconv.ParseInt(dealID, 10, 64)
		r, err := st.d.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
			WorkspaceID: st.fx.Workspace.ID, CampaignID: st.fx.Campaign.ID, MemberID: st.fx.Member.ID,
			LeadEmail: email, LeadEmailNormalized: referral.NormalizeEmail(email), Source: "api", HubspotDealID: &deal,
		})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := workflows.StartReferralWorkflow(ctx, st.tc.Client, st.tc.TaskQueue, st.tc.HubSpotTaskQueue, r.ID.String()); err != nil {
			tb.Fatal(err)
		}
		ids, deals = append(ids, r.ID.String()), append(deals, dealID)
	}
	st.waitCount(tb, ctx, "workflows listening", n, `SELECT count(*) FROM referral_events WHERE kind = 'lead_not_sent'`)
	// From now on, deal stage changes are sent (the deals' creation was not).
	if _, err := st.hs.Sim.Subscribe("deal.propertyChange", "dealstage"); err != nil {
		tb.Fatal(err)
	}
	return ids, deals
}

// waitCount polls a count query until it reaches want.
func (st *salesReceiverStack) waitCount(tb testing.TB, ctx context.Context, what string, want int, query string, args ...any) {
	tb.Helper()
	var n int
	for {
		if err := st.d.Pool.QueryRow(ctx, query, args...).Scan(&n); err != nil {
			tb.Fatal(err)
		}
		if n >= want {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("%s: %d of %d", what, n, want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fulfilmentURL is the campaign's fulfilment URL: the stack's receiver.
func (st *salesReceiverStack) fulfilmentURL(tb testing.TB, ctx context.Context) *string {
	tb.Helper()
	c, err := st.d.Queries.CampaignGetByID(ctx, st.fx.Campaign.ID)
	if err != nil || c.FulfilmentWebhookUrl == nil {
		tb.Fatalf("the stack's campaign has no fulfilment URL: %v", err)
	}
	return c.FulfilmentWebhookUrl
}

// rewardWebhooks are the reward.issued webhooks received for a referral.
func (st *salesReceiverStack) rewardWebhooks(referralID string) []time.Time {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]time.Time(nil), st.rewards[referralID]...)
}
