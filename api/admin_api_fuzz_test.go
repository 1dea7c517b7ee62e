package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
)

// adminFuzzRoutes are the admin API's writes whose JSON bodies the fuzzer
// throws: campaigns and their settings, members, referrals, status decisions,
// reward decisions, give-ups, held-change reviews and review-entry decisions.
// {campaign}, {referral} and {review} are the seeded ones.
var adminFuzzRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/campaigns"},
	{"PATCH", "/api/v1/campaigns/{campaign}"},
	{"PUT", "/api/v1/campaigns/{campaign}/settings"},
	{"POST", "/api/v1/campaigns/{campaign}/members"},
	{"POST", "/api/v1/campaigns/{campaign}/referrals"},
	{"POST", "/api/v1/referrals/{referral}/decisions"},
	{"POST", "/api/v1/referrals/{referral}/review"},
	{"POST", "/api/v1/referrals/{referral}/give-up"},
	{"POST", "/api/v1/referrals/{referral}/rewards/00000000-0000-0000-0000-000000000001/cancel"},
	{"POST", "/api/v1/review-entries/{review}/decisions"},
}

// FuzzAdminAPI throws JSON bodies at the admin API's writes, through the real
// handler, over a real Postgres and a real Temporal dev server (no worker:
// the seeded referral has no running workflow, so a decision that passes
// validation is answered 409, quickly). Whatever comes in: no panic, no 5xx
// (a client mistake is a 4xx), every error answer JSON, and no Go type name
// in what it says. The seeded campaign is set back to active before each
// input so that bodies reach the database writes.
//
//	go test -run '^$' -fuzz FuzzAdminAPI -fuzztime 5m ./api/
//
// The seeds below carry the inputs that were 500s before this target existed
// (and cases of TestBadInputIsAClientMistake); what fuzzing found since is
// in testdata/fuzz/FuzzAdminAPI.
func FuzzAdminAPI(f *testing.F) {
	d := testenv.NewDatabase(f)
	tc := testenv.NewTemporal(f)
	srv := New(Deps{
		Pool: d.Pool, Temporal: tc.Client, Logger: slog.New(slog.DiscardHandler),
		Auth: &adminauth.Authenticator{Queries: d.Queries, Sessions: adminauth.NewSessions([]byte("test-key-0123456789abcdef0123456"))},
	})
	handler := srv.Handler()
	fx := d.SeedReferral(f)
	ctx := context.Background()
	_, key, err := adminauth.CreateAdmin(ctx, d.Queries, fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		f.Fatal(err)
	}
	review, err := d.Queries.ReviewEntryCreate(ctx, db.ReviewEntryCreateParams{
		WorkspaceID: fx.Workspace.ID, Reason: "no_member_match", Data: json.RawMessage(`{"email":"a@example.org"}`),
	})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, `UPDATE review_entries SET workflow_id = 'sales-entry/987654321' WHERE id = $1`, review.ID); err != nil {
		f.Fatal(err)
	}
	replacer := strings.NewReplacer("{campaign}", fx.Campaign.ID.String(), "{referral}", fx.Referral.ID.String(), "{review}", review.ID.String())

	member := fx.Member.ID.String()
	seeds := map[int][]string{
		0: {`{"name":"Fuzz","status":"active","settings":{"leads":{"action":"create_contact","field_mapping":[{"object":"contact","source":"email","property":"email"}]},"rewards":{"member":{"kind":"fixed","amount":"50","currency":"USD"}}}}`,
			`{"name":"Spring\u0000"}`, "{\"name\":\"\xff\"}", `[{"name":"x"}]`, `{"name":5}`, `{"name":"x","fulfilment_webhook_url":"https://example.com/hook"}`,
			`{"name":"x","settings":{"rewards":{"hold_days":1e400}}}`, `{"name":"x","status":"archived"}`},
		1: {`{"status":"paused"}`, `{"status":"draft"}`, `{"name":"Renamed","fulfilment_webhook_url":""}`, `{"status":null,"name":null}`, `{"settings":{}}`},
		2: {`{"leads":{"action":"create_deal","associate_contact":true,"field_mapping":[{"object":"deal","value":"x","property":"dealname"},{"object":"contact","source":"first_name","property":"firstname"}]},"status_rules":{"qualified":{"object":"deal","property":"dealstage","values":["appointmentscheduled"]},"approved":{"object":"deal","property":"dealstage","values":["closedwon"]},"initial":{"property":"dealstage","value":"x"}},"property_updates":{"mappings":[{"object":"deal","property":"amount","field":"sale_value","currency":"EUR"}]},"process_rules":{"external_id_property":"ext","matching_rules":[{"object":"contact","property":"code","holds":"referral_code"}]},"rewards":{"member":{"kind":"percentage","percent":"10"},"friend":{"kind":"fixed","amount":"0.01","currency":"JPY"},"on_status":"approved","hold_days":365,"expire_after_days":3650}}`,
			`{"rewards":{"member":{"kind":"fixed","amount":"0","currency":"XXX"}}}`, `{"leads":{"field_mapping":"all"}}`, `null`, `{"leads":{"action":"create_contact","field_mapping":[{"object":"contact","value":"a\u0000","property":"email"}]}}`},
		3: {`{"email":"maya2@example.com","first_name":"Maya","last_name":"Lind","external_id":"e-1","referral_code":"MAYA-1"}`,
			`{"email":"a@example.com","last_name":"Li\u0000"}`, `{"email":"` + strings.Repeat("a", 70) + `@example.com"}`, `{"email":"a@b.co","referral_code":"../x"}`},
		4: {`{"member_id":"` + member + `","lead":{"email":"lead@example.org","first_name":"Leo","last_name":"Lind","company":"Acme"},"external_id":"x"}`,
			`{"member_code":"` + fx.Member.ReferralCode + `","lead":{"email":"l2@example.org","first_name":"\u0000"}}`, `{"member_id":"not-a-uuid","lead":{"email":"x@example.org"}}`, `{"lead":null}`},
		5: {`{"status":"denied","reason":"fraud"}`, `{"status":"APPROVED"}`, `{"status":"denied","reason":"\u0000"}`, `{"status":7}`},
		6: {`{"accept":true}`, `{"accept":null}`, `{}`},
		7: {`{"reason":"HubSpot is gone"}`, `{"reason":""}`},
		8: {`{"reason":"duplicate"}`, `{}`, ``},
		9: {`{"action":"edit","data":{"email":"x@example.org","member_email":"maya@example.com"}}`, `{"action":"attach_member","member_id":"` + member + `"}`,
			`{"action":"attach_referral","referral_id":"` + fx.Referral.ID.String() + `"}`, `{"action":"dismiss","reason":"spam"}`, `{"action":"edit","data":{"a\u0000":"b"}}`, `{"action":"approve","data":[]}`},
	}
	for route, bodies := range seeds {
		for _, b := range bodies {
			f.Add(uint8(route), []byte(b))
		}
	}

	active := string(campaign.Active)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		if _, err := d.Queries.CampaignUpdateDetails(ctx, db.CampaignUpdateDetailsParams{ID: fx.Campaign.ID, WorkspaceID: fx.Workspace.ID, Status: &active}); err != nil {
			t.Fatal(err)
		}
		r := adminFuzzRoutes[int(route)%len(adminFuzzRoutes)]
		req := httptest.NewRequest(r.method, replacer.Replace(r.path), strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q = %d %s", r.method, r.path, body, rec.Code, rec.Body)
		}
		if rec.Code < 400 {
			return
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %s: %d answer is not JSON: %q", r.method, r.path, rec.Code, rec.Body)
		}
		var e ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("%s %s: %d error body: %v", r.method, r.path, rec.Code, err)
		}
		said := []string{e.Error.Message}
		for k, v := range e.Error.Fields {
			said = append(said, k, v)
		}
		if name, ok := namesGoType(strings.Join(said, " | "), string(body)); ok {
			t.Fatalf("%s %s %q: the answer names a Go type (%s): %+v", r.method, r.path, body, name, e.Error)
		}
	})
}

// Keep the fuzz target's routes the admin API's: a route renamed in the
// server and not here would be fuzzed as a 404.
func TestAdminFuzzRoutesExist(t *testing.T) {
	t.Parallel()
	routes := map[string]bool{}
	srv := New(Deps{Logger: slog.New(slog.DiscardHandler)})
	for _, r := range srv.echo.Routes() {
		routes[r.Method+" "+r.Path] = true
	}
	for _, r := range adminFuzzRoutes {
		p := r.path
		for _, pair := range [][2]string{{"{campaign}", ":id"}, {"{referral}", ":id"}, {"{review}", ":id"}, {"00000000-0000-0000-0000-000000000001", ":reward_id"}} {
			p = strings.Replace(p, pair[0], pair[1], 1)
		}
		if !routes[r.method+" "+p] {
			t.Errorf("%s %s is not a route of the server", r.method, p)
		}
	}
}
