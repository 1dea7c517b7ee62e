package hubspotconn_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/tokencrypt"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// clock is real time shifted by an offset tests move forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// countingTransport counts requests by path and lets a test rewrite answers.
type countingTransport struct {
	base    http.RoundTripper
	mu      sync.Mutex
	counts  map[string]int
	onReply func(req *http.Request, resp *http.Response)
}

func newCountingTransport() *countingTransport {
	return &countingTransport{base: http.DefaultTransport, counts: map[string]int{}}
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	t.counts[req.URL.Path]++
	t.mu.Unlock()
	resp, err := t.base.RoundTrip(req)
	if err == nil && t.onReply != nil {
		t.onReply(req, resp)
	}
	return resp, err
}

func (t *countingTransport) count(path string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts[path]
}

const tokenPath = "/oauth/2026-03/token"

// world is a database, a simulator with one portal, and a manager.
type world struct {
	db        *testenv.Database
	sim       *hubspotsim.Simulator
	simURL    string
	portal    *hubspotsim.Portal
	box       *tokencrypt.Box
	clock     *clock
	transport *countingTransport
	manager   *hubspotconn.Manager
	hits      *hitRecorder // the simulator's CRM answers
	workspace db.Workspace
	admin     db.Admin
}

func newWorld(t *testing.T, simOpts hubspotsim.Options) *world {
	t.Helper()
	w := &world{db: testenv.NewDatabase(t), clock: &clock{}, transport: newCountingTransport()}
	w.sim = hubspotsim.New(simOpts)
	w.hits = &hitRecorder{now: simOpts.Now}
	srv := httptest.NewServer(w.hits.wrap(w.sim.Handler()))
	t.Cleanup(srv.Close)
	w.simURL = srv.URL
	w.portal = w.sim.CreatePortal("Acme HubSpot")
	box, err := tokencrypt.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	w.box = box
	w.manager = w.newManager(t)
	ctx := context.Background()
	if w.workspace, err = w.db.Queries.WorkspaceCreate(ctx, db.WorkspaceCreateParams{Name: "Acme", WebhookSigningSecret: "whsec-test"}); err != nil {
		t.Fatal(err)
	}
	if w.admin, _, err = adminauth.CreateAdmin(ctx, w.db.Queries, w.workspace.ID, "ops@acme.test", ""); err != nil {
		t.Fatal(err)
	}
	return w
}

