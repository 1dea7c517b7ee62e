package reports_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/reports"
)

// world is hand-built data whose every report number is worked out by hand
// in TestReports: two campaigns of one workspace (plus rows just outside the
// period) and another workspace with the same kind of rows, which no report
// of the first may count.
type world struct {
	t    *testing.T
	d    *testenv.Database
	ws   uuid.UUID
	c1   uuid.UUID
	c2   uuid.UUID
	wsB  uuid.UUID
	cB   uuid.UUID
	m    map[string]uuid.UUID // members by name
	r    map[string]uuid.UUID // referrals by name
	seq  int
	keys int
}

// at reads "2026-11-03 10:00" as UTC.
func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		if t, err = time.Parse("2006-01-02 15:04", s); err != nil {
			panic(err)
		}
	}
	return t
}

func (w *world) exec(sql string, args ...any) {
	w.t.Helper()
	if _, err := w.d.Pool.Exec(context.Background(), sql, args...); err != nil {
		w.t.Fatalf("%s: %v", sql, err)
	}
}

func (w *world) campaign(ws uuid.UUID, name string) uuid.UUID {
	w.t.Helper()
	c, err := w.d.Queries.CampaignCreate(context.Background(), db.CampaignCreateParams{WorkspaceID: ws, Name: name})
	if err != nil {
		w.t.Fatal(err)
	}
	return c.ID
}

func (w *world) member(name string, ws, camp uuid.UUID, created string) {
	w.t.Helper()
	id := uuid.New()
	w.m[name] = id
	w.exec(`INSERT INTO members (id, workspace_id, campaign_id, referral_code, email, first_name, source, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'admin', $7)`, id, ws, camp, "CODE-"+name, name+"@example.com", name, at(created))
}

func (w *world) click(member string, ws, camp uuid.UUID, when string) {
	w.t.Helper()
	w.exec(`INSERT INTO clicks (workspace_id, campaign_id, member_id, clicked_at, visitor_hash)
		VALUES ($1, $2, $3, $4, decode(repeat('ab', 32), 'hex'))`, ws, camp, w.m[member], at(when))
}

// referral adds a referral in a status; approved is when it was approved
// ("" for none), qualified_at is set for qualified, approved and (having
// been qualified) denied ones.
func (w *world) referral(name, member string, ws, camp uuid.UUID, status, created, approved string) {
	w.t.Helper()
	id := uuid.New()
	w.r[name] = id
	w.seq++
	var approvedAt, qualifiedAt, deniedAt *time.Time
	if approved != "" {
		a := at(approved)
		approvedAt, qualifiedAt = &a, &a
	}
	if status == "qualified" || status == "denied" {
		q := at(created).Add(time.Hour)
		qualifiedAt = &q
	}
	if status == "denied" {
		d := at(created).Add(2 * time.Hour)
		deniedAt = &d
	}
	email := fmt.Sprintf("lead%d@example.org", w.seq)
	w.exec(`INSERT INTO referrals (id, workspace_id, campaign_id, member_id, lead_email, lead_email_normalized, source,
			status, created_at, qualified_at, approved_at, denied_at, denied_reason)
		VALUES ($1, $2, $3, $4, $5, $5, 'api', $6, $7, $8, $9, $10, CASE WHEN $6 = 'denied' THEN 'test' END)`,
		id, ws, camp, w.m[member], email, status, at(created), qualifiedAt, approvedAt, deniedAt)
}

// reward adds a reward of a referral; member "" makes it the friend's.
func (w *world) reward(referral, member string, ws, camp uuid.UUID, amount, currency, status string, paid bool, created string) {
	w.t.Helper()
	w.keys++
	var memberID *uuid.UUID
	recipient := "friend"
	if member != "" {
		id := w.m[member]
		memberID, recipient = &id, "member"
	}
	var issuedAt, paidAt *time.Time
	if status == "issued" {
		i := at(created).Add(time.Minute)
		issuedAt = &i
		if paid {
			p := at(created).Add(time.Hour)
			paidAt = &p
		}
	}
	w.exec(`INSERT INTO rewards (workspace_id, referral_id, campaign_id, member_id, recipient, amount, currency, status,
			idempotency_key, issued_at, paid_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6::numeric, $7, $8, $9, $10, $11, $12)`,
		ws, w.r[referral], camp, memberID, recipient, amount, currency, status, fmt.Sprintf("test:%d", w.keys), issuedAt, paidAt, at(created))
}

