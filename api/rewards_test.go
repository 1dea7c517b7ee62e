package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/testenv"
)

// seedRewards gives the fixture's referral four rewards, one a month from
// January 2026: member 25.00 USD issued and paid, friend 10.00 USD pending,
// member 5.00 USD cancelled (with a reason a spreadsheet would run as a
// formula), member 40.00 USD issued and owed. It returns them oldest first.
func seedRewards(t *testing.T, d *testenv.Database, fx testenv.ReferralFixture) []db.Reward {
	t.Helper()
	ctx := context.Background()
	var out []db.Reward
	for i, r := range []struct {
		recipient, amount, status string
		paid                      bool
		reason                    string
	}{
		{"member", "25", "issued", true, ""},
		{"friend", "10", "pending", false, ""},
		{"member", "5", "cancelled", false, "=HYPERLINK(\"http://x\")"},
		{"member", "40", "issued", false, ""},
	} {
		var amount pgtype.Numeric
		if err := amount.Scan(r.amount); err != nil {
			t.Fatal(err)
		}
		p := db.RewardCreateParams{WorkspaceID: fx.Workspace.ID, ReferralID: fx.Referral.ID, CampaignID: fx.Campaign.ID,
			Recipient: r.recipient, Amount: amount, Currency: "USD", IdempotencyKey: "seed-" + uuid.NewString()}
		if r.recipient == "member" {
			p.MemberID = &fx.Member.ID
		}
		rw, err := d.Queries.RewardCreate(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		created := time.Date(2026, time.Month(1+i), 10, 12, 0, 0, 0, time.UTC)
		if err := d.Pool.QueryRow(ctx, `UPDATE rewards SET status = $2::text, created_at = $3::timestamptz,
			issued_at = CASE WHEN $2 = 'issued' THEN $3::timestamptz END, paid_at = CASE WHEN $4 THEN $3::timestamptz + interval '1 day' END,
			cancelled_at = CASE WHEN $2 = 'cancelled' THEN $3::timestamptz END, cancel_reason = NULLIF($5, '')
			WHERE id = $1 RETURNING created_at`, rw.ID, r.status, created, r.paid, r.reason).Scan(&rw.CreatedAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, rw)
	}
	return out
}

func listRewardsAPI(t *testing.T, api adminClient, query string) RewardList {
	t.Helper()
	rec := api.call("GET", "/api/v1/rewards?"+query, "")
	var l RewardList
	if err := json.Unmarshal(rec.Body.Bytes(), &l); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("GET /api/v1/rewards?%s = %d %s", query, rec.Code, rec.Body)
	}
	return l
}

