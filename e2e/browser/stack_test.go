package browser_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/api"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// stack is referflow as a visitor meets it: the api serving its public
// pages on a loopback listener at http://localhost:<port> (its public URL),
// the worker running the referrals' workflows, Postgres and the Temporal dev
// server, with a workspace, an active campaign and one member (Maya).
type stack struct {
	d  *testenv.Database
	tc *testenv.Temporal
	fx testenv.ReferralFixture
	// url is referflow's public URL, http://localhost:<port>.
	url  string
	logs *testenv.LogBuffer
}

// newStack starts the stack for the test. Make it before the test's
// browser, so that the browser, closed first when the test ends, holds no
// connection the api would wait for.
func newStack(t *testing.T) *stack {
	t.Helper()
	st := &stack{d: testenv.NewDatabase(t), tc: testenv.NewTemporal(t), logs: &testenv.LogBuffer{}}
	st.fx = st.d.SeedReferral(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// localhost, not 127.0.0.1: the customer's page below is on
	// 127.0.0.1, and the two must be different origins (and sites).
	st.url = fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	public, _ := url.Parse(st.url)
	logger := slog.New(slog.NewTextHandler(st.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv := api.New(api.Deps{
		Pool: st.d.Pool, Temporal: st.tc.Client, Logger: logger, PublicURL: public,
		TaskQueue: st.tc.TaskQueue, HubSpotTaskQueue: st.tc.HubSpotTaskQueue,
		Auth:          &adminauth.Authenticator{Queries: st.d.Queries, Sessions: adminauth.NewSessions([]byte("browser-session-key-0123456789ab"))},
		EncryptionKey: []byte("browser-suite-key-0123456789abcd"),
		// Each page sees the settings the test just stored.
		ReferralLinkCacheTTL: -1,
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
			t.Logf("api log:\n%s", st.logs.String())
		}
	})

	ws := worker.New(st.tc.Client, st.d.Pool, worker.Options{
		TaskQueue: st.tc.TaskQueue, HubSpotTaskQueue: st.tc.HubSpotTaskQueue, PublicURL: st.url,
		WebhookPolicy: testenv.LoopbackWebhooks(t),
	})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Stop)
	return st
}

// setPublic stores the campaign's public settings, validated as the admin
// API validates them.
func (st *stack) setPublic(t *testing.T, p campaign.Public) campaign.Public {
	t.Helper()
	c, err := st.d.Queries.CampaignGetByID(context.Background(), st.fx.Campaign.ID)
	if err != nil {
		t.Fatal(err)
	}
	s, err := activities.CampaignSettings(c)
	if err != nil {
		t.Fatal(err)
	}
	s.Public = p
	s.Normalize()
	st.d.SetCampaignSettings(t, c, s)
	return s.Public
}

// campaign is the campaign as stored now (its publishable key, its slug).
func (st *stack) campaign(t *testing.T) db.Campaign {
	t.Helper()
	c, err := st.d.Queries.CampaignGetByID(context.Background(), st.fx.Campaign.ID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// accessLink is Maya's access link to her portal, as an admin makes it
// through the admin API (POST /api/v1/members/{id}/access-link).
func (st *stack) accessLink(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	_, key, err := adminauth.CreateAdmin(ctx, st.d.Queries, st.fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.url+"/api/v1/members/"+st.fx.Member.ID.String()+"/access-link", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		URL string `json:"url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK || out.URL == "" {
		t.Fatalf("access link: %d, %v, %+v", resp.StatusCode, err, out)
	}
	return out.URL
}

// link is Maya's referral link.
func (st *stack) link() string { return st.url + "/r/" + st.fx.Member.ReferralCode }

// waitFor polls check every 50 ms until it returns true, failing the test
// with what after ten seconds.
func waitFor(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// customerSite is a customer's own website, on another origin than
// referflow (http://127.0.0.1:<port>): its landing page carries referflow's
// tracking script and a lead form the script captures, and its form posts
// to the site's own handler, which records what it got.
type customerSite struct {
	url string

	mu    sync.Mutex
	leads []url.Values
}

// customerPage is the customer's landing page: their own form, marked for
// the tracking script, posting to their own server.
var customerPage = template.Must(template.New("landing").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Acme: book a demo</title></head>
<body>
<h1>Book a demo of Acme</h1>
<form method="post" action="/thanks" data-referflow-form>
<label for="email">Work email</label> <input id="email" name="email" type="email" required>
<label for="first_name">First name</label> <input id="first_name" name="first_name">
<label for="last_name">Last name</label> <input id="last_name" name="last_name">
<label for="company">Company</label> <input id="company" name="company">
<button id="send" type="submit">Book my demo</button>
</form>
{{if .Key}}<script src="{{.ScriptURL}}" data-campaign="{{.Key}}"></script>{{end}}
</body>
</html>
`))

// newCustomerSite serves the landing page at /welcome, carrying the
// tracking script of the referflow at referflowURL for the campaign with
// publishable key key ("" for a page without the script).
func newCustomerSite(t *testing.T, referflowURL, key string) *customerSite {
	t.Helper()
	site := &customerSite{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /welcome", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = customerPage.Execute(w, struct{ ScriptURL, Key string }{referflowURL + "/js/referflow.js", key})
	})
	mux.HandleFunc("POST /thanks", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		site.mu.Lock()
		site.leads = append(site.leads, r.PostForm)
		site.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>Thanks</title><h1>Thanks, we will be in touch</h1></html>`)
	})
	srv := httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	site.url = srv.URL
	if !strings.HasPrefix(site.url, "http://127.0.0.1:") {
		t.Fatalf("the customer's site is at %s, want http://127.0.0.1:<port> (another origin than referflow's localhost)", site.url)
	}
	return site
}

// received are the leads the customer's own form handler got.
func (s *customerSite) received() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.leads...)
}

// lead is a referral as the test checks it: who referred it and how it came
// in.
type lead struct {
	id       string
	memberID string
	// column is referrals.source; addedSource the way in its added event
	// names (referral.Source).
	column, addedSource string
}

// findReferral is the campaign's referral of the lead with this email, nil
// when there is none.
func (st *stack) findReferral(t *testing.T, email string) *lead {
	t.Helper()
	var l lead
	err := st.d.Pool.QueryRow(context.Background(), `
		SELECT r.id::text, r.member_id::text, r.source, coalesce(e.details->>'source', '')
		FROM referrals r LEFT JOIN referral_events e ON e.referral_id = r.id AND e.kind = 'added'
		WHERE r.campaign_id = $1 AND r.lead_email_normalized = lower($2)`,
		st.fx.Campaign.ID, email).Scan(&l.id, &l.memberID, &l.column, &l.addedSource)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return &l
}

// waitReferral waits until the lead's referral is saved and its workflow
// runs, and checks that it is Maya's and came in through source.
func (st *stack) waitReferral(t *testing.T, email string, source referral.Source) *lead {
	t.Helper()
	var l *lead
	waitFor(t, "the referral of "+email+" to be saved", func() bool {
		l = st.findReferral(t, email)
		return l != nil
	})
	if l.memberID != st.fx.Member.ID.String() {
		t.Errorf("the referral of %s is attributed to member %s, want Maya (%s)", email, l.memberID, st.fx.Member.ID)
	}
	if l.column != source.Column() || l.addedSource != string(source) {
		t.Errorf("the referral of %s came in as %q (added event: %q), want %q (%q)", email, l.column, l.addedSource, source.Column(), source)
	}
	waitFor(t, "the workflow of the referral of "+email, func() bool {
		_, err := st.tc.Client.DescribeWorkflowExecution(context.Background(), workflows.ReferralWorkflowID(l.id), "")
		return err == nil
	})
	return l
}

// countReferrals is how many referrals the campaign has (the seeded one
// included).
func (st *stack) countReferrals(t *testing.T) int {
	t.Helper()
	var n int
	if err := st.d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM referrals WHERE campaign_id = $1`, st.fx.Campaign.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