func newWorld(t *testing.T) *world {
	d := testenv.NewDatabase(t)
	w := &world{t: t, d: d, m: map[string]uuid.UUID{}, r: map[string]uuid.UUID{}}
	ctx := context.Background()
	for _, ws := range []*uuid.UUID{&w.ws, &w.wsB} {
		row, err := d.Queries.WorkspaceCreate(ctx, db.WorkspaceCreateParams{Name: "Acme", WebhookSigningSecret: "whsec-test"})
		if err != nil {
			t.Fatal(err)
		}
		*ws = row.ID
	}
	w.c1, w.c2, w.cB = w.campaign(w.ws, "Spring"), w.campaign(w.ws, "Autumn"), w.campaign(w.wsB, "Other")

	// Members: joins in November are m2, m3 (c1) and m5 (c2).
	w.member("m1", w.ws, w.c1, "2026-10-15 09:00")
	w.member("m2", w.ws, w.c1, "2026-11-05 09:00")
	w.member("m3", w.ws, w.c1, "2026-11-30 23:59:59")
	w.member("m4", w.ws, w.c1, "2026-12-01 00:00")
	w.member("m5", w.ws, w.c2, "2026-11-10 12:00")
	w.member("mb", w.wsB, w.cB, "2026-11-10 12:00")

	// Clicks: 4 in c1 and 2 in c2 within the period.
	w.click("m1", w.ws, w.c1, "2026-11-01 00:00")
	w.click("m1", w.ws, w.c1, "2026-11-15 10:00")
	w.click("m2", w.ws, w.c1, "2026-11-20 10:00")
	w.click("m2", w.ws, w.c1, "2026-11-30 23:59:59")
	w.click("m1", w.ws, w.c1, "2026-10-31 23:59:59")
	w.click("m1", w.ws, w.c1, "2026-12-01 00:00")
	w.click("m5", w.ws, w.c2, "2026-11-11 10:00")
	w.click("m5", w.ws, w.c2, "2026-11-12 10:00")
	for range 3 {
		w.click("mb", w.wsB, w.cB, "2026-11-12 10:00")
	}

	// Referrals.
	w.referral("r1", "m1", w.ws, w.c1, "approved", "2026-11-02 10:00", "2026-11-03 10:00") // 1 day
	w.referral("r2", "m1", w.ws, w.c1, "approved", "2026-11-04 00:00", "2026-11-04 00:30") // 30 min
	w.referral("r3", "m1", w.ws, w.c1, "qualified", "2026-11-05 00:00", "")
	w.referral("r4", "m2", w.ws, w.c1, "pending", "2026-11-06 00:00", "")
	w.referral("r5", "m2", w.ws, w.c1, "denied", "2026-11-07 00:00", "")
	w.referral("r6", "m1", w.ws, w.c1, "approved", "2026-10-20 00:00", "2026-11-10 00:00") // 21 days, added before
	w.referral("r7", "m1", w.ws, w.c1, "approved", "2026-11-25 00:00", "2026-12-02 00:00") // approved after
	w.referral("r8", "m5", w.ws, w.c2, "approved", "2026-11-12 00:00", "2026-11-12 05:00") // 5 hours
	w.referral("rb", "mb", w.wsB, w.cB, "approved", "2026-11-12 00:00", "2026-11-12 00:10")

	// Rewards.
	w.reward("r1", "m1", w.ws, w.c1, "50.00", "USD", "issued", true, "2026-11-03 10:00")
	w.reward("r2", "m1", w.ws, w.c1, "25.50", "USD", "issued", false, "2026-11-04 00:30")
	w.reward("r2", "", w.ws, w.c1, "10.00", "USD", "pending", false, "2026-11-04 00:30")
	w.reward("r6", "m1", w.ws, w.c1, "40.00", "USD", "pending", false, "2026-11-10 00:00")
	w.reward("r1", "m1", w.ws, w.c1, "30.00", "EUR", "cancelled", false, "2026-11-26 00:00")
	w.reward("r6", "m1", w.ws, w.c1, "99.99", "USD", "issued", false, "2026-10-25 00:00")
	w.reward("r2", "m1", w.ws, w.c1, "12.34", "EUR", "failed", false, "2026-11-15 00:00")
	w.reward("r8", "m5", w.ws, w.c2, "20.00", "USD", "issued", false, "2026-11-12 05:00")
	w.reward("rb", "mb", w.wsB, w.cB, "70.00", "USD", "issued", false, "2026-11-12 00:10")
	return w
}

