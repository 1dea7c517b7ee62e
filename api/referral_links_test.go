package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
)

var testEncryptionKey = []byte("click-test-key-0123456789abcdef0")

// linkWorld is the api over real Postgres and real loopback HTTP, with an
// active campaign and one of its members. Clicks wait in the buffer until
// the test flushes them (the interval is an hour).
type linkWorld struct {
	d      *testenv.Database
	fx     testenv.ReferralFixture
	srv    *Server
	url    string
	client *http.Client
}

func newLinkWorld(t *testing.T, buffer ClickBuffer) *linkWorld {
	t.Helper()
	return newLinkWorldCaching(t, buffer, -1)
}

// newLinkWorldCaching is newLinkWorld with referral link lookups kept for
// cacheTTL (negative: not kept, so each follow sees the latest settings).
func newLinkWorldCaching(t *testing.T, buffer ClickBuffer, cacheTTL time.Duration) *linkWorld {
	t.Helper()
	d := testenv.NewDatabase(t)
	if buffer.Interval == 0 {
		buffer.Interval = time.Hour
	}
	public, _ := url.Parse("https://refer.acme.test")
	srv := New(Deps{
		Pool: d.Pool, Logger: slog.New(slog.DiscardHandler), PublicURL: public,
		EncryptionKey: testEncryptionKey, ClickBuffer: buffer, ReferralLinkCacheTTL: cacheTTL,
		// As behind a proxy on this host: the tests name the visitor in
		// X-Forwarded-For.
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	})
	t.Cleanup(srv.clicks.close)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	fx := d.SeedReferral(t)
	// A code as referflow makes them (upper case).
	fx.Member.ReferralCode = referral.NewCode("Maya")
	if _, err := d.Pool.Exec(context.Background(), `UPDATE members SET referral_code = $1 WHERE id = $2`, fx.Member.ReferralCode, fx.Member.ID); err != nil {
		t.Fatal(err)
	}
	return &linkWorld{d: d, fx: fx, srv: srv, url: hs.URL, client: client}
}

// setPublic stores the campaign's public settings as the admin API would.
func (w *linkWorld) setPublic(t *testing.T, p campaign.Public) {
	t.Helper()
	c, err := w.d.Queries.CampaignGetByID(context.Background(), w.fx.Campaign.ID)
	if err != nil {
		t.Fatal(err)
	}
	s, err := activities.CampaignSettings(c)
	if err != nil {
		t.Fatal(err)
	}
	if p.AllowedOrigins == nil {
		p.AllowedOrigins = []string{}
	}
	if p.Attribution == (campaign.Attribution{}) {
		p.Attribution = campaign.Defaults().Public.Attribution
	}
	s.Public = p
	w.d.SetCampaignSettings(t, c, s)
}

func (w *linkWorld) setStatus(t *testing.T, status campaign.Status) {
	t.Helper()
	st := string(status)
	if _, err := w.d.Queries.CampaignUpdateDetails(context.Background(), db.CampaignUpdateDetailsParams{
		ID: w.fx.Campaign.ID, WorkspaceID: w.fx.Workspace.ID, Status: &st,
	}); err != nil {
		t.Fatal(err)
	}
}

