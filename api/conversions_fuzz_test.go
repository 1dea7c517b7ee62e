package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/dev/testenv"
)

// FuzzPublicConversions throws bodies and header values at the tracking
// script's public endpoint, POST (and OPTIONS) /api/public/v1/conversions,
// over a real database and Temporal dev server. In a body, {KEY} and {CODE}
// stand for the campaign's publishable key and a member's code, so that the
// fuzzer reaches past the campaign and member lookups. Whatever comes in: no
// panic, no 5xx, a JSON answer (or an empty 204 preflight), a 2xx only for a
// conversion that is valid and from no origin or an allowed one — and then
// its referral is in the table — and CORS headers only for an allowed
// origin.
//
//	go test -run '^$' -fuzz FuzzPublicConversions -fuzztime 2m ./api/
func FuzzPublicConversions(f *testing.F) {
	d := testenv.NewDatabase(f)
	tc := testenv.NewTemporal(f)
	public, _ := url.Parse("https://refer.acme.test")
	srv := New(Deps{
		Pool: d.Pool, Temporal: tc.Client, Logger: slog.New(slog.DiscardHandler), PublicURL: public,
		TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue, EncryptionKey: testEncryptionKey,
		// The limits are tested elsewhere; here they would answer 429 to
		// everything after the first few inputs.
		PublicLimits: PublicLimits{PerVisitor: Rate{Burst: 1 << 30, Every: time.Nanosecond}, PerMember: Rate{Burst: 1 << 30, Every: time.Nanosecond}},
	})
	f.Cleanup(srv.clicks.close)
	handler := srv.Handler()
	fx := d.SeedReferral(f)
	c, err := d.Queries.CampaignGetByID(context.Background(), fx.Campaign.ID)
	if err != nil {
		f.Fatal(err)
	}
	settings, err := activities.CampaignSettings(c)
	if err != nil {
		f.Fatal(err)
	}
	settings.Public.AllowedOrigins = []string{shopOrigin}
	d.SetCampaignSettings(f, c, settings)
	key, code := fx.Campaign.PublishableKey, fx.Member.ReferralCode

	seeds := []string{
		`{"publishable_key":"{KEY}","referral_code":"{CODE}","lead":{"email":"zoe@globex.example","first_name":"Zoë","last_name":"Ng","company":"Globex"},"external_id":"x-1"}`,
		`{"publishable_key":"{KEY}","referral_code":"{CODE}","lead":{"email":"maya+me@example.com"}}`,
		`{"publishable_key":"{KEY}","referral_code":"nobody","lead":{"email":"a@b.example"}}`,
		`{"publishable_key":"{KEY}","referral_code":"{CODE}","lead":{"email":"a@b.example","first_name":"\u0000"}}`,
		`{"publishable_key":"{KEY}","referral_code":"{CODE}","lead":{"email":"a@b.example","company":"\ud800"}}`,
		`{"publishable_key":"{KEY}","referral_code":"{CODE}","lead":{"email":"` + strings.Repeat("a", 300) + `@b.example"}}`,
		`{"publishable_key":"{KEY}","referral_code":"{CODE}","lead":{"email":"a@b.example"},"lead":{"email":1}}`,
		`{"publishable_key":1,"referral_code":["{CODE}"],"lead":"x"}`,
		`{"publishable_key":"{KEY}","referral_code":"{CODE}","lead":{"email":"a@b.example"}} {}`,
		`{"publishable_key":"{KEY}"`, `[]`, `null`, ``, "\xff", `{"publishable_key":"pk_` + strings.Repeat("0", 32) + `"}`,
	}
	for i, s := range seeds {
		for _, origin := range []string{shopOrigin, "", "https://evil.example"} {
			f.Add([]byte(s), "text/plain;charset=UTF-8", origin, i%2 == 0, false)
		}
		f.Add([]byte(s), "application/json", "null", false, false)
	}
	f.Add([]byte(""), "", shopOrigin, false, true)
	f.Add([]byte(""), "", "https://evil.example", false, true)
	f.Add([]byte(seeds[0]), "multipart/form-data; boundary=\x00", "https://shop.example:443", true, false)

	f.Fuzz(func(t *testing.T, body []byte, contentType, origin string, lower, preflight bool) {
		c := code
		if lower {
			c = strings.ToLower(code)
		}
		b := strings.NewReplacer("{KEY}", key, "{CODE}", c).Replace(string(body))
		method := http.MethodPost
		if preflight {
			method = http.MethodOptions
		}
		req := httptest.NewRequest(method, conversionsRoute, strings.NewReader(b))
		req.Header["Content-Type"] = []string{contentType}
		if origin != "" {
			req.Header["Origin"] = []string{origin}
		}
		if preflight {
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header["Access-Control-Request-Headers"] = []string{contentType}
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)

		status := rec.Code
		if status >= 500 {
			t.Fatalf("%d: %s", status, rec.Body)
		}
		if status != http.StatusNoContent && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%d answer is not JSON: %q", status, rec.Body)
		}
		acao := rec.Header().Get("Access-Control-Allow-Origin")
		if acao != "" && (acao != shopOrigin || origin != shopOrigin) {
			t.Fatalf("%d allows origin %q for a request from %q", status, acao, origin)
		}
		if rec.Header().Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("%d allows credentials", status)
		}
		if preflight || status >= 300 {
			return
		}
		if status != http.StatusAccepted {
			t.Fatalf("%d for a conversion: %s", status, rec.Body)
		}
		if origin != "" && origin != shopOrigin {
			t.Fatalf("202 for a conversion from %q", origin)
		}
		var in ConversionInput
		if err := json.Unmarshal([]byte(b), &in); err != nil {
			t.Fatalf("202 for a body that is not a conversion: %v", err)
		}
		var n int
		if err := d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM referrals WHERE campaign_id = $1 AND lower(lead_email) = lower($2)`,
			fx.Campaign.ID, strings.TrimSpace(in.Lead.Email)).Scan(&n); err != nil || n != 1 {
			t.Fatalf("202 but %d referrals of %q (%v)", n, in.Lead.Email, err)
		}
	})
}
