package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/salesreceiver"
)

// TestRevokedTokensShowAsBrokenUntilReconnected: HubSpot starts refusing the
// app's tokens while its access token is still within its life. The next
// HubSpot call turns the connection broken, and GET /api/v1/hubspot/status
// says so with the reason — whether HubSpot refuses the refresh token or
// refreshes but refuses the fresh token too — until an admin connects again
// through HubSpot's consent page, which mends it.
func TestRevokedTokensShowAsBrokenUntilReconnected(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mode   hubspotsim.Mode
		reason string
	}{
		{"refresh refused", hubspotsim.Mode{Kind: hubspotsim.ModeRevokedTokens}, "BAD_REFRESH_TOKEN"},
		{"fresh token refused", hubspotsim.Mode{Kind: hubspotsim.ModeRevokedTokens, AccessOnly: true}, "refused a freshly refreshed access token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHubSpotAPI(t, hubspotsim.DefaultClientID)
			ws := h.workspace(t, "Acme")
			_, browser, _ := h.admin(t, ws, "ops@acme.test")
			if code, page := open(t, browser, h.startConnect(t, browser, "allow")); code != http.StatusOK {
				t.Fatalf("connect: %d\n%s", code, page)
			}
			call := func() error {
				c, _, err := h.manager.Client(context.Background(), ws.ID)
				if err != nil {
					return err
				}
				_, err = c.List(context.Background(), hubspot.Contacts, hubspot.ListOptions{Limit: 1})
				return err
			}
			if err := call(); err != nil {
				t.Fatal(err)
			}

			if _, err := h.sim.SetMode(h.portal.ID, tc.mode); err != nil {
				t.Fatal(err)
			}
			if st := h.status(t, browser); st.Status != hubspotconn.StatusConnected {
				t.Fatalf("status before any call: %+v", st)
			}
			if err := call(); !strings.Contains(err.Error(), "broken") {
				t.Fatalf("a call with revoked tokens: %v", err)
			}
			st := h.status(t, browser)
			if st.Status != hubspotconn.StatusBroken || st.BrokenReason == nil || !strings.Contains(*st.BrokenReason, tc.reason) {
				t.Fatalf("status after the refused call: %+v", st)
			}

			// The admin reconnects: a new consent gives tokens HubSpot takes
			// (with access_only, once HubSpot takes access tokens again).
			if tc.mode.AccessOnly {
				h.sim.ClearMode(h.portal.ID, tc.mode.Kind)
			}
			if code, page := open(t, browser, h.startConnect(t, browser, "allow")); code != http.StatusOK || !strings.Contains(page, "HubSpot connected") {
				t.Fatalf("reconnect: %d\n%s", code, page)
			}
			if st := h.status(t, browser); st.Status != hubspotconn.StatusConnected || st.BrokenReason != nil {
				t.Fatalf("status after reconnecting: %+v", st)
			}
			if err := call(); err != nil {
				t.Fatalf("a call after reconnecting: %v", err)
			}
		})
	}
}

