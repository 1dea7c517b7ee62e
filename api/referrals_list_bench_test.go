package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/testenv"
)

// benchListRows is how many referrals and sales entries each of two
// workspaces holds in the list benchmarks.
const benchListRows = 20000

// BenchmarkAdminLists measures one admin list request end to end (routing,
// API-key check, query, JSON) against Postgres holding benchListRows
// referrals and sales entries in the admin's workspace and as many in
// another one: the first page, a page deep in the list, and the filters.
func BenchmarkAdminLists(b *testing.B) {
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
			FROM generate_series(1, $4::int) g`, f.ws, f.camp, f.member, benchListRows); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Pool.Exec(ctx, `
			INSERT INTO sales_entries (portal_id, workspace_id, dedupe_key, subscription_type, object_type, object_id,
			                           occurred_at, payload, status, received_at)
			SELECT 4242, $1::uuid, $1::text || ':' || g, 'deal.propertyChange', 'deal', 1000 + g % 500, now(), '{}',
			       (ARRAY['processed','ignored','review','failed'])[1 + g % 4], now() - g * interval '1 second'
			FROM generate_series(1, $2::int) g`, f.ws, benchListRows); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := d.Pool.Exec(ctx, `ANALYZE referrals; ANALYZE sales_entries`); err != nil {
		b.Fatal(err)
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
	deep := pageCursor{Kind: "referrals", At: ptrTo(time.Now().Add(-benchListRows / 2 * time.Second)), ID: "ffffffff-ffff-ffff-ffff-ffffffffffff"}.encode()
	var middle int64 // sales entry IDs start at random in test schemas
	if err := d.Pool.QueryRow(ctx, `SELECT id FROM sales_entries WHERE workspace_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1`,
		fx.Workspace.ID, benchListRows/2).Scan(&middle); err != nil {
		b.Fatal(err)
	}
	deepSales := pageCursor{Kind: "sales_entries", ID: strconv.FormatInt(middle, 10)}.encode()
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
	} {
		b.Run(bc.name, func(b *testing.B) {
			var rows int
			for b.Loop() {
				var page map[string]json.RawMessage
				_ = json.Unmarshal(get(bc.path).Body.Bytes(), &page)
				for k, v := range page {
					if k != "next_cursor" {
						rows = strings.Count(string(v), `"id":`)
					}
				}
			}
			b.ReportMetric(float64(rows), "rows/page")
		})
	}
}
