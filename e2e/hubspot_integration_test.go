package e2e_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/oauth2"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/tokencrypt"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// offsetClock is real time shifted by an offset a test moves forward.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// hubspotCall is one request referflow sent to the simulator.
type hubspotCall struct {
	at     time.Time
	path   string
	status int
}

// recordingTransport records every call and lets a test adjust answers.
type recordingTransport struct {
	mu      sync.Mutex
	calls   []hubspotCall
	onReply func(*http.Response)
}

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if t.onReply != nil {
		t.onReply(resp)
	}
	t.mu.Lock()
	t.calls = append(t.calls, hubspotCall{at: time.Now(), path: req.URL.Path, status: resp.StatusCode})
	t.mu.Unlock()
	return resp, nil
}

func (t *recordingTransport) snapshot() []hubspotCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]hubspotCall(nil), t.calls...)
}

// hubspotStack is Postgres, Temporal, a worker with the HubSpot activities,
// the simulator with one portal, and a workspace with an admin.
type hubspotStack struct {
	database  *testenv.Database
	tc        *testenv.Temporal
	sim       *hubspotsim.Simulator
	simURL    string
	portal    *hubspotsim.Portal
	transport *recordingTransport
	clock     *offsetClock
	manager   *hubspotconn.Manager
	workspace db.Workspace
	admin     db.Admin
}

func newHubSpotStack(t *testing.T, simOpts hubspotsim.Options, transport *recordingTransport) *hubspotStack {
	t.Helper()
	s := &hubspotStack{database: testenv.NewDatabase(t), tc: testenv.NewTemporal(t), transport: transport, clock: &offsetClock{}}
	s.sim = hubspotsim.New(simOpts)
	srv := httptest.NewServer(s.sim.Handler())
	t.Cleanup(srv.Close)
	s.simURL = srv.URL
	s.portal = s.sim.CreatePortal("Acme HubSpot")
	box, err := tokencrypt.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse(srv.URL)
	public, _ := url.Parse("http://referflow.test")
	s.manager, err = hubspotconn.New(s.database.Pool, hubspotconn.Options{
		BaseURL: base, PublicURL: public, ClientID: hubspotsim.DefaultClientID, ClientSecret: hubspotsim.DefaultClientSecret,
		Box: box, HTTPClient: &http.Client{Transport: transport, Timeout: 10 * time.Second}, Now: s.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if s.workspace, err = s.database.Queries.WorkspaceCreate(ctx, db.WorkspaceCreateParams{Name: "Acme", WebhookSigningSecret: "whsec-test"}); err != nil {
		t.Fatal(err)
	}
	if s.admin, _, err = adminauth.CreateAdmin(ctx, s.database.Queries, s.workspace.ID, "ops@acme.test", ""); err != nil {
		t.Fatal(err)
	}
	ws := worker.New(s.tc.Client, s.database.Pool, worker.Options{TaskQueue: s.tc.TaskQueue, HubSpotTaskQueue: s.tc.HubSpotTaskQueue, HubSpot: s.manager})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Stop)
	return s
}

func (s *hubspotStack) connect(t *testing.T) db.HubspotConnection {
	t.Helper()
	ctx := context.Background()
	authorize, err := s.manager.Start(ctx, s.admin)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := url.Parse(testenv.HubSpotConsent(t, http.DefaultClient, authorize, s.portal.ID, "allow"))
	conn, err := s.manager.Complete(ctx, s.admin, back.Query().Get("state"), back.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func (s *hubspotStack) runSetup(ctx context.Context, t *testing.T, portalID int64) (string, workflows.HubSpotSetupResult, error) {
	t.Helper()
	run, err := workflows.StartHubSpotSetup(ctx, s.tc.Client, s.tc.TaskQueue, workflows.HubSpotSetupInput{
		WorkspaceID: s.workspace.ID.String(), PortalID: portalID, HubSpotTaskQueue: s.tc.HubSpotTaskQueue,
	})
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.HubSpotSetupResult
	err = run.Get(ctx, &res)
	return run.GetRunID(), res, err
}

// maxActivityAttempt is the highest attempt any activity of the setup run
// completed or failed on, from its history.
func maxActivityAttempt(ctx context.Context, t *testing.T, s *hubspotStack, runID string) int32 {
	t.Helper()
	return highestAttempt(ctx, t, s.tc.Client, workflows.HubSpotSetupWorkflowID(s.workspace.ID.String()), runID, "")
}

// highestAttempt is the highest attempt activities of the workflow run
// ("": the latest) started on, from its history; activity names one
// activity type, "" any.
func highestAttempt(ctx context.Context, t *testing.T, c client.Client, workflowID, runID, activity string) int32 {
	t.Helper()
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[int64]bool{}
	var most int32
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && (activity == "" || a.GetActivityType().GetName() == activity) {
			scheduled[ev.GetEventId()] = true
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] && a.GetAttempt() > most {
			most = a.GetAttempt()
		}
	}
	return most
}

// TestHubSpotActivityWaitsOutARateLimit: a HubSpot activity is answered 429;
// it returns HubSpot's wait as NextRetryDelay, Temporal retries it after
// that wait, and the property setup completes. HubSpot's ten-second window
// is compressed: on each 429 the simulator's clock moves 10 s ahead and the
// answer says Retry-After: 1, so the test takes seconds, not tens of them.
// (How the client derives the wait from HubSpot's headers is tested in
// internal/hubspot.)
func TestHubSpotActivityWaitsOutARateLimit(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	simClock := &offsetClock{}
	transport := &recordingTransport{}
	transport.onReply = func(resp *http.Response) {
		if resp.StatusCode == http.StatusTooManyRequests {
			simClock.Advance(10 * time.Second)
			resp.Header.Set("Retry-After", "1")
		}
	}
	s := newHubSpotStack(t, hubspotsim.Options{RateLimitPerTenSeconds: 10, Now: simClock.Now}, transport)
	conn := s.connect(t)

	runID, res, err := s.runSetup(ctx, t, conn.PortalID)
	if err != nil {
		t.Fatalf("property setup under a rate limit: %v", err)
	}
	// An activity retried after the 429 reports what its last attempt
	// created; the portal holding everything is checked below.
	if len(res.Created) == 0 || len(res.Created) > 2*(1+len(hubspotconn.Properties()))+2 {
		t.Fatalf("created %v, want some of the group and %d properties on contacts and deals, and the two association labels", res.Created, len(hubspotconn.Properties()))
	}
	calls := transport.snapshot()
	limited := -1
	for i, c := range calls {
		if c.status == http.StatusTooManyRequests {
			limited = i
			break
		}
	}
	if limited < 0 || limited == len(calls)-1 {
		t.Fatalf("no 429 followed by a retry among %d calls", len(calls))
	}
	if wait := calls[limited+1].at.Sub(calls[limited].at); wait < 900*time.Millisecond {
		t.Fatalf("the retry came %s after the 429, before HubSpot's 1 s wait", wait)
	}
	if attempt := maxActivityAttempt(ctx, t, s, runID); attempt < 2 {
		t.Fatalf("activities ran %d time(s) at most; the 429 should have caused a retry", attempt)
	}
	// Everything exists in the portal, and the connection says so.
	st, err := s.manager.Status(ctx, s.workspace.ID)
	if err != nil || st.PropertySetup.Status != hubspotconn.SetupDone || st.LastAPICallAt == nil {
		t.Fatalf("status after setup: %+v %v", st, err)
	}
	s.sim.ResetRateLimits(s.portal.ID)
	c := hubspot.New(s.simURL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: s.portal.PrivateAppToken}))
	for _, ot := range hubspotobject.PropertyTypes {
		objectType := hubspot.ObjectTypeOf(ot)
		props, err := c.ListProperties(ctx, objectType)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]hubspot.Property{}
		for _, p := range props {
			byName[p.Name] = p
		}
		for _, want := range hubspotconn.Properties() {
			if got, ok := byName[want.Name]; !ok || got.GroupName != hubspotconn.PropertyGroup.Name || got.Type != want.Type {
				t.Fatalf("%s.%s in the portal: %+v (present %v)", objectType, want.Name, got, ok)
			}
		}
	}
}

