package hubspotsim

// Misbehaviour modes: each answers as HubSpot documents (status, headers,
// body), ends by itself or when switched off, and shows in the call log,
// the control API and the page.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func (e *env) mode(m Mode) Mode {
	e.t.Helper()
	on, err := e.sim.SetMode(e.p.ID, m)
	if err != nil {
		e.t.Fatal(err)
	}
	return on
}

func TestRateLimitStormAnswersHubSpots429UntilItEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	access, _ := e.sim.IssueTokens(e.p.ID)
	e.mode(Mode{Kind: ModeRateLimit, For: Duration(30 * time.Second)})
	for _, tok := range []string{"", access} {
		r := e.must(e.do("POST", "/crm/objects/2026-03/contacts", tok, `{"properties":{"email":"a@example.com"}}`), 429)
		if r.str("policyName") != "TEN_SECONDLY_ROLLING" || r.str("errorType") != "RATE_LIMIT" || r.str("status") != "error" ||
			r.str("message") != "You have reached your ten_secondly_rolling limit." || r.str("correlationId") == "" {
			t.Fatalf("storm 429 body: %s", r)
		}
		if r.header.Get("X-HubSpot-RateLimit-Max") != "110" || r.header.Get("X-HubSpot-RateLimit-Remaining") != "0" || r.header.Get("X-HubSpot-RateLimit-Interval-Milliseconds") != "10000" {
			t.Fatalf("storm 429 headers: %v", r.header)
		}
		if r.header.Get("Retry-After") != "" {
			t.Fatalf("HubSpot sends no Retry-After with a 429: %v", r.header)
		}
	}
	if n := len(e.sim.Objects(e.p.ID, "contacts")); n != 0 {
		t.Fatalf("a refused call created %d contacts", n)
	}
	calls := e.sim.Calls(e.p.ID)
	if len(calls) != 2 || calls[0].Status != 429 || calls[0].Mode != ModeRateLimit || calls[1].Path != "/crm/objects/2026-03/contacts" {
		t.Fatalf("call log %+v", calls)
	}
	if ms := e.sim.Modes(e.p.ID); len(ms) != 1 || ms[0].Answered != 2 || ms[0].Until == nil {
		t.Fatalf("modes %+v", ms)
	}
	e.clock.Advance(30 * time.Second)
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 200)
	if ms := e.sim.Modes(e.p.ID); len(ms) != 0 {
		t.Fatalf("the storm outlived its 30 s: %+v", ms)
	}
}

// A counted storm refuses that many more calls, then ends by itself: a test
// can end it exactly at the call it is waiting for, however late that comes.
func TestRateLimitStormEndsAfterItsCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.mode(Mode{Kind: ModeRateLimit, Calls: 2})
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 429)
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 429)
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 200)
	if ms := e.sim.Modes(e.p.ID); len(ms) != 0 {
		t.Fatalf("the storm outlived its 2 calls: %+v", ms)
	}
}

// HubSpot's day is the account's: the daily limit resets at midnight in the
// portal's time zone, not at midnight UTC.
func TestDailyLimitModeLastsUntilThePortalsMidnight(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{}) // clock: 2026-05-04 12:00 UTC = 08:00 in New York (EDT)
	if e.p.TimeZone.String() != "America/New_York" {
		t.Fatalf("default time zone %s", e.p.TimeZone)
	}
	on := e.mode(Mode{Kind: ModeDailyLimit})
	if want := time.Date(2026, 5, 5, 4, 0, 0, 0, time.UTC); on.Until == nil || !on.Until.Equal(want) {
		t.Fatalf("daily limit until %v, want the portal's midnight %v", on.Until, want)
	}
	r := e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 429)
	if r.str("policyName") != "DAILY" || r.str("message") != "You have reached your daily limit." || r.header.Get("X-HubSpot-RateLimit-Daily-Remaining") != "0" {
		t.Fatalf("daily 429: %s %v", r, r.header)
	}
	access, _ := e.sim.IssueTokens(e.p.ID)
	if r := e.must(e.do("GET", "/crm/v3/objects/contacts", access, nil), 429); r.header.Get("X-HubSpot-RateLimit-Daily") != "" {
		t.Fatalf("daily headers go to private apps only: %v", r.header)
	}
	e.clock.Advance(12 * time.Hour) // midnight UTC has passed, the portal's has not
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 429)
	e.clock.Advance(4 * time.Hour)
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 200)
}

func TestDailyCountResetsAtThePortalsMidnight(t *testing.T) {
	t.Parallel()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Options{DailyLimit: 2, RateLimitPerTenSeconds: -1, TimeZone: tokyo}) // 21:00 in Tokyo
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 200)
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 200)
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 429)
	e.clock.Advance(3 * time.Hour) // 00:00 in Tokyo, 15:00 UTC
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 200)
	r := e.must(e.do("GET", "/account-info/2026-03/details", "", nil), 200)
	if r.str("timeZone") != "Asia/Tokyo" || r.str("utcOffset") != "+09:00" || r.str("utcOffsetMilliseconds") != "32400000" || r.str("portalId") != idString(e.p.ID) {
		t.Fatalf("account details: %s", r)
	}
}

func TestServerErrorsBeforeAndAfterTheWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.mode(Mode{Kind: ModeServerErrors, Status: 502, Calls: 2})
	for range 2 {
		r := e.hubspotError(e.do("POST", "/crm/objects/2026-03/contacts", "", `{"properties":{"email":"a@example.com"}}`), 502, "BAD_GATEWAY")
		if r.header.Get("X-HubSpot-Correlation-Id") == "" {
			t.Fatalf("502 without correlation ID header: %v", r.header)
		}
	}
	if n := len(e.sim.Objects(e.p.ID, "contacts")); n != 0 {
		t.Fatalf("a failed call created %d contacts", n)
	}
	// The burst is over after its two calls.
	e.must(e.do("POST", "/crm/objects/2026-03/contacts", "", `{"properties":{"email":"a@example.com"}}`), 201)

	// After the write: HubSpot created the contact, the answer is a 504.
	e.mode(Mode{Kind: ModeServerErrors, Status: 504, AfterWrite: true, For: Duration(time.Minute)})
	e.hubspotError(e.do("POST", "/crm/objects/2026-03/contacts", "", `{"properties":{"email":"b@example.com"}}`), 504, "GATEWAY_TIMEOUT")
	if _, ok := e.sim.FindContactByEmail(e.p.ID, "b@example.com"); !ok {
		t.Fatal("the write was not done before the 504")
	}
	// A retry meets the contact it created: HubSpot's 409.
	e.mode(Mode{Kind: ModeServerErrors, Calls: 1}) // replaces the 504s: one 503
	e.hubspotError(e.do("GET", "/crm/v3/objects/contacts", "", nil), 503, "SERVICE_UNAVAILABLE")
	e.hubspotError(e.do("POST", "/crm/objects/2026-03/contacts", "", `{"properties":{"email":"b@example.com"}}`), 409, "")
	if n := len(e.sim.Objects(e.p.ID, "contacts")); n != 2 {
		t.Fatalf("%d contacts, want 2", n)
	}
	if ms := e.sim.Modes(e.p.ID); len(ms) != 0 {
		t.Fatalf("modes left after their calls: %+v", ms)
	}

	// writes_only: reads and searches go through, the next write's answer is lost.
	e.mode(Mode{Kind: ModeServerErrors, Status: 502, Calls: 1, AfterWrite: true, WritesOnly: true})
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 200)
	e.must(e.do("POST", "/crm/v3/objects/contacts/search", "", `{}`), 200)
	e.hubspotError(e.do("POST", "/crm/objects/2026-03/contacts", "", `{"properties":{"email":"c@example.com"}}`), 502, "BAD_GATEWAY")
	if _, ok := e.sim.FindContactByEmail(e.p.ID, "c@example.com"); !ok {
		t.Fatal("the write was not done before the 502")
	}
	e.must(e.do("POST", "/crm/objects/2026-03/contacts", "", `{"properties":{"email":"d@example.com"}}`), 201)
}

// A slow answer: the write is done at once, the answer comes after the
// client gave up.
func TestSlowAnswersOutlastTheClientsTimeout(t *testing.T) {
	t.Parallel()
	sim := New(Options{})
	p := sim.CreatePortal("slow")
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	if _, err := sim.SetMode(p.ID, Mode{Kind: ModeSlowAnswers, Delay: Duration(2 * time.Second), Calls: 1}); err != nil {
		t.Fatal(err)
	}
	post := func(timeout time.Duration) (*http.Response, error) {
		req, _ := http.NewRequest("POST", srv.URL+"/crm/objects/2026-03/contacts", strings.NewReader(`{"properties":{"email":"slow@example.com"}}`))
		req.Header.Set("Authorization", "Bearer "+p.PrivateAppToken)
		req.Header.Set("Content-Type", "application/json")
		return (&http.Client{Timeout: timeout}).Do(req)
	}
	start := time.Now()
	_, err := post(200 * time.Millisecond)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "Timeout") {
		t.Fatalf("the slow answer came within the client's timeout: %v", err)
	}
	if time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("the client waited %s", time.Since(start))
	}
	if _, ok := sim.FindContactByEmail(p.ID, "slow@example.com"); !ok {
		t.Fatal("the write was not done at once")
	}
	// The mode's one call is used: the next answer comes at once (a 409:
	// the contact exists).
	resp, err := post(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("retry: %d", resp.StatusCode)
	}
	if calls := sim.Calls(p.ID); len(calls) != 2 || calls[0].Mode != ModeSlowAnswers || calls[0].Status != 201 {
		t.Fatalf("call log %+v", calls)
	}
}

