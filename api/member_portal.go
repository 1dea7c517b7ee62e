package api

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/reward"
)

// The member portal, GET /m/{token}: a member's own page, opened by their
// signed access link (member_access.go). It shows their referral link and
// its QR code, their referrals — the leads' emails masked, a status in
// words — a page at a time, and their own rewards: pending, issued, paid.
// A member with thousands of referrals gets the same fast page: every read
// is bounded (portalReferralPage, portalRewardRows) and walks an index.

const (
	// portalReferralPage is how many referrals a portal page lists; older
	// ones are a link away (keyset paged, so any page costs the same).
	portalReferralPage = 100
	// portalRewardRows is how many of the member's rewards are listed one by
	// one (the totals count them all).
	portalRewardRows = 50
	// portalBeforeParam carries the keyset cursor of an older page.
	portalBeforeParam = "before"
	// portalSentParam marks the page a refer-someone post redirects to.
	portalSentParam = "sent"
)

func (s *Server) routeMemberPortal() {
	s.echo.GET(memberAccessRoute, s.memberPortal)
	s.echo.POST(memberPortalReferRoute, s.memberPortalRefer, limitBody(maxPublicFormBytes))
}

// memberPortalPage is what the portal template shows.
type memberPortalPage struct {
	Title        string
	CampaignName string
	FirstName    string
	ReferralLink string
	// Code, QRPNG and QRSVG: the link's code and its QR code's images,
	// shown while the campaign is active (the images answer 404 otherwise,
	// as the link does); CopyScript makes the Copy button work.
	Code         string
	QRPNG, QRSVG string
	CopyScript   template.JS
	// Sent confirms a referral the member just sent.
	Sent   bool
	Counts db.ReferralCountForMemberPortalRow
	// InProgress are the referrals neither approved nor denied.
	InProgress int32
	Referrals  []portalReferral
	// Older is the link to the next page of older referrals ("" on the last
	// page); Newest to the first page, when this is not it.
	Older, Newest string
	RewardTotals  []portalRewardTotal
	Rewards       []portalReward
	// MoreRewards says the list shows only the most recent ones.
	MoreRewards bool
	// Form is the refer-someone form; NotTakingReferrals replaces it when
	// the campaign is not active.
	Form               *publicForm
	NotTakingReferrals bool
}

// portalReferral is one referral as its member sees it.
type portalReferral struct {
	Lead      string // the masked email
	FirstName string
	Status    string // in words
	Date      string
	DateISO   string
}

// portalRewardTotal is the member's rewards in one currency.
type portalRewardTotal struct {
	Currency                             string
	Pending, Issued, Paid                string
	PendingCount, IssuedCount, PaidCount int32
	CancelledCount, FailedCount          int32
}

// portalReward is one of the member's rewards.
type portalReward struct {
	Amount  string // with its currency
	Status  string // in words
	Lead    string
	Date    string
	DateISO string
}

// portalReferrerPolicy keeps the portal's URL, and so its token, from
// every other site, while the portal's own form still carries its origin.
const portalReferrerPolicy = "same-origin"

func (s *Server) memberPortal(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	// The token is the member's credential: pages linked from the portal
	// must not learn it from the Referer. same-origin, not no-referrer:
	// under no-referrer browsers send "Origin: null" with the portal's own
	// form, which the CSRF check rightly refuses (e2e/browser shows it).
	h.Set("Referrer-Policy", portalReferrerPolicy)
	ctx := c.Request().Context()
	row, deny, err := s.memberOfAccessToken(ctx, c.Param("token"))
	if err != nil {
		return err
	}
	if deny != nil {
		return deny.render(c)
	}
	page, err := s.memberPortalPage(ctx, row, c.Param("token"), c.QueryParam(portalBeforeParam))
	if err != nil {
		return err
	}
	page.Sent = c.QueryParam(portalSentParam) != ""
	s.attachReferForm(c, row, &page, nil)
	return renderPage(c, http.StatusOK, "member_portal_page", page)
}

