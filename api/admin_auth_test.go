package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/adminauth"
)

func TestAdminAPIKeyAuthentication(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	fx := d.SeedReferral(t)
	admin, key, err := adminauth.CreateAdmin(context.Background(), d.Queries, fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}

	get := func(auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec
	}
	// The scheme is case-insensitive (RFC 9110): every spelling works.
	for _, scheme := range []string{"Bearer ", "bearer ", "BEARER ", "bEaReR  "} {
		rec := get(scheme + key)
		var me AdminView
		if err := json.Unmarshal(rec.Body.Bytes(), &me); rec.Code != http.StatusOK || err != nil || me.ID != admin.ID.String() {
			t.Fatalf("/api/v1/me with %q and a valid key = %d %s", scheme, rec.Code, rec.Body)
		}
	}
	for _, auth := range []string{"", "Bearer rfk_0000", "Basic abc", "Bearer " + key + "x", "Bearer" + key, "Basic " + key, "Bearerx " + key} {
		rec := get(auth)
		if e := decodeError(t, rec); rec.Code != http.StatusUnauthorized || e.Code != "unauthorized" || !strings.Contains(e.Message, "not signed in") {
			t.Errorf("Authorization %q = %d %+v", auth, rec.Code, e)
		}
	}
	if strings.Contains(logs.String(), key) {
		t.Fatal("an API key reached the logs")
	}
}

func TestBrowserSignInComesBackToWhereItWasGoing(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	srv.echo.GET("/test/admin-page", func(c echo.Context) error { return c.String(http.StatusOK, "hello "+adminFrom(c).Email) }, srv.requireAdmin)
	fx := d.SeedReferral(t)
	_, key, err := adminauth.CreateAdmin(context.Background(), d.Queries, fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}

	// Not signed in: a page sends the browser to sign in, with the way back.
	rec := do(t, srv.Handler(), http.MethodGet, "/test/admin-page?x=1", nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login?next="+url.QueryEscape("/test/admin-page?x=1") {
		t.Fatalf("unauthenticated page = %d %s", rec.Code, rec.Header().Get("Location"))
	}
	rec = do(t, srv.Handler(), http.MethodGet, "/login?next=/test/admin-page", nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `name="next" value="/test/admin-page"`) {
		t.Fatalf("login form = %d %s", rec.Code, rec.Body)
	}

	post := func(form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec
	}
	rec = post(url.Values{"api_key": {"rfk_wrong"}, "next": {"/test/admin-page"}})
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "unknown or revoked") {
		t.Fatalf("wrong key = %d %s", rec.Code, rec.Body)
	}
	rec = post(url.Values{"api_key": {key}, "next": {"/test/admin-page"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/test/admin-page" {
		t.Fatalf("sign-in = %d %s", rec.Code, rec.Header().Get("Location"))
	}
	var session *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == adminauth.SessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie = %+v", session)
	}
	req := httptest.NewRequest(http.MethodGet, "/test/admin-page", nil)
	req.AddCookie(session)
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.String() != "hello ops@acme.test" {
		t.Fatalf("page with the session = %d %s", rec.Code, rec.Body)
	}

	// The sign-in page never sends people off-site.
	for _, next := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "/x\x00y", "/x\r\nSet-Cookie: a=b", "/\xff"} {
		rec = post(url.Values{"api_key": {key}, "next": {next}})
		if loc := rec.Header().Get("Location"); loc != "/admin" {
			t.Errorf("next=%q redirected to %q", next, loc)
		}
	}
}
