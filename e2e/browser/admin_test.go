package browser_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/api"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/browser"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/tokencrypt"
	"github.com/referflow/referflow/worker"
)

// adminStack is referflow as a program admin meets it: the api with its
// admin pages at http://localhost:<port>, the worker, and the HubSpot
// simulator (its consent page and API) on another loopback origin.
type adminStack struct {
	url, key string
	d        *testenv.Database
	portal   *hubspotsim.Portal
}

func newAdminStack(t *testing.T) *adminStack {
	t.Helper()
	d, tc, logs := testenv.NewDatabase(t), testenv.NewTemporal(t), &testenv.LogBuffer{}
	fx := d.SeedReferral(t)
	_, key, err := adminauth.CreateAdmin(context.Background(), d.Queries, fx.Workspace.ID, "ops@acme.test", "Ops")
	if err != nil {
		t.Fatal(err)
	}
	sim := hubspotsim.New(hubspotsim.Options{})
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(simSrv.Close)
	st := &adminStack{key: key, d: d, portal: sim.CreatePortal("Acme HubSpot")}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st.url = fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	public, _ := url.Parse(st.url)
	base, _ := url.Parse(simSrv.URL)
	box, err := tokencrypt.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	manager, err := hubspotconn.New(d.Pool, hubspotconn.Options{
		BaseURL: base, PublicURL: public, ClientID: hubspotsim.DefaultClientID, ClientSecret: hubspotsim.DefaultClientSecret,
		Box: box, OnPortalReset: activities.ForgetPortalObjects, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Deps{
		Pool: d.Pool, Temporal: tc.Client, Logger: logger, PublicURL: public, HubSpot: manager,
		TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue, WebhookSecret: hubspotsim.DefaultClientSecret,
		Auth:          &adminauth.Authenticator{Queries: d.Queries, Sessions: adminauth.NewSessions([]byte("browser-session-key-0123456789ab"))},
		EncryptionKey: []byte("browser-suite-key-0123456789abcd"),
	})
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("api: %v", err)
		}
		if t.Failed() {
			t.Logf("api log:\n%s", logs.String())
		}
	})
	w := worker.New(tc.Client, d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue, HubSpot: manager,
		PublicURL: st.url, WebhookPolicy: testenv.LoopbackWebhooks(t)})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return st
}

// screenshots is where the admin walk saves its pages: REFERFLOW_SCREENSHOTS
// when set (docs/screenshots for the README), else the test's own folder.
func screenshots(t *testing.T) string {
	if dir := os.Getenv("REFERFLOW_SCREENSHOTS"); dir != "" {
		return dir
	}
	return t.TempDir()
}

