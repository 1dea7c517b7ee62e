// Package reports computes what a program admin reads about a workspace's
// campaigns over a period: the funnel from clicks to approved referrals, the
// time from referral to approval, the rewards owed, issued and paid, and a
// leaderboard of members. The JSON API, its CSV export and the admin UI's
// Reports page all read them from here.
//
// Every report covers either one campaign or all campaigns of a workspace
// (Scope), over whole UTC days (Period). What each number counts:
//
//   - clicks: clicks on members' referral links made in the period (read
//     from daily totals per campaign, kept by triggers on clicks);
//   - joins: members who joined a campaign in the period, whatever the way
//     in (join page, admin, API, import, sync, HubSpot);
//   - referrals: referrals added in the period — the cohort the next steps
//     follow;
//   - qualified: of those referrals, the ones that stand at qualified or
//     approved now (an approved referral passed qualification);
//   - approved: of those referrals, the ones that stand at approved now;
//     denied ones are counted apart and are in neither step;
//   - time to approval: referrals approved in the period (approved_at, set
//     by the one status update every path calls) that are still approved,
//     from being added to being approved;
//   - rewards: rewards created in the period, by currency and where they
//     stand now: owed (pending: earned, not issued yet — held, or waiting
//     to be announced), issued (issued, not marked paid), paid (issued and
//     marked paid), cancelled, failed;
//   - leaderboard: members ranked by the referrals they added in the
//     period, with how many of those are qualified and approved now, and
//     their own rewards created in the period (cancelled and failed left
//     out).
//
// The referral counts follow the cohort of referrals added in the period
// (conversion rates then compare like with like) and read the status each
// referral has now, from the referrals table: its status columns are
// written with the audit trail (referral_events) by the same status update,
// and reading them keeps every report a scan of one index per campaign
// (migration 0027).
package reports

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/reward"
)

// Scope is which campaigns a report covers: one campaign of the workspace,
// or (CampaignID nil) all of them. The caller checks that the campaign is
// the workspace's; the queries only ever read the workspace's campaigns.
type Scope struct {
	WorkspaceID uuid.UUID
	CampaignID  *uuid.UUID
}

// Names of the reports, as the API paths and CSV file names spell them.
const (
	NameFunnel       = "funnel"
	NameApprovalTime = "approval-time"
	NameRewards      = "rewards"
	NameLeaderboard  = "leaderboard"
)

// Names lists the reports in the order the Reports page shows them.
var Names = []string{NameFunnel, NameApprovalTime, NameRewards, NameLeaderboard}

// Header is what every report says about itself.
type Header struct {
	Report     string     `json:"report"`
	CampaignID *uuid.UUID `json:"campaign_id"`
	From       string     `json:"from"`
	To         string     `json:"to"`
	Days       int        `json:"days"`
}

func header(name string, s Scope, p Period) Header {
	return Header{Report: name, CampaignID: s.CampaignID, From: p.From.Format(DateLayout), To: p.To.Format(DateLayout), Days: p.Days()}
}

// Table is a report as rows of text: the CSV export and the page's table.
type Table struct {
	Columns []string
	Rows    [][]string
}

// ---------------------------------------------------------------- funnel

// The funnel's steps, in order.
const (
	StepClicks    = "clicks"
	StepJoins     = "joins"
	StepReferrals = "referrals"
	StepQualified = "qualified"
	StepApproved  = "approved"
)

// Steps lists the funnel's steps in order.
var Steps = []string{StepClicks, StepJoins, StepReferrals, StepQualified, StepApproved}

// FunnelStep is one step of the funnel with the rate from the step before
// it (count / previous count), rounded to 4 decimals; nil for the first
// step and when the step before counted nothing.
type FunnelStep struct {
	Step             string   `json:"step"`
	Count            int64    `json:"count"`
	RateFromPrevious *float64 `json:"rate_from_previous"`
}

// Funnel is clicks → joins → referrals → qualified → approved over a
// period; Denied counts the period's referrals that stand at denied.
type Funnel struct {
	Header
	Steps  []FunnelStep `json:"steps"`
	Denied int64        `json:"denied"`
}

