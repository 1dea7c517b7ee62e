package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/testenv"
)

// benchListRows is how many referrals, sales entries and members each of
// two workspaces holds in the list benchmarks: the issue's "stay fast over
// 100,000 rows". REFERFLOW_BENCH_ROWS changes it for a quick trial.
func benchListRows(b *testing.B) int {
	if raw := os.Getenv("REFERFLOW_BENCH_ROWS"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1000 {
			b.Fatalf("REFERFLOW_BENCH_ROWS must be a whole number of at least 1000, got %q", raw)
		}
		return n
	}
	return 100000
}

// BenchmarkAdminLists measures one admin list request end to end (routing,
// API-key check, query, JSON or CSV) against Postgres holding benchListRows
// referrals, sales entries and members in the admin's workspace (a quarter
// of the referrals approved, each with a member reward) and as many in
// another one: the first page, a page deep in the list, and the filters and
// searches; and the rewards' finance CSV, whole.
func BenchmarkAdminLists(b *testing.B) {
	rows := benchListRows(b)
	d := testenv.NewDatabase(b)
	srv := New(Deps{
		Pool: d.Pool, Temporal: testenv.NewTemporal(b).Client, Logger: slog.New(slog.DiscardHandler),
		Auth: &adminauth.Authenticator{Queries: d.Queries, Sessions: adminauth.NewSessions([]byte("test-key-0123456789abcdef0123456"))},
	})
	ctx := context.Background()
	fx := d.SeedReferral(b)
	other := d.SeedReferral(b)
	for _, f := range []struct{ ws, camp, member string }{
		{fx.Workspace.ID.String(), fx.Campaign.ID.String(), fx.Member.ID.String()},
		{other.Workspace.ID.String(), other.Campaign.ID.String(), other.Member.ID.String()},
	} {
		if _, err := d.Pool.Exec(ctx, `
			INSERT INTO referrals (workspace_id, campaign_id, member_id, lead_email, lead_email_normalized, source, status, created_at)
			SELECT $1, $2, $3, 'lead' || g || '@example.org', 'lead' || g || '@example.org', 'api',
			       (ARRAY['pending','qualified','approved','denied'])[1 + g % 4], now() - g * interval '1 second'
			FROM generate_series(1, $4::int) g`, f.ws, f.camp, f.member, rows); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Pool.Exec(ctx, `
			INSERT INTO sales_entries (portal_id, workspace_id, dedupe_key, subscription_type, object_type, object_id,
			                           occurred_at, payload, status, received_at)
			SELECT 4242, $1::uuid, $1::text || ':' || g, 'deal.propertyChange', 'deal', 1000 + g % 500, now(), '{}',
			       (ARRAY['processed','ignored','review','failed'])[1 + g % 4], now() - g * interval '1 second'
			FROM generate_series(1, $2::int) g`, f.ws, rows); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Pool.Exec(ctx, `
			INSERT INTO members (workspace_id, campaign_id, referral_code, email, first_name, source, created_at)
			SELECT $1, $2, 'BENCH' || g, 'member' || g || '@example.com',
			       (ARRAY['Ana','Sam','Zoë','Leo','Maya','Noah','Iris','Omar'])[1 + g % 8] || ' ' || g, 'admin',
			       now() - g * interval '1 second'
			FROM generate_series(1, $3::int) g`, f.ws, f.camp, rows); err != nil {
			b.Fatal(err)
		}
		benchRewardApprovedReferrals(b, d.Pool, f.camp)
	}
	for _, table := range []string{"referrals", "sales_entries", "members", "rewards"} {
		if _, err := d.Pool.Exec(ctx, "VACUUM ANALYZE "+table); err != nil {
			b.Fatal(err)
		}
	}
	_, key, err := adminauth.CreateAdmin(ctx, d.Queries, fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		b.Fatal(err)
	}
	get := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s = %d %s", path, rec.Code, rec.Body)
		}
		return rec
	}
	// A cursor halfway down the referral list.
	halfway := time.Now().Add(-time.Duration(rows/2) * time.Second)
	deep := pageCursor{Kind: "referrals", At: &halfway, ID: "ffffffff-ffff-ffff-ffff-ffffffffffff"}.encode()
	deepMembers := pageCursor{Kind: "members", At: &halfway, ID: "ffffffff-ffff-ffff-ffff-ffffffffffff"}.encode()
	deepRewards := pageCursor{Kind: "rewards", At: &halfway, ID: "ffffffff-ffff-ffff-ffff-ffffffffffff"}.encode()
	var middle int64 // sales entry IDs start at random in test schemas
	if err := d.Pool.QueryRow(ctx, `SELECT id FROM sales_entries WHERE workspace_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1`,
		fx.Workspace.ID, rows/2).Scan(&middle); err != nil {
		b.Fatal(err)
	}
	deepSales := pageCursor{Kind: "sales_entries", ID: strconv.FormatInt(middle, 10)}.encode()
	members := "/api/v1/campaigns/" + fx.Campaign.ID.String() + "/members"
	for _, bc := range []struct{ name, path string }{
		{"referrals/first_page", "/api/v1/referrals"},
		{"referrals/deep_page", "/api/v1/referrals?cursor=" + url.QueryEscape(*deep)},
		{"referrals/status", "/api/v1/referrals?status=approved"},
		{"referrals/campaign_first_page", "/api/v1/referrals?campaign_id=" + fx.Campaign.ID.String()},
		{"referrals/campaign_deep_page", "/api/v1/referrals?campaign_id=" + fx.Campaign.ID.String() + "&cursor=" + url.QueryEscape(*deep)},
		{"referrals/campaign_status", "/api/v1/referrals?campaign_id=" + fx.Campaign.ID.String() + "&status=approved"},
		{"referrals/email", "/api/v1/referrals?email=lead12345%40example.org"},
		{"referrals/limit_200", "/api/v1/referrals?limit=200"},
		{"sales_entries/first_page", "/api/v1/sales-entries"},
		{"sales_entries/deep_page", "/api/v1/sales-entries?cursor=" + url.QueryEscape(*deepSales)},
		{"sales_entries/status_object", "/api/v1/sales-entries?status=review&object_type=deal&object_id=1002"},
		{"members/first_page", members},
		{"members/deep_page", members + "?cursor=" + url.QueryEscape(*deepMembers)},
		{"members/search_name", members + "?q=zo%C3%AB"},          // one member in 8
		{"members/search_email", members + "?q=member12345%40"},   // one member
		{"members/search_code", members + "?q=BENCH4242"},         // one member, by code
		{"members/search_no_match", members + "?q=nobody%40none"}, // none: every member read
		{"rewards/first_page", "/api/v1/rewards"},
		{"rewards/deep_page", "/api/v1/rewards?cursor=" + url.QueryEscape(*deepRewards)},
		{"rewards/status_campaign", "/api/v1/rewards?status=pending&campaign_id=" + fx.Campaign.ID.String()},
		{"rewards/csv_all", "/api/v1/rewards?format=csv"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				body := get(bc.path).Body.Bytes()
				if strings.HasSuffix(bc.name, "csv_all") {
					n = strings.Count(string(body), "\n") - 1 // less the header
					continue
				}
				var page map[string]json.RawMessage
				_ = json.Unmarshal(body, &page)
				for k, v := range page {
					if k != "next_cursor" {
						n = strings.Count(string(v), `"id":`)
					}
				}
			}
			b.ReportMetric(float64(n), "rows/page")
		})
	}
}