// TestAdminWalk: a program admin signs in, reads the dashboard, connects
// HubSpot through the simulator's consent page, creates a campaign and sets
// its leads and a status rule up from dropdowns listing the portal's
// properties and values — by keyboard-reachable pages with no accessibility
// problem, each saved as a screenshot.
func TestAdminWalk(t *testing.T) {
	t.Parallel()
	browser.Require(t)
	st := newAdminStack(t)
	b := browser.New(t)
	dir := screenshots(t)
	page := func(name, wantH1 string) {
		t.Helper()
		if h1 := b.Text("h1"); h1 != wantH1 {
			t.Fatalf("%s: the page's heading is %q, want %q (at %s)", name, h1, wantH1, b.Location())
		}
		b.CheckAccessible(name)
		b.Screenshot(filepath.Join(dir, "admin-"+name+".png"))
	}

	// Signed out, the admin UI asks to sign in, then comes back.
	if status := b.Open(st.url + "/admin/campaigns"); status != http.StatusOK || !strings.Contains(b.Location(), "/login?next=") {
		t.Fatalf("the admin UI signed out: %d at %s", status, b.Location())
	}
	page("sign-in", "Sign in to referflow")
	b.Type("#f-api_key", st.key)
	if status := b.Submit(`form[action="/login"] button[type=submit]`); status != http.StatusOK || !strings.HasSuffix(b.Location(), "/admin/campaigns") {
		t.Fatalf("sign in: %d at %s", status, b.Location())
	}

	b.Follow(`nav[aria-label=Main] a[href="/admin"]`)
	page("dashboard", "Dashboard")
	if !strings.Contains(b.Text("#attention"), "HubSpot is not connected") {
		t.Fatalf("the dashboard does not say HubSpot needs connecting: %q", b.Text("#attention"))
	}

	// HubSpot: connect through the simulator's consent page.
	b.Follow(`#attention a[href="/admin/hubspot"]`)
	if !strings.Contains(b.Text("#hubspot-status"), "Not connected") {
		t.Fatalf("HubSpot status before connecting: %q", b.Text("#hubspot-status"))
	}
	b.Follow("#hubspot-connect")
	if !strings.Contains(b.Location(), "/oauth/authorize") {
		t.Fatalf("Connect HubSpot went to %s, not the simulator's consent page", b.Location())
	}
	if status := b.Submit(`button[name=decision][value=allow]`); status != http.StatusOK || !strings.Contains(b.Text("h1"), "HubSpot connected") {
		t.Fatalf("consent: %d at %s: %q", status, b.Location(), b.Text("h1"))
	}
	b.Open(st.url + "/admin/hubspot")
	page("hubspot", "HubSpot")
	if got := b.Text("#hubspot-status"); !strings.Contains(got, "Connected") || !strings.Contains(got, fmt.Sprint(st.portal.ID)) {
		t.Fatalf("HubSpot status after connecting: %q", got)
	}

	// A campaign, created and set up from the dropdowns.
	b.Follow(`nav[aria-label=Main] a[href="/admin/campaigns"]`)
	b.Type("#f-name", "Summer referrals")
	b.Submit(`form[action="/admin/campaigns"] button[type=submit]`)
	page("campaign", "Summer referrals")
	b.Follow(`.admin-tabs a[href$="/leads"]`)
	b.Select("#f-leads-action", "create_contact")
	b.Select("#f-leads-field_mapping-0-target", "contact.email")
	b.Select("#f-leads-field_mapping-0-source", "email")
	b.Select("#f-leads-field_mapping-1-target", "contact.firstname")
	b.Select("#f-leads-field_mapping-1-source", "first_name")
	if status := b.Submit(`#section-form button[type=submit]`); status != http.StatusOK || !strings.Contains(b.Text(".admin-flash"), "Leads saved.") {
		t.Fatalf("save leads: %d: %q", status, b.Text("main"))
	}
	if b.Exists("#setup-required") {
		t.Fatalf("setup still required after the mapping: %q", b.Text("#setup-required"))
	}
	page("campaign-leads", "Leads · Summer referrals")

	// A status rule: the property first; its values are then listed.
	b.Follow(`.admin-tabs a[href$="/status-rules"]`)
	b.Select("#f-status_rules-approved-target", "deal.dealstage")
	if status := b.Submit(`#section-form button[type=submit]`); status != http.StatusUnprocessableEntity {
		t.Fatalf("a rule without values: %d, want 422 and the values to pick", status)
	}
	if !b.Exists(`#f-status_rules-approved-values option[value="closedwon"]`) {
		t.Fatalf("the approved rule's values do not list the pipeline's stages: %q", b.Text("#f-status_rules-approved-values"))
	}
	page("campaign-status-rules", "Status rules · Summer referrals")
	b.Select("#f-status_rules-approved-values", "closedwon")
	if status := b.Submit(`#section-form button[type=submit]`); status != http.StatusOK || !strings.Contains(b.Text(".admin-flash"), "Status rules saved.") {
		t.Fatalf("save status rules: %d: %q", status, b.Text("main"))
	}

	// A test event: what the rules would do, shown on the same page.
	b.Select("#f-test_property", "deal.dealstage")
	b.Type("#f-test_value", "closedwon")
	b.Type("#f-test_record", "123")
	if status := b.Submit(`#test-event-form button[type=submit]`); status != http.StatusOK ||
		!strings.Contains(b.Text("#test-event-result"), "No referral holds deal 123: the Sales Receiver would start matching it") {
		t.Fatalf("send a test event: %d: %q", status, b.Text("main"))
	}
	page("campaign-test-event", "Status rules · Summer referrals")
}