// TestLeadWaitsOnRevokedTokensAndGoesOnceReconnected: a referral is added
// while HubSpot refuses the app's tokens. Its lead's first HubSpot call turns
// the connection broken; the lead waits, pending, saying why, and the status
// endpoint shows the connection broken. An admin reconnects through HubSpot's
// consent page: the waiting referral is woken and its lead sent, once.
func TestLeadWaitsOnRevokedTokensAndGoesOnceReconnected(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := newHubSpotAPI(t, hubspotsim.DefaultClientID)
	fx := h.db.SeedReferral(t)
	h.db.SetCampaignSettings(t, fx.Campaign, dealCampaign())
	_, browser, key := h.admin(t, &fx.Workspace, "ops@acme.test")
	a := apiClient{t: t, url: h.url, key: key}
	if code, page := open(t, browser, h.startConnect(t, browser, "allow")); code != http.StatusOK {
		t.Fatalf("connect: %d\n%s", code, page)
	}

	if _, err := h.sim.SetMode(h.portal.ID, hubspotsim.Mode{Kind: hubspotsim.ModeRevokedTokens}); err != nil {
		t.Fatal(err)
	}
	code, body := a.do("POST", "/api/v1/campaigns/"+fx.Campaign.ID.String()+"/referrals",
		`{"member_code":"`+fx.Member.ReferralCode+`","lead":{"email":"nia@example.org","first_name":"Nia"}}`)
	var added ReferralView
	if code != http.StatusCreated || json.Unmarshal(body, &added) != nil {
		t.Fatalf("add referral = %d %s", code, body)
	}
	v := a.await(ctx, added.ID, "waits on the broken connection", func(v ReferralView) bool { return v.Waiting != nil })
	if v.Status != referral.Pending || v.Waiting.Step != string(referral.WaitSendLead) || v.Waiting.Cause != hubspot.ErrorTypeConnectionBroken ||
		!strings.Contains(v.Waiting.Reason, "BAD_REFRESH_TOKEN") || v.WorkflowStatus != "running" {
		t.Fatalf("waiting referral = %+v, waiting %+v", v, v.Waiting)
	}
	if st := h.status(t, browser); st.Status != hubspotconn.StatusBroken || st.BrokenReason == nil || !strings.Contains(*st.BrokenReason, "BAD_REFRESH_TOKEN") {
		t.Fatalf("status while the lead waits: %+v", st)
	}
	refused := 0
	for _, c := range h.sim.Calls(h.portal.ID) {
		if c.Status == http.StatusUnauthorized {
			refused++
		}
	}
	if refused != 1 {
		t.Fatalf("HubSpot refused %d calls, want 1: a broken connection does not keep calling", refused)
	}

	if code, page := open(t, browser, h.startConnect(t, browser, "allow")); code != http.StatusOK {
		t.Fatalf("reconnect: %d\n%s", code, page)
	}
	v = a.await(ctx, added.ID, "sends its lead once reconnected", func(v ReferralView) bool { return v.HubSpotDealID != "" && v.Waiting == nil })
	if n := len(h.sim.Objects(h.portal.ID, "deals")); n != 1 {
		t.Fatalf("%d deals in HubSpot, want 1", n)
	}
	if n := countKind(v, string(referral.EventLeadSent)); n != 1 {
		t.Fatalf("%d lead_sent events, want 1: %+v", n, v.Events)
	}
	if st := h.status(t, browser); st.Status != hubspotconn.StatusConnected {
		t.Fatalf("status after reconnecting: %+v", st)
	}
}

