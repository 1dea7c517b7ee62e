package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
)

// The tracking script's endpoint, POST /api/public/v1/conversions, over
// real HTTP, a real Postgres schema, a Temporal dev server and a worker.

const shopOrigin = "https://shop.example"

type conversionWorld struct {
	d   *testenv.Database
	fx  testenv.ReferralFixture
	url string
}

func newConversionWorld(t *testing.T, limits PublicLimits, opts ...func(*Deps)) *conversionWorld {
	t.Helper()
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	public, _ := url.Parse("https://refer.acme.test")
	deps := Deps{
		Pool: d.Pool, Temporal: tc.Client, Logger: slog.New(slog.DiscardHandler), PublicURL: public,
		TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue,
		EncryptionKey: testEncryptionKey, PublicLimits: limits,
		// As behind a proxy on this host: the tests name the visitor in
		// X-Forwarded-For.
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	}
	for _, o := range opts {
		o(&deps)
	}
	srv := New(deps)
	t.Cleanup(srv.clicks.close)
	ws := worker.New(tc.Client, d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Stop)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	w := &conversionWorld{d: d, fx: d.SeedReferral(t), url: hs.URL}
	// A code as referflow makes them (upper case).
	w.fx.Member.ReferralCode = referral.NewCode("Maya")
	if _, err := d.Pool.Exec(context.Background(), `UPDATE members SET referral_code = $1 WHERE id = $2`, w.fx.Member.ReferralCode, w.fx.Member.ID); err != nil {
		t.Fatal(err)
	}
	w.setOrigins(t, shopOrigin, "http://localhost:3000")
	return w
}

func (w *conversionWorld) setOrigins(t *testing.T, origins ...string) {
	t.Helper()
	c, err := w.d.Queries.CampaignGetByID(context.Background(), w.fx.Campaign.ID)
	if err != nil {
		t.Fatal(err)
	}
	s, err := activities.CampaignSettings(c)
	if err != nil {
		t.Fatal(err)
	}
	s.Public.AllowedOrigins = origins
	w.d.SetCampaignSettings(t, c, s)
}

type answer struct {
	status int
	header http.Header
	view   ConversionView
	err    ErrorDetail
	raw    string
}

// send makes a request as a browser on origin would (no Origin header when
// origin is empty), from the visitor at ip.
func (w *conversionWorld) send(t *testing.T, method, path, origin, ip, contentType, body string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, w.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-Forwarded-For", ip)
	req.Header.Set("User-Agent", "Mozilla/5.0 (test)")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if resp.StatusCode < 300 {
		_ = json.Unmarshal(raw, &a.view)
	} else {
		var e ErrorBody
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%s %s = %d, not a JSON error: %q", method, path, resp.StatusCode, raw)
		}
		a.err = e.Error
	}
	return a
}

// convert posts a conversion as the tracking script does (text/plain).
func (w *conversionWorld) convert(t *testing.T, origin, ip, code, email string) answer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"publishable_key": w.fx.Campaign.PublishableKey, "referral_code": code,
		"lead": map[string]any{"email": email, "first_name": "Zoë", "company": "Globex"},
	})
	return w.send(t, http.MethodPost, conversionsRoute, origin, ip, "text/plain;charset=UTF-8", string(body))
}