func ptr[T any](v T) *T { return &v }

func TestReports(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	q := w.d.Queries
	nov, problems := reports.ParsePeriod("", "2026-11-01", "2026-11-30", time.Now())
	if problems != nil {
		t.Fatal(problems)
	}
	one := reports.Scope{WorkspaceID: w.ws, CampaignID: &w.c1}
	all := reports.Scope{WorkspaceID: w.ws}

	t.Run("funnel", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			scope  reports.Scope
			counts []int64
			rates  []*float64
			denied int64
		}{
			// Referrals added in November: r1-r5 and r7 (r6 was added in
			// October); qualified or beyond: r1, r2, r3, r7; approved now:
			// r1, r2, r7 (r7 was approved in December but is of the cohort).
			{"one campaign", one, []int64{4, 2, 6, 4, 3}, []*float64{nil, ptr(0.5), ptr(3.0), ptr(0.6667), ptr(0.75)}, 1},
			{"all campaigns", all, []int64{6, 3, 7, 5, 4}, []*float64{nil, ptr(0.5), ptr(2.3333), ptr(0.7143), ptr(0.8)}, 1},
		} {
			f, err := reports.ComputeFunnel(ctx, q, tc.scope, nov)
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range f.Steps {
				if st.Count != tc.counts[i] || !reflect.DeepEqual(st.RateFromPrevious, tc.rates[i]) {
					t.Errorf("%s: step %s = %d (rate %v), want %d (rate %v)", tc.name, st.Step, st.Count, deref(st.RateFromPrevious), tc.counts[i], deref(tc.rates[i]))
				}
			}
			if f.Denied != tc.denied {
				t.Errorf("%s: denied = %d, want %d", tc.name, f.Denied, tc.denied)
			}
			if f.From != "2026-11-01" || f.To != "2026-11-30" || f.Days != 30 {
				t.Errorf("%s: period %s to %s (%d days)", tc.name, f.From, f.To, f.Days)
			}
		}
	})

	t.Run("approval time", func(t *testing.T) {
		for _, tc := range []struct {
			name        string
			scope       reports.Scope
			approved    int64
			median, p90 float64
			buckets     []int64
		}{
			// Approved in November and still approved: r2 (1,800 s), r1
			// (86,400 s, the first second of "1 to 7 days"), r6 (21 days).
			// p90 interpolates: 86,400 + 0.8 × (1,814,400 − 86,400).
			{"one campaign", one, 3, 86400, 1468800, []int64{1, 0, 1, 1, 0, 0}},
			// And r8 (5 hours): median (18,000 + 86,400) / 2; p90 86,400 +
			// 0.7 × (1,814,400 − 86,400).
			{"all campaigns", all, 4, 52200, 1296000, []int64{1, 1, 1, 1, 0, 0}},
		} {
			a, err := reports.ComputeApprovalTime(ctx, q, tc.scope, nov)
			if err != nil {
				t.Fatal(err)
			}
			if a.Approved != tc.approved || deref(a.MedianSeconds) != tc.median || deref(a.P90Seconds) != tc.p90 {
				t.Errorf("%s: approved %d, median %v, p90 %v; want %d, %v, %v", tc.name, a.Approved, deref(a.MedianSeconds), deref(a.P90Seconds), tc.approved, tc.median, tc.p90)
			}
			var got []int64
			for _, b := range a.Buckets {
				got = append(got, b.Count)
			}
			if !reflect.DeepEqual(got, tc.buckets) {
				t.Errorf("%s: buckets %v, want %v", tc.name, got, tc.buckets)
			}
		}
		// A period without approvals has no median.
		dec, _ := reports.ParsePeriod("", "2027-01-01", "2027-01-31", time.Now())
		a, err := reports.ComputeApprovalTime(ctx, q, all, dec)
		if err != nil {
			t.Fatal(err)
		}
		if a.Approved != 0 || a.MedianSeconds != nil || a.P90Seconds != nil || len(a.Buckets) != 6 {
			t.Errorf("empty period: %+v", a)
		}
	})

	t.Run("rewards", func(t *testing.T) {
		zero := reports.Money{Amount: "0.00"}
		for _, tc := range []struct {
			name  string
			scope reports.Scope
			want  []reports.CurrencyRewards
		}{
			{"one campaign", one, []reports.CurrencyRewards{
				{Currency: "EUR", Owed: zero, Issued: zero, Paid: zero,
					Cancelled: reports.Money{Count: 1, Amount: "30.00"}, Failed: reports.Money{Count: 1, Amount: "12.34"}},
				// Owed: the friend's 10.00 and r6's 40.00; the 99.99 of
				// October is outside the period.
				{Currency: "USD", Owed: reports.Money{Count: 2, Amount: "50.00"}, Issued: reports.Money{Count: 1, Amount: "25.50"},
					Paid: reports.Money{Count: 1, Amount: "50.00"}, Cancelled: zero, Failed: zero},
			}},
			{"all campaigns", all, []reports.CurrencyRewards{
				{Currency: "EUR", Owed: zero, Issued: zero, Paid: zero,
					Cancelled: reports.Money{Count: 1, Amount: "30.00"}, Failed: reports.Money{Count: 1, Amount: "12.34"}},
				{Currency: "USD", Owed: reports.Money{Count: 2, Amount: "50.00"}, Issued: reports.Money{Count: 2, Amount: "45.50"},
					Paid: reports.Money{Count: 1, Amount: "50.00"}, Cancelled: zero, Failed: zero},
			}},
		} {
			r, err := reports.ComputeRewards(ctx, q, tc.scope, nov)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Currencies, tc.want) {
				t.Errorf("%s:\n got %+v\nwant %+v", tc.name, r.Currencies, tc.want)
			}
		}
	})

	t.Run("leaderboard", func(t *testing.T) {
		type line struct {
			member                                 string
			referrals, qualified, approved, reward int64
			amounts                                []reports.CurrencyAmount
		}
		for _, tc := range []struct {
			name  string
			scope reports.Scope
			size  int
			want  []line
		}{
			// m1: r1, r2, r3, r7; own rewards not cancelled or failed in
			// November: 50.00 + 25.50 + 40.00 (the friend's reward is not
			// m1's).
			{"one campaign", one, 10, []line{
				{"m1", 4, 4, 3, 3, []reports.CurrencyAmount{{Currency: "USD", Amount: "115.50"}}},
				{"m2", 2, 0, 0, 0, []reports.CurrencyAmount{}},
			}},
			{"all campaigns", all, 10, []line{
				{"m1", 4, 4, 3, 3, []reports.CurrencyAmount{{Currency: "USD", Amount: "115.50"}}},
				{"m2", 2, 0, 0, 0, []reports.CurrencyAmount{}},
				{"m5", 1, 1, 1, 1, []reports.CurrencyAmount{{Currency: "USD", Amount: "20.00"}}},
			}},
			{"top 1", all, 1, []line{
				{"m1", 4, 4, 3, 3, []reports.CurrencyAmount{{Currency: "USD", Amount: "115.50"}}},
			}},
		} {
			l, err := reports.ComputeLeaderboard(ctx, q, tc.scope, nov, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			var got []line
			for i, m := range l.Members {
				if m.Rank != i+1 || m.Email != m.FirstName+"@example.com" || m.ReferralCode != "CODE-"+m.FirstName {
					t.Errorf("%s: row %d: %+v", tc.name, i, m)
				}
				got = append(got, line{m.FirstName, m.Referrals, m.Qualified, m.Approved, m.Rewards, m.RewardAmounts})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
			}
		}
	})

	t.Run("other workspace", func(t *testing.T) {
		// The other workspace asking for this workspace's campaign, and
		// this workspace's reports, never count the other's rows.
		stranger := reports.Scope{WorkspaceID: w.wsB, CampaignID: &w.c1}
		f, err := reports.ComputeFunnel(ctx, q, stranger, nov)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range f.Steps {
			if st.Count != 0 {
				t.Errorf("another workspace's scope counts %d %s", st.Count, st.Step)
			}
		}
		l, err := reports.ComputeLeaderboard(ctx, q, stranger, nov, 10)
		if err != nil || len(l.Members) != 0 {
			t.Errorf("another workspace's leaderboard: %+v, %v", l.Members, err)
		}
		r, err := reports.ComputeRewards(ctx, q, stranger, nov)
		if err != nil || len(r.Currencies) != 0 {
			t.Errorf("another workspace's rewards: %+v, %v", r.Currencies, err)
		}
		a, err := reports.ComputeApprovalTime(ctx, q, stranger, nov)
		if err != nil || a.Approved != 0 {
			t.Errorf("another workspace's approvals: %d, %v", a.Approved, err)
		}
		b, err := reports.ComputeFunnel(ctx, q, reports.Scope{WorkspaceID: w.wsB}, nov)
		if err != nil || b.Steps[0].Count != 3 || b.Steps[2].Count != 1 {
			t.Errorf("the other workspace's own funnel: %+v, %v", b.Steps, err)
		}
	})

	t.Run("tables", func(t *testing.T) {
		f, _ := reports.ComputeFunnel(ctx, q, one, nov)
		tab := f.Table()
		want := [][]string{{"clicks", "4", ""}, {"joins", "2", "50.0"}, {"referrals", "6", "300.0"},
			{"qualified", "4", "66.7"}, {"approved", "3", "75.0"}, {"denied", "1", ""}}
		if !reflect.DeepEqual(tab.Rows, want) {
			t.Errorf("funnel table %v, want %v", tab.Rows, want)
		}
		l, _ := reports.ComputeLeaderboard(ctx, q, all, nov, 10)
		if row := l.Table().Rows[0]; row[3] != "m1@example.com" || row[10] != "115.50 USD" {
			t.Errorf("leaderboard row %v", row)
		}
		a, _ := reports.ComputeApprovalTime(ctx, q, one, nov)
		if row := a.Table().Rows[0]; row[2] != "86400" || row[3] != "1 d 0 h" {
			t.Errorf("approval time row %v", row)
		}
		// JSON keeps amounts exact.
		r, _ := reports.ComputeRewards(ctx, q, one, nov)
		b, _ := json.Marshal(r)
		if want := `"paid":{"count":1,"amount":"50.00"}`; !contains(string(b), want) {
			t.Errorf("rewards JSON %s lacks %s", b, want)
		}
	})
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestClickTotals: the funnel reads clicks from daily totals, which the
// triggers on clicks keep exact whoever writes: the click recorder's COPY
// batches, and a member's deletion taking their clicks with it.
func TestClickTotals(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	nov, _ := reports.ParsePeriod("", "2026-11-01", "2026-11-30", time.Now())
	clicks := func() int64 {
		t.Helper()
		f, err := reports.ComputeFunnel(ctx, w.d.Queries, reports.Scope{WorkspaceID: w.ws}, nov)
		if err != nil {
			t.Fatal(err)
		}
		return f.Steps[0].Count
	}
	if n := clicks(); n != 6 {
		t.Fatalf("clicks = %d, want 6", n)
	}
	hash := make([]byte, 32)
	batch := []db.ClickInsertBatchParams{
		{WorkspaceID: w.ws, CampaignID: w.c2, MemberID: w.m["m5"], ClickedAt: at("2026-11-30 12:00"), VisitorHash: hash},
		{WorkspaceID: w.ws, CampaignID: w.c2, MemberID: w.m["m5"], ClickedAt: at("2026-11-30 13:00"), VisitorHash: hash},
		{WorkspaceID: w.ws, CampaignID: w.c2, MemberID: w.m["m5"], ClickedAt: at("2026-12-01 00:00"), VisitorHash: hash},
	}
	if _, err := w.d.Queries.ClickInsertBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if n := clicks(); n != 8 {
		t.Errorf("after a COPY of 2 clicks in November and 1 in December: clicks = %d, want 8", n)
	}
	// m2's 2 November clicks go with m2.
	w.exec(`DELETE FROM referrals WHERE member_id = $1`, w.m["m2"])
	w.exec(`DELETE FROM members WHERE id = $1`, w.m["m2"])
	if n := clicks(); n != 6 {
		t.Errorf("after deleting a member with 2 clicks: clicks = %d, want 6", n)
	}
}
