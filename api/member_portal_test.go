package api

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/reward"
)

// portalGet opens a portal path and answers its status and HTML.
func (w adminWorld) portalGet(t *testing.T, path string) (int, string) {
	t.Helper()
	rec := do(t, w.srv.Handler(), "GET", path, nil)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	return rec.Code, rec.Body.String()
}

func (w adminWorld) portalPath(t *testing.T, m db.Member) string {
	t.Helper()
	return memberPortalPrefix + w.srv.memberAccessToken(m.ID, time.Now().Add(time.Hour))
}

// addPortalReferral adds a referral of the member straight into Postgres,
// as its workflow would have left it.
func addPortalReferral(t testing.TB, d *testenv.Database, m db.Member, email, firstName, status string, inReview bool, at time.Time) uuid.UUID {
	t.Helper()
	var fn *string
	if firstName != "" {
		fn = &firstName
	}
	var id uuid.UUID
	if err := d.Pool.QueryRow(context.Background(), `
		INSERT INTO referrals (workspace_id, campaign_id, member_id, lead_email, lead_email_normalized, lead_first_name, status, in_review, source, created_at)
		VALUES ($1, $2, $3, $4, lower($4), $5, $6, $7, 'admin', $8) RETURNING id`,
		m.WorkspaceID, m.CampaignID, m.ID, email, fn, status, inReview, at).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func addPortalReward(t testing.TB, d *testenv.Database, m db.Member, referralID uuid.UUID, recipient, amount, currency, status string, paid bool) {
	t.Helper()
	a, err := reward.ParseAmount(amount, currency)
	if err != nil {
		t.Fatal(err)
	}
	var member *uuid.UUID
	if recipient == reward.Member {
		member = &m.ID
	}
	if _, err := d.Pool.Exec(context.Background(), `
		INSERT INTO rewards (workspace_id, referral_id, campaign_id, member_id, recipient, amount, currency, status, idempotency_key, issued_at, paid_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
		        CASE WHEN $8 = 'issued' THEN now() END, CASE WHEN $10 THEN now() END)`,
		m.WorkspaceID, referralID, m.CampaignID, member, recipient, a.Numeric(), currency, status, uuid.NewString(), paid); err != nil {
		t.Fatal(err)
	}
}

func TestMemberPortalShowsReferralsAndRewards(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)
	m := w.fx.Member
	now := time.Now()
	// The seeded referral (leo@example.org, pending) and four more.
	qualified := addPortalReferral(t, w.d, m, "ana.lopez@globex.test", "Ana", "qualified", false, now.Add(-4*time.Hour))
	approved := addPortalReferral(t, w.d, m, "Bo.Chen@Initech.test", "", "approved", false, now.Add(-3*time.Hour))
	addPortalReferral(t, w.d, m, "cy@hooli.test", "Cy", "denied", false, now.Add(-2*time.Hour))
	addPortalReferral(t, w.d, m, "di@acme.test", "Di", "pending", true, now.Add(-time.Hour))
	addPortalReward(t, w.d, m, approved, reward.Member, "50", "USD", "pending", false)
	addPortalReward(t, w.d, m, approved, reward.Member, "100", "USD", "issued", false)
	addPortalReward(t, w.d, m, qualified, reward.Member, "25.50", "USD", "issued", true)
	addPortalReward(t, w.d, m, qualified, reward.Member, "5", "USD", "cancelled", false)
	addPortalReward(t, w.d, m, approved, reward.Member, "10", "EUR", "pending", false)
	// The friend's reward is not the member's.
	addPortalReward(t, w.d, m, approved, reward.Friend, "999", "USD", "issued", false)
	// Another member's referral is not on this member's page.
	other, err := w.d.Queries.MemberCreate(context.Background(), db.MemberCreateParams{
		WorkspaceID: m.WorkspaceID, CampaignID: m.CampaignID, ReferralCode: "OTHER", Email: "other@example.com", Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	addPortalReferral(t, w.d, other, "zed@elsewhere.test", "Zed", "approved", false, now)

	code, page := w.portalGet(t, w.portalPath(t, m))
	if code != http.StatusOK {
		t.Fatalf("portal = %d %s", code, page)
	}
	text := html.UnescapeString(page)
	for _, full := range []string{"leo@example.org", "ana.lopez@globex.test", "Bo.Chen@Initech.test", "cy@hooli.test", "di@acme.test", "zed@elsewhere.test", "Zed"} {
		if strings.Contains(strings.ToLower(text), strings.ToLower(full)) {
			t.Errorf("the portal shows %q, a full lead email or another member's lead", full)
		}
	}
	for _, want := range []string{
		`<html lang="en">`, "Hello Maya", `value="http://localhost:8080/r/` + m.ReferralCode + `"`,
		`<img class="public-qr" src="/r/` + m.ReferralCode + `/qr.png"`, `data-copy="referral-link"`,
		"l***@example.org", "Ana", "a***@globex.test", "B***@Initech.test", "Cy", "c***@hooli.test", "d***@acme.test",
		"5 referrals: 1 approved, 1 qualified, 1 received, 1 being reviewed, 1 not accepted.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the portal does not show %q", want)
		}
	}
	if rec := do(t, w.srv.Handler(), "GET", "/r/"+m.ReferralCode+"/qr.png", nil); rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/png" {
		t.Errorf("the portal's QR code = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	// Statuses in words, one per referral, newest first (the seeded one is
	// the newest).
	statuses := regexp.MustCompile(`<td>(Received|Qualified|Approved|Not accepted|Being reviewed)</td>`).FindAllStringSubmatch(page, -1)
	var got []string
	for _, s := range statuses {
		got = append(got, s[1])
	}
	if want := "Received,Being reviewed,Not accepted,Approved,Qualified"; strings.Join(got, ",") != want {
		t.Errorf("statuses %v, want %s", got, want)
	}
	// Totals: pending, issued (to be paid), paid, per currency; the
	// cancelled reward and the friend's are in none of them.
	for _, row := range []string{
		`<th scope="row">EUR</th><td class="public-num">10.00</td><td class="public-num">0.00</td><td class="public-num">0.00</td>`,
		`<th scope="row">USD</th><td class="public-num">50.00</td><td class="public-num">100.00</td><td class="public-num">25.50</td>`,
	} {
		if !strings.Contains(page, row) {
			t.Errorf("reward totals lack %s", row)
		}
	}
	for _, want := range []string{"50.00 USD", "Pending", "Issued, to be paid", "25.50 USD", "Paid", "5.00 USD", "Cancelled", "10.00 EUR"} {
		if !strings.Contains(text, want) {
			t.Errorf("the rewards list does not show %q", want)
		}
	}
	if strings.Contains(text, "999") {
		t.Error("the portal shows the friend's reward")
	}

	// A member without referrals or rewards.
	code, page = w.portalGet(t, w.portalPath(t, other))
	if code != http.StatusOK || !strings.Contains(page, "1 referral: 1 approved") || strings.Contains(page, "Hello") {
		t.Fatalf("the other member's portal = %d %s", code, page)
	}
	fresh, err := w.d.Queries.MemberCreate(context.Background(), db.MemberCreateParams{
		WorkspaceID: m.WorkspaceID, CampaignID: m.CampaignID, ReferralCode: "FRESH", Email: "fresh@example.com", Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	if code, page = w.portalGet(t, w.portalPath(t, fresh)); code != http.StatusOK || !strings.Contains(page, "No referrals yet") || !strings.Contains(page, "No rewards yet") {
		t.Fatalf("a new member's portal = %d %s", code, page)
	}
}

func TestMemberPortalPagesReferrals(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)
	m := w.fx.Member
	// 249 more referrals, one a minute, some in the same microsecond (the
	// cursor's ID breaks ties); with the seeded one, 250.
	if _, err := w.d.Pool.Exec(context.Background(), `
		INSERT INTO referrals (workspace_id, campaign_id, member_id, lead_email, lead_email_normalized, source, created_at)
		SELECT $1, $2, $3, 'lead' || g || '@bulk.test', 'lead' || g || '@bulk.test', 'admin',
		       date_trunc('minute', now()) - (g / 2) * interval '1 minute'
		FROM generate_series(1, 249) g`, m.WorkspaceID, m.CampaignID, m.ID); err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`<tr><td>.*\*\*\*@`)
	older := regexp.MustCompile(`<a href="([^"]+)">Older referrals</a>`)
	path := w.portalPath(t, m)
	seen := 0
	var pages []int
	for path != "" {
		code, page := w.portalGet(t, html.UnescapeString(path))
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d", path, code)
		}
		if !strings.Contains(page, "250 referrals") {
			t.Fatalf("page %d does not count all 250 referrals", len(pages)+1)
		}
		n := len(rows.FindAllString(page, -1))
		pages = append(pages, n)
		seen += n
		path = ""
		if m := older.FindStringSubmatch(page); m != nil {
			path = m[1]
		}
		if len(pages) > 1 && !strings.Contains(page, ">Newest referrals</a>") {
			t.Fatalf("page %d has no link back to the newest", len(pages))
		}
	}
	if fmt.Sprint(pages) != "[100 100 50]" || seen != 250 {
		t.Fatalf("pages of %v referrals, want [100 100 50]", pages)
	}
	// A cursor that is not one starts at the newest.
	if code, page := w.portalGet(t, w.portalPath(t, m)+"?before=nonsense"); code != http.StatusOK || len(rows.FindAllString(page, -1)) != 100 {
		t.Fatalf("bad cursor: %d", code)
	}
}
