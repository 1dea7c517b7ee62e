package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/tokencrypt"
	"github.com/referflow/referflow/worker"
)

// hubspotAPI is the HTTP server as a browser reaches it, over real Postgres
// and Temporal, with a worker and the HubSpot simulator.
type hubspotAPI struct {
	url     string
	db      *testenv.Database
	sim     *hubspotsim.Simulator
	simURL  string
	portal  *hubspotsim.Portal
	box     *tokencrypt.Box
	manager *hubspotconn.Manager
	offset  atomic.Int64 // the manager's clock runs this far ahead of real time
	logs    *testenv.LogBuffer
	tc      *testenv.Temporal
	srv     *Server
}

func newHubSpotAPI(t *testing.T, clientID string) *hubspotAPI {
	t.Helper()
	h := &hubspotAPI{db: testenv.NewDatabase(t), logs: &testenv.LogBuffer{}}
	tc := testenv.NewTemporal(t)
	h.tc = tc
	h.sim = hubspotsim.New(hubspotsim.Options{})
	simSrv := httptest.NewServer(h.sim.Handler())
	t.Cleanup(simSrv.Close)
	h.simURL = simSrv.URL
	h.portal = h.sim.CreatePortal("Acme HubSpot")

	ts := httptest.NewUnstartedServer(nil)
	h.url = "http://" + ts.Listener.Addr().String()
	box, err := tokencrypt.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	h.box = box
	base, _ := url.Parse(simSrv.URL)
	public, _ := url.Parse(h.url)
	// The API and the connection manager log into one buffer, which tests
	// search for what must never be logged (tokens).
	logger := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.manager, err = hubspotconn.New(h.db.Pool, hubspotconn.Options{
		BaseURL: base, PublicURL: public, ClientID: clientID, ClientSecret: hubspotsim.DefaultClientSecret, Box: box,
		Now:           func() time.Time { return time.Now().Add(time.Duration(h.offset.Load())) },
		OnPortalReset: activities.ForgetPortalObjects, // as the binary wires it
		Logger:        logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Fulfilment receivers are httptest servers: the operator allows http
	// to loopback, for the api's check on save and the worker's on send.
	webhooks := testenv.GuardedWebhooks(t, nil)
	ws := worker.New(tc.Client, h.db.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue, HubSpot: h.manager, WebhookPolicy: webhooks, PublicURL: h.url})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Stop)
	srv := New(Deps{
		Pool: h.db.Pool, Temporal: tc.Client, Logger: logger, PublicURL: public,
		Auth:    &adminauth.Authenticator{Queries: h.db.Queries, Sessions: adminauth.NewSessions([]byte("test-key-0123456789abcdef0123456"))},
		HubSpot: h.manager, TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue,
		WebhookSecret: hubspotsim.DefaultClientSecret, WebhookPolicy: webhooks,
	})
	h.srv = srv
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	return h
}

