package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/adminauth"
)

// A page on another site (or another port of this host) must not be able to
// write with the admin's session cookie; referflow's own pages and API keys
// can.
func TestCookieWritesMustComeFromReferflowsOwnPages(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)
	srv, key := w.srv, w.api.key
	srv.deps.PublicURL = &url.URL{Scheme: "https", Host: "referrals.acme.test"}
	session := &http.Cookie{Name: adminauth.SessionCookie, Value: srv.deps.Auth.Sessions.Issue(w.admin.ID)}

	n := 0
	post := func(contentType string, headers map[string]string) *httptest.ResponseRecorder {
		n++
		body := `{"name":"Campaign ` + string(rune('A'+n)) + `"}`
		req := httptest.NewRequest(http.MethodPost, "http://localhost:8080/api/v1/campaigns", strings.NewReader(body))
		req.AddCookie(session)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec
	}
	campaigns := func() int {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/campaigns", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		var list struct{ Campaigns []CampaignView }
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
			t.Fatal(err)
		}
		return len(list.Campaigns)
	}
	before := campaigns()

	const evil = "http://evil.localhost:9999"
	refusals := []struct {
		name, contentType string
		headers           map[string]string
		why               string
	}{
		{"text/plain from an evil origin", "text/plain", map[string]string{"Origin": evil}, "Content-Type: application/json"},
		{"a form from this very site", "application/x-www-form-urlencoded", map[string]string{"Origin": "http://localhost:8080"}, "Content-Type: application/json"},
		{"a multipart form", "multipart/form-data; boundary=x", map[string]string{"Sec-Fetch-Site": "same-origin"}, "Content-Type: application/json"},
		{"JSON from an evil origin", "application/json", map[string]string{"Origin": evil}, "is not this site's"},
		{"JSON from a sibling port", "application/json", map[string]string{"Origin": "http://localhost:9999", "Sec-Fetch-Site": "same-site"}, "another site"},
		{"neither Origin nor Sec-Fetch-Site", "application/json", nil, "needs an Origin header"},
		{"Sec-Fetch-Site cross-site", "application/json", map[string]string{"Sec-Fetch-Site": "cross-site"}, "another site"},
		{"Sec-Fetch-Site none (typed in the address bar)", "application/json", map[string]string{"Sec-Fetch-Site": "none"}, "another site"},
		{"a null origin", "application/json", map[string]string{"Origin": "null"}, "Origin is null"},
		{"an origin of another scheme than the public URL's", "application/json", map[string]string{"Origin": "http://referrals.acme.test"}, "is not this site's"},
	}
	for _, r := range refusals {
		rec := post(r.contentType, r.headers)
		if e := decodeError(t, rec); rec.Code != http.StatusForbidden || e.Code != "forbidden" || !strings.Contains(e.Message, r.why) {
			t.Errorf("%s: %d %+v, want 403 saying %q", r.name, rec.Code, e, r.why)
		}
	}
	if got := campaigns(); got != before {
		t.Fatalf("refused writes created %d campaigns", got-before)
	}

	accepted := []struct {
		name    string
		headers map[string]string
	}{
		{"the request's own host", map[string]string{"Origin": "http://localhost:8080"}},
		{"the public URL's origin", map[string]string{"Origin": "https://referrals.acme.test", "Sec-Fetch-Site": "same-origin"}},
		{"Sec-Fetch-Site same-origin without Origin", map[string]string{"Sec-Fetch-Site": "same-origin"}},
	}
	for _, a := range accepted {
		if rec := post("application/json; charset=utf-8", a.headers); rec.Code != http.StatusCreated {
			t.Errorf("%s: %d %s, want 201", a.name, rec.Code, rec.Body)
		}
	}

	// Reads with the cookie are not writes; API-key writes are not the
	// browser's ambient credential: neither is checked.
	req := httptest.NewRequest(http.MethodGet, "/api/v1/campaigns", nil)
	req.AddCookie(session)
	req.Header.Set("Origin", evil)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("a cookie read = %d", rec.Code)
	}
	req = httptest.NewRequest(http.MethodPost, "/api/v1/campaigns", strings.NewReader(`{"name":"By key"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Origin", evil)
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		t.Errorf("an API-key write = %d %s", rec.Code, rec.Body)
	}
}

// No page can sign an admin in (to the attacker's session) or out.
func TestSignInAndOutRefuseOtherSites(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)
	srv, key := w.srv, w.api.key
	form := func(path string, headers map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "http://localhost:8080"+path, strings.NewReader(url.Values{"api_key": {key}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec
	}
	for _, path := range []string{"/login", "/logout"} {
		for _, h := range []map[string]string{
			{"Origin": "http://evil.localhost:9999"},
			{"Origin": "null"},
			{"Sec-Fetch-Site": "cross-site"},
			{"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:9999"},
		} {
			rec := form(path, h)
			if e := decodeError(t, rec); rec.Code != http.StatusForbidden || len(rec.Result().Cookies()) != 0 {
				t.Errorf("%s %v: %d %+v cookies %v, want 403 and no cookie", path, h, rec.Code, e, rec.Result().Cookies())
			}
		}
		for _, h := range []map[string]string{
			{"Origin": "http://localhost:8080", "Sec-Fetch-Site": "same-origin"},
			{"Sec-Fetch-Site": "same-origin"},
			nil, // not a browser: a script signing in with its key
		} {
			if rec := form(path, h); rec.Code != http.StatusSeeOther {
				t.Errorf("%s %v: %d %s, want 303", path, h, rec.Code, rec.Body)
			}
		}
	}
}
