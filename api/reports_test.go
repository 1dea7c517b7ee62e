package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/reports"
)

// The reports' numbers are checked against hand-built data in
// internal/reports; these tests check what the API adds: the workspace's
// scope, the period and its checks, and the CSV export.
func TestReportsAPI(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)
	ctx := context.Background()
	camp := w.fx.Campaign.ID.String()
	// A second member whose name a spreadsheet would run as a formula.
	formula := "=HYPERLINK(\"http://evil.test\")"
	m2, err := w.d.Queries.MemberCreate(ctx, db.MemberCreateParams{
		WorkspaceID: w.fx.Workspace.ID, CampaignID: w.fx.Campaign.ID, ReferralCode: "ZED", Email: "zed@example.com", FirstName: &formula, Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, lead := range []string{"a@example.org", "b@example.org"} {
		if _, err := w.d.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
			WorkspaceID: w.fx.Workspace.ID, CampaignID: w.fx.Campaign.ID, MemberID: m2.ID,
			LeadEmail: lead, LeadEmailNormalized: lead, Source: "api",
		}); err != nil {
			t.Fatal(err)
		}
	}
	other := w.d.SeedReferral(t) // another workspace

	t.Run("funnel as JSON", func(t *testing.T) {
		for _, q := range []string{"", "?campaign_id=" + camp + "&period=7d"} {
			rec := w.api.call("GET", "/api/v1/reports/funnel"+q, "")
			if rec.Code != http.StatusOK {
				t.Fatalf("GET funnel%s = %d %s", q, rec.Code, rec.Body)
			}
			var f reports.Funnel
			if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil {
				t.Fatal(err)
			}
			// Maya and Zed joined today and added 3 referrals; the other
			// workspace's member and referral are not counted.
			if f.Steps[1].Count != 2 || f.Steps[2].Count != 3 || *f.Steps[2].RateFromPrevious != 1.5 {
				t.Errorf("GET funnel%s: steps %+v", q, f.Steps)
			}
			wantDays := 30
			if q != "" {
				wantDays = 7
			}
			if f.Days != wantDays || f.To != time.Now().UTC().Format(reports.DateLayout) {
				t.Errorf("GET funnel%s: period %s to %s, %d days", q, f.From, f.To, f.Days)
			}
		}
	})

	t.Run("every report as JSON and CSV", func(t *testing.T) {
		for _, name := range reports.Names {
			rec := w.api.call("GET", "/api/v1/reports/"+name+"?from=2026-01-01&to=2026-12-31", "")
			if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Errorf("GET %s = %d %s", name, rec.Code, rec.Body)
			}
			rec = w.api.call("GET", "/api/v1/reports/"+name+"?from=2026-01-01&to=2026-12-31&format=csv", "")
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" ||
				rec.Header().Get("Content-Disposition") != `attachment; filename="referflow-`+name+`-2026-01-01-to-2026-12-31.csv"` {
				t.Errorf("GET %s as CSV = %d %q %q", name, rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Content-Disposition"))
			}
		}
	})

	t.Run("leaderboard as CSV", func(t *testing.T) {
		rec := w.api.call("GET", "/api/v1/reports/leaderboard?format=csv&limit=1&campaign_id="+camp, "")
		lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
		if rec.Code != http.StatusOK || len(lines) != 2 || lines[0] != "rank,member_id,referral_code,email,first_name,last_name,referrals,qualified,approved,rewards,reward_amounts" {
			t.Fatalf("leaderboard CSV = %d\n%s", rec.Code, rec.Body)
		}
		// Zed leads with 2 referrals; his name is kept from running as a formula.
		if want := `1,` + m2.ID.String() + `,ZED,zed@example.com,"'=HYPERLINK(""http://evil.test"")",,2,0,0,0,`; lines[1] != want {
			t.Errorf("leaderboard row\n got %s\nwant %s", lines[1], want)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, tc := range []struct{ path, field, says string }{
			{"/funnel?from=2026-13-01&to=2026-12-01", "from", "is not a date"},
			{"/funnel?from=2026-12-01", "to", "is missing"},
			{"/rewards?from=2026-12-01&to=2026-11-01", "to", "is before from"},
			{"/rewards?from=2024-01-01&to=2025-06-01", "to", "at most 366 days"},
			{"/approval-time?period=1y", "period", "7d, 30d, 90d"},
			{"/approval-time?period=7d&from=2026-11-01&to=2026-11-02", "period", "not both"},
			{"/leaderboard?limit=0", "limit", "from 1 to 100"},
			{"/leaderboard?limit=101", "limit", "from 1 to 100"},
			{"/funnel?limit=5", "limit", "is not a parameter"},
			{"/funnel?format=xlsx", "format", "json, csv"},
			{"/funnel?campaign_id=42", "campaign_id", "UUID"},
		} {
			rec := w.api.call("GET", "/api/v1/reports"+tc.path, "")
			var e ErrorBody
			_ = json.Unmarshal(rec.Body.Bytes(), &e)
			if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(e.Error.Fields[tc.field], tc.says) {
				t.Errorf("GET %s = %d %s; want 422 saying %s %s", tc.path, rec.Code, rec.Body, tc.field, tc.says)
			}
		}
	})

	t.Run("another workspace's campaign", func(t *testing.T) {
		for _, name := range reports.Names {
			for _, id := range []string{other.Campaign.ID.String(), "00000000-0000-0000-0000-000000000001"} {
				rec := w.api.call("GET", "/api/v1/reports/"+name+"?campaign_id="+id, "")
				if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"not_found"`) {
					t.Errorf("GET %s of campaign %s = %d %s, want 404", name, id, rec.Code, rec.Body)
				}
			}
		}
		if rec := do(t, w.srv.Handler(), "GET", "/api/v1/reports/funnel", nil); rec.Code != http.StatusUnauthorized {
			t.Errorf("a report without an API key = %d, want 401", rec.Code)
		}
	})
}