// follow opens a referral link path as a browser would, not following the
// redirect.
func (w *linkWorld) follow(t *testing.T, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, w.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := w.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (w *linkWorld) clicks(t *testing.T) []db.Click {
	t.Helper()
	w.srv.clicks.flush()
	rows, err := w.d.Queries.ClickListByMember(context.Background(), w.fx.Member.ID)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestReferralLinkRedirectsToLandingPage(t *testing.T) {
	t.Parallel()
	w := newLinkWorld(t, ClickBuffer{})
	w.setPublic(t, campaign.Public{
		LandingURL:  "https://shop.example/welcome?utm_source=partner&referflow_ref=OLD&b=%2F#pricing",
		Attribution: campaign.Attribution{WindowDays: 30, Model: campaign.LastTouch},
	})
	code := w.fx.Member.ReferralCode

	resp, _ := w.follow(t, "/r/"+code, nil)
	want := "https://shop.example/welcome?utm_source=partner&b=%2F&referflow_ref=" + code + "#pricing"
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
		t.Fatalf("referral link = %d to %q, want 302 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("redirect headers: Cache-Control %q, Referrer-Policy %q", resp.Header.Get("Cache-Control"), resp.Header.Get("Referrer-Policy"))
	}
	cookie := findCookie(resp, AttributionCookieName(w.fx.Campaign.ID))
	if cookie == nil || cookie.Value != code || cookie.MaxAge != 30*24*3600 || !cookie.HttpOnly || !cookie.Secure ||
		cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" {
		t.Fatalf("attribution cookie = %+v, want the code for 30 days, HttpOnly, Secure (https public URL), SameSite=Lax", cookie)
	}

	// A code retyped in lower case still finds its member (generated codes
	// are upper case).
	resp, _ = w.follow(t, "/r/"+strings.ToLower(code), nil)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
		t.Fatalf("lower-case referral link = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// A landing URL without a query or fragment gets just the code.
	w.setPublic(t, campaign.Public{LandingURL: "https://shop.example/"})
	resp, _ = w.follow(t, "/r/"+code, nil)
	if got := resp.Header.Get("Location"); got != "https://shop.example/?referflow_ref="+code {
		t.Fatalf("plain landing URL: Location %q", got)
	}
	if c := findCookie(resp, AttributionCookieName(w.fx.Campaign.ID)); c == nil || c.MaxAge != campaign.DefaultAttributionWindowDays*24*3600 {
		t.Fatalf("cookie with the default window = %+v, want %d days", c, campaign.DefaultAttributionWindowDays)
	}
}

func TestReferralLinkLookupReusedWithinTheCacheTTL(t *testing.T) {
	t.Parallel()
	w := newLinkWorldCaching(t, ClickBuffer{}, time.Hour)
	w.setPublic(t, campaign.Public{LandingURL: "https://shop.example/old"})
	code := w.fx.Member.ReferralCode
	if resp, _ := w.follow(t, "/r/"+code, nil); resp.Header.Get("Location") != "https://shop.example/old?referflow_ref="+code {
		t.Fatalf("first follow = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Within the TTL a link keeps its lookup: the new landing URL and the
	// pause show only once it has passed; an unknown code is never kept.
	w.setPublic(t, campaign.Public{LandingURL: "https://shop.example/new"})
	w.setStatus(t, campaign.Paused)
	if resp, _ := w.follow(t, "/r/"+code, nil); resp.Header.Get("Location") != "https://shop.example/old?referflow_ref="+code {
		t.Fatalf("follow within the TTL = %d to %q, want the remembered landing URL", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := w.follow(t, "/r/"+strings.ToLower(code), nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another spelling, not yet looked up, of a paused campaign's code = %d, want 404", resp.StatusCode)
	}
	if n := len(w.clicks(t)); n != 2 {
		t.Fatalf("%d clicks, want 2 (the two redirects)", n)
	}
}

func TestReferralLinkWithoutLandingURL(t *testing.T) {
	t.Parallel()
	w := newLinkWorld(t, ClickBuffer{})
	code := w.fx.Member.ReferralCode

	// No landing URL and no slug: a page says so, nothing to redirect to.
	resp, body := w.follow(t, "/r/"+code, nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "no landing page yet") || resp.Header.Get("Location") != "" {
		t.Fatalf("campaign without a landing page = %d %s", resp.StatusCode, body)
	}

	// With a slug: the campaign's hosted lead form.
	w.setPublic(t, campaign.Public{Slug: "spring"})
	resp, _ = w.follow(t, "/r/"+code, nil)
	if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || got != "/c/spring/refer?referflow_ref="+code {
		t.Fatalf("campaign with a slug only = %d to %q, want its hosted form", resp.StatusCode, got)
	}
}

func TestReferralLinkNotFound(t *testing.T) {
	t.Parallel()
	w := newLinkWorld(t, ClickBuffer{})
	w.setPublic(t, campaign.Public{LandingURL: "https://shop.example/"})
	code := w.fx.Member.ReferralCode
	check := func(what, path string) {
		t.Helper()
		resp, body := w.follow(t, path, nil)
		if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, "This referral link is not valid") ||
			strings.Contains(body, "<script") || resp.Header.Get("Location") != "" {
			t.Fatalf("%s = %d %s %s, want the 404 page", what, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if findCookie(resp, AttributionCookieName(w.fx.Campaign.ID)) != nil {
			t.Fatalf("%s set the attribution cookie", what)
		}
	}
	check("unknown code", "/r/NOBODY-2345")
	check("code with characters no code has", "/r/"+url.PathEscape("<script>alert(1)</script>"))
	check("code longer than 64 characters", "/r/"+strings.Repeat("A", 65))
	w.setStatus(t, campaign.Paused)
	check("code of a paused campaign", "/r/"+code)
	w.setStatus(t, campaign.Archived)
	check("code of an archived campaign", "/r/"+code)

	// A draft campaign's member.
	draft := string(campaign.Draft)
	camp, err := w.d.Queries.CampaignCreate(context.Background(), db.CampaignCreateParams{WorkspaceID: w.fx.Workspace.ID, Name: "Draft", Status: &draft})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.d.Queries.MemberCreate(context.Background(), db.MemberCreateParams{
		WorkspaceID: w.fx.Workspace.ID, CampaignID: camp.ID, ReferralCode: "DRAFT-2345", Email: "d@example.com", Source: "admin",
	}); err != nil {
		t.Fatal(err)
	}
	check("code of a draft campaign", "/r/DRAFT-2345")

	if n := len(w.clicks(t)); n != 0 {
		t.Fatalf("links answered 404 recorded %d clicks", n)
	}
}

func TestReferralLinkRecordsClickWithoutTheIP(t *testing.T) {
	t.Parallel()
	w := newLinkWorld(t, ClickBuffer{})
	w.setPublic(t, campaign.Public{LandingURL: "https://shop.example/"})
	const ip, agent = "203.0.113.77", "Mozilla/5.0 (X11; Linux x86_64) ClickTest/1.0"
	before := time.Now()
	resp, _ := w.follow(t, "/r/"+w.fx.Member.ReferralCode, http.Header{
		"X-Forwarded-For": {ip}, "User-Agent": {agent},
		"Referer": {"https://blog.example/posts/why-we-switched?email=someone%40example.com#comments"},
	})
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("referral link = %d", resp.StatusCode)
	}
	clicks := w.clicks(t)
	if len(clicks) != 1 {
		t.Fatalf("%d clicks recorded, want 1", len(clicks))
	}
	c := clicks[0]
	if c.WorkspaceID != w.fx.Workspace.ID || c.CampaignID != w.fx.Campaign.ID || c.MemberID != w.fx.Member.ID {
		t.Fatalf("click = %+v, want the member's campaign and workspace", c)
	}
	if c.ClickedAt.Before(before.Add(-time.Second)) || c.ClickedAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("clicked_at %s is not the time of the click", c.ClickedAt)
	}
	if c.Referrer == nil || *c.Referrer != "https://blog.example/posts/why-we-switched" {
		t.Fatalf("referrer = %v, want the referring page's origin and path only", c.Referrer)
	}
	m := hmac.New(sha256.New, deriveKey(testEncryptionKey, "referflow click visitor hash v1"))
	m.Write([]byte(ip + "\x00" + agent))
	if !hmac.Equal(c.VisitorHash, m.Sum(nil)) {
		t.Fatalf("visitor hash %x is not the keyed hash of the IP and user agent", c.VisitorHash)
	}
	var row string
	if err := w.d.Pool.QueryRow(context.Background(), "SELECT c::text FROM clicks c WHERE id = $1", c.ID).Scan(&row); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(row, ip) || strings.Contains(row, "someone") {
		t.Fatalf("the stored click holds the raw IP or the referrer's query: %s", row)
	}

	// Another visitor is another hash; HEAD (link previews) records nothing.
	w.follow(t, "/r/"+w.fx.Member.ReferralCode, http.Header{"X-Forwarded-For": {"198.51.100.9"}, "User-Agent": {agent}})
	req, _ := http.NewRequest(http.MethodHead, w.url+"/r/"+w.fx.Member.ReferralCode, nil)
	if resp, err := w.client.Do(req); err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("HEAD referral link = %v %v", resp, err)
	}
	clicks = w.clicks(t)
	if len(clicks) != 2 || hmac.Equal(clicks[0].VisitorHash, clicks[1].VisitorHash) || clicks[1].Referrer != nil {
		t.Fatalf("after a second visitor: %d clicks %+v", len(clicks), clicks)
	}
}

func TestReferralLinkAttributionCookieFirstAndLastTouch(t *testing.T) {
	t.Parallel()
	w := newLinkWorld(t, ClickBuffer{})
	name := AttributionCookieName(w.fx.Campaign.ID)
	earlier := http.Header{"Cookie": {name + "=EARLIER-2345"}}
	otherCampaign := http.Header{"Cookie": {"referflow_ref_00000000000000000000000000000000=ELSEWHERE-2345"}}

	w.setPublic(t, campaign.Public{LandingURL: "https://shop.example/", Attribution: campaign.Attribution{WindowDays: 7, Model: campaign.FirstTouch}})
	resp, _ := w.follow(t, "/r/"+w.fx.Member.ReferralCode, earlier)
	if c := findCookie(resp, name); c != nil {
		t.Fatalf("first touch replaced the earlier click's cookie with %+v", c)
	}
	resp, _ = w.follow(t, "/r/"+w.fx.Member.ReferralCode, otherCampaign)
	if c := findCookie(resp, name); c == nil || c.Value != w.fx.Member.ReferralCode || c.MaxAge != 7*24*3600 {
		t.Fatalf("first touch with only another campaign's cookie: cookie %+v, want this code for 7 days", c)
	}

	w.setPublic(t, campaign.Public{LandingURL: "https://shop.example/", Attribution: campaign.Attribution{WindowDays: 7, Model: campaign.LastTouch}})
	resp, _ = w.follow(t, "/r/"+w.fx.Member.ReferralCode, earlier)
	if c := findCookie(resp, name); c == nil || c.Value != w.fx.Member.ReferralCode {
		t.Fatalf("last touch kept the earlier click's cookie: %+v", c)
	}
	// Either way the click is recorded and the visitor redirected.
	if n := len(w.clicks(t)); n != 3 {
		t.Fatalf("%d clicks recorded, want 3", n)
	}
}

func findCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func clickParams(fx testenv.ReferralFixture) db.ClickInsertBatchParams {
	return db.ClickInsertBatchParams{
		WorkspaceID: fx.Workspace.ID, CampaignID: fx.Campaign.ID, MemberID: fx.Member.ID,
		ClickedAt: time.Now(), VisitorHash: make([]byte, 32),
	}
}

func countClicks(t *testing.T, w *linkWorld) int {
	t.Helper()
	var n int
	if err := w.d.Pool.QueryRow(context.Background(), "SELECT count(*) FROM clicks").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestClickBufferWritesInBatches(t *testing.T) {
	t.Parallel()
	w := newLinkWorld(t, ClickBuffer{BatchSize: 3})
	for range 7 {
		w.srv.clicks.add(clickParams(w.fx))
	}
	// Two full batches are written without waiting for the interval; the
	// seventh click waits for it (here: an explicit flush).
	w.srv.clicks.writing.Wait()
	if n := countClicks(t, w); n != 6 {
		t.Fatalf("%d clicks written after two full batches, want 6", n)
	}
	w.srv.clicks.flush()
	if n := countClicks(t, w); n != 7 {
		t.Fatalf("%d clicks written after the flush, want 7", n)
	}

	// The interval writes a batch that never fills.
	w2 := newLinkWorld(t, ClickBuffer{Interval: 10 * time.Millisecond})
	w2.srv.clicks.add(clickParams(w2.fx))
	deadline := time.Now().Add(30 * time.Second)
	for countClicks(t, w2) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("a lone click was never written by the interval")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClickBufferFullDropsAndCounts(t *testing.T) {
	t.Parallel()
	w := newLinkWorld(t, ClickBuffer{MaxPending: 2})
	w.setPublic(t, campaign.Public{LandingURL: "https://shop.example/"})
	for range 5 {
		// The visitor is redirected even when the click cannot be kept.
		if resp, _ := w.follow(t, "/r/"+w.fx.Member.ReferralCode, nil); resp.StatusCode != http.StatusFound {
			t.Fatalf("referral link with a full buffer = %d", resp.StatusCode)
		}
	}
	if n := len(w.clicks(t)); n != 2 {
		t.Fatalf("%d clicks written, want the 2 the buffer held", n)
	}
	metricsHas(t, w, `referflow_clicks_lost_total{reason="dropped"} 3`)

	// A batch the database refuses is counted as failed.
	bad := clickParams(w.fx)
	bad.MemberID = w.fx.Campaign.ID // no such member
	w.srv.clicks.add(bad)
	w.srv.clicks.flush()
	metricsHas(t, w, `referflow_clicks_lost_total{reason="failed"} 1`)
}

func metricsHas(t *testing.T, w *linkWorld, line string) {
	t.Helper()
	resp, body := w.follow(t, "/metrics", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, line+"\n") {
		t.Fatalf("metrics lack %q:\n%s", line, grepLines(body, "referflow_clicks"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestClicksBufferedAtShutdownAreWritten(t *testing.T) {
	t.Parallel()
	w := newLinkWorld(t, ClickBuffer{})
	w.setPublic(t, campaign.Public{LandingURL: "https://shop.example/"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- w.srv.Serve(ctx, ln, 5*time.Second) }()
	resp, err := w.client.Get(fmt.Sprintf("http://%s/r/%s", ln.Addr(), w.fx.Member.ReferralCode))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("referral link = %v %v", resp, err)
	}
	resp.Body.Close()
	if n := countClicks(t, w); n != 0 {
		t.Fatalf("%d clicks written before the interval and the shutdown", n)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if n := countClicks(t, w); n != 1 {
		t.Fatalf("%d clicks written at shutdown, want 1", n)
	}
}
