package hubspotconn_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
)

// TestMissingScopesShownInStatus: an admin grants less than referflow asks
// for. The connection is made and works for what it was granted; the status
// names what is missing.
func TestMissingScopesShownInStatus(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hubspotsim.Options{})
	ctx := context.Background()

	granted := slices.DeleteFunc(slices.Clone(hubspotconn.Scopes), func(s string) bool {
		return s == "crm.lists.read" || s == "crm.schemas.deals.write"
	})
	conn := w.connectTo(t, w.portal.ID, granted)
	if !slices.Equal(conn.Scopes, granted) {
		t.Fatalf("stored scopes %v, want the granted %v", conn.Scopes, granted)
	}
	st, err := w.manager.Status(ctx, w.workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"crm.lists.read", "crm.schemas.deals.write"}; !slices.Equal(st.MissingScopes, want) || st.Status != hubspotconn.StatusConnected {
		t.Errorf("status %q, missing scopes %v; want connected, missing %v", st.Status, st.MissingScopes, want)
	}
	body, _ := json.Marshal(st)
	if !strings.Contains(string(body), `"missing_scopes":["crm.lists.read","crm.schemas.deals.write"]`) {
		t.Errorf("status JSON %s lacks missing_scopes", body)
	}

	// What the granted scopes allow works.
	client, _, err := w.manager.Client(ctx, w.workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.List(ctx, hubspot.Contacts, hubspot.ListOptions{Limit: 1}); err != nil {
		t.Errorf("listing contacts with crm.objects.contacts.read granted: %v", err)
	}

	// Reconnecting with every scope clears the list.
	w.connect(t)
	st, err = w.manager.Status(ctx, w.workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = json.Marshal(st)
	if len(st.MissingScopes) != 0 || !strings.Contains(string(body), `"missing_scopes":[]`) {
		t.Errorf("all scopes granted, yet status JSON is %s", body)
	}
}

const revokePath = "/oauth/2026-03/token/revoke"

// TestReconnectToAnotherPortalRevokesTheOldToken: a workspace connected to
// one portal is connected to another; the first portal's refresh token is
// revoked (HubSpot then refuses it). Reconnecting to the same portal revokes
// nothing.
func TestReconnectToAnotherPortalRevokesTheOldToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hubspotsim.Options{})
	ctx := context.Background()
	other := w.sim.CreatePortal("Acme EU")

	first := w.connect(t)
	firstRefresh := w.refreshToken(t, first.RefreshTokenCiphertext)
	if status, _ := w.refreshAtSimulator(t, firstRefresh); status != http.StatusOK {
		t.Fatalf("the first portal's refresh token does not work before the reconnect (%d)", status)
	}

	second := w.connectTo(t, other.ID, nil)
	if second.PortalID != other.ID {
		t.Fatalf("reconnected to portal %d, want %d", second.PortalID, other.ID)
	}
	if n := w.transport.count(revokePath); n != 1 {
		t.Errorf("%d revoke requests after reconnecting to another portal, want 1", n)
	}
	if status, body := w.refreshAtSimulator(t, firstRefresh); status != http.StatusBadRequest || !strings.Contains(body, "BAD_REFRESH_TOKEN") {
		t.Errorf("the previous portal's refresh token after the reconnect: %d %s; want 400 BAD_REFRESH_TOKEN", status, body)
	}
	tok, err := w.manager.Token(ctx, w.workspace.ID)
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("the new connection gives no token: %v", err)
	}

	// The same portal again: its previous token is not revoked.
	secondRefresh := w.refreshToken(t, second.RefreshTokenCiphertext)
	w.connectTo(t, other.ID, nil)
	if n := w.transport.count(revokePath); n != 1 {
		t.Errorf("%d revoke requests after reconnecting to the same portal, want still 1", n)
	}
	if status, body := w.refreshAtSimulator(t, secondRefresh); status != http.StatusOK {
		t.Errorf("reconnecting to the same portal revoked its previous token: %d %s", status, body)
	}
}

func (w *world) refreshToken(t *testing.T, sealed []byte) string {
	t.Helper()
	rt, err := w.box.Open(sealed, []byte(w.workspace.ID.String()))
	if err != nil {
		t.Fatal(err)
	}
	return string(rt)
}

// refreshAtSimulator asks the simulator for an access token with a refresh
// token, as referflow would.
func (w *world) refreshAtSimulator(t *testing.T, refreshToken string) (int, string) {
	t.Helper()
	resp, err := http.PostForm(w.simURL+tokenPath, url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
		"client_id": {hubspotsim.DefaultClientID}, "client_secret": {hubspotsim.DefaultClientSecret},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