// ComputeFunnel counts the funnel.
func ComputeFunnel(ctx context.Context, q *db.Queries, s Scope, p Period) (Funnel, error) {
	row, err := q.ReferralReportFunnel(ctx, db.ReferralReportFunnelParams{
		WorkspaceID: s.WorkspaceID, CampaignID: s.CampaignID, FromTime: p.Start(), ToTime: p.End(),
		FirstDay: pgtype.Date{Time: p.From, Valid: true}, LastDay: pgtype.Date{Time: p.To, Valid: true},
	})
	if err != nil {
		return Funnel{}, fmt.Errorf("funnel report: %w", err)
	}
	f := Funnel{Header: header(NameFunnel, s, p), Denied: row.Denied}
	counts := []int64{row.Clicks, row.Joins, row.Referrals, row.Qualified, row.Approved}
	for i, step := range Steps {
		st := FunnelStep{Step: step, Count: counts[i]}
		if i > 0 {
			st.RateFromPrevious = rate(counts[i], counts[i-1])
		}
		f.Steps = append(f.Steps, st)
	}
	return f, nil
}

// rate is n/of rounded to 4 decimals, nil when of is 0.
func rate(n, of int64) *float64 {
	if of == 0 {
		return nil
	}
	r := math.Round(float64(n)/float64(of)*10000) / 10000
	return &r
}

// Table lists the steps with their rates as percentages.
func (f Funnel) Table() Table {
	t := Table{Columns: []string{"step", "count", "rate_from_previous_percent"}}
	for _, st := range f.Steps {
		t.Rows = append(t.Rows, []string{st.Step, strconv.FormatInt(st.Count, 10), percent(st.RateFromPrevious)})
	}
	t.Rows = append(t.Rows, []string{"denied", strconv.FormatInt(f.Denied, 10), ""})
	return t
}

// percent writes a rate as a percentage with one decimal ("12.5"), or ""
// when there is none.
func percent(r *float64) string {
	if r == nil {
		return ""
	}
	return strconv.FormatFloat(*r*100, 'f', 1, 64)
}

// ---------------------------------------------------------------- time to approval

// ApprovalBucket counts the approvals that took from FromSeconds up to (not
// including) ToSeconds; ToSeconds is nil for the last, open bucket.
type ApprovalBucket struct {
	Label       string `json:"label"`
	FromSeconds int64  `json:"from_seconds"`
	ToSeconds   *int64 `json:"to_seconds"`
	Count       int64  `json:"count"`
}

// approvalBounds are where the buckets of time to approval start (after the
// first, which starts at 0), with their labels.
var approvalBounds = []struct {
	seconds int64
	label   string
}{
	{0, "under 1 hour"},
	{3600, "1 hour to 1 day"},
	{86400, "1 to 7 days"},
	{7 * 86400, "7 to 30 days"},
	{30 * 86400, "30 to 90 days"},
	{90 * 86400, "90 days or more"},
}

// ApprovalTime is how long referrals approved in the period took from being
// added to being approved. MedianSeconds and P90Seconds are nil when none
// was approved.
type ApprovalTime struct {
	Header
	Approved      int64            `json:"approved"`
	MedianSeconds *float64         `json:"median_seconds"`
	P90Seconds    *float64         `json:"p90_seconds"`
	Buckets       []ApprovalBucket `json:"buckets"`
}

// ComputeApprovalTime measures the time to approval.
func ComputeApprovalTime(ctx context.Context, q *db.Queries, s Scope, p Period) (ApprovalTime, error) {
	start, end := p.Start(), p.End()
	sum, err := q.ReferralReportApprovalTime(ctx, db.ReferralReportApprovalTimeParams{
		WorkspaceID: s.WorkspaceID, CampaignID: s.CampaignID, FromTime: &start, ToTime: &end,
	})
	if err != nil {
		return ApprovalTime{}, fmt.Errorf("approval time report: %w", err)
	}
	bounds := make([]float64, 0, len(approvalBounds)-1)
	for _, b := range approvalBounds[1:] {
		bounds = append(bounds, float64(b.seconds))
	}
	rows, err := q.ReferralReportApprovalBuckets(ctx, db.ReferralReportApprovalBucketsParams{
		Bounds: bounds, WorkspaceID: s.WorkspaceID, CampaignID: s.CampaignID, FromTime: &start, ToTime: &end,
	})
	if err != nil {
		return ApprovalTime{}, fmt.Errorf("approval time buckets: %w", err)
	}
	a := ApprovalTime{Header: header(NameApprovalTime, s, p), Approved: sum.Approved}
	if sum.Approved > 0 {
		a.MedianSeconds, a.P90Seconds = roundSeconds(sum.MedianSeconds), roundSeconds(sum.P90Seconds)
	}
	for i, b := range approvalBounds {
		bucket := ApprovalBucket{Label: b.label, FromSeconds: b.seconds}
		if i+1 < len(approvalBounds) {
			bucket.ToSeconds = &approvalBounds[i+1].seconds
		}
		for _, r := range rows {
			if int(r.Bucket) == i {
				bucket.Count = r.Approved
			}
		}
		a.Buckets = append(a.Buckets, bucket)
	}
	return a, nil
}