// admin adds an admin to a workspace (created when name is new) and returns
// a browser signed in as that admin, and the admin's API key.
func (h *hubspotAPI) admin(t *testing.T, ws *db.Workspace, email string) (db.Admin, *http.Client, string) {
	t.Helper()
	a, key, err := adminauth.CreateAdmin(context.Background(), h.db.Queries, ws.ID, email, "")
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := browser.PostForm(h.url+"/login", url.Values{"api_key": {key}, "next": {"/api/v1/me"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/api/v1/me" {
		t.Fatalf("sign in: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	return a, browser, key
}

func (h *hubspotAPI) workspace(t *testing.T, name string) *db.Workspace {
	t.Helper()
	ws, err := h.db.Queries.WorkspaceCreate(context.Background(), db.WorkspaceCreateParams{Name: name, WebhookSigningSecret: "whsec-" + name})
	if err != nil {
		t.Fatal(err)
	}
	return &ws
}

// startConnect clicks "Connect HubSpot", lands on the simulator's consent
// page and submits it; it returns the callback URL HubSpot sends the
// browser back to (not yet opened).
func (h *hubspotAPI) startConnect(t *testing.T, browser *http.Client, decision string) string {
	t.Helper()
	resp, err := browser.Get(h.url + "/oauth/hubspot/connect")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.String(), h.simURL+"/oauth/authorize?") || !strings.Contains(string(page), "Choose a portal") {
		t.Fatalf("connect did not lead to the simulator's consent page: %d at %s\n%s", resp.StatusCode, resp.Request.URL, page)
	}
	return testenv.HubSpotConsent(t, browser, resp.Request.URL.String(), h.portal.ID, decision)
}

func open(t *testing.T, browser *http.Client, target string) (int, string) {
	t.Helper()
	resp, err := browser.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (h *hubspotAPI) status(t *testing.T, browser *http.Client) hubspotconn.Status {
	t.Helper()
	code, body := open(t, browser, h.url+"/api/v1/hubspot/status")
	var st hubspotconn.Status
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("status endpoint: %d %s", code, body)
	}
	return st
}

func TestConnectHubSpotInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHubSpotAPI(t, hubspotsim.DefaultClientID)
	ws := h.workspace(t, "Acme")
	admin, browser, _ := h.admin(t, ws, "ops@acme.test")
	ctx := context.Background()

	// Not signed in, "Connect HubSpot" goes through the sign-in page.
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := anon.Get(h.url + "/oauth/hubspot/connect"); err != nil || resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		t.Fatalf("connect without a session: %v %v", resp, err)
	}

	callback := h.startConnect(t, browser, "allow")
	if !strings.HasPrefix(callback, h.url+"/oauth/hubspot/callback?") {
		t.Fatalf("HubSpot sends the browser back to %s", callback)
	}
	code, page := open(t, browser, callback)
	if code != http.StatusOK || !strings.Contains(page, "HubSpot connected") || !strings.Contains(page, strconv.FormatInt(h.portal.ID, 10)) {
		t.Fatalf("callback page: %d\n%s", code, page)
	}

	// Stored: the portal from introspection, the scopes, sealed tokens.
	row, err := h.db.Queries.HubSpotConnectionGetByWorkspace(ctx, ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Status != "connected" || row.PortalID != h.portal.ID || row.ConnectedBy == nil || *row.ConnectedBy != "admin:"+admin.ID.String() {
		t.Fatalf("stored connection: %+v", row)
	}
	for _, sc := range hubspotconn.Scopes {
		if !slices.Contains(row.Scopes, sc) {
			t.Errorf("scope %s not granted: %v", sc, row.Scopes)
		}
	}
	access, err := h.box.Open(row.AccessTokenCiphertext, []byte(ws.ID.String()))
	if err != nil {
		t.Fatal(err)
	}
	refresh, err := h.box.Open(row.RefreshTokenCiphertext, []byte(ws.ID.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(access) < 10 || len(refresh) < 10 || bytes.Contains(row.AccessTokenCiphertext, access) || bytes.Contains(row.RefreshTokenCiphertext, refresh) {
		t.Fatal("tokens are missing or stored in the clear")
	}
	cb, _ := url.Parse(callback)
	for _, secret := range []string{string(access), string(refresh), cb.Query().Get("code"), cb.Query().Get("state")} {
		if strings.Contains(h.logs.String(), secret) {
			t.Fatalf("a token, code or state reached the logs")
		}
	}

	// The property setup ran (the callback waited for it): referflow's
	// properties exist on contacts and deals in the portal.
	st := h.status(t, browser)
	if st.Status != hubspotconn.StatusConnected || st.PortalID != h.portal.ID || st.ConnectedBy == nil || st.ConnectedBy.Email != "ops@acme.test" ||
		st.ConnectedAt == nil || st.LastAPICallAt == nil || st.BrokenReason != nil || st.PropertySetup == nil || st.PropertySetup.Status != hubspotconn.SetupDone || len(st.Scopes) == 0 {
		t.Fatalf("status: %+v %+v", st, st.PropertySetup)
	}
	c := hubspot.New(h.simURL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: h.portal.PrivateAppToken}))
	for _, ot := range hubspotobject.PropertyTypes {
		objectType := hubspot.ObjectTypeOf(ot)
		p, err := c.GetProperty(ctx, objectType, hubspotobject.PropReferralStatus)
		if err != nil || p.GroupName != "referflow" || len(p.Options) != 4 {
			t.Fatalf("%s.%s: %+v %v", objectType, hubspotobject.PropReferralStatus, p, err)
		}
	}

	// The callback URL works once.
	code, page = open(t, browser, callback)
	if code != http.StatusBadRequest || !strings.Contains(page, "already used") {
		t.Fatalf("the callback opened twice: %d\n%s", code, page)
	}
	// Cancelling on HubSpot's page changes nothing.
	code, page = open(t, browser, h.startConnect(t, browser, "deny"))
	if code != http.StatusBadRequest || !strings.Contains(page, "You cancelled") {
		t.Fatalf("declined consent: %d\n%s", code, page)
	}
	code, page = open(t, browser, h.url+"/oauth/hubspot/callback?state=abc")
	if code != http.StatusBadRequest || !strings.Contains(page, "needs the code and state") {
		t.Fatalf("callback without a code: %d\n%s", code, page)
	}
	if st := h.status(t, browser); st.Status != hubspotconn.StatusConnected {
		t.Fatalf("status after a cancelled reconnect: %+v", st)
	}
}

func TestConnectFlowIsBoundToItsAdminAndExpires(t *testing.T) {
	t.Parallel()
	h := newHubSpotAPI(t, hubspotsim.DefaultClientID)
	ws := h.workspace(t, "Acme")
	_, alice, _ := h.admin(t, ws, "alice@acme.test")
	_, bob, _ := h.admin(t, ws, "bob@acme.test")

	callback := h.startConnect(t, alice, "allow")
	code, page := open(t, bob, callback)
	if code != http.StatusForbidden || !strings.Contains(page, "started by another admin") {
		t.Fatalf("another admin opens the callback: %d\n%s", code, page)
	}
	if code, page := open(t, alice, callback); code != http.StatusOK {
		t.Fatalf("the admin who started: %d\n%s", code, page)
	}

	callback = h.startConnect(t, alice, "allow")
	h.offset.Add(int64(hubspotconn.StateTTL + time.Second))
	code, page = open(t, alice, callback)
	if code != http.StatusBadRequest || !strings.Contains(page, "expired") {
		t.Fatalf("an expired connect flow: %d\n%s", code, page)
	}
}

func TestPortalBelongsToOneWorkspaceAndDisconnectKeepsData(t *testing.T) {
	t.Parallel()
	h := newHubSpotAPI(t, hubspotsim.DefaultClientID)
	ctx := context.Background()
	wsA, wsB := h.workspace(t, "Acme Anvils"), h.workspace(t, "Beta Bikes")
	_, browserA, keyA := h.admin(t, wsA, "ops@anvils.test")
	_, browserB, _ := h.admin(t, wsB, "ops@bikes.test")

	if code, page := open(t, browserA, h.startConnect(t, browserA, "allow")); code != http.StatusOK {
		t.Fatalf("workspace A connects: %d\n%s", code, page)
	}
	code, page := open(t, browserB, h.startConnect(t, browserB, "allow"))
	if code != http.StatusConflict || !strings.Contains(page, "already connected to another referflow workspace") {
		t.Fatalf("workspace B connects A's portal: %d\n%s", code, page)
	}
	// The refusal tells B's admin nothing about the other tenant.
	if strings.Contains(page, "Acme Anvils") || strings.Contains(page, wsA.ID.String()) {
		t.Fatalf("the refusal names the workspace holding the portal:\n%s", page)
	}
	if st := h.status(t, browserB); st.Status != hubspotconn.StatusNotConnected {
		t.Fatalf("B after the refusal: %+v", st)
	}

	row, err := h.db.Queries.HubSpotConnectionGetByWorkspace(ctx, wsA.ID)
	if err != nil {
		t.Fatal(err)
	}
	refresh, err := h.box.Open(row.RefreshTokenCiphertext, []byte(wsA.ID.String()))
	if err != nil {
		t.Fatal(err)
	}
	disconnect := func() *http.Response {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/api/v1/hubspot/disconnect", nil)
		req.Header.Set("Authorization", "Bearer "+keyA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := disconnect()
	var dv DisconnectView
	if err := json.NewDecoder(resp.Body).Decode(&dv); err != nil || resp.StatusCode != http.StatusOK || !dv.Revoked || dv.Status != "disconnected" {
		t.Fatalf("disconnect: %d %+v %v", resp.StatusCode, dv, err)
	}
	resp.Body.Close()
	// HubSpot no longer honours the refresh token.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {string(refresh)},
		"client_id": {hubspotsim.DefaultClientID}, "client_secret": {hubspotsim.DefaultClientSecret}}
	if resp, err := http.PostForm(h.simURL+"/oauth/2026-03/token", form); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the revoked refresh token still works: %v %v", resp, err)
	}
	// The row stays, with its history; only the tokens are gone.
	row, err = h.db.Queries.HubSpotConnectionGetByWorkspace(ctx, wsA.ID)
	if err != nil || row.Status != "disconnected" || row.DisconnectedAt == nil || row.PortalID != h.portal.ID || row.RefreshTokenCiphertext != nil || row.LastApiCallAt == nil {
		t.Fatalf("connection after disconnect: %+v %v", row, err)
	}
	if st := h.status(t, browserA); st.Status != hubspotconn.StatusDisconnected || st.PortalID != h.portal.ID {
		t.Fatalf("A's status after disconnect: %+v", st)
	}
	resp = disconnect()
	if e := decodeJSONError(t, resp); resp.StatusCode != http.StatusConflict || e.Code != "not_connected" {
		t.Fatalf("disconnect twice: %d %+v", resp.StatusCode, e)
	}

	// The portal is free: B may connect it now.
	if code, page := open(t, browserB, h.startConnect(t, browserB, "allow")); code != http.StatusOK {
		t.Fatalf("workspace B connects after A let go: %d\n%s", code, page)
	}
	if st := h.status(t, browserB); st.Status != hubspotconn.StatusConnected || st.PortalID != h.portal.ID {
		t.Fatalf("B's status: %+v", st)
	}
}

func TestConnectWithoutAHubSpotApp(t *testing.T) {
	t.Parallel()
	h := newHubSpotAPI(t, "") // no HUBSPOT_CLIENT_ID
	ws := h.workspace(t, "Acme")
	_, browser, _ := h.admin(t, ws, "ops@acme.test")
	code, page := open(t, browser, h.url+"/oauth/hubspot/connect")
	if code != http.StatusServiceUnavailable || !strings.Contains(page, "HUBSPOT_CLIENT_ID") || !strings.Contains(page, "referflow dev") {
		t.Fatalf("connect without an app: %d\n%s", code, page)
	}
	if st := h.status(t, browser); st.Status != hubspotconn.StatusNotConnected || st.Configured {
		t.Fatalf("status without an app: %+v", st)
	}
}

func decodeJSONError(t *testing.T, resp *http.Response) ErrorDetail {
	t.Helper()
	defer resp.Body.Close()
	var body ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("error body: %v", err)
	}
	return body.Error
}

// The connection status says where HubSpot's app sends webhooks and which
// subscriptions the workspace's campaigns need, each with the campaigns and
// rules that need it; an archived campaign needs nothing.
func TestHubSpotStatusSaysWhichWebhooksToSubscribe(t *testing.T) {
	t.Parallel()
	h := newHubSpotAPI(t, hubspotsim.DefaultClientID)
	ctx := context.Background()
	ws := h.workspace(t, "Acme Webhooks")
	_, browser, _ := h.admin(t, ws, "ops@webhooks.test")
	campaignWith := func(name, status string, s campaign.Settings) {
		draft := "draft"
		c, err := h.db.Queries.CampaignCreate(ctx, db.CampaignCreateParams{WorkspaceID: ws.ID, Name: name, Status: &draft})
		if err != nil {
			t.Fatal(err)
		}
		h.db.SetCampaignSettings(t, c, s)
		if _, err := h.db.Pool.Exec(ctx, `UPDATE campaigns SET status = $2 WHERE id = $1`, c.ID, status); err != nil {
			t.Fatal(err)
		}
	}
	contacts := campaign.Defaults()
	contacts.Leads = campaign.CRMSettings{Action: campaign.ActionCreateContact, DuplicateHandling: campaign.DuplicateDoNothing}
	contacts.StatusRules.Approved = &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}}
	campaignWith("Spring", "active", contacts)
	lifecycle := campaign.Defaults()
	lifecycle.StatusRules.Qualified = &campaign.StatusRule{Object: "contact", Property: "lifecyclestage", Values: []string{"salesqualifiedlead"}}
	campaignWith("Partners", "draft", lifecycle)
	old := campaign.Defaults()
	old.StatusRules.Qualified = &campaign.StatusRule{Object: "company", Property: "hs_lead_status", Values: []string{"OPEN"}}
	campaignWith("Old", "archived", old)

	code, body := open(t, browser, h.url+"/api/v1/hubspot/status")
	var st HubSpotStatusView
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("status: %d %s", code, body)
	}
	if st.Webhooks.TargetURL != h.url+"/webhooks/hubspot" {
		t.Errorf("target URL = %q", st.Webhooks.TargetURL)
	}
	got := map[string][]string{}
	for _, sub := range st.Webhooks.Subscriptions {
		got[sub.Type+"/"+sub.Property] = sub.NeededBy
	}
	for key, want := range map[string][]string{
		"contact.creation/":                     {"Spring: leads.action"},
		"deal.associationChange/":               {"Spring: status_rules.approved"},
		"deal.propertyChange/dealstage":         {"Spring: status_rules.approved"},
		"contact.propertyChange/lifecyclestage": {"Partners: status_rules.qualified"},
		"contact.privacyDeletion/":              {"privacy: a contact HubSpot deletes for GDPR is erased here too"},
	} {
		if !slices.Equal(got[key], want) {
			t.Errorf("%s needed by %v, want %v", key, got[key], want)
		}
	}
	for key := range got {
		if strings.HasPrefix(key, "company.") {
			t.Errorf("an archived campaign's rule is listed: %s", key)
		}
	}
}
