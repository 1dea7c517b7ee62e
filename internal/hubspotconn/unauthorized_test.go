package hubspotconn_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
)

// listContacts makes one CRM call through the workspace's client.
func (w *world) listContacts(t *testing.T) error {
	t.Helper()
	c, _, err := w.manager.Client(context.Background(), w.workspace.ID)
	if err != nil {
		return err
	}
	_, err = c.List(context.Background(), hubspot.Contacts, hubspot.ListOptions{Limit: 1})
	return err
}

func (w *world) status(t *testing.T) hubspotconn.Status {
	t.Helper()
	st, err := w.manager.Status(context.Background(), w.workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// wantBroken checks that a call failed as a broken connection, which an
// activity returns as the non-retryable HubSpotConnectionBroken.
func wantBroken(t *testing.T, err error) {
	t.Helper()
	var broken *hubspotconn.BrokenError
	if !errors.As(err, &broken) || !errors.Is(err, hubspot.ErrConnectionBroken) {
		t.Fatalf("the call failed with %v, want a broken connection", err)
	}
	var appErr *temporal.ApplicationError
	if !errors.As(hubspot.TemporalError(err), &appErr) || appErr.Type() != hubspot.ErrorTypeConnectionBroken || !appErr.NonRetryable() {
		t.Fatalf("an activity would return %v, want a non-retryable %s", appErr, hubspot.ErrorTypeConnectionBroken)
	}
	for _, secret := range []string{"CJ", "na1-"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("a token appears in %q", err)
		}
	}
}

// TestRevokedGrantBreaksTheConnectionOnTheFirst401: HubSpot revokes the app's
// tokens while the access token is still within its life. The next call's
// 401 makes the manager refresh once; HubSpot refuses the refresh token, so
// the connection is broken with the reason, without a second call; an admin
// reconnecting mends it.
func TestRevokedGrantBreaksTheConnectionOnTheFirst401(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hubspotsim.Options{})
	w.connect(t)
	if err := w.listContacts(t); err != nil {
		t.Fatal(err)
	}
	if _, err := w.sim.SetMode(w.portal.ID, hubspotsim.Mode{Kind: hubspotsim.ModeRevokedTokens}); err != nil {
		t.Fatal(err)
	}
	refreshes, calls := w.transport.count(tokenPath), len(w.sim.Calls(w.portal.ID))

	wantBroken(t, w.listContacts(t))
	if n := w.transport.count(tokenPath) - refreshes; n != 1 {
		t.Fatalf("%d refreshes after the 401, want 1", n)
	}
	if n := len(w.sim.Calls(w.portal.ID)) - calls; n != 1 {
		t.Fatalf("%d CRM calls, want the one refused: the refresh was refused, nothing to resend", n)
	}
	st := w.status(t)
	if st.Status != hubspotconn.StatusBroken || st.BrokenReason == nil || !strings.Contains(*st.BrokenReason, "BAD_REFRESH_TOKEN") {
		t.Fatalf("status %+v", st)
	}
	// Later calls fail at once, without asking HubSpot.
	wantBroken(t, w.listContacts(t))
	if n := len(w.sim.Calls(w.portal.ID)) - calls; n != 1 {
		t.Fatalf("a broken connection kept calling HubSpot: %d calls", n)
	}

	w.connect(t)
	if err := w.listContacts(t); err != nil {
		t.Fatalf("after reconnecting: %v", err)
	}
	if st := w.status(t); st.Status != hubspotconn.StatusConnected || st.BrokenReason != nil {
		t.Fatalf("status after reconnecting: %+v", st)
	}
}

