package api

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/testenv"
)

// adminBrowser is a browser signed in to the admin UI of one server.
type adminBrowser struct {
	t       *testing.T
	h       http.Handler
	session *http.Cookie
	flash   *http.Cookie
	admin   db.Admin
}

// signInAdmin creates an admin in the workspace and signs in with its key
// through the sign-in form.
func signInAdmin(t *testing.T, srv interface{ Handler() http.Handler }, d *testenv.Database, workspace db.Workspace, email string) *adminBrowser {
	t.Helper()
	admin, key, err := adminauth.CreateAdmin(context.Background(), d.Queries, workspace.ID, email, "")
	if err != nil {
		t.Fatal(err)
	}
	b := &adminBrowser{t: t, h: srv.Handler(), admin: admin}
	rec := b.send(http.MethodPost, "/login", url.Values{"api_key": {key}, "next": {"/admin"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin" {
		t.Fatalf("sign in = %d %s", rec.Code, rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == adminauth.SessionCookie {
			b.session = c
		}
	}
	if b.session == nil {
		t.Fatal("sign-in set no session cookie")
	}
	return b
}

// send sends a request as the browser would (same-origin, asking for HTML),
// with the session and a pending flash message.
func (b *adminBrowser) send(method, path string, form url.Values) *httptest.ResponseRecorder {
	b.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, "http://localhost:8080"+path, body)
	req.Header.Set("Accept", "text/html")
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://localhost:8080")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if b.session != nil {
		req.AddCookie(b.session)
	}
	if b.flash != nil {
		req.AddCookie(b.flash)
		b.flash = nil
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == adminFlashName && c.MaxAge > 0 {
			b.flash = c
		}
	}
	return rec
}

// get opens a page and fails unless it answers want.
func (b *adminBrowser) get(path string, want int) string {
	b.t.Helper()
	rec := b.send(http.MethodGet, path, nil)
	if rec.Code != want {
		b.t.Fatalf("GET %s = %d, want %d: %s", path, rec.Code, want, rec.Body)
	}
	return rec.Body.String()
}

// csrf is the CSRF token of the page at path's forms.
func (b *adminBrowser) csrf(path string) string {
	b.t.Helper()
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(b.get(path, http.StatusOK))
	if m == nil {
		b.t.Fatalf("%s has no form with a CSRF token", path)
	}
	return m[1]
}

// post sends a form from the page at from (with that page's CSRF token).
func (b *adminBrowser) post(from, path string, form url.Values) *httptest.ResponseRecorder {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set(csrfField, b.csrf(from))
	return b.send(http.MethodPost, path, form)
}

func TestAdminPagesSignInAndOut(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	fx := d.SeedReferral(t)

	// Not signed in: the browser is sent to sign in and come back.
	anon := &adminBrowser{t: t, h: srv.Handler()}
	rec := anon.send(http.MethodGet, "/admin", nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login?next=%2Fadmin" {
		t.Fatalf("GET /admin signed out = %d %q", rec.Code, rec.Header().Get("Location"))
	}
	login := anon.get("/login?next=/admin", http.StatusOK)
	for _, want := range []string{`<html lang="en">`, `<label for="f-api_key">Admin API key`, `name="next" value="/admin"`, `href="/assets/admin.css?v=`} {
		if !strings.Contains(login, want) {
			t.Errorf("the sign-in page lacks %q", want)
		}
	}
	if rec := anon.send(http.MethodPost, "/login", url.Values{"api_key": {"rfk_nope"}}); rec.Code != http.StatusUnauthorized ||
		!strings.Contains(rec.Body.String(), "unknown or revoked") || !strings.Contains(rec.Body.String(), `aria-invalid="true"`) {
		t.Fatalf("a wrong key = %d %s", rec.Code, rec.Body)
	}

	b := signInAdmin(t, srv, d, fx.Workspace, "ops@acme.test")
	if !b.session.HttpOnly || b.session.SameSite != http.SameSiteLaxMode || b.session.Secure {
		t.Fatalf("session cookie over plain http = %+v, want HttpOnly, SameSite=Lax, not Secure", b.session)
	}
	page := b.get("/admin", http.StatusOK)
	if n := strings.Count(page, "<h1"); n != 1 {
		t.Errorf("the dashboard has %d h1, want 1", n)
	}
	for _, want := range []string{`<a class="skip-link" href="#main">`, `<main id="main"`, `aria-current="page">Dashboard</a>`, "ops@acme.test", `action="/logout"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the dashboard lacks %q", want)
		}
	}

	// Sign-out without the token is refused with a page saying why, and the
	// session still works; with it, the session ends.
	rec = b.send(http.MethodPost, "/logout", url.Values{})
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "security token") || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("sign-out without the CSRF token = %d %v %s", rec.Code, rec.Result().Cookies(), rec.Body)
	}
	b.get("/admin", http.StatusOK)
	rec = b.post("/admin", "/logout", nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" {
		t.Fatalf("sign-out = %d %s", rec.Code, rec.Body)
	}
	var cleared bool
	for _, c := range rec.Result().Cookies() {
		cleared = cleared || (c.Name == adminauth.SessionCookie && c.MaxAge < 0)
	}
	if !cleared {
		t.Fatalf("sign-out did not clear the session cookie: %v", rec.Result().Cookies())
	}
}

func TestAdminSessionCookieIsSecureOverHTTPS(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	srv.deps.PublicURL, _ = url.Parse("https://refer.acme.test")
	fx := d.SeedReferral(t)
	b := signInAdmin(t, srv, d, fx.Workspace, "ops@acme.test")
	if !b.session.Secure || !b.session.HttpOnly || b.session.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie with an https public URL = %+v", b.session)
	}
}

func TestAdminPagesSecurityHeaders(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	fx := d.SeedReferral(t)
	b := signInAdmin(t, srv, d, fx.Workspace, "ops@acme.test")
	for _, path := range []string{"/admin", "/admin/no-such-page", "/login"} {
		rec := b.send(http.MethodGet, path, nil)
		h := rec.Header()
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP allows inline code: %q", path, csp)
		}
		for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store"} {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", path, k, h.Get(k), v)
			}
		}
		if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Errorf("%s: Content-Type %q", path, h.Get("Content-Type"))
		}
	}
	// No inline style or script anywhere on the pages (the CSP would block
	// them: what the page needs must be in admin.css).
	for _, path := range []string{"/admin", "/login"} {
		body := b.get(path, http.StatusOK)
		if strings.Contains(body, "<style") || strings.Contains(body, "<script") || strings.Contains(body, " style=") {
			t.Errorf("%s has inline style or script", path)
		}
	}
	// An unknown page is an admin page saying so, with the nav.
	rec := b.send(http.MethodGet, "/admin/no-such-page", nil)
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "<h1>Not found</h1>") || !strings.Contains(rec.Body.String(), `aria-label="Main"`) {
		t.Fatalf("unknown admin page = %d %s", rec.Code, rec.Body)
	}
	// The stylesheet is cached for good at its versioned path.
	rec = b.send(http.MethodGet, "/assets/admin.css?v="+adminCSSVersion, nil)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
		t.Fatalf("admin.css = %d %v", rec.Code, rec.Header())
	}
}

// Every write of an admin page needs the session's CSRF token: without it,
// or with another session's, it is refused with a page saying why and
// nothing runs.
func TestAdminPagesRefuseWritesWithoutCSRFToken(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	ran := 0
	srv.echo.POST("/admin/test-action", func(c echo.Context) error {
		ran++
		return srv.redirectWithFlash(c, "/admin", "The test action ran.")
	}, srv.requireAdminSession)
	fx := d.SeedReferral(t)
	b := signInAdmin(t, srv, d, fx.Workspace, "ops@acme.test")
	other := signInAdmin(t, srv, d, fx.Workspace, "other@acme.test")

	for name, token := range map[string]string{"no token": "", "a wrong token": "abc", "another session's token": other.csrf("/admin")} {
		rec := b.send(http.MethodPost, "/admin/test-action", url.Values{csrfField: {token}})
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "security token is missing or out of date") ||
			rec.Header().Get("Content-Security-Policy") != adminCSP {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	if ran != 0 {
		t.Fatalf("the action ran %d time(s) without a valid token", ran)
	}
	// A valid token from a page of another site is still refused.
	req := httptest.NewRequest(http.MethodPost, "http://localhost:8080/admin/test-action", strings.NewReader(url.Values{csrfField: {b.csrf("/admin")}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.localhost:9999")
	req.AddCookie(b.session)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || ran != 0 {
		t.Fatalf("cross-site post with the token = %d (ran %d)", rec.Code, ran)
	}

	rec = b.post("/admin", "/admin/test-action", nil)
	if rec.Code != http.StatusSeeOther || ran != 1 {
		t.Fatalf("post with the token = %d %s (ran %d)", rec.Code, rec.Body, ran)
	}
	// The flash message shows once.
	if page := b.get("/admin", http.StatusOK); !strings.Contains(page, "The test action ran.") {
		t.Fatal("the page after the action does not say what was done")
	}
	if page := b.get("/admin", http.StatusOK); strings.Contains(page, "The test action ran.") {
		t.Fatal("the flash message showed twice")
	}

	// Signed out, a write is refused (no redirect that would lose the form).
	anon := &adminBrowser{t: t, h: srv.Handler()}
	if rec := anon.send(http.MethodPost, "/admin/test-action", url.Values{}); rec.Code != http.StatusUnauthorized || ran != 1 {
		t.Fatalf("signed-out post = %d", rec.Code)
	}
}