// newManager is another manager over the same database and simulator, as in
// another process; with changes to its default options.
func (w *world) newManager(t *testing.T, changes ...func(*hubspotconn.Options)) *hubspotconn.Manager {
	t.Helper()
	base, _ := url.Parse(w.simURL)
	public, _ := url.Parse("http://referflow.test")
	opts := hubspotconn.Options{
		BaseURL: base, PublicURL: public,
		ClientID: hubspotsim.DefaultClientID, ClientSecret: hubspotsim.DefaultClientSecret,
		Box: w.box, HTTPClient: &http.Client{Transport: w.transport, Timeout: 10 * time.Second},
		Now: w.clock.Now,
	}
	for _, change := range changes {
		change(&opts)
	}
	m, err := hubspotconn.New(w.db.Pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// connect runs the OAuth flow through the manager and the simulator's
// consent form.
func (w *world) connect(t *testing.T) db.HubspotConnection {
	t.Helper()
	return w.connectTo(t, w.portal.ID, nil)
}

// connectTo runs the OAuth flow choosing portalID on the consent page; a
// non-nil scopes replaces the scopes the authorize URL asks for, as an admin
// granting less would.
func (w *world) connectTo(t *testing.T, portalID int64, scopes []string) db.HubspotConnection {
	t.Helper()
	ctx := context.Background()
	authorize, err := w.manager.Start(ctx, w.admin)
	if err != nil {
		t.Fatal(err)
	}
	if scopes != nil {
		u, _ := url.Parse(authorize)
		q := u.Query()
		q.Set("scope", strings.Join(scopes, " "))
		u.RawQuery = q.Encode()
		authorize = u.String()
	}
	back, err := url.Parse(testenv.HubSpotConsent(t, http.DefaultClient, authorize, portalID, "allow"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := w.manager.Complete(ctx, w.admin, back.Query().Get("state"), back.Query().Get("code"))
	if err != nil {
		t.Fatalf("complete the connect flow: %v", err)
	}
	return conn
}

func TestAuthorizeURL(t *testing.T) {
	for base, want := range map[string]string{
		"https://api.hubapi.com":      "https://app.hubspot.com/oauth/authorize",
		"https://api-eu1.hubapi.com":  "https://app-eu1.hubspot.com/oauth/authorize",
		"http://localhost:8090":       "http://localhost:8090/oauth/authorize",
		"http://127.0.0.1:9/hub/sim/": "http://127.0.0.1:9/hub/sim/oauth/authorize",
	} {
		u, _ := url.Parse(base)
		if got := hubspotconn.AuthorizeURL(u); got != want {
			t.Errorf("AuthorizeURL(%s) = %s, want %s", base, got, want)
		}
	}
}

func TestStartAsksForTheScopesTheSimulatorAccepts(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hubspotsim.Options{})
	authorize, err := w.manager.Start(context.Background(), w.admin)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authorize)
	q := u.Query()
	if got := strings.Fields(q.Get("scope")); strings.Join(got, " ") != strings.Join(hubspotconn.Scopes, " ") {
		t.Fatalf("scope = %q", q.Get("scope"))
	}
	if q.Get("redirect_uri") != "http://referflow.test/oauth/hubspot/callback" || q.Get("client_id") != hubspotsim.DefaultClientID {
		t.Fatalf("authorize URL %s", authorize)
	}
	// The state is 32 random bytes, base64url, and only its hash is stored.
	state := q.Get("state")
	if len(state) != 43 || strings.ContainsAny(state, "+/=") {
		t.Fatalf("state %q is not 32 bytes of base64url", state)
	}
	var stored int
	if err := w.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM oauth_states WHERE state_hash = sha256($1::bytea)", []byte(state)).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("state hash stored %d times (%v)", stored, err)
	}
	// The simulator shows its consent page for exactly these scopes.
	testenv.HubSpotConsent(t, http.DefaultClient, authorize, w.portal.ID, "deny")
}

// TestTokenRefreshHappensOnceUnderConcurrency: 50 callers in two "processes"
// (managers sharing the database) need a token at the moment it is due for
// refresh; HubSpot sees one refresh, and everyone gets the new token.
func TestTokenRefreshHappensOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hubspotsim.Options{})
	w.connect(t)
	ctx := context.Background()
	before, err := w.manager.Token(ctx, w.workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	exchanges := w.transport.count(tokenPath)
	if again, _ := w.manager.Token(ctx, w.workspace.ID); again.AccessToken != before.AccessToken || w.transport.count(tokenPath) != exchanges {
		t.Fatal("a fresh token was refreshed")
	}

	// 26 minutes later the 30-minute token is inside the 5-minute margin.
	w.clock.Advance(26 * time.Minute)
	managers := []*hubspotconn.Manager{w.manager, w.newManager(t)}
	var wg sync.WaitGroup
	start := make(chan struct{})
	tokens := make([]string, 50)
	errs := make([]error, 50)
	for i := range 50 {
		wg.Go(func() {
			<-start
			tok, err := managers[i%2].Token(ctx, w.workspace.ID)
			errs[i] = err
			if tok != nil {
				tokens[i] = tok.AccessToken
			}
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := w.transport.count(tokenPath) - exchanges; n != 1 {
		t.Fatalf("%d refresh requests reached HubSpot, want exactly 1", n)
	}
	for i, tok := range tokens {
		if tok != tokens[0] || tok == before.AccessToken {
			t.Fatalf("caller %d got %q; want the one new token %q (old %q)", i, tok, tokens[0], before.AccessToken)
		}
	}
	// The new token is stored, sealed, and works against HubSpot.
	conn, err := w.db.Queries.HubSpotConnectionGetByWorkspace(ctx, w.workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(conn.AccessTokenCiphertext), tokens[0]) {
		t.Fatal("the access token is stored in the clear")
	}
	c, _, err := w.manager.Client(ctx, w.workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListPropertyGroups(ctx, hubspot.Contacts); err != nil {
		t.Fatalf("the refreshed token does not work: %v", err)
	}
	if conn, _ := w.db.Queries.HubSpotConnectionGetByWorkspace(ctx, w.workspace.ID); conn.LastApiCallAt == nil {
		t.Fatal("a successful API call was not recorded")
	}
}

// TestBrokenConnectionFailsFastUntilReconnected: HubSpot refuses the refresh
// token; the connection is broken with the reason, token requests fail at
// once with a non-retryable error, and connecting again mends it.
func TestBrokenConnectionFailsFastUntilReconnected(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hubspotsim.Options{})
	w.connect(t)
	ctx := context.Background()

	w.sim.RevokeRefreshTokens(w.portal.ID)
	w.clock.Advance(31 * time.Minute) // the access token has expired
	refreshes := w.transport.count(tokenPath)
	_, err := w.manager.Token(ctx, w.workspace.ID)
	var broken *hubspotconn.BrokenError
	if !errors.As(err, &broken) || !errors.Is(err, hubspot.ErrConnectionBroken) || !strings.Contains(err.Error(), "BAD_REFRESH_TOKEN") {
		t.Fatalf("refresh with a revoked refresh token: %v", err)
	}
	if w.transport.count(tokenPath) != refreshes+1 {
		t.Fatal("the refresh was not tried")
	}
	st, err := w.manager.Status(ctx, w.workspace.ID)
	if err != nil || st.Status != hubspotconn.StatusBroken || st.BrokenReason == nil || !strings.Contains(*st.BrokenReason, "BAD_REFRESH_TOKEN") {
		t.Fatalf("status after a refused refresh: %+v %v", st, err)
	}

	// Every later request fails at once, without asking HubSpot again.
	_, err = w.manager.TokenSource(w.workspace.ID).Token()
	if !errors.Is(err, hubspot.ErrConnectionBroken) || w.transport.count(tokenPath) != refreshes+1 {
		t.Fatalf("a broken connection asked HubSpot again or did not fail: %v", err)
	}
	if _, _, err := w.manager.Client(ctx, w.workspace.ID); !errors.Is(err, hubspot.ErrConnectionBroken) {
		t.Fatalf("Client on a broken connection: %v", err)
	}
	var appErr *temporal.ApplicationError
	if !errors.As(hubspot.TemporalError(&hubspot.TokenError{Err: err}), &appErr) || appErr.Type() != hubspot.ErrorTypeConnectionBroken || !appErr.NonRetryable() {
		t.Fatalf("an activity would return %v", appErr)
	}
	for _, secret := range []string{"CJ", "na1-"} {
		if strings.Contains(err.Error(), secret) || strings.Contains(*st.BrokenReason, secret) {
			t.Fatalf("a token appears in %q / %q", err, *st.BrokenReason)
		}
	}

	// An admin reconnects: tokens flow again.
	w.connect(t)
	tok, err := w.manager.Token(ctx, w.workspace.ID)
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("after reconnecting: %v", err)
	}
	if st, _ := w.manager.Status(ctx, w.workspace.ID); st.Status != hubspotconn.StatusConnected || st.BrokenReason != nil {
		t.Fatalf("status after reconnecting: %+v", st)
	}
}

func TestStateIsSingleUseBoundToItsAdminAndExpires(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hubspotsim.Options{})
	ctx := context.Background()
	other, _, err := adminauth.CreateAdmin(ctx, w.db.Queries, w.workspace.ID, "other@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	codeAndState := func() (string, string) {
		authorize, err := w.manager.Start(ctx, w.admin)
		if err != nil {
			t.Fatal(err)
		}
		back, _ := url.Parse(testenv.HubSpotConsent(t, http.DefaultClient, authorize, w.portal.ID, "allow"))
		return back.Query().Get("code"), back.Query().Get("state")
	}

	code, state := codeAndState()
	if _, err := w.manager.Complete(ctx, other, state, code); !errors.Is(err, hubspotconn.ErrStateOtherAdmin) {
		t.Fatalf("another admin's callback: %v", err)
	}
	if _, err := w.manager.Complete(ctx, w.admin, state, code); err != nil {
		t.Fatalf("the admin who started: %v", err)
	}
	if _, err := w.manager.Complete(ctx, w.admin, state, code); !errors.Is(err, hubspotconn.ErrStateUsed) {
		t.Fatalf("the same state again: %v", err)
	}
	if _, err := w.manager.Complete(ctx, w.admin, "made-up", code); !errors.Is(err, hubspotconn.ErrStateUnknown) {
		t.Fatalf("an unknown state: %v", err)
	}
	code, state = codeAndState()
	w.clock.Advance(hubspotconn.StateTTL + time.Second)
	if _, err := w.manager.Complete(ctx, w.admin, state, code); !errors.Is(err, hubspotconn.ErrStateExpired) {
		t.Fatalf("an expired state: %v", err)
	}
}

func TestTokensAreBoundToTheirWorkspace(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hubspotsim.Options{})
	w.connect(t)
	ctx := context.Background()
	// A ciphertext copied into another workspace's row does not open.
	otherWS, err := w.db.Queries.WorkspaceCreate(ctx, db.WorkspaceCreateParams{Name: "Other", WebhookSigningSecret: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Pool.Exec(ctx, `INSERT INTO hubspot_connections (workspace_id, portal_id, access_token_ciphertext, refresh_token_ciphertext, encryption_key_id, access_token_expires_at)
		SELECT $1, 999, access_token_ciphertext, refresh_token_ciphertext, encryption_key_id, access_token_expires_at FROM hubspot_connections WHERE workspace_id = $2`, otherWS.ID, w.workspace.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.manager.Token(ctx, otherWS.ID); !errors.Is(err, tokencrypt.ErrCorrupt) {
		t.Fatalf("a token copied to another workspace: %v", err)
	}
	if _, err := w.manager.Token(ctx, uuid.New()); !errors.Is(err, hubspotconn.ErrNotConnected) || !errors.Is(err, hubspot.ErrConnectionBroken) {
		t.Fatalf("a workspace never connected: %v", err)
	}
}

// A record's link opens it in HubSpot's app of the portal's data centre,
// or on the simulator's portal page.
func TestRecordURL(t *testing.T) {
	for base, want := range map[string]string{
		"https://api.hubapi.com":      "https://app.hubspot.com/contacts/123/record/0-1/456",
		"https://api-eu1.hubapi.com/": "https://app-eu1.hubspot.com/contacts/123/record/0-1/456",
		"http://127.0.0.1:8090":       "http://127.0.0.1:8090/portals/123",
	} {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		if got := hubspotconn.RecordURL(u, 123, "0-1", 456); got != want {
			t.Errorf("RecordURL(%s) = %s, want %s", base, got, want)
		}
	}
}