func TestRevokedTokensAreRefusedUntilANewConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	access, refresh := e.sim.IssueTokens(e.p.ID)
	e.must(e.do("GET", "/crm/v3/objects/contacts", access, nil), 200)
	e.mode(Mode{Kind: ModeRevokedTokens})

	r := e.hubspotError(e.do("GET", "/crm/v3/objects/contacts", access, nil), 401, "INVALID_AUTHENTICATION")
	if !strings.HasPrefix(r.str("message"), "Authentication credentials not found.") {
		t.Fatalf("401 body: %s", r)
	}
	tok := func(v url.Values) resp {
		v.Set("client_id", DefaultClientID)
		v.Set("client_secret", DefaultClientSecret)
		return e.form("/oauth/2026-03/token", v)
	}
	r = e.must(tok(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}), 400)
	if r.str("error") != "invalid_grant" || r.str("status") != "BAD_REFRESH_TOKEN" || r.str("error_description") == "" {
		t.Fatalf("refresh of a revoked token: %s", r)
	}
	if r := e.must(e.form("/oauth/2026-03/token/introspect", url.Values{"token": {access}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}), 200); r.get("active") != false {
		t.Fatalf("introspection of a revoked token: %s", r)
	}
	// The private app is not an OAuth grant: it still works.
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 200)
	// A new consent gives tokens that work, refresh included.
	access2, refresh2 := e.sim.IssueTokens(e.p.ID)
	e.must(e.do("GET", "/crm/v3/objects/contacts", access2, nil), 200)
	e.must(tok(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh2}}), 200)
	calls := e.sim.Calls(e.p.ID)
	if c := calls[1]; c.Status != 401 || c.Mode != ModeRevokedTokens {
		t.Fatalf("the refused call in the log: %+v", calls)
	}
	// Switched off, the old tokens work again (a passing fault at HubSpot).
	if !e.sim.ClearMode(e.p.ID, ModeRevokedTokens) {
		t.Fatal("the mode was not on")
	}
	e.must(e.do("GET", "/crm/v3/objects/contacts", access, nil), 200)
}

func TestRevokedAccessTokensOnlyRefusesEvenFreshTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	_, refresh := e.sim.IssueTokens(e.p.ID)
	e.mode(Mode{Kind: ModeRevokedTokens, AccessOnly: true})
	r := e.must(e.form("/oauth/2026-03/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}), 200)
	e.hubspotError(e.do("GET", "/crm/v3/objects/contacts", r.str("access_token"), nil), 401, "INVALID_AUTHENTICATION")
}

func TestResetPortalEmptiesItReusesIDsAndRevokesTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	access, refresh := e.sim.IssueTokens(e.p.ID)
	before := e.createContact("old@example.com", nil)
	if err := e.sim.CreateProperty(e.p.ID, "contacts", map[string]any{"name": "referflow_x", "label": "X", "type": "string", "fieldType": "text", "groupName": "contactinformation"}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.ResetPortal(e.p.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sim.Objects(e.p.ID, "contacts")); n != 0 {
		t.Fatalf("%d contacts after the reset", n)
	}
	e.hubspotError(e.do("GET", "/crm/v3/properties/contacts/referflow_x", "", nil), 404, "")
	e.hubspotError(e.do("GET", "/crm/v3/objects/contacts", access, nil), 401, "INVALID_AUTHENTICATION")
	if r := e.form("/oauth/2026-03/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}); r.str("status") != "BAD_REFRESH_TOKEN" {
		t.Fatalf("refresh after the reset: %s", r)
	}
	// A fresh portal's first contact gets the ID the old one had.
	if after := e.createContact("new@example.com", nil); after != before {
		t.Fatalf("the first contact after the reset is %s, want the reused ID %s", after, before)
	}
	if ms := e.sim.Modes(e.p.ID); len(ms) != 1 || ms[0].Kind != ModeRevokedTokens {
		t.Fatalf("modes after the reset: %+v", ms)
	}
}

func TestModesControlAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	base := "/portals/" + idString(e.p.ID) + "/modes"
	r := e.must(e.do("PUT", base+"/server-errors", "-", `{"status":502,"calls":3,"after_write":true}`), 200)
	if r.str("kind") != ModeServerErrors || r.str("calls_left") != "3" || r.get("after_write") != true {
		t.Fatalf("PUT: %s", r)
	}
	e.must(e.do("PUT", base+"/slow_answers", "-", `{"delay":"40s","for":"2m"}`), 200)
	e.must(e.do("PUT", base+"/rate_limit", "-", ``), 200)
	r = e.must(e.do("GET", base, "-", nil), 200)
	if r.str("time_zone") != "America/New_York" || r.str("modes.0.kind") != ModeRateLimit || r.str("modes.1.kind") != ModeServerErrors || r.str("modes.2.delay") != "40s" {
		t.Fatalf("GET: %s", r)
	}
	for _, bad := range []struct{ path, body, want string }{
		{base + "/floods", `{}`, "unknown mode"},
		{base + "/server_errors", `{"status":418}`, "status must be 500, 502, 503 or 504"},
		{base + "/slow_answers", `{}`, "delay is required"},
		{base + "/rate_limit", `{"delay":"3s"}`, "delay is for slow_answers only"},
		{base + "/rate_limit", `{"for":"soon"}`, "duration"},
		{base + "/rate_limit", `{"typo":1}`, "unknown field"},
		{base + "/rate_limit", `{"kind":"daily_limit"}`, "differs"},
	} {
		r := e.hubspotError(e.do("PUT", bad.path, "-", bad.body), 400, "VALIDATION_ERROR")
		if !strings.Contains(r.str("message"), bad.want) {
			t.Errorf("PUT %s %s: %s, want %q", bad.path, bad.body, r, bad.want)
		}
	}
	e.hubspotError(e.do("PUT", "/portals/999/modes/rate_limit", "-", `{}`), 404, "OBJECT_NOT_FOUND")
	r = e.must(e.do("DELETE", base+"/rate_limit", "-", nil), 200)
	if r.str("modes.0.kind") != ModeServerErrors {
		t.Fatalf("DELETE one: %s", r)
	}
	if r := e.must(e.do("DELETE", base, "-", nil), 200); len(r.get("modes").([]any)) != 0 {
		t.Fatalf("DELETE all: %s", r)
	}
	e.createContact("a@example.com", nil)
	if r := e.must(e.do("GET", "/portals/"+idString(e.p.ID)+"/calls", "-", nil), 200); r.str("results.0.method") != "POST" || r.str("results.0.status") != "201" {
		t.Fatalf("calls: %s", r)
	}
	e.must(e.do("POST", "/portals/"+idString(e.p.ID)+"/reset", "-", nil), 200)
	if n := len(e.sim.Objects(e.p.ID, "contacts")); n != 0 {
		t.Fatalf("%d contacts after the reset", n)
	}
}