func (w *conversionWorld) referralsOf(t *testing.T, email string) []db.Referral {
	t.Helper()
	rows, err := w.d.Pool.Query(context.Background(), `SELECT id, member_id, source, visitor_hash, lead_first_name, lead_company FROM referrals WHERE campaign_id = $1 AND lower(lead_email) = lower($2)`, w.fx.Campaign.ID, email)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []db.Referral
	for rows.Next() {
		var r db.Referral
		if err := rows.Scan(&r.ID, &r.MemberID, &r.Source, &r.VisitorHash, &r.LeadFirstName, &r.LeadCompany); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func (w *conversionWorld) waitForWorkflow(t *testing.T, r db.Referral) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := w.d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM referral_events WHERE referral_id = $1 AND kind = 'workflow_started'`, r.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("referral %s's workflow never started", r.ID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *conversionWorld) addMember(t *testing.T, email string) db.Member {
	t.Helper()
	m, err := w.d.Queries.MemberCreate(context.Background(), db.MemberCreateParams{
		WorkspaceID: w.fx.Workspace.ID, CampaignID: w.fx.Campaign.ID,
		ReferralCode: referral.NewCode("Other"), Email: email, Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestConversionAddsOneReferral: an allowed page's conversion becomes a
// referral of the code's member (source tracking_script, the visitor's hash
// kept, its workflow started); the same lead again, from this member or
// another, is answered alike and never adds a second referral.
func TestConversionAddsOneReferral(t *testing.T) {
	t.Parallel()
	w := newConversionWorld(t, PublicLimits{})
	code := w.fx.Member.ReferralCode

	// The code as the visitor may have retyped it, in lower case.
	a := w.convert(t, shopOrigin, "203.0.113.7", strings.ToLower(code), "zoe@globex.example")
	if a.status != http.StatusAccepted || a.view.Status != ConversionReceived || !strings.HasPrefix(a.view.ConversionID, "cv_") {
		t.Fatalf("conversion = %d %s", a.status, a.raw)
	}
	if a.header.Get("Access-Control-Allow-Origin") != shopOrigin || a.header.Get("Vary") != "Origin" ||
		a.header.Get("Access-Control-Allow-Credentials") != "" || a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("CORS headers of an allowed origin: %v", a.header)
	}
	refs := w.referralsOf(t, "zoe@globex.example")
	if len(refs) != 1 || refs[0].MemberID != w.fx.Member.ID || refs[0].Source != referral.SourceColumnTrackingScript ||
		len(refs[0].VisitorHash) != 32 || deref(refs[0].LeadFirstName) != "Zoë" || deref(refs[0].LeadCompany) != "Globex" {
		t.Fatalf("referrals = %+v, want one of member %s from the tracking script with the visitor's hash", refs, w.fx.Member.ID)
	}
	w.waitForWorkflow(t, refs[0])
	var actor, source string
	if err := w.d.Pool.QueryRow(context.Background(), `SELECT actor, details->>'source' FROM referral_events WHERE referral_id = $1 AND kind = 'added'`, refs[0].ID).Scan(&actor, &source); err != nil || source != string(referral.SourceTrackingScript) {
		t.Fatalf("added event: actor %q source %q (%v)", actor, source, err)
	}

	// The same conversion again (a retried request, another spelling of
	// the email): the same answer, one referral.
	again := w.convert(t, shopOrigin, "203.0.113.7", code, "ZOE@globex.example")
	if again.status != http.StatusAccepted || again.view != a.view {
		t.Fatalf("same conversion again = %d %s, want %+v", again.status, again.raw, a.view)
	}
	// Another member's code with the same lead: answered as any accepted
	// conversion (nothing tells the caller the lead is known), and the
	// referral stays the first member's.
	other := w.addMember(t, "otto@example.com")
	o := w.convert(t, shopOrigin, "198.51.100.9", other.ReferralCode, "zoe@globex.example")
	if o.status != http.StatusAccepted || o.view.Status != ConversionReceived || o.view.ConversionID == a.view.ConversionID || len(o.view.ConversionID) != len(a.view.ConversionID) {
		t.Fatalf("lead referred by another member = %d %s, want 202 like a new one", o.status, o.raw)
	}
	if refs := w.referralsOf(t, "zoe@globex.example"); len(refs) != 1 || refs[0].MemberID != w.fx.Member.ID {
		t.Fatalf("after the duplicates: referrals = %+v, want the one of the first member", refs)
	}

	// A JSON body (what a server or a page's own code may send) works too;
	// without an Origin it is not a browser's and is accepted without CORS
	// headers.
	body := `{"publishable_key":"` + w.fx.Campaign.PublishableKey + `","referral_code":"` + code + `","lead":{"email":"srv@globex.example"},"external_id":"crm-42"}`
	s := w.send(t, http.MethodPost, conversionsRoute, "", "192.0.2.1", "application/json", body)
	if s.status != http.StatusAccepted || s.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("server-to-server conversion = %d %s %v", s.status, s.raw, s.header)
	}
	if refs := w.referralsOf(t, "srv@globex.example"); len(refs) != 1 {
		t.Fatalf("server-to-server conversion kept %d referrals", len(refs))
	}
}

// TestConversionCORS: only the campaign's allowed origins may send
// conversions; a refused one keeps nothing and its answer carries no CORS
// header. A preflight is answered by the same allow-list.
func TestConversionCORS(t *testing.T) {
	t.Parallel()
	w := newConversionWorld(t, PublicLimits{})
	code := w.fx.Member.ReferralCode
	for _, origin := range []string{"https://evil.example", "null", "https://shop.example.evil.example", "http://shop.example", "https://SHOP.example", "https://shop.example/"} {
		a := w.convert(t, origin, "203.0.113.8", code, "mallory@evil.example")
		if a.status != http.StatusForbidden || a.err.Code != "origin_not_allowed" || !strings.Contains(a.err.Message, "allowed_origins") ||
			a.header.Get("Access-Control-Allow-Origin") != "" || a.header.Get("Vary") != "Origin" {
			t.Errorf("conversion from %q = %d %s %v, want 403 origin_not_allowed without CORS headers", origin, a.status, a.raw, a.header)
		}
	}
	if refs := w.referralsOf(t, "mallory@evil.example"); len(refs) != 0 {
		t.Fatalf("refused origins kept %d referrals", len(refs))
	}
	// The other allowed origin, with its port.
	if a := w.convert(t, "http://localhost:3000", "203.0.113.8", code, "dev@globex.example"); a.status != http.StatusAccepted || a.header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Fatalf("conversion from the other allowed origin = %d %s", a.status, a.raw)
	}

	// Preflights.
	pre := func(origin, method, headers string) answer {
		return w.send(t, http.MethodOptions, conversionsRoute, origin, "203.0.113.8", "", "",
			"Access-Control-Request-Method", method, "Access-Control-Request-Headers", headers)
	}
	a := pre(shopOrigin, "POST", "content-type")
	if a.status != http.StatusNoContent || a.header.Get("Access-Control-Allow-Origin") != shopOrigin ||
		a.header.Get("Access-Control-Allow-Methods") != "POST" || a.header.Get("Access-Control-Allow-Headers") != "Content-Type" ||
		a.header.Get("Access-Control-Allow-Credentials") != "" || !strings.Contains(strings.Join(a.header.Values("Vary"), ","), "Origin") {
		t.Fatalf("preflight from an allowed origin = %d %v", a.status, a.header)
	}
	for _, c := range []struct{ origin, method, headers string }{
		{"https://evil.example", "POST", "content-type"},
		{"null", "POST", ""},
		{"", "POST", ""},
		{shopOrigin, "DELETE", ""},
		{shopOrigin, "POST", "content-type, authorization"},
	} {
		if a := pre(c.origin, c.method, c.headers); a.status != http.StatusForbidden || a.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight %+v = %d %v, want 403 without CORS headers", c, a.status, a.header)
		}
	}
	// An origin no longer listed is refused from then on.
	w.setOrigins(t, "https://www.shop.example")
	if a := pre(shopOrigin, "POST", "content-type"); a.status != http.StatusForbidden {
		t.Fatalf("preflight from a removed origin = %d", a.status)
	}
	if a := w.convert(t, shopOrigin, "203.0.113.8", code, "late@globex.example"); a.status != http.StatusForbidden {
		t.Fatalf("conversion from a removed origin = %d %s", a.status, a.raw)
	}
}

// TestConversionRefusals: each refused conversion says why and keeps
// nothing.
func TestConversionRefusals(t *testing.T) {
	t.Parallel()
	w := newConversionWorld(t, PublicLimits{})
	key, code := w.fx.Campaign.PublishableKey, w.fx.Member.ReferralCode
	for i, c := range []struct {
		contentType, body string
		status            int
		code, field       string
	}{
		{"text/plain", `{"publishable_key":"` + key + `","referral_code":"NOBODY-123","lead":{"email":"kept@nowhere.example"}}`, 422, "unknown_referral_code", "referral_code"},
		{"text/plain", `{"publishable_key":"` + key + `","lead":{"email":"kept@nowhere.example"}}`, 422, "invalid", "referral_code"},
		{"text/plain", `{"publishable_key":"` + key + `","referral_code":"a b","lead":{"email":"kept@nowhere.example"}}`, 422, "invalid", "referral_code"},
		{"text/plain", `{"publishable_key":"` + key + `","referral_code":"` + code + `","lead":{"email":"not an email"}}`, 422, "invalid", "lead.email"},
		{"text/plain", `{"publishable_key":"pk_00000000000000000000000000000000","referral_code":"` + code + `","lead":{"email":"kept@nowhere.example"}}`, 422, "invalid", "publishable_key"},
		{"text/plain", `{"referral_code":"` + code + `","lead":{"email":"kept@nowhere.example"}}`, 422, "invalid", "publishable_key"},
		{"text/plain", `{"publishable_key":"` + key + `","referral_code":"` + code + `","lead":{"email":"kept@nowhere.example"},"extra":1}`, 422, "invalid", "extra"},
		{"application/x-www-form-urlencoded", `{"publishable_key":"` + key + `","referral_code":"` + code + `","lead":{"email":"kept@nowhere.example"}}`, 415, "unsupported_media_type", ""},
		{"text/plain", `{"publishable_key":"` + key + `","referral_code":"` + code + `","lead":{"email":"kept@nowhere.example"}`, 400, "bad_request", "-"},
	} {
		a := w.send(t, http.MethodPost, conversionsRoute, shopOrigin, "203.0.113.9", c.contentType, c.body)
		if a.status != c.status || a.err.Code != c.code || (c.field != "" && c.field != "-" && a.err.Fields[c.field] == "") || a.err.Message == "" {
			t.Errorf("case %d: %d %s, want %d %s naming %q", i, a.status, a.raw, c.status, c.code, c.field)
		}
		// Refusals of a known campaign are readable by its page.
		if c.field != "publishable_key" && c.field != "-" && a.header.Get("Access-Control-Allow-Origin") != shopOrigin {
			t.Errorf("case %d: refusal not readable by the allowed origin: %v", i, a.header)
		}
	}
	if refs := w.referralsOf(t, "kept@nowhere.example"); len(refs) != 0 {
		t.Fatalf("refused conversions kept %d referrals", len(refs))
	}
	big := `{"publishable_key":"` + key + `","referral_code":"` + code + `","lead":{"email":"x@example.com","company":"` + strings.Repeat("x", MaxPublicBodyBytes) + `"}}`
	if a := w.send(t, http.MethodPost, conversionsRoute, shopOrigin, "203.0.113.9", "text/plain", big); a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body = %d", a.status)
	}

	// A campaign that is not active takes no conversion.
	st := string(campaign.Paused)
	if _, err := w.d.Queries.CampaignUpdateDetails(context.Background(), db.CampaignUpdateDetailsParams{ID: w.fx.Campaign.ID, WorkspaceID: w.fx.Workspace.ID, Status: &st}); err != nil {
		t.Fatal(err)
	}
	if a := w.convert(t, shopOrigin, "203.0.113.9", code, "paused@globex.example"); a.status != http.StatusConflict || a.err.Code != "campaign_not_active" {
		t.Fatalf("conversion of a paused campaign = %d %s", a.status, a.raw)
	}
	if refs := w.referralsOf(t, "paused@globex.example"); len(refs) != 0 {
		t.Fatalf("a paused campaign kept %d referrals", len(refs))
	}
}

// TestConversionRateLimits: a visitor, and a member's code, send only so
// many conversions; the 429 says when to try again and is readable by the
// allowed page.
func TestConversionRateLimits(t *testing.T) {
	t.Parallel()
	w := newConversionWorld(t, PublicLimits{
		PerVisitor: Rate{Burst: 2, Every: time.Hour},
		PerMember:  Rate{Burst: 3, Every: time.Hour},
	})
	code := w.fx.Member.ReferralCode
	for i, email := range []string{"a1@globex.example", "a2@globex.example"} {
		if a := w.convert(t, shopOrigin, "203.0.113.10", code, email); a.status != http.StatusAccepted {
			t.Fatalf("conversion %d = %d %s", i, a.status, a.raw)
		}
	}
	a := w.convert(t, shopOrigin, "203.0.113.10", code, "a3@globex.example")
	if a.status != http.StatusTooManyRequests || a.err.Code != "rate_limited" || a.header.Get("Retry-After") == "" ||
		a.header.Get("Access-Control-Allow-Origin") != shopOrigin || !strings.Contains(a.header.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Fatalf("third conversion of one visitor = %d %s %v", a.status, a.raw, a.header)
	}
	// Another visitor may still convert, until the member's limit.
	if a := w.convert(t, shopOrigin, "203.0.113.11", code, "b1@globex.example"); a.status != http.StatusAccepted {
		t.Fatalf("another visitor = %d %s", a.status, a.raw)
	}
	a = w.convert(t, shopOrigin, "203.0.113.12", code, "c1@globex.example")
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Fatalf("fourth conversion of one member = %d %s", a.status, a.raw)
	}
	for _, email := range []string{"a3@globex.example", "c1@globex.example"} {
		if refs := w.referralsOf(t, email); len(refs) != 0 {
			t.Fatalf("a rate-limited conversion kept a referral of %s", email)
		}
	}
	// Another member's code is not held back by the first member's limit.
	other := w.addMember(t, "otto@example.com")
	if a := w.convert(t, shopOrigin, "203.0.113.13", other.ReferralCode, "d1@globex.example"); a.status != http.StatusAccepted {
		t.Fatalf("another member's conversion = %d %s", a.status, a.raw)
	}
}

// TestPublicCampaignForTheScript: the script reads the campaign's
// attribution window and model, cacheable, from its allowed origins.
func TestPublicCampaignForTheScript(t *testing.T) {
	t.Parallel()
	w := newConversionWorld(t, PublicLimits{})
	c, err := w.d.Queries.CampaignGetByID(context.Background(), w.fx.Campaign.ID)
	if err != nil {
		t.Fatal(err)
	}
	s, err := activities.CampaignSettings(c)
	if err != nil {
		t.Fatal(err)
	}
	s.Public.Attribution = campaign.Attribution{WindowDays: 30, Model: campaign.FirstTouch}
	w.d.SetCampaignSettings(t, c, s)

	path := "/api/public/v1/attribution/" + w.fx.Campaign.PublishableKey
	a := w.send(t, http.MethodGet, path, shopOrigin, "203.0.113.20", "", "")
	var v PublicCampaignView
	if err := json.Unmarshal([]byte(a.raw), &v); a.status != http.StatusOK || err != nil || v.Attribution != s.Public.Attribution {
		t.Fatalf("public campaign = %d %s", a.status, a.raw)
	}
	if a.header.Get("Cache-Control") != "public, max-age=300" || a.header.Get("Access-Control-Allow-Origin") != shopOrigin || a.header.Get("Vary") != "Origin" {
		t.Fatalf("public campaign headers: %v", a.header)
	}
	if a := w.send(t, http.MethodGet, path, "https://evil.example", "203.0.113.20", "", ""); a.status != http.StatusForbidden || a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("public campaign from another origin = %d %v", a.status, a.header)
	}
	for _, key := range []string{"pk_00000000000000000000000000000000", "nope"} {
		if a := w.send(t, http.MethodGet, "/api/public/v1/attribution/"+key, shopOrigin, "203.0.113.20", "", ""); a.status != http.StatusNotFound {
			t.Fatalf("unknown key %s = %d", key, a.status)
		}
	}
}

// TestConversionKeptWhenTemporalIsDown: a conversion is accepted and its
// referral kept when its workflow cannot start; the worker's reconciler
// starts it later.
func TestConversionKeptWhenTemporalIsDown(t *testing.T) {
	t.Parallel()
	down, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Namespace: testenv.TemporalNamespace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Close)
	w := newConversionWorld(t, PublicLimits{}, func(d *Deps) { d.Temporal = down })
	a := w.convert(t, shopOrigin, "203.0.113.30", w.fx.Member.ReferralCode, "kept@globex.example")
	if a.status != http.StatusAccepted || a.view.Status != ConversionReceived {
		t.Fatalf("conversion with Temporal down = %d %s", a.status, a.raw)
	}
	if n := len(w.referralsOf(t, "kept@globex.example")); n != 1 {
		t.Fatalf("with Temporal down %d referrals kept, want 1", n)
	}
}
