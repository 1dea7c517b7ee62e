package api

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

func TestRateLimiterGivesTheBurstThenRefillsAtTheRate(t *testing.T) {
	t.Parallel()
	l := newRateLimiter(Rate{Burst: 3, Every: 10 * time.Second})
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		if ok, _ := l.allow("visitor-a", now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow("visitor-a", now)
	if ok || wait != 10*time.Second {
		t.Fatalf("4th request at once: allowed %v, wait %v; want refused, 10s", ok, wait)
	}
	if ok, _ := l.allow("visitor-b", now); !ok {
		t.Fatal("another visitor is refused because of the first one's requests")
	}
	if ok, wait := l.allow("visitor-a", now.Add(4*time.Second)); ok || wait != 6*time.Second {
		t.Fatalf("4 s later: allowed %v, wait %v; want refused, 6s", ok, wait)
	}
	if ok, _ := l.allow("visitor-a", now.Add(10*time.Second)); !ok {
		t.Fatal("a token did not come back after its 10 s")
	}
	// A long pause refills to the burst, never beyond it.
	later := now.Add(time.Hour)
	for i := 0; i < 3; i++ {
		if ok, _ := l.allow("visitor-a", later); !ok {
			t.Fatalf("after an hour, request %d refused", i+1)
		}
	}
	if ok, _ := l.allow("visitor-a", later); ok {
		t.Fatal("the bucket held more than its burst after a long pause")
	}
}

func TestRateLimiterForgetsIdleVisitors(t *testing.T) {
	t.Parallel()
	l := newRateLimiter(Rate{Burst: 2, Every: time.Second})
	now := time.Now()
	for i := 0; i < 1000; i++ {
		l.allow(strings.Repeat("x", i%50)+string(rune(i)), now)
	}
	l.allow("late", now.Add(2*time.Minute))
	if n := len(l.buckets); n != 1 {
		t.Fatalf("after the idle visitors' buckets refilled, %d buckets are kept; want only the active one", n)
	}
}

// guardServer is a server with only what the public door needs.
func guardServer() *Server {
	return &Server{guard: newPublicGuard(PublicLimits{}, []byte("an encryption key for the tests.."), false)}
}

func formPost(t *testing.T, path string, form url.Values, cookies []*http.Cookie, headers map[string]string) echo.Context {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://localhost:8080"+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return echo.New().NewContext(req, httptest.NewRecorder())
}

func TestPublicFormsCSRFToken(t *testing.T) {
	t.Parallel()
	s := guardServer()
	const path = "/c/spring/join"

	// The GET issues a nonce cookie and a token for this form.
	rec := httptest.NewRecorder()
	get := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "http://localhost:8080"+path, nil), rec)
	token := s.csrfToken(get, path)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != csrfCookieName || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("the form's GET set cookies %v; want one HttpOnly SameSite=Lax %s", cookies, csrfCookieName)
	}

	ok := url.Values{CSRFField: {token}, "email": {"a@b.test"}}
	if err := s.checkCSRF(formPost(t, path, ok, cookies, map[string]string{"Origin": "http://localhost:8080"}), path); err != nil {
		t.Fatalf("the form's own post refused: %v", err)
	}
	if err := s.checkCSRF(formPost(t, path, ok, cookies, nil), path); err != nil {
		t.Fatalf("a post without Origin (older browsers) but with token and cookie refused: %v", err)
	}

	other := &http.Cookie{Name: csrfCookieName, Value: strings.Repeat("ab", 16)}
	refusals := []struct {
		name    string
		form    url.Values
		cookies []*http.Cookie
		headers map[string]string
		path    string
	}{
		{"no token", url.Values{"email": {"a@b.test"}}, cookies, nil, path},
		{"no cookie (a page of another site cannot send it with the token it never saw)", ok, nil, nil, path},
		{"another browser's cookie", ok, []*http.Cookie{other}, nil, path},
		{"the token of another form", ok, cookies, nil, "/c/spring/refer"},
		{"a tampered token", url.Values{CSRFField: {token + "x"}}, cookies, nil, path},
		{"another site's Origin", ok, cookies, map[string]string{"Origin": "https://evil.test"}, path},
		{"a cross-site fetch", ok, cookies, map[string]string{"Sec-Fetch-Site": "cross-site"}, path},
	}
	for _, r := range refusals {
		if err := s.checkCSRF(formPost(t, r.path, r.form, r.cookies, r.headers), r.path); err != errCSRF {
			t.Errorf("%s: got %v, want the CSRF refusal", r.name, err)
		}
	}

	stale := s.signCSRF(cookies[0].Value, path, time.Now().Add(-csrfTokenTTL-time.Minute))
	if err := s.checkCSRF(formPost(t, path, url.Values{CSRFField: {stale}}, cookies, nil), path); err != errCSRF {
		t.Errorf("a token older than %v accepted", csrfTokenTTL)
	}

	// A second form in the same browser reuses its nonce.
	rec2 := httptest.NewRecorder()
	get2 := httptest.NewRequest(http.MethodGet, "http://localhost:8080"+path, nil)
	get2.AddCookie(cookies[0])
	s.csrfToken(echo.New().NewContext(get2, rec2), path)
	if len(rec2.Result().Cookies()) != 0 {
		t.Error("a browser holding a nonce got a new one, which would break its other open forms")
	}
}

func TestHoneypot(t *testing.T) {
	t.Parallel()
	if honeypotFilled(formPost(t, "/", url.Values{"email": {"a@b.test"}, HoneypotField: {""}}, nil, nil)) {
		t.Error("an empty trap counts as filled")
	}
	if !honeypotFilled(formPost(t, "/", url.Values{HoneypotField: {"http://spam.test"}}, nil, nil)) {
		t.Error("a filled trap is not seen")
	}
}

func TestClientIPTrustsForwardedHeadersOnlyFromTrustedProxies(t *testing.T) {
	t.Parallel()
	req := func(peer, xff string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = peer + ":40000"
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		return r
	}
	direct := clientIP(nil)
	if ip := direct(req("127.0.0.1", "203.0.113.9")); ip != "127.0.0.1" {
		t.Errorf("without trusted proxies a forged X-Forwarded-For was believed: %s", ip)
	}
	proxied := clientIP([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	if ip := proxied(req("10.1.2.3", "203.0.113.9")); ip != "203.0.113.9" {
		t.Errorf("through a trusted proxy the visitor is %s, want 203.0.113.9", ip)
	}
	if ip := proxied(req("10.1.2.3", "198.51.100.1, 203.0.113.9, 10.9.9.9")); ip != "203.0.113.9" {
		t.Errorf("the nearest untrusted hop is %s, want 203.0.113.9 (what the visitor prepends is not believed)", ip)
	}
	if ip := proxied(req("192.168.1.5", "203.0.113.9")); ip != "192.168.1.5" {
		t.Errorf("a peer that is not a listed proxy was believed: %s", ip)
	}
}
