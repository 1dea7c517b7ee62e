package api

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/reward"
)

// The workspace's rewards (GET /api/v1/rewards): filtered by campaign,
// status, member, recipient and period (created from/to), keyset paged
// newest first, as JSON or, with format=csv (the reports' formats,
// reports.go), as one CSV file for finance with every matching reward. The
// rewards page (admin_rewards.go) reads the same list.

func (s *Server) routeRewards(g *echo.Group) {
	g.GET("/rewards", s.listRewards)
}

// RewardListItem is one reward of the list, with who it is for.
type RewardListItem struct {
	ID           string     `json:"id"`
	ReferralID   string     `json:"referral_id"`
	CampaignID   string     `json:"campaign_id"`
	MemberID     *string    `json:"member_id"`
	MemberEmail  *string    `json:"member_email"`
	LeadEmail    string     `json:"lead_email"`
	Recipient    string     `json:"recipient"`
	Amount       string     `json:"amount"`
	Currency     string     `json:"currency"`
	Status       string     `json:"status"`
	Conversion   int32      `json:"conversion"`
	CreatedAt    time.Time  `json:"created_at"`
	HoldUntil    *time.Time `json:"hold_until"`
	IssuedAt     *time.Time `json:"issued_at"`
	PaidAt       *time.Time `json:"paid_at"`
	CancelledAt  *time.Time `json:"cancelled_at"`
	CancelReason *string    `json:"cancel_reason"`
}

// RewardList is one page of rewards; NextCursor, when not null, fetches the
// next page.
type RewardList struct {
	Rewards    []RewardListItem `json:"rewards"`
	NextCursor *string          `json:"next_cursor"`
}

// rewardQuery is a checked rewards list request.
type rewardQuery struct {
	params db.RewardListFilteredParams
	limit  int32
	format string
}

// rewardStatuses and rewardRecipients are what the filters accept.
var (
	rewardStatuses   = []string{string(reward.Pending), string(reward.Issued), "paid", string(reward.Cancelled), string(reward.Failed)}
	rewardRecipients = []string{reward.Member, reward.Friend}
)

// readRewardQuery reads the list's filters from q. The status filter splits
// issued rewards as finance sees them: "issued" is issued and not yet paid
// (owed), "paid" is issued and marked paid.
func readRewardQuery(c echo.Context, q *listQuery) (rewardQuery, error) {
	rq := rewardQuery{format: FormatJSON}
	rq.params = db.RewardListFilteredParams{
		WorkspaceID: adminFrom(c).WorkspaceID,
		CampaignID:  q.uuid("campaign_id"),
		MemberID:    q.uuid("member_id"),
		Recipient:   q.oneOf("recipient", rewardRecipients),
		Status:      q.oneOf("status", rewardStatuses),
		// The first page starts after every reward.
		BeforeCreatedAt: endOfTime, BeforeID: maxUUID,
	}
	if st := rq.params.Status; st != nil && (*st == string(reward.Issued) || *st == "paid") {
		issued, paid := string(reward.Issued), *st == "paid"
		rq.params.Status, rq.params.Paid = &issued, &paid
	}
	if f := q.oneOf("format", ReportFormats); f != nil {
		rq.format = *f
	}
	rq.params.CreatedFrom = periodBound(q, "from", false)
	rq.params.CreatedBefore = periodBound(q, "to", true)
	if f, t := rq.params.CreatedFrom, rq.params.CreatedBefore; f != nil && t != nil && !f.Before(*t) {
		q.problems["to"] = "must be after from"
	}
	rq.limit = q.limit()
	if cur, ok := q.cursor("rewards"); ok {
		rq.params.BeforeCreatedAt, rq.params.BeforeID = cur.timeAndUUID(q)
	}
	return rq, q.err()
}

// periodBound reads a period's end: a date (2026-11-30, a whole day in UTC:
// "to" includes it) or an RFC 3339 time.
func periodBound(q *listQuery, name string, end bool) *time.Time {
	raw := q.get(name)
	if raw == "" {
		return nil
	}
	if d, err := time.Parse(time.DateOnly, raw); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return &d
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		q.problems[name] = "must be a date such as 2026-11-30 or an RFC 3339 time such as 2026-11-30T09:00:00Z"
		return nil
	}
	return &t
}

// rewardListPage reads one page of rewards.
func (s *Server) rewardListPage(ctx context.Context, rq rewardQuery) (RewardList, error) {
	p := rq.params
	p.PageSize = rq.limit + 1
	rows, err := s.queries().RewardListFiltered(ctx, p)
	if err != nil {
		return RewardList{}, fmt.Errorf("list rewards: %w", err)
	}
	out := RewardList{Rewards: make([]RewardListItem, 0, min(len(rows), int(rq.limit)))}
	for i, r := range rows {
		if i == int(rq.limit) {
			last := rows[i-1].Reward
			out.NextCursor = pageCursor{Kind: "rewards", At: &last.CreatedAt, ID: last.ID.String()}.encode()
			break
		}
		item, err := rewardListItem(r)
		if err != nil {
			return RewardList{}, err
		}
		out.Rewards = append(out.Rewards, item)
	}
	return out, nil
}