func rewardIDs(l RewardList) []string {
	var ids []string
	for _, r := range l.Rewards {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestRewardsListFiltersPagesAndExports: the rewards list filters by
// status (owed and paid apart), recipient, member and period, pages
// newest first, and the CSV for finance has every matching reward.
func TestRewardsListFiltersPagesAndExports(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	fx := d.SeedReferral(t)
	_, key, err := adminauth.CreateAdmin(context.Background(), d.Queries, fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	api := adminClient{t: t, h: srv.Handler(), key: key}
	rw := seedRewards(t, d, fx)
	id := func(i ...int) []string {
		var out []string
		for _, n := range i {
			out = append(out, rw[n].ID.String())
		}
		return out
	}
	for query, want := range map[string][]string{
		"":                                   id(3, 2, 1, 0),
		"status=paid":                        id(0),
		"status=issued":                      id(3),
		"status=pending":                     id(1),
		"recipient=friend":                   id(1),
		"member_id=" + fx.Member.ID.String(): id(3, 2, 0),
		"from=2026-02-01&to=2026-03-10":      id(2, 1),
		"campaign_id=" + fx.Campaign.ID.String() + "&status=cancelled": id(2),
	} {
		if got := rewardIDs(listRewardsAPI(t, api, query)); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("rewards?%s = %v, want %v", query, got, want)
		}
	}
	l := listRewardsAPI(t, api, "")
	if r := l.Rewards[3]; r.Amount != "25.00" || r.Currency != "USD" || r.PaidAt == nil || r.MemberEmail == nil || *r.MemberEmail != fx.Member.Email || r.LeadEmail != fx.Referral.LeadEmail {
		t.Errorf("the paid reward = %+v", r)
	}

	// Pages of two, newest first, then the rest.
	p1 := listRewardsAPI(t, api, "limit=2")
	if strings.Join(rewardIDs(p1), ",") != strings.Join(id(3, 2), ",") || p1.NextCursor == nil {
		t.Fatalf("page 1 = %v %v", rewardIDs(p1), p1.NextCursor)
	}
	p2 := listRewardsAPI(t, api, "limit=2&cursor="+url.QueryEscape(*p1.NextCursor))
	if strings.Join(rewardIDs(p2), ",") != strings.Join(id(1, 0), ",") || p2.NextCursor != nil {
		t.Fatalf("page 2 = %v %v", rewardIDs(p2), p2.NextCursor)
	}

	// The CSV: every matching reward, one row each, text that a spreadsheet
	// would run made inert.
	rec := api.call("GET", "/api/v1/rewards?format=csv&recipient=member&limit=1", "")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") ||
		!strings.Contains(rec.Header().Get("Content-Disposition"), `attachment; filename="referflow-rewards-`) {
		t.Fatalf("CSV = %d %v", rec.Code, rec.Header())
	}
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || strings.Join(rows[0], ",") != strings.Join(rewardCSVColumns, ",") {
		t.Fatalf("CSV rows = %q", rows)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	if r := rows[3]; r[col["reward_id"]] != rw[0].ID.String() || r[col["amount"]] != "25.00" || r[col["currency"]] != "USD" ||
		r[col["status"]] != "issued" || r[col["paid_at"]] != "2026-01-11T12:00:00Z" || r[col["member_email"]] != fx.Member.Email ||
		r[col["lead_email"]] != fx.Referral.LeadEmail || r[col["created_at"]] != "2026-01-10T12:00:00Z" {
		t.Errorf("the paid reward's row = %q", r)
	}
	if r := rows[2]; r[col["status"]] != "cancelled" || r[col["cancel_reason"]] != `'=HYPERLINK("http://x")` {
		t.Errorf("the cancelled reward's row = %q", r)
	}

	// Bad input: a 400 naming each parameter, or a 404 for what is not
	// the workspace's.
	rec = api.call("GET", "/api/v1/rewards?status=owed&from=yesterday&limit=0&recipient=x&format=pdf&cursor=abc&colour=red", "")
	e := decodeError(t, rec)
	for _, f := range []string{"status", "from", "limit", "recipient", "format", "cursor", "colour"} {
		if e.Fields[f] == "" {
			t.Errorf("bad %s not named: %d %+v", f, rec.Code, e)
		}
	}
	if rec.Code != http.StatusBadRequest {
		t.Errorf("bad parameters = %d", rec.Code)
	}
	if rec := api.call("GET", "/api/v1/rewards?from=2026-03-01&to=2026-02-01", ""); rec.Code != http.StatusBadRequest || decodeError(t, rec).Fields["to"] == "" {
		t.Errorf("to before from = %d %s", rec.Code, rec.Body)
	}
	for _, q := range []string{"campaign_id=" + uuid.NewString(), "member_id=" + uuid.NewString()} {
		if rec := api.call("GET", "/api/v1/rewards?"+q, ""); rec.Code != http.StatusNotFound {
			t.Errorf("rewards?%s = %d, want 404", q, rec.Code)
		}
	}
}

// TestRewardsPage: the page lists the rewards with the filters and an
// export link carrying them; a bad filter says what to fix (never a 500).
func TestRewardsPage(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	fx := d.SeedReferral(t)
	rw := seedRewards(t, d, fx)
	b := signInAdmin(t, srv, d, fx.Workspace, "ops@acme.test")

	page := b.get("/admin/rewards", http.StatusOK)
	for _, want := range []string{"<h1>Rewards</h1>", "25.00 USD", "40.00 USD", "issued, unpaid", "paid 11 Jan 2026", fx.Member.Email,
		`href="/api/v1/rewards?format=csv"`, "/admin/rewards/" + rw[3].ID.String() + "/paid", "/admin/rewards/" + rw[1].ID.String() + "/cancel"} {
		if !strings.Contains(page, want) {
			t.Errorf("rewards page lacks %q", want)
		}
	}
	if strings.Contains(page, "/admin/rewards/"+rw[0].ID.String()+"/paid") || strings.Contains(page, "/admin/rewards/"+rw[2].ID.String()+"/cancel") {
		t.Error("the page offers to pay a paid reward or cancel a cancelled one")
	}
	page = b.get("/admin/rewards?status=issued&recipient=member", http.StatusOK)
	if !strings.Contains(page, "40.00 USD") || strings.Contains(page, "25.00 USD") || strings.Contains(page, "10.00 USD") ||
		!strings.Contains(page, `href="/api/v1/rewards?format=csv&amp;recipient=member&amp;status=issued"`) {
		t.Errorf("filtered page:\n%s", page)
	}
	rec := b.send(http.MethodGet, "/admin/rewards?from=last+week", nil)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "must be a date such as 2026-11-30") || !strings.Contains(rec.Body.String(), `aria-invalid="true"`) {
		t.Errorf("bad filter = %d %s", rec.Code, rec.Body)
	}
	if rec := b.send(http.MethodPost, "/admin/rewards/"+rw[3].ID.String()+"/paid", url.Values{}); rec.Code != http.StatusForbidden {
		t.Errorf("mark paid without a CSRF token = %d", rec.Code)
	}
	if rec := b.post("/admin/rewards", "/admin/rewards/not-a-reward/paid", nil); rec.Code != http.StatusNotFound {
		t.Errorf("pay an unknown reward = %d", rec.Code)
	}
}

// TestRewardActionsOnThePage: an issued reward is marked paid from the
// rewards page through the referral's workflow; cancelling it then is
// refused with the workflow's reason, shown on the page.
func TestRewardActionsOnThePage(t *testing.T) {
	t.Parallel()
	d, fx, api := newWorkflowAPI(t)
	camp := "/api/v1/campaigns/" + fx.Campaign.ID.String()
	if rec := api.call("PUT", camp+"/settings", `{"rewards":{"on_status":"approved","member":{"kind":"fixed","amount":"40","currency":"EUR"}}}`); rec.Code != http.StatusOK {
		t.Fatalf("settings = %d %s", rec.Code, rec.Body)
	}
	rec := api.call("POST", camp+"/referrals", `{"member_code":"`+fx.Member.ReferralCode+`","lead":{"email":"cy@example.net"}}`)
	var ref ReferralView
	if err := json.Unmarshal(rec.Body.Bytes(), &ref); rec.Code != http.StatusCreated || err != nil {
		t.Fatalf("add referral = %d %s", rec.Code, rec.Body)
	}
	waitForEvent(t, api, ref.ID, "lead_not_sent")
	if rec := api.call("POST", "/api/v1/referrals/"+ref.ID+"/decisions", `{"status":"approved"}`); rec.Code != http.StatusOK {
		t.Fatalf("approve = %d %s", rec.Code, rec.Body)
	}
	var rewardID string
	deadline := time.Now().Add(30 * time.Second)
	for rewardID == "" {
		if v := getReferralView(t, api, ref.ID); len(v.Rewards) == 1 && v.Rewards[0].Status == "issued" {
			rewardID = v.Rewards[0].ID
		} else if time.Now().After(deadline) {
			t.Fatalf("reward never issued: %+v", v)
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	b := signInAdmin(t, adminClientServer{api.h}, d, fx.Workspace, "pages@acme.test")
	// An outside "back" is not followed: the page goes back to the list.
	rec = b.post("/admin/rewards", "/admin/rewards/"+rewardID+"/paid", url.Values{"back": {"//evil.test/x"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/rewards" {
		t.Fatalf("mark paid = %d %q %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	if page := b.get("/admin/rewards?status=paid", http.StatusOK); !strings.Contains(page, "marked paid") || !strings.Contains(page, "40.00 EUR") {
		t.Fatalf("after marking paid:\n%s", page)
	}
	if got := getReferralView(t, api, ref.ID).Rewards[0]; got.PaidAt == nil {
		t.Fatalf("paid_at not set: %+v", got)
	}
	rec = b.post("/admin/rewards", "/admin/rewards/"+rewardID+"/cancel", url.Values{"reason": {"changed our mind"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "could not be cancelled") || !strings.Contains(rec.Body.String(), "issued") {
		t.Fatalf("cancel a paid reward = %d %s", rec.Code, rec.Body)
	}
}

// adminClientServer gives signInAdmin a handler built elsewhere.
type adminClientServer struct{ h http.Handler }

func (s adminClientServer) Handler() http.Handler { return s.h }
