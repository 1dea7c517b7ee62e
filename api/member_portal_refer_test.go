package api

import (
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/workflows"
)

// portalWorld is the api over real Postgres, a real Temporal dev server and
// real loopback HTTP, with the seeded member's access link; its browser
// keeps cookies and does not follow redirects.
type portalWorld struct {
	d       *testenv.Database
	tc      *testenv.Temporal
	fx      testenv.ReferralFixture
	srv     *Server
	url     string
	browser *http.Client
	token   string
}

func newPortalWorld(t *testing.T, limits PublicLimits, temporal client.Client) *portalWorld {
	t.Helper()
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	if temporal == nil {
		temporal = tc.Client
	}
	srv := New(Deps{
		Pool: d.Pool, Temporal: temporal, Logger: slog.New(slog.DiscardHandler), EncryptionKey: testEncryptionKey,
		TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue, PublicLimits: limits,
	})
	t.Cleanup(srv.clicks.close)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	jar, _ := cookiejar.New(nil)
	w := &portalWorld{
		d: d, tc: tc, fx: d.SeedReferral(t), srv: srv, url: hs.URL,
		browser: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	w.token = srv.memberAccessToken(w.fx.Member.ID, time.Now().Add(time.Hour))
	return w
}

func (w *portalWorld) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := w.browser.Get(w.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (w *portalWorld) post(t *testing.T, path string, form url.Values, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, w.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := w.browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	csrfInput  = regexp.MustCompile(`name="` + CSRFField + `" value="([^"]+)"`)
)

// openForm opens the member's portal as a browser would and answers the
// refer-someone form's action and CSRF token.
func (w *portalWorld) openForm(t *testing.T, token string) (action, csrf string) {
	t.Helper()
	resp, page := w.get(t, memberPortalPrefix+token)
	a, c := formAction.FindStringSubmatch(page), csrfInput.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || a == nil || c == nil {
		t.Fatalf("portal = %d without the refer form: %s", resp.StatusCode, page)
	}
	return html.UnescapeString(a[1]), html.UnescapeString(c[1])
}

func leadForm(csrf string, fields ...string) url.Values {
	v := url.Values{CSRFField: {csrf}, HoneypotField: {""}}
	for i := 0; i+1 < len(fields); i += 2 {
		v.Set(fields[i], fields[i+1])
	}
	return v
}

func (w *portalWorld) referral(t *testing.T, email string) (db.Referral, bool) {
	t.Helper()
	r, err := w.d.Queries.ReferralGetByLeadEmail(context.Background(), db.ReferralGetByLeadEmailParams{CampaignID: w.fx.Campaign.ID, LeadEmail: email})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Referral{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return r, true
}

func TestMemberPortalReferSomeone(t *testing.T) {
	t.Parallel()
	w := newPortalWorld(t, PublicLimits{}, nil)
	action, csrf := w.openForm(t, w.token)
	if action != memberPortalPrefix+w.token+"/referrals" {
		t.Fatalf("form action %q", action)
	}
	form := leadForm(csrf, "email", "Nora.Lind@Globex.test", "first_name", "Nora", "last_name", "Lind",
		"company", "Globex", "phone", "+1 555 010 0199", "note", "Needs 40 seats\nbefore March.")
	resp, _ := w.post(t, action, form, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != memberPortalPrefix+w.token+"?sent=1" {
		t.Fatalf("refer = %d to %q, want 303 back to the portal", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := w.get(t, resp.Header.Get("Location"))
	// same-origin keeps the token from other sites; no-referrer would make
	// browsers post the form with "Origin: null", which the door refuses.
	if rp := resp.Header.Get("Referrer-Policy"); rp != "same-origin" {
		t.Fatalf("the portal's Referrer-Policy is %q, want same-origin", rp)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "your referral was sent") ||
		!strings.Contains(page, "Nora <span class=\"public-small\">N***@Globex.test</span>") || strings.Contains(page, "Nora.Lind") {
		t.Fatalf("the portal after referring = %d %s", resp.StatusCode, page)
	}
	r, ok := w.referral(t, "nora.lind@globex.test")
	if !ok {
		t.Fatal("no referral in Postgres")
	}
	if r.Source != "member_portal" || r.MemberID != w.fx.Member.ID || deref(r.LeadFirstName) != "Nora" || deref(r.LeadLastName) != "Lind" ||
		deref(r.LeadCompany) != "Globex" || deref(r.LeadPhone) != "+1 555 010 0199" || deref(r.Note) != "Needs 40 seats\nbefore March." ||
		len(r.VisitorHash) != 32 {
		t.Fatalf("referral = %+v", r)
	}
	var source, actor string
	if err := w.d.Pool.QueryRow(context.Background(), `SELECT details->>'source', actor FROM referral_events WHERE referral_id = $1 AND kind = 'added'`, r.ID).Scan(&source, &actor); err != nil ||
		source != "member_portal" || actor != "member:"+w.fx.Member.ID.String() {
		t.Fatalf("added event: source %q actor %q (%v)", source, actor, err)
	}
	// Its workflow was started.
	if _, err := w.tc.Client.DescribeWorkflowExecution(context.Background(), workflows.ReferralWorkflowID(r.ID.String()), ""); err != nil {
		t.Fatalf("the referral's workflow: %v", err)
	}

	// The same form sent again (a double click): the same referral.
	if resp, _ := w.post(t, action, form, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sent again = %d, want 303", resp.StatusCode)
	}
	var n int
	if err := w.d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM referrals WHERE lower(lead_email) = 'nora.lind@globex.test'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d referrals of the lead (%v), want 1", n, err)
	}
}

func TestMemberPortalReferSomeoneRefusals(t *testing.T) {
	t.Parallel()
	w := newPortalWorld(t, PublicLimits{PerVisitor: Rate{Burst: 1000, Every: time.Millisecond}}, nil)
	action, csrf := w.openForm(t, w.token)

	// Field errors: the form again (422), values kept, each error by its
	// field.
	resp, page := w.post(t, action, leadForm(csrf, "email", "not-an-email", "first_name", "", "company", "Initech", "phone", "call me"), nil)
	if resp.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(page, `value="not-an-email"`) || !strings.Contains(page, `value="Initech"`) ||
		!strings.Contains(page, "Enter an email address like name@example.com.") || !strings.Contains(page, "Enter their first name.") ||
		!strings.Contains(page, "3 fields below need fixing") ||
		!strings.Contains(page, `id="f-phone" name="phone" type="tel" value="call me"`) || !strings.Contains(page, `aria-describedby="f-email-error"`) {
		t.Fatalf("invalid fields = %d %s", resp.StatusCode, page)
	}
	// The member's own email.
	resp, page = w.post(t, action, leadForm(csrf, "email", "MAYA@example.com", "first_name", "Me"), nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "your own email address") {
		t.Fatalf("own email = %d %s", resp.StatusCode, page)
	}
	// A lead another member already referred: said plainly, not by whom.
	other, err := w.d.Queries.MemberCreate(context.Background(), db.MemberCreateParams{
		WorkspaceID: w.fx.Workspace.ID, CampaignID: w.fx.Campaign.ID, ReferralCode: "OTHER", Email: "olga@rival.test", Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	addPortalReferral(t, w.d, other, "taken@example.org", "Tia", "pending", false, time.Now().Add(-time.Hour))
	resp, page = w.post(t, action, leadForm(csrf, "email", "Taken@Example.org", "first_name", "Tia"), nil)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(page, "already been referred") || strings.Contains(page, "olga") || strings.Contains(page, "OTHER") {
		t.Fatalf("a lead already referred = %d %s", resp.StatusCode, page)
	}
	// A lead this member already referred: the same referral again.
	if resp, _ := w.post(t, action, leadForm(csrf, "email", "leo@example.org", "first_name", "Leo"), nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the member's own earlier lead = %d, want 303", resp.StatusCode)
	}

	// CSRF: no cookie, a token for another form, another site's page.
	bare := &http.Client{CheckRedirect: w.browser.CheckRedirect}
	req, _ := http.NewRequest(http.MethodPost, w.url+action, strings.NewReader(leadForm(csrf, "email", "x1@example.org", "first_name", "X").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := bare.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("without the CSRF cookie: %v %v", resp.StatusCode, err)
	}
	otherToken := w.srv.memberAccessToken(other.ID, time.Now().Add(time.Hour))
	_, otherCSRF := w.openForm(t, otherToken)
	if resp, page := w.post(t, action, leadForm(otherCSRF, "email", "x2@example.org", "first_name", "X"), nil); resp.StatusCode != http.StatusForbidden ||
		!strings.Contains(page, "did not come from this site") || !strings.Contains(page, `value="x2@example.org"`) {
		t.Fatalf("another form's token = %d %s", resp.StatusCode, page)
	}
	if resp, _ := w.post(t, action, leadForm(csrf, "email", "x3@example.org", "first_name", "X"), http.Header{"Origin": {"https://evil.test"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("from another site = %d", resp.StatusCode)
	}
	// The honeypot: answered as sent, nothing kept.
	bot := leadForm(csrf, "email", "x4@example.org", "first_name", "X")
	bot.Set(HoneypotField, "https://spam.test")
	if resp, _ := w.post(t, action, bot, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("honeypot = %d, want 303", resp.StatusCode)
	}
	for _, e := range []string{"x1@example.org", "x2@example.org", "x3@example.org", "x4@example.org", "not-an-email", "maya@example.com"} {
		if _, ok := w.referral(t, e); ok {
			t.Errorf("a refused post kept a referral of %s", e)
		}
	}

	// An expired link cannot post.
	expired := w.srv.memberAccessToken(w.fx.Member.ID, time.Now().Add(-time.Second))
	if resp, _ := w.post(t, memberPortalPrefix+expired+"/referrals", leadForm(csrf, "email", "x5@example.org", "first_name", "X"), nil); resp.StatusCode != http.StatusGone {
		t.Fatalf("post with an expired link = %d, want 410", resp.StatusCode)
	}

	// A paused campaign: no form, and a post says it takes no referrals.
	paused := string(campaign.Paused)
	if _, err := w.d.Queries.CampaignUpdateDetails(context.Background(), db.CampaignUpdateDetailsParams{
		ID: w.fx.Campaign.ID, WorkspaceID: w.fx.Workspace.ID, Status: &paused,
	}); err != nil {
		t.Fatal(err)
	}
	resp, page = w.get(t, memberPortalPrefix+w.token)
	if resp.StatusCode != http.StatusOK || strings.Contains(page, "<form") || !strings.Contains(page, "is not taking referrals at the moment") ||
		strings.Contains(page, "qr.png") {
		t.Fatalf("portal of a paused campaign = %d %s", resp.StatusCode, page)
	}
	resp, page = w.post(t, action, leadForm(csrf, "email", "x6@example.org", "first_name", "X"), nil)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(page, "is not taking referrals") {
		t.Fatalf("post to a paused campaign = %d %s", resp.StatusCode, page)
	}
}

func TestMemberPortalReferSomeoneRateLimited(t *testing.T) {
	t.Parallel()
	w := newPortalWorld(t, PublicLimits{PerMember: Rate{Burst: 2, Every: time.Hour}}, nil)
	action, csrf := w.openForm(t, w.token)
	for i, e := range []string{"r1@example.org", "r2@example.org"} {
		if resp, _ := w.post(t, action, leadForm(csrf, "email", e, "first_name", "R"), nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("referral %d = %d", i+1, resp.StatusCode)
		}
	}
	resp, page := w.post(t, action, leadForm(csrf, "email", "r3@example.org", "first_name", "R"), nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(page, "Too many forms were sent through your referral link") || !strings.Contains(page, `value="r3@example.org"`) {
		t.Fatalf("third referral = %d (Retry-After %q) %s", resp.StatusCode, resp.Header.Get("Retry-After"), page)
	}
	if _, ok := w.referral(t, "r3@example.org"); ok {
		t.Fatal("the refused referral was kept")
	}
}

// TestMemberPortalReferSomeoneWhileTemporalIsDown: the referral is kept and
// the member told it was sent; the worker's reconciler starts its workflow.
func TestMemberPortalReferSomeoneWhileTemporalIsDown(t *testing.T) {
	t.Parallel()
	down, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Namespace: testenv.TemporalNamespace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Close)
	w := newPortalWorld(t, PublicLimits{}, down)
	action, csrf := w.openForm(t, w.token)
	if resp, _ := w.post(t, action, leadForm(csrf, "email", "kept@example.org", "first_name", "Kim"), nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("refer with Temporal down = %d, want 303", resp.StatusCode)
	}
	r, ok := w.referral(t, "kept@example.org")
	if !ok || r.Source != "member_portal" || r.WorkflowStartedAt != nil {
		t.Fatalf("referral with Temporal down = %+v (found %v)", r, ok)
	}
}