// TestHubSpotActivityFailsForGoodOnABrokenConnection: HubSpot refuses the
// refresh token; the HubSpot activity fails at once with the non-retryable
// HubSpotConnectionBroken error, the connection shows why, and after an
// admin reconnects the same setup succeeds.
func TestHubSpotActivityFailsForGoodOnABrokenConnection(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := newHubSpotStack(t, hubspotsim.Options{}, &recordingTransport{})
	conn := s.connect(t)

	s.sim.RevokeRefreshTokens(s.portal.ID)
	s.clock.Advance(31 * time.Minute) // the access token has expired: the activity must refresh
	runID, _, err := s.runSetup(ctx, t, conn.PortalID)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != hubspot.ErrorTypeConnectionBroken || !appErr.NonRetryable() {
		t.Fatalf("setup on a broken connection: %v", err)
	}
	if attempt := maxActivityAttempt(ctx, t, s, runID); attempt != 1 {
		t.Fatalf("the broken connection was retried: attempt %d", attempt)
	}
	st, err := s.manager.Status(ctx, s.workspace.ID)
	if err != nil || st.Status != hubspotconn.StatusBroken || st.BrokenReason == nil || !strings.Contains(*st.BrokenReason, "BAD_REFRESH_TOKEN") ||
		st.PropertySetup.Status != hubspotconn.SetupFailed || st.PropertySetup.Error == nil || !strings.Contains(*st.PropertySetup.Error, hubspot.ErrorTypeConnectionBroken) {
		t.Fatalf("status of the broken connection: %+v %v", st, err)
	}

	conn = s.connect(t)
	if _, res, err := s.runSetup(ctx, t, conn.PortalID); err != nil || len(res.Created) == 0 {
		t.Fatalf("setup after reconnecting: %+v %v", res, err)
	}
	if st, _ := s.manager.Status(ctx, s.workspace.ID); st.Status != hubspotconn.StatusConnected || st.PropertySetup.Status != hubspotconn.SetupDone {
		t.Fatalf("status after reconnecting: %+v", st)
	}
}
