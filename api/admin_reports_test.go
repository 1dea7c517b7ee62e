package api

import (
	"bytes"
	"context"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/referflow/referflow/db"
)

// TestAdminReportsPage: the Reports page shows the four reports for the
// chosen campaign and period, with charts and CSV links that work with the
// admin's session; a bad date is shown next to its field; another
// workspace's campaign is the 404 page.
func TestAdminReportsPage(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	fx := d.SeedReferral(t)
	other := d.SeedReferral(t)
	if _, err := d.Pool.Exec(context.Background(), `UPDATE referrals SET status = 'approved', qualified_at = now() - interval '2 hours', approved_at = now() - interval '1 hour', created_at = now() - interval '4 hours' WHERE id = $1`, fx.Referral.ID); err != nil {
		t.Fatal(err)
	}
	lead := "<b>Leo</b>"
	if _, err := d.Queries.ReferralInsert(context.Background(), db.ReferralInsertParams{
		WorkspaceID: fx.Workspace.ID, CampaignID: fx.Campaign.ID, MemberID: fx.Member.ID,
		LeadEmail: "second@example.org", LeadEmailNormalized: "second@example.org", LeadFirstName: &lead, Source: "api",
	}); err != nil {
		t.Fatal(err)
	}
	b := signInAdmin(t, srv, d, fx.Workspace, "ops@acme.test")

	page := b.get("/admin/reports", http.StatusOK)
	for _, want := range []string{
		`<h1>Reports</h1>`, `<a href="/admin/reports" aria-current="page">Reports</a>`,
		`<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"`, `<title id="chart-`,
		`<th scope="row">referrals</th><td class="admin-num">2</td><td class="admin-num">200.0%</td>`, `<th scope="row">clicks</th><td class="admin-num">0</td><td class="admin-num">—</td>`,
		`<th scope="row">approved</th><td class="admin-num">1</td><td class="admin-num">100.0%</td>`,
		`<th scope="row">Median</th><td class="admin-num">3 h 0 min</td>`,
		`maya@example.com`, `<option value="" selected>All campaigns</option>`, `<option value="30d" selected>Last 30 days</option>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the reports page lacks %s", want)
		}
	}
	if strings.Contains(page, other.Campaign.ID.String()) {
		t.Error("the reports page shows another workspace's campaign")
	}
	links := regexp.MustCompile(`href="(/api/v1/reports/[^"]+)" download`).FindAllStringSubmatch(page, -1)
	if len(links) != 4 {
		t.Fatalf("%d CSV links, want 4", len(links))
	}
	for _, l := range links {
		rec := b.send(http.MethodGet, html.UnescapeString(l[1]), nil)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
			t.Errorf("GET %s with the session = %d %s", l[1], rec.Code, rec.Body)
		}
	}

	one := b.get("/admin/reports?campaign_id="+fx.Campaign.ID.String()+"&period=7d", http.StatusOK)
	if !strings.Contains(one, `<option value="`+fx.Campaign.ID.String()+`" selected>Spring referrals</option>`) || !strings.Contains(one, "(7 days, UTC)") {
		t.Errorf("the chosen campaign and period are not shown as chosen")
	}

	bad := b.send(http.MethodGet, "/admin/reports?period=&from=2026-02-30&to=2026-03-01", nil)
	if bad.Code != http.StatusUnprocessableEntity || !strings.Contains(bad.Body.String(), `id="f-from-error">&#34;2026-02-30&#34; is not a date`) ||
		!strings.Contains(bad.Body.String(), `role="alert"`) || strings.Contains(bad.Body.String(), "<svg") {
		t.Errorf("a bad date = %d\n%s", bad.Code, bad.Body)
	}

	if rec := b.send(http.MethodGet, "/admin/reports?campaign_id="+other.Campaign.ID.String(), nil); rec.Code != http.StatusNotFound ||
		!strings.Contains(rec.Body.String(), "<h1>") {
		t.Errorf("another workspace's campaign = %d %s", rec.Code, rec.Body)
	}
}