// TestFreshTokenRefusedBreaksTheConnection: HubSpot refreshes the token but
// refuses the fresh one too. The connection is broken with a reason that
// says so, after exactly one refresh and one resent call.
func TestFreshTokenRefusedBreaksTheConnection(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hubspotsim.Options{})
	w.connect(t)
	if _, err := w.sim.SetMode(w.portal.ID, hubspotsim.Mode{Kind: hubspotsim.ModeRevokedTokens, AccessOnly: true}); err != nil {
		t.Fatal(err)
	}
	refreshes, calls := w.transport.count(tokenPath), len(w.sim.Calls(w.portal.ID))

	wantBroken(t, w.listContacts(t))
	if n := w.transport.count(tokenPath) - refreshes; n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	if n := len(w.sim.Calls(w.portal.ID)) - calls; n != 2 {
		t.Fatalf("%d CRM calls, want the refused one and its one resend", n)
	}
	st := w.status(t)
	if st.Status != hubspotconn.StatusBroken || st.BrokenReason == nil ||
		!strings.Contains(*st.BrokenReason, "refused a freshly refreshed access token") || !strings.Contains(*st.BrokenReason, "INVALID_AUTHENTICATION") {
		t.Fatalf("status %+v", st)
	}
	if strings.Contains(*st.BrokenReason, "CJ") {
		t.Fatalf("a token appears in the reason %q", *st.BrokenReason)
	}
}

// TestA401ToOneTokenIsMendedByOneRefresh: HubSpot invalidates the current
// access token alone. Concurrent calls that meet the 401 share one refresh,
// are sent again with the new token and succeed; the connection stays
// connected.
func TestA401ToOneTokenIsMendedByOneRefresh(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hubspotsim.Options{})
	w.connect(t)
	ctx := context.Background()
	tok, err := w.manager.Token(ctx, w.workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(w.simURL+"/oauth/2026-03/token/revoke", url.Values{
		"token": {tok.AccessToken}, "client_id": {hubspotsim.DefaultClientID}, "client_secret": {hubspotsim.DefaultClientSecret},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	refreshes := w.transport.count(tokenPath)

	c, _, err := w.manager.Client(ctx, w.workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			// A create carries a body, which is sent again too.
			_, errs[i] = c.Create(ctx, hubspot.Contacts, hubspot.CreateInput{Properties: map[string]string{"email": "c" + string(rune('a'+i)) + "@example.com"}})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := w.transport.count(tokenPath) - refreshes; n != 1 {
		t.Fatalf("%d refreshes for 8 calls that met the 401, want 1", n)
	}
	if n := len(w.sim.Objects(w.portal.ID, "contacts")); n != 8 {
		t.Fatalf("%d contacts, want 8", n)
	}
	if st := w.status(t); st.Status != hubspotconn.StatusConnected {
		t.Fatalf("status %+v", st)
	}
}

// TestDailyLimitWaitsForThePortalsMidnight: connecting reads the portal's
// time zone, and a DAILY 429 then waits until midnight there, when HubSpot
// resets the count, not until midnight UTC.
func TestDailyLimitWaitsForThePortalsMidnight(t *testing.T) {
	t.Parallel()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, hubspotsim.Options{TimeZone: tokyo})
	conn := w.connect(t)
	if conn.PortalTimeZone == nil || *conn.PortalTimeZone != "Asia/Tokyo" {
		t.Fatalf("stored time zone %v", conn.PortalTimeZone)
	}
	if _, err := w.sim.SetMode(w.portal.ID, hubspotsim.Mode{Kind: hubspotsim.ModeDailyLimit}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	err = w.listContacts(t)
	var rl *hubspot.RateLimitError
	if !errors.As(err, &rl) || rl.Policy != hubspot.PolicyDaily {
		t.Fatalf("call during the daily limit: %v", err)
	}
	local := before.In(tokyo)
	midnight := time.Date(local.Year(), local.Month(), local.Day()+1, 0, 0, 0, 0, tokyo)
	if want := midnight.Sub(before); rl.RetryAfter > want || rl.RetryAfter < want-time.Minute {
		t.Fatalf("a DAILY 429 waits %s; want %s, until midnight in Tokyo", rl.RetryAfter, want)
	}
}