// TestResetPortalCorruptsNoReferral: the portal a workspace is connected to
// is reset — its records deleted, IDs handed out again from the start, the
// app's tokens revoked. The next HubSpot call turns the connection broken;
// a referral added meanwhile waits. When the admin connects again, referflow
// sees the portal was reset (its properties are gone): the old referral
// forgets the deal it held (its audit trail says which and why) and keeps
// its status; the setup creates referflow's properties again; the waiting
// lead goes, and its new deal gets the very ID the old referral held.
// Winning that deal approves the new referral only.
func TestResetPortalCorruptsNoReferral(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := newHubSpotAPI(t, hubspotsim.DefaultClientID)
	fx := h.db.SeedReferral(t)
	h.db.SetCampaignSettings(t, fx.Campaign, dealCampaign())
	_, browser, key := h.admin(t, &fx.Workspace, "ops@acme.test")
	a := apiClient{t: t, url: h.url, key: key}
	dctx, stop := context.WithCancel(context.Background())
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		d := &salesreceiver.Dispatcher{Pool: h.db.Pool, Temporal: h.tc.Client, TaskQueue: h.tc.TaskQueue, HubSpotTaskQueue: h.tc.HubSpotTaskQueue, Logger: slog.New(slog.DiscardHandler)}
		_ = d.Run(dctx)
	}()
	t.Cleanup(func() { stop(); <-dispatched })
	if code, page := open(t, browser, h.startConnect(t, browser, "allow")); code != http.StatusOK {
		t.Fatalf("connect: %d\n%s", code, page)
	}
	add := func(email string) string {
		t.Helper()
		code, body := a.do("POST", "/api/v1/campaigns/"+fx.Campaign.ID.String()+"/referrals",
			`{"member_code":"`+fx.Member.ReferralCode+`","lead":{"email":"`+email+`","first_name":"Lead"}}`)
		var added ReferralView
		if code != http.StatusCreated || json.Unmarshal(body, &added) != nil {
			t.Fatalf("add referral = %d %s", code, body)
		}
		return added.ID
	}
	old := add("old@example.org")
	oldDeal := a.await(ctx, old, "sends its lead", func(v ReferralView) bool { return v.HubSpotDealID != "" }).HubSpotDealID

	if err := h.sim.ResetPortal(h.portal.ID); err != nil {
		t.Fatal(err)
	}
	fresh := add("new@example.org")
	v := a.await(ctx, fresh, "waits on the broken connection", func(v ReferralView) bool { return v.Waiting != nil })
	if v.Waiting.Cause != hubspot.ErrorTypeConnectionBroken {
		t.Fatalf("the new lead waits on %+v", v.Waiting)
	}
	if st := h.status(t, browser); st.Status != hubspotconn.StatusBroken {
		t.Fatalf("status after the reset: %+v", st)
	}

	if code, page := open(t, browser, h.startConnect(t, browser, "allow")); code != http.StatusOK {
		t.Fatalf("reconnect: %d\n%s", code, page)
	}
	v = a.await(ctx, fresh, "sends its lead once reconnected", func(v ReferralView) bool { return v.HubSpotDealID != "" && v.Waiting == nil })
	if v.HubSpotDealID != oldDeal {
		t.Fatalf("the new lead's deal is %s; the simulator should have reused %s, the old referral's, which is what this test is about", v.HubSpotDealID, oldDeal)
	}
	if st := h.status(t, browser); st.Status != hubspotconn.StatusConnected || st.PropertySetup == nil || st.PropertySetup.Status != hubspotconn.SetupDone {
		t.Fatalf("status after reconnecting: %+v", st)
	}
	ov := a.referral(old)
	if ov.HubSpotDealID != "" || ov.Status != referral.Pending {
		t.Fatalf("the old referral after the reset: deal %q, status %s; want no deal, still pending", ov.HubSpotDealID, ov.Status)
	}
	var forgot *ReferralEventView
	for i, ev := range ov.Events {
		if ev.Kind == string(referral.EventHubSpotObjectDeleted) {
			forgot = &ov.Events[i]
		}
	}
	if forgot == nil || !strings.Contains(string(forgot.Details), oldDeal) || !strings.Contains(forgot.Reason+string(forgot.Details), "was reset") {
		t.Fatalf("the old referral's audit trail does not say what it forgot: %+v", ov.Events)
	}

	// The new deal is won: the new referral is approved, the old one is not.
	if err := h.sim.SetWebhookSettings(hubspotsim.WebhookSettings{TargetURL: h.url + "/webhooks/hubspot"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sim.Subscribe("deal.propertyChange", "dealstage"); err != nil {
		t.Fatal(err)
	}
	if err := h.sim.UpdateObject(h.portal.ID, "deals", v.HubSpotDealID, map[string]string{"dealstage": "closedwon"}); err != nil {
		t.Fatal(err)
	}
	a.await(ctx, fresh, "is approved", func(v ReferralView) bool { return v.Status == referral.Approved })
	if err := h.sim.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	var entries int
	if err := h.db.Pool.QueryRow(ctx, `SELECT count(*) FROM sales_entries WHERE status <> 'received'`).Scan(&entries); err != nil || entries == 0 {
		t.Fatalf("the webhook was not dispatched: %d entries (%v)", entries, err)
	}
	if ov := a.referral(old); ov.Status != referral.Pending || len(ov.Rewards) != 0 {
		t.Fatalf("the old referral was moved by a deal that is not its own: status %s, %d rewards", ov.Status, len(ov.Rewards))
	}
}