func TestPageShowsAndSwitchesModes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	base := "/portals/" + idString(e.p.ID)
	page := e.follow(e.form(base+"/modes/server_errors", url.Values{"status": {"504"}, "calls": {"2"}, "for": {""}, "after_write": {"true"}, "back": {base}}))
	body := string(page.raw)
	if !strings.Contains(body, "server_errors: 504 Gateway Timeout after doing the write, 2 of 2 calls left") {
		t.Fatalf("page after switching on:\n%s", body)
	}
	e.must(e.do("GET", "/crm/v3/objects/contacts", "", nil), 504)
	page = e.follow(e.form(base+"/modes/revoked_tokens", url.Values{"access_only": {"true"}, "back": {base}}))
	if body := string(page.raw); !strings.Contains(body, "every access token refused 401") || !strings.Contains(body, "1 of 2 calls left") || !strings.Contains(body, "1 (504×1)") {
		t.Fatalf("page:\n%s", body)
	}
	page = e.follow(e.form(base+"/modes/server_errors", url.Values{"off": {"1"}, "back": {base}}))
	if body := string(page.raw); strings.Contains(body, "server_errors:") || !strings.Contains(body, "Mode server_errors switched off.") {
		t.Fatalf("page after switching off:\n%s", body)
	}
	page = e.follow(e.form(base+"/modes/slow_answers", url.Values{"back": {base}}))
	if body := string(page.raw); !strings.Contains(body, "delay is required") {
		t.Fatalf("page after a bad form:\n%s", body)
	}
	page = e.follow(e.form(base+"/reset", url.Values{"back": {base}}))
	if body := string(page.raw); !strings.Contains(body, "Portal reset") {
		t.Fatalf("page after the reset:\n%s", body)
	}
}

func TestParseMode(t *testing.T) {
	t.Parallel()
	m, err := ParseMode("server-errors,status=502,calls=3,after-write")
	if err != nil || m.Kind != ModeServerErrors || m.Status != 502 || m.Calls != 3 || !m.AfterWrite {
		t.Fatalf("%+v %v", m, err)
	}
	if m, err := ParseMode("rate_limit,for=45"); err != nil || time.Duration(m.For) != 45*time.Second {
		t.Fatalf("%+v %v", m, err)
	}
	for _, bad := range []string{"", "nope", "slow_answers", "daily_limit,calls=3", "server_errors,colour=red", "revoked_tokens,access_only=maybe"} {
		if _, err := ParseMode(bad); err == nil {
			t.Errorf("ParseMode(%q) accepted", bad)
		}
	}
}