func roundSeconds(s float64) *float64 {
	r := math.Round(s)
	return &r
}

// Table lists the summary, then the buckets.
func (a ApprovalTime) Table() Table {
	t := Table{Columns: []string{"measure", "approved", "seconds", "duration"}}
	t.Rows = append(t.Rows,
		[]string{"median", strconv.FormatInt(a.Approved, 10), seconds(a.MedianSeconds), Duration(a.MedianSeconds)},
		[]string{"p90", strconv.FormatInt(a.Approved, 10), seconds(a.P90Seconds), Duration(a.P90Seconds)})
	for _, b := range a.Buckets {
		t.Rows = append(t.Rows, []string{"bucket: " + b.Label, strconv.FormatInt(b.Count, 10), "", ""})
	}
	return t
}

func seconds(s *float64) string {
	if s == nil {
		return ""
	}
	return strconv.FormatFloat(*s, 'f', 0, 64)
}

// Duration writes a number of seconds for people: "3 d 4 h", "5 h 12 min",
// "42 min", "30 s"; "" for nil.
func Duration(s *float64) string {
	if s == nil {
		return ""
	}
	d := time.Duration(*s) * time.Second
	days, hours, mins := int(d.Hours())/24, int(d.Hours())%24, int(d.Minutes())%60
	switch {
	case days > 0:
		return fmt.Sprintf("%d d %d h", days, hours)
	case hours > 0:
		return fmt.Sprintf("%d h %d min", hours, mins)
	case mins > 0:
		return fmt.Sprintf("%d min", mins)
	}
	return fmt.Sprintf("%d s", int(d.Seconds()))
}

// ---------------------------------------------------------------- rewards

// Money is a number of rewards and their sum, in one currency (a decimal
// string with two places: exact, "1250.00").
type Money struct {
	Count  int64  `json:"count"`
	Amount string `json:"amount"`
}

// CurrencyRewards are the period's rewards in one currency by where they
// stand now.
type CurrencyRewards struct {
	Currency  string `json:"currency"`
	Owed      Money  `json:"owed"`
	Issued    Money  `json:"issued"`
	Paid      Money  `json:"paid"`
	Cancelled Money  `json:"cancelled"`
	Failed    Money  `json:"failed"`
}

// Rewards are the rewards created in the period, per currency (in
// alphabetical order).
type Rewards struct {
	Header
	Currencies []CurrencyRewards `json:"currencies"`
}

var noMoney = Money{Amount: "0.00"}

// ComputeRewards sums the rewards.
func ComputeRewards(ctx context.Context, q *db.Queries, s Scope, p Period) (Rewards, error) {
	rows, err := q.RewardReportTotals(ctx, db.RewardReportTotalsParams{
		WorkspaceID: s.WorkspaceID, CampaignID: s.CampaignID, FromTime: p.Start(), ToTime: p.End(),
	})
	if err != nil {
		return Rewards{}, fmt.Errorf("rewards report: %w", err)
	}
	out := Rewards{Header: header(NameRewards, s, p), Currencies: []CurrencyRewards{}}
	for _, r := range rows {
		if n := len(out.Currencies); n == 0 || out.Currencies[n-1].Currency != r.Currency {
			out.Currencies = append(out.Currencies, CurrencyRewards{Currency: r.Currency,
				Owed: noMoney, Issued: noMoney, Paid: noMoney, Cancelled: noMoney, Failed: noMoney})
		}
		cur := &out.Currencies[len(out.Currencies)-1]
		m := Money{Count: r.Rewards, Amount: r.Total}
		switch reward.Status(r.Status) {
		case reward.Pending:
			cur.Owed = m
		case reward.Issued:
			if r.Paid {
				cur.Paid = m
			} else {
				cur.Issued = m
			}
		case reward.Cancelled:
			cur.Cancelled = m
		case reward.Failed:
			cur.Failed = m
		}
	}
	return out, nil
}