func rewardListItem(r db.RewardListFilteredRow) (RewardListItem, error) {
	rw := r.Reward
	amount, _, err := reward.FromNumeric(rw.Amount, rw.Currency)
	if err != nil {
		return RewardListItem{}, err
	}
	item := RewardListItem{
		ID: rw.ID.String(), ReferralID: rw.ReferralID.String(), CampaignID: rw.CampaignID.String(), MemberEmail: r.MemberEmail,
		LeadEmail: r.LeadEmail, Recipient: rw.Recipient, Amount: amount.String(), Currency: rw.Currency, Status: rw.Status,
		Conversion: rw.ConversionNumber, CreatedAt: rw.CreatedAt, HoldUntil: rw.HoldUntil, IssuedAt: rw.IssuedAt, PaidAt: rw.PaidAt,
		CancelledAt: rw.CancelledAt, CancelReason: rw.CancelReason,
	}
	if rw.MemberID != nil {
		id := rw.MemberID.String()
		item.MemberID = &id
	}
	return item, nil
}

var rewardListParams = []string{"campaign_id", "status", "member_id", "recipient", "from", "to", "limit", "cursor", "format"}

func (s *Server) listRewards(c echo.Context) error {
	rq, err := readRewardQuery(c, newListQuery(c, rewardListParams...))
	if err != nil {
		return err
	}
	if err := s.checkRewardFilters(c, rq); err != nil {
		return err
	}
	if rq.format == FormatCSV {
		return s.writeRewardsCSV(c, rq)
	}
	out, err := s.rewardListPage(c.Request().Context(), rq)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// checkRewardFilters answers 404 for a campaign or member filter naming no
// campaign or member of the workspace, as everywhere.
func (s *Server) checkRewardFilters(c echo.Context, rq rewardQuery) error {
	ctx := c.Request().Context()
	if id := rq.params.CampaignID; id != nil {
		row, err := s.queries().CampaignGetByID(ctx, *id)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.WorkspaceID != rq.params.WorkspaceID) {
			return campaignNotFound()
		}
		if err != nil {
			return fmt.Errorf("load the rewards' campaign: %w", err)
		}
	}
	if id := rq.params.MemberID; id != nil {
		row, err := s.queries().MemberGetByID(ctx, *id)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.WorkspaceID != rq.params.WorkspaceID) {
			return NewError(http.StatusNotFound, "not_found", "no such member in your workspace")
		}
		if err != nil {
			return fmt.Errorf("load the rewards' member: %w", err)
		}
	}
	return nil
}

// rewardCSVColumns are the finance export's columns.
var rewardCSVColumns = []string{"reward_id", "created_at", "status", "paid_at", "recipient", "member_email", "lead_email",
	"amount", "currency", "campaign_id", "referral_id", "member_id", "conversion", "issued_at", "cancelled_at", "cancel_reason"}

// writeRewardsCSV streams every reward matching the filters (from the cursor
// on, when one is given; limit is the size of each read) as one CSV file.
func (s *Server) writeRewardsCSV(c echo.Context, rq rewardQuery) error {
	ctx := c.Request().Context()
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="referflow-rewards-`+time.Now().UTC().Format(time.DateOnly)+`.csv"`)
	rq.limit = 1000
	page, err := s.rewardListPage(ctx, rq)
	if err != nil {
		return err
	}
	res.WriteHeader(http.StatusOK)
	w := csv.NewWriter(res)
	_ = w.Write(rewardCSVColumns)
	for {
		for _, r := range page.Rewards {
			_ = w.Write([]string{r.ID, csvTime(&r.CreatedAt), r.Status, csvTime(r.PaidAt), r.Recipient,
				spreadsheetSafe(deref(r.MemberEmail)), spreadsheetSafe(r.LeadEmail), r.Amount, r.Currency, r.CampaignID, r.ReferralID,
				deref(r.MemberID), strconv.Itoa(int(r.Conversion)), csvTime(r.IssuedAt), csvTime(r.CancelledAt), spreadsheetSafe(deref(r.CancelReason))})
		}
		w.Flush()
		if w.Error() != nil || page.NextCursor == nil || len(page.Rewards) == 0 {
			return nil // done, or the client went away
		}
		last := page.Rewards[len(page.Rewards)-1]
		rq.params.BeforeCreatedAt = last.CreatedAt
		rq.params.BeforeID = uuid.MustParse(last.ID)
		if page, err = s.rewardListPage(ctx, rq); err != nil {
			s.deps.Logger.ErrorContext(ctx, "list rewards for the CSV export", "error", err.Error())
			return nil // the answer has begun: it ends short
		}
	}
}

func csvTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
