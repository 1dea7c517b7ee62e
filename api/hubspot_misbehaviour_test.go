package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/referral"
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
			w := newDealWorkspace(t)
			h, browser := w.h, w.browser
			call := func() error {
				c, _, err := h.manager.Client(context.Background(), w.fx.Workspace.ID)
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
			w.connect(t)
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
	w := newDealWorkspace(t)
	h, a, browser := w.h, w.a, w.browser
	if _, err := h.sim.SetMode(h.portal.ID, hubspotsim.Mode{Kind: hubspotsim.ModeRevokedTokens}); err != nil {
		t.Fatal(err)
	}
	added := w.addLead(t, "nia@example.org")
	v := a.await(ctx, added, "waits on the broken connection", func(v ReferralView) bool { return v.Waiting != nil })
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

	w.connect(t)
	v = a.await(ctx, added, "sends its lead once reconnected", func(v ReferralView) bool { return v.HubSpotDealID != "" && v.Waiting == nil })
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
	w := newDealWorkspace(t)
	h, a, browser := w.h, w.a, w.browser
	w.h.runDispatcher(t)
	old := w.addLead(t, "old@example.org")
	oldDeal := a.await(ctx, old, "sends its lead", func(v ReferralView) bool { return v.HubSpotDealID != "" }).HubSpotDealID

	if err := h.sim.ResetPortal(h.portal.ID); err != nil {
		t.Fatal(err)
	}
	fresh := w.addLead(t, "new@example.org")
	v := a.await(ctx, fresh, "waits on the broken connection", func(v ReferralView) bool { return v.Waiting != nil })
	if v.Waiting.Cause != hubspot.ErrorTypeConnectionBroken {
		t.Fatalf("the new lead waits on %+v", v.Waiting)
	}
	if st := h.status(t, browser); st.Status != hubspotconn.StatusBroken {
		t.Fatalf("status after the reset: %+v", st)
	}

	w.connect(t)
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
	h.winDeal(t, v.HubSpotDealID)
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

// dealWorkspace is a seeded workspace whose campaign sends leads as deals,
// connected to the simulated portal in the browser by its admin.
type dealWorkspace struct {
	h       *hubspotAPI
	fx      testenv.ReferralFixture
	browser *http.Client
	a       apiClient
}

func newDealWorkspace(t *testing.T) *dealWorkspace {
	t.Helper()
	w := &dealWorkspace{h: newHubSpotAPI(t, hubspotsim.DefaultClientID)}
	w.fx = w.h.db.SeedReferral(t)
	w.h.db.SetCampaignSettings(t, w.fx.Campaign, dealCampaign())
	var key string
	_, w.browser, key = w.h.admin(t, &w.fx.Workspace, "ops@acme.test")
	w.a = apiClient{t: t, url: w.h.url, key: key}
	w.connect(t)
	return w
}

// connect connects (again) in the browser, consenting on HubSpot's page.
func (w *dealWorkspace) connect(t *testing.T) {
	t.Helper()
	if code, page := open(t, w.browser, w.h.startConnect(t, w.browser, "allow")); code != http.StatusOK || !strings.Contains(page, "HubSpot connected") {
		t.Fatalf("connect: %d\n%s", code, page)
	}
}

// addLead adds a referral of the seeded member through the API and returns
// its ID.
func (w *dealWorkspace) addLead(t *testing.T, email string) string {
	t.Helper()
	code, body := w.a.do("POST", "/api/v1/campaigns/"+w.fx.Campaign.ID.String()+"/referrals",
		`{"member_code":"`+w.fx.Member.ReferralCode+`","lead":{"email":"`+email+`","first_name":"Lead"}}`)
	var added ReferralView
	if code != http.StatusCreated || json.Unmarshal(body, &added) != nil {
		t.Fatalf("add referral = %d %s", code, body)
	}
	return added.ID
}