// memberPortalPage reads what the portal shows: the member's counts, one
// page of referrals (starting below the cursor before, when it is one), and
// their rewards.
func (s *Server) memberPortalPage(ctx context.Context, row db.MemberGetWithCampaignRow, token, before string) (memberPortalPage, error) {
	m := row.Member
	q := s.queries()
	page := memberPortalPage{
		Title: "Your referrals — " + row.CampaignName, CampaignName: row.CampaignName,
		FirstName: deref(m.FirstName), ReferralLink: s.referralLink(m.ReferralCode),
		Code: m.ReferralCode, CopyScript: template.JS(copyScript),
	}
	if campaign.Status(row.CampaignStatus).TakesNew() {
		page.QRPNG, page.QRSVG = referralQRPath(m.ReferralCode, "png"), referralQRPath(m.ReferralCode, "svg")
	}
	counts, err := q.ReferralCountForMemberPortal(ctx, m.ID)
	if err != nil {
		return page, fmt.Errorf("count member %s's referrals: %w", m.ID, err)
	}
	page.Counts = counts
	page.InProgress = counts.Total - counts.Approved - counts.Denied

	cursorAt, cursorID, paged := parsePortalCursor(before)
	if !paged {
		// The first page: below every row.
		cursorAt, cursorID = time.Now().Add(time.Hour), uuid.Max
	}
	refs, err := q.ReferralListForMemberPortal(ctx, db.ReferralListForMemberPortalParams{
		MemberID: m.ID, BeforeCreatedAt: cursorAt, BeforeID: cursorID, PageSize: portalReferralPage + 1,
	})
	if err != nil {
		return page, fmt.Errorf("list member %s's referrals: %w", m.ID, err)
	}
	base := memberPortalPrefix + token
	if len(refs) > portalReferralPage {
		refs = refs[:portalReferralPage]
		last := refs[len(refs)-1]
		page.Older = base + "?" + portalBeforeParam + "=" + url.QueryEscape(portalCursor(last.CreatedAt, last.ID))
	}
	if paged {
		page.Newest = base
	}
	page.Referrals = make([]portalReferral, 0, len(refs))
	for _, r := range refs {
		page.Referrals = append(page.Referrals, portalReferral{
			Lead: maskEmail(r.LeadEmail), FirstName: deref(r.LeadFirstName),
			Status: referralStatusWords(referral.Status(r.Status), r.InReview),
			Date:   r.CreatedAt.UTC().Format("2 Jan 2006"), DateISO: r.CreatedAt.UTC().Format(time.RFC3339),
		})
	}

	memberID := m.ID
	totals, err := q.RewardTotalsForMemberPortal(ctx, &memberID)
	if err != nil {
		return page, fmt.Errorf("sum member %s's rewards: %w", m.ID, err)
	}
	if page.RewardTotals, err = portalRewardTotals(totals); err != nil {
		return page, err
	}
	rewards, err := q.RewardListForMemberPortal(ctx, db.RewardListForMemberPortalParams{MemberID: &memberID, PageSize: portalRewardRows + 1})
	if err != nil {
		return page, fmt.Errorf("list member %s's rewards: %w", m.ID, err)
	}
	if len(rewards) > portalRewardRows {
		rewards, page.MoreRewards = rewards[:portalRewardRows], true
	}
	for _, rw := range rewards {
		amount, _, err := reward.FromNumeric(rw.Amount, rw.Currency)
		if err != nil {
			return page, fmt.Errorf("reward %s: %w", rw.ID, err)
		}
		lead := maskEmail(rw.LeadEmail)
		if fn := deref(rw.LeadFirstName); fn != "" {
			lead = fn + " (" + lead + ")"
		}
		page.Rewards = append(page.Rewards, portalReward{
			Amount: amount.String() + " " + rw.Currency, Status: rewardStatusWords(reward.Status(rw.Status), rw.PaidAt != nil),
			Lead: lead, Date: rw.CreatedAt.UTC().Format("2 Jan 2006"), DateISO: rw.CreatedAt.UTC().Format(time.RFC3339),
		})
	}
	return page, nil
}