// Table has a row per currency and standing.
func (r Rewards) Table() Table {
	t := Table{Columns: []string{"currency", "standing", "rewards", "amount"}}
	for _, c := range r.Currencies {
		for _, s := range []struct {
			name string
			m    Money
		}{{"owed", c.Owed}, {"issued", c.Issued}, {"paid", c.Paid}, {"cancelled", c.Cancelled}, {"failed", c.Failed}} {
			t.Rows = append(t.Rows, []string{c.Currency, s.name, strconv.FormatInt(s.m.Count, 10), s.m.Amount})
		}
	}
	return t
}

// ---------------------------------------------------------------- leaderboard

// Sizes of the leaderboard.
const (
	DefaultLeaderboardSize = 10
	MaxLeaderboardSize     = 100
)

// CurrencyAmount is an amount in one currency.
type CurrencyAmount struct {
	Currency string `json:"currency"`
	Amount   string `json:"amount"`
}

// LeaderboardMember is one member of the leaderboard.
type LeaderboardMember struct {
	Rank          int              `json:"rank"`
	MemberID      uuid.UUID        `json:"member_id"`
	CampaignID    uuid.UUID        `json:"campaign_id"`
	ReferralCode  string           `json:"referral_code"`
	Email         string           `json:"email"`
	FirstName     string           `json:"first_name"`
	LastName      string           `json:"last_name"`
	Referrals     int64            `json:"referrals"`
	Qualified     int64            `json:"qualified"`
	Approved      int64            `json:"approved"`
	Rewards       int64            `json:"rewards"`
	RewardAmounts []CurrencyAmount `json:"reward_amounts"`
}

// Leaderboard is the top members of the period.
type Leaderboard struct {
	Header
	Members []LeaderboardMember `json:"members"`
}

// ComputeLeaderboard ranks the members and returns the first size (1 to
// MaxLeaderboardSize).
func ComputeLeaderboard(ctx context.Context, q *db.Queries, s Scope, p Period, size int) (Leaderboard, error) {
	size = max(1, min(size, MaxLeaderboardSize))
	rows, err := q.ReferralReportLeaderboard(ctx, db.ReferralReportLeaderboardParams{
		WorkspaceID: s.WorkspaceID, CampaignID: s.CampaignID, FromTime: p.Start(), ToTime: p.End(), RowLimit: int32(size),
	})
	if err != nil {
		return Leaderboard{}, fmt.Errorf("leaderboard report: %w", err)
	}
	out := Leaderboard{Header: header(NameLeaderboard, s, p), Members: make([]LeaderboardMember, 0, len(rows))}
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]uuid.UUID, len(rows))
	for i, r := range rows {
		ids[i] = r.MemberID
	}
	totals, err := q.RewardReportTotalsOfMembers(ctx, db.RewardReportTotalsOfMembersParams{
		MemberIds: ids, FromTime: p.Start(), ToTime: p.End(),
	})
	if err != nil {
		return Leaderboard{}, fmt.Errorf("leaderboard rewards: %w", err)
	}
	for i, r := range rows {
		m := LeaderboardMember{Rank: i + 1, MemberID: r.MemberID, CampaignID: r.CampaignID, ReferralCode: r.ReferralCode,
			Email: r.Email, FirstName: deref(r.FirstName), LastName: deref(r.LastName),
			Referrals: r.Referrals, Qualified: r.Qualified, Approved: r.Approved, RewardAmounts: []CurrencyAmount{}}
		for _, t := range totals {
			if t.MemberID == r.MemberID {
				m.Rewards += t.Rewards
				m.RewardAmounts = append(m.RewardAmounts, CurrencyAmount{Currency: t.Currency, Amount: t.Total})
			}
		}
		out.Members = append(out.Members, m)
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Table has a row per member; reward amounts read "50.00 USD; 20.00 EUR".
func (l Leaderboard) Table() Table {
	t := Table{Columns: []string{"rank", "member_id", "referral_code", "email", "first_name", "last_name",
		"referrals", "qualified", "approved", "rewards", "reward_amounts"}}
	for _, m := range l.Members {
		amounts := ""
		for i, a := range m.RewardAmounts {
			if i > 0 {
				amounts += "; "
			}
			amounts += a.Amount + " " + a.Currency
		}
		t.Rows = append(t.Rows, []string{strconv.Itoa(m.Rank), m.MemberID.String(), m.ReferralCode, m.Email, m.FirstName, m.LastName,
			strconv.FormatInt(m.Referrals, 10), strconv.FormatInt(m.Qualified, 10), strconv.FormatInt(m.Approved, 10),
			strconv.FormatInt(m.Rewards, 10), amounts})
	}
	return t
}
