package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
)

// formWorld is the api over real Postgres, a real Temporal dev server and
// loopback HTTP at its own public URL (http, so the browsers' cookie jars
// send its cookies), with an active campaign (slug "spring", no landing
// page: links land on the hosted form) and its member Maya.
type formWorld struct {
	*linkWorld
	tc *testenv.Temporal
}

const testSlug = "spring"

func newFormWorld(t *testing.T, limits PublicLimits, change ...func(*Deps)) *formWorld {
	t.Helper()
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	hs := httptest.NewUnstartedServer(nil)
	public, _ := url.Parse("http://" + hs.Listener.Addr().String())
	deps := Deps{
		Pool: d.Pool, Temporal: tc.Client, TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue,
		Logger: slog.New(slog.DiscardHandler), PublicURL: public,
		EncryptionKey: testEncryptionKey, ReferralLinkCacheTTL: -1, PublicLimits: limits,
		// As behind a proxy on this host: the tests name the visitor in
		// X-Forwarded-For.
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	}
	for _, f := range change {
		f(&deps)
	}
	srv := New(deps)
	t.Cleanup(srv.clicks.close)
	hs.Config.Handler = srv.Handler()
	hs.Start()
	t.Cleanup(hs.Close)
	fx := d.SeedReferral(t)
	// A code as referflow makes them (upper case).
	fx.Member.ReferralCode = referral.NewCode("Maya")
	if _, err := d.Pool.Exec(context.Background(), `UPDATE members SET referral_code = $1 WHERE id = $2`, fx.Member.ReferralCode, fx.Member.ID); err != nil {
		t.Fatal(err)
	}
	w := &formWorld{linkWorld: &linkWorld{d: d, fx: fx, srv: srv, url: hs.URL,
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, tc: tc}
	w.setPublic(t, campaign.Public{Slug: testSlug})
	return w
}

// browser is one visitor: its own cookies and address (X-Forwarded-For).
// It follows redirects, as a browser does, unless told not to.
type browser struct {
	t      *testing.T
	w      *formWorld
	client *http.Client
	ip     string
	header http.Header
}

func (w *formWorld) browser(t *testing.T, ip string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, w: w, ip: ip, header: http.Header{}, client: &http.Client{Jar: jar}}
}

// page is an answer as the browser shows it.
type page struct {
	status int
	url    string
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, follow bool) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	target := path
	if !strings.HasPrefix(path, "http") {
		target = b.w.url + path
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Forwarded-For", b.ip)
	req.Header.Set("User-Agent", "referflow-test-browser")
	for k, v := range b.header {
		req.Header[k] = v
	}
	client := b.client
	if !follow {
		c := *b.client
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		client = &c
	}
	resp, err := client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, url: resp.Request.URL.String(), header: resp.Header, body: string(raw)}
}

func (b *browser) get(path string) page { b.t.Helper(); return b.do(http.MethodGet, path, nil, true) }

// submit fills the page's form with fields (and its hidden fields as
// given) and sends it, following the redirect.
func (b *browser) submit(p page, fields map[string]string) page {
	b.t.Helper()
	action, form := formOf(b.t, p)
	for k, v := range fields {
		form.Set(k, v)
	}
	return b.do(http.MethodPost, action, form, true)
}

var (
	formActionRE  = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	hiddenInputRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// formOf is a page's form: where it posts and its hidden fields.
func formOf(t *testing.T, p page) (string, url.Values) {
	t.Helper()
	m := formActionRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no form on the page (%d %s):\n%s", p.status, p.url, p.body)
	}
	form := url.Values{}
	for _, h := range hiddenInputRE.FindAllStringSubmatch(p.body, -1) {
		form.Set(h[1], unescapeHTML(h[2]))
	}
	return unescapeHTML(m[1]), form
}

func unescapeHTML(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

var (
	inputRE    = regexp.MustCompile(`<(input|textarea)\b[^>]*>`)
	attrRE     = regexp.MustCompile(`\b([a-z-]+)="([^"]*)"`)
	labelForRE = regexp.MustCompile(`<label for="([^"]+)">`)
)

// checkAccessible asserts what every public page must have: a language, one
// h1, a label bound to every input a person fills in, and each field's
// message named by the field's aria-describedby.
func checkAccessible(t *testing.T, p page) {
	t.Helper()
	if !strings.HasPrefix(p.body, "<!doctype html>\n<html lang=\"en\">") {
		t.Errorf("page does not start with a doctype and <html lang>: %.80q", p.body)
	}
	if n := strings.Count(p.body, "<h1"); n != 1 {
		t.Errorf("page has %d h1, want 1", n)
	}
	labels := map[string]bool{}
	for _, m := range labelForRE.FindAllStringSubmatch(p.body, -1) {
		labels[m[1]] = true
	}
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`\bid="([^"]+)"`).FindAllStringSubmatch(p.body, -1) {
		ids[m[1]] = true
	}
	for _, tag := range inputRE.FindAllString(p.body, -1) {
		attrs := map[string]string{}
		for _, a := range attrRE.FindAllStringSubmatch(tag, -1) {
			attrs[a[1]] = a[2]
		}
		if attrs["type"] == "hidden" {
			continue
		}
		if attrs["id"] == "" || !labels[attrs["id"]] {
			t.Errorf("input without a label: %s", tag)
		}
		for _, ref := range strings.Fields(attrs["aria-describedby"]) {
			if !ids[ref] {
				t.Errorf("input %s is described by #%s, which is not on the page", attrs["name"], ref)
			}
		}
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("page's CSP %q", csp)
	}
}

// fieldError is the message shown next to the named field, "" when none.
func fieldError(p page, name string) string {
	m := regexp.MustCompile(`<p class="public-field-error" id="f-` + name + `-error">([^<]*)</p>`).FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return unescapeHTML(m[1])
}

// fieldValue is the value the named input shows.
func fieldValue(p page, name string) string {
	for _, tag := range inputRE.FindAllString(p.body, -1) {
		if !strings.Contains(tag, `name="`+name+`"`) {
			continue
		}
		if strings.HasPrefix(tag, "<textarea") {
			i := strings.Index(p.body, tag) + len(tag)
			return unescapeHTML(p.body[i : i+strings.Index(p.body[i:], "</textarea>")])
		}
		if m := regexp.MustCompile(`value="([^"]*)"`).FindStringSubmatch(tag); m != nil {
			return unescapeHTML(m[1])
		}
	}
	return ""
}

// referralsOf lists the campaign's referrals of an email (any case).
func (w *formWorld) referralsOf(t *testing.T, email string) []db.Referral {
	t.Helper()
	rows, err := w.d.Queries.ReferralListByCampaign(context.Background(), db.ReferralListByCampaignParams{CampaignID: w.fx.Campaign.ID, PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []db.Referral
	for _, r := range rows {
		if strings.EqualFold(r.LeadEmail, email) {
			out = append(out, r)
		}
	}
	return out
}

// addMember adds a member of the campaign as the admin API would.
func (w *formWorld) addMember(t *testing.T, first string) db.Member {
	t.Helper()
	m, err := w.d.Queries.MemberCreate(context.Background(), db.MemberCreateParams{
		WorkspaceID: w.fx.Workspace.ID, CampaignID: w.fx.Campaign.ID, ReferralCode: referral.NewCode(first),
		Email: strings.ToLower(first) + "@example.com", FirstName: &first, Source: string(referral.MemberSourceAPI),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