// portalRewardTotals folds the sums by currency and status into one line
// per currency.
func portalRewardTotals(rows []db.RewardTotalsForMemberPortalRow) ([]portalRewardTotal, error) {
	var out []portalRewardTotal
	cents := map[string]*[3]int64{}
	for _, r := range rows {
		sum, _, err := reward.FromNumeric(r.Total, r.Currency)
		if err != nil {
			return nil, fmt.Errorf("sum of rewards in %s: %w", r.Currency, err)
		}
		if len(out) == 0 || out[len(out)-1].Currency != r.Currency {
			out = append(out, portalRewardTotal{Currency: r.Currency})
			cents[r.Currency] = &[3]int64{}
		}
		t, c := &out[len(out)-1], cents[r.Currency]
		switch {
		case reward.Status(r.Status) == reward.Pending:
			c[0] += sum.Cents
			t.PendingCount += r.Rewards
		case reward.Status(r.Status) == reward.Issued && !r.Paid:
			c[1] += sum.Cents
			t.IssuedCount += r.Rewards
		case reward.Status(r.Status) == reward.Issued:
			c[2] += sum.Cents
			t.PaidCount += r.Rewards
		case reward.Status(r.Status) == reward.Cancelled:
			t.CancelledCount += r.Rewards
		case reward.Status(r.Status) == reward.Failed:
			t.FailedCount += r.Rewards
		}
	}
	for i := range out {
		c := cents[out[i].Currency]
		out[i].Pending = reward.Amount{Cents: c[0], Currency: out[i].Currency}.String()
		out[i].Issued = reward.Amount{Cents: c[1], Currency: out[i].Currency}.String()
		out[i].Paid = reward.Amount{Cents: c[2], Currency: out[i].Currency}.String()
	}
	return out, nil
}

// referralStatusWords is a referral's status as its member reads it. In
// review is a hold on a referral an admin must look at; a denial's reason
// is the admin's, not shown.
func referralStatusWords(st referral.Status, inReview bool) string {
	if inReview {
		return "Being reviewed"
	}
	switch st {
	case referral.Pending:
		return "Received"
	case referral.Qualified:
		return "Qualified"
	case referral.Approved:
		return "Approved"
	case referral.Denied:
		return "Not accepted"
	}
	return string(st)
}

// rewardStatusWords is a reward's status as its member reads it.
func rewardStatusWords(st reward.Status, paid bool) string {
	switch st {
	case reward.Pending:
		return "Pending"
	case reward.Issued:
		if paid {
			return "Paid"
		}
		return "Issued, to be paid"
	case reward.Cancelled:
		return "Cancelled"
	case reward.Failed:
		return "Delayed: being looked into"
	}
	return string(st)
}

// maskEmail shows a lead's email as its first character, ***, and the
// domain: m***@example.com. The member referred the lead, but the page may
// be seen over their shoulder, or the link forwarded.
func maskEmail(email string) string {
	local, domain := email, ""
	if i := strings.LastIndex(email, "@"); i >= 0 {
		local, domain = email[:i], email[i:]
	}
	first := ""
	if r, _ := utf8.DecodeRuneInString(local); r != utf8.RuneError {
		first = string(r)
	}
	return first + "***" + domain
}

// portalCursor is the keyset cursor after a referral: its creation time
// (to the microsecond, as Postgres keeps it) and ID.
func portalCursor(at time.Time, id uuid.UUID) string {
	return strconv.FormatInt(at.UnixMicro(), 10) + "_" + id.String()
}

// parsePortalCursor reads a cursor; ok is false when there is none or it
// is not one (the page then starts at the newest referral).
func parsePortalCursor(v string) (time.Time, uuid.UUID, bool) {
	us, idText, found := strings.Cut(v, "_")
	if !found {
		return time.Time{}, uuid.Nil, false
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil {
		return time.Time{}, uuid.Nil, false
	}
	id, err := uuid.Parse(idText)
	if err != nil {
		return time.Time{}, uuid.Nil, false
	}
	return time.UnixMicro(n), id, true
}
