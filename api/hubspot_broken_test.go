package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
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
