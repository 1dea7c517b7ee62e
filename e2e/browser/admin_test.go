package browser_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/api"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/browser"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/tokencrypt"
	"github.com/referflow/referflow/salesreceiver"
	"github.com/referflow/referflow/worker"
)

// adminStack is referflow as a program admin meets it: the api with its
// admin pages at http://localhost:<port>, the worker, and the HubSpot
// simulator (its consent page and API) on another loopback origin.
type adminStack struct {
	url, key string
	d        *testenv.Database
	sim      *hubspotsim.Simulator
	// simURL is the simulator's origin: its CRM page, where a salesperson
	// moves deals.
	simURL string
	portal *hubspotsim.Portal
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
	st := &adminStack{key: key, d: d, sim: sim, simURL: simSrv.URL, portal: sim.CreatePortal("Acme HubSpot")}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st.url = fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	// HubSpot's webhooks go to referflow's endpoint, as the app's settings
	// in HubSpot say; which changes are sent is set by the walk.
	if err := sim.SetWebhookSettings(hubspotsim.WebhookSettings{TargetURL: st.url + "/webhooks/hubspot"}); err != nil {
		t.Fatal(err)
	}
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
	// The Sales Receiver's dispatcher: the webhooks the api stored become
	// sales-entry workflows, which move the referrals.
	dctx, stopDispatch := context.WithCancel(context.Background())
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		dp := &salesreceiver.Dispatcher{Pool: d.Pool, Temporal: tc.Client, TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue, Logger: logger}
		if err := dp.Run(dctx); err != nil {
			t.Errorf("dispatcher: %v", err)
		}
	}()
	t.Cleanup(func() { stopDispatch(); <-dispatched })
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
// its leads, a status rule and the member's reward up from dropdowns listing
// the portal's properties and values, and activates it. A member refers a
// friend with a throwaway mailbox: the referral's live workflow holds it for
// review, and the admin approves it in the review queue (an update of that
// workflow). The lead reaches HubSpot, a deal is opened on it, and a
// salesperson wins the deal on the simulator's CRM page: the referral is
// approved and the admin sees its reward, then the Reports page with its
// funnel chart, whose CSV link gives the funnel. Every page is checked by
// axe-core and our own two rules (CheckAccessible) and saved as a
// screenshot.
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

	campaignID := strings.SplitN(strings.SplitN(b.Location(), "/admin/campaigns/", 2)[1], "/", 2)[0]
	campaignURL := st.url + "/admin/campaigns/" + campaignID

	// The member's reward, and the campaign goes live.
	b.Follow(`.admin-tabs a[href$="/rewards"]`)
	b.Select("#f-rewards-on_status", "approved")
	b.Select("#f-rewards-member-kind", "fixed")
	b.Type("#f-rewards-member-amount", "50")
	b.Type("#f-rewards-member-currency", "USD")
	if status := b.Submit(`#section-form button[type=submit]`); status != http.StatusOK || !strings.Contains(b.Text(".admin-flash"), "Rewards saved.") {
		t.Fatalf("save rewards: %d: %q", status, b.Text("main"))
	}
	page("campaign-rewards", "Rewards · Summer referrals")
	b.Open(campaignURL)
	b.Select("#f-status", "active")
	if status := b.Submit(`form[action$="/details"] button[type=submit]`); status != http.StatusOK || b.Text("#campaign-status") != "active" {
		t.Fatalf("activate the campaign: %d: %q", status, b.Text("main"))
	}
	b.CheckAccessible("the active campaign")
	// HubSpot sends the changes the campaign needs, as the HubSpot page
	// lists them for the app's settings.
	c, err := st.d.Queries.CampaignGetByID(context.Background(), uuid.MustParse(campaignID))
	if err != nil {
		t.Fatal(err)
	}
	settings, err := activities.CampaignSettings(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range settings.WebhookSubscriptions() {
		if _, err := st.sim.Subscribe(sub.Type, sub.Property); err != nil {
			t.Fatal(err)
		}
	}

	// A member refers a friend with a throwaway mailbox: the referral's
	// workflow holds it for review (the default fraud check), and the
	// review queue's decision is an update of that live workflow.
	b.Open(st.url + "/admin/members?campaign_id=" + campaignID)
	b.CheckAccessible("the campaign's members")
	b.Type("#f-email", "nora@example.org")
	b.Type("#f-first_name", "Nora")
	if status := b.Submit(`form[method="post"][action="/admin/members"] [type="submit"]`); status != http.StatusOK || b.Text("h1") != "Nora" {
		t.Fatalf("add a member: %d: %s", status, b.Text("main"))
	}
	b.CheckAccessible("the new member")
	b.Type("#f-lead_email", "pia@mailinator.com")
	b.Type("#f-lead_first_name", "Pia")
	if status := b.Submit(`form[action$="/referrals"] [type="submit"]`); status != http.StatusOK || b.Text("h1") != "Referral of pia@mailinator.com" {
		t.Fatalf("add a referral: %d: %s", status, b.Text("main"))
	}
	referralURL := b.Location()
	b.CheckAccessible("the new referral")
	waitText(t, b, st.url+"/admin/review", "the referral held for review", "Held referral change fraud_check open")
	page("review-queue-held", "Review queue")
	if status := b.Follow(`a[href^="/admin/review/"]`); status != http.StatusOK {
		t.Fatalf("the review entry answered %d", status)
	}
	page("review-entry-held", "Review entry")
	if body := b.Text("main"); !strings.Contains(body, "disposable") || !strings.Contains(body, "Apply the held change") {
		t.Fatalf("the held entry does not say why, or which workflow holds it: %s", body)
	}
	if status := b.Submit(`form:has(input[name=action][value=approve]) button[type=submit]`); status != http.StatusOK {
		t.Fatalf("approve the held referral: %d: %s", status, b.Text("main"))
	}
	if body := b.Text("main"); strings.Contains(body, "Decide") {
		t.Fatalf("the entry is still open after the decision: %s", body)
	}

	// Let go, the lead reaches HubSpot as a contact; sales opens a deal on it.
	var contactID int64
	waitFor(t, "the lead's contact in HubSpot", func() bool {
		id, err := st.d.Queries.ReferralGetByID(context.Background(), uuid.MustParse(referralURL[strings.LastIndex(referralURL, "/")+1:]))
		if err != nil {
			t.Fatal(err)
		}
		if id.HubspotContactID != nil {
			contactID = *id.HubspotContactID
		}
		return contactID != 0
	})
	deal, err := st.sim.CreateObject(st.portal.ID, "deals", map[string]string{"dealname": "Pia's deal", "pipeline": "default", "dealstage": "appointmentscheduled"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.sim.Associate(st.portal.ID, "deals", deal, "contacts", strconv.FormatInt(contactID, 10)); err != nil {
		t.Fatal(err)
	}
	waitText(t, b, referralURL, "the deal joined to the referral", "HubSpot deal "+deal)

	// The salesperson wins the deal on the simulator's CRM page: the change
	// reaches referflow as a webhook, the referral is approved, and the
	// admin sees its reward.
	b.Open(st.simURL + "/portals/" + strconv.FormatInt(st.portal.ID, 10))
	b.Select(`#deal-`+deal+` select[aria-label="deal stage"]`, "closedwon")
	if status := b.Submit(`#deal-` + deal + ` form:has(select[aria-label="deal stage"]) button[type=submit]`); status != http.StatusOK {
		t.Fatalf("move the deal in HubSpot: %d: %s", status, b.Text("body"))
	}
	waitText(t, b, referralURL, "the referral approved", "Status approved")
	// The reward follows the approval: the workflow creates it in the step
	// after the status change, so a page read in between shows none yet.
	waitText(t, b, referralURL, "the approved referral's reward", "50.00 USD")
	page("referral-approved", "Referral of pia@mailinator.com")
	b.Open(st.url + "/admin/rewards?campaign_id=" + campaignID)
	if body := b.Text("main"); !strings.Contains(body, "pia@mailinator.com") || !strings.Contains(body, "50.00 USD") {
		t.Fatalf("the rewards page does not list Pia's reward: %s", body)
	}
	page("rewards-walk", "Rewards")

	// The Reports page: the funnel and its chart count the referral, and a
	// CSV link gives the same counts.
	b.Follow(`nav[aria-label=Main] a[href="/admin/reports"]`)
	b.Select("#f-campaign", campaignID)
	if status := b.Submit(`form[action="/admin/reports"] button[type=submit]`); status != http.StatusOK {
		t.Fatalf("show the reports: %d: %s", status, b.Text("main"))
	}
	page("reports", "Reports")
	if !b.Exists(`#funnel ~ figure svg[role=img]`) {
		t.Fatalf("the Reports page has no funnel chart: %s", b.Text("main"))
	}
	if body := b.Text("main"); !strings.Contains(body, "50.00 (1)") || !strings.Contains(body, "nora@example.org") {
		t.Fatalf("the reports do not count Pia's reward or rank Nora: %s", body)
	}
	href := b.Attribute(`a[href^="/api/v1/reports/funnel?"]`, "href")
	status, body := b.Download(st.url + href)
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if status != http.StatusOK || err != nil || len(rows) < 2 || !strings.Contains(string(body), "approved") {
		t.Fatalf("the funnel's CSV link %s: %d %v %q", href, status, err, body)
	}
}

// waitText opens the page at pageURL again until its main text has want,
// failing the test with what after a minute (the workflows and the Sales
// Receiver work in the background).
func waitText(t *testing.T, b *browser.Browser, pageURL, what, want string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		b.Open(pageURL)
		body := b.Text("main")
		if strings.Contains(strings.Join(strings.Fields(body), " "), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s: %s says %s", what, pageURL, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
