package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/workflows"
)

// The rewards page (GET /admin/rewards): the list of GET /api/v1/rewards
// with its filters and paging, the finance CSV export (the same request
// with format=csv), and the actions cancel and mark paid (decideReward, as
// POST /api/v1/referrals/{id}/rewards/{reward_id}/cancel and /paid).

const navRewards = "rewards"

func (s *Server) routeAdminRewards(g *echo.Group) {
	g.GET("/rewards", s.adminRewards)
	g.POST("/rewards/:id/cancel", s.adminRewardCancel)
	g.POST("/rewards/:id/paid", s.adminRewardPaid)
}

type rewardsPage struct {
	AdminPage
	Rewards   []RewardListItem
	Campaigns map[string]string // names by ID
	Filters   []adminField
	ExportURL string
	NextURL   string
	// Back is this page with its filters, where an action returns.
	Back string
}

// rewardFilterParams are the page's filters: the list's, without paging
// and format.
var rewardFilterParams = []string{"campaign_id", "status", "member_id", "recipient", "from", "to"}

func (s *Server) adminRewards(c echo.Context) error {
	return s.renderRewards(c, s.newAdminPage(c, "Rewards", navRewards), http.StatusOK)
}

func (s *Server) renderRewards(c echo.Context, page AdminPage, status int) error {
	p := rewardsPage{AdminPage: page, Campaigns: map[string]string{}}
	ctx := c.Request().Context()
	campaigns, err := s.queries().CampaignListByWorkspace(ctx, adminFrom(c).WorkspaceID)
	if err != nil {
		return err
	}
	q := newListQuery(c, append(rewardFilterParams, "cursor")...)
	rq, qerr := readRewardQuery(c, q)
	// Another workspace's campaign or member: the 404 page, as for any of
	// its IDs (even beside another bad filter).
	if err := s.checkRewardFilters(c, rq); err != nil {
		return err
	}
	if qerr != nil {
		if !p.SetProblems(qerr) {
			return qerr
		}
		status = http.StatusBadRequest
	}
	values := c.QueryParams()
	campaignOpts := []adminOption{{Value: "", Label: "All campaigns"}}
	for _, cp := range campaigns {
		p.Campaigns[cp.ID.String()] = cp.Name
		campaignOpts = append(campaignOpts, adminOption{Value: cp.ID.String(), Label: cp.Name, Selected: values.Get("campaign_id") == cp.ID.String()})
	}
	statusOpts := []adminOption{{Value: "", Label: "Any status"}}
	for _, st := range rewardStatuses {
		statusOpts = append(statusOpts, adminOption{Value: st, Label: st, Selected: values.Get("status") == st})
	}
	recipientOpts := []adminOption{{Value: "", Label: "Member or friend"}}
	for _, r := range rewardRecipients {
		recipientOpts = append(recipientOpts, adminOption{Value: r, Label: r, Selected: values.Get("recipient") == r})
	}
	p.Filters = []adminField{
		{Name: "campaign_id", ID: "filter-campaign", Label: "Campaign", Type: "select", Options: campaignOpts},
		{Name: "status", ID: "filter-status", Label: "Status", Hint: "issued: not yet marked paid.", Type: "select", Options: statusOpts},
		{Name: "recipient", ID: "filter-recipient", Label: "Recipient", Type: "select", Options: recipientOpts},
		{Name: "member_id", ID: "filter-member", Label: "Member ID", Type: "text", MaxLength: 36, Value: values.Get("member_id")},
		{Name: "from", ID: "filter-from", Label: "Created from", Type: "date", Value: values.Get("from")},
		{Name: "to", ID: "filter-to", Label: "Created to (inclusive)", Type: "date", Value: values.Get("to")},
	}
	for i := range p.Filters {
		p.Filters[i].Error = p.FieldError(p.Filters[i].Name)
	}
	filters := url.Values{}
	for _, name := range rewardFilterParams {
		if v := values.Get(name); v != "" && qerr == nil {
			filters.Set(name, v)
		}
	}
	p.Back = "/admin/rewards"
	if len(filters) > 0 {
		p.Back += "?" + filters.Encode()
	}
	export := url.Values{"format": {FormatCSV}}
	for k, v := range filters {
		export[k] = v
	}
	p.ExportURL = "/api/v1/rewards?" + export.Encode()
	if qerr == nil {
		list, err := s.rewardListPage(ctx, rq)
		if err != nil {
			return err
		}
		p.Rewards = list.Rewards
		if list.NextCursor != nil {
			next := url.Values{"cursor": {*list.NextCursor}}
			for k, v := range filters {
				next[k] = v
			}
			p.NextURL = "/admin/rewards?" + next.Encode()
		}
	}
	return renderAdmin(c, status, "admin_rewards", p)
}

func (s *Server) adminRewardCancel(c echo.Context) error {
	return s.adminRewardsPageDecision(c, workflows.UpdateCancelReward, "cancelled")
}

func (s *Server) adminRewardPaid(c echo.Context) error {
	return s.adminRewardsPageDecision(c, workflows.UpdateMarkRewardPaid, "marked paid")
}

var errNoSuchReward = NewError(http.StatusNotFound, "not_found", "no such reward in your workspace")

func (s *Server) adminRewardsPageDecision(c echo.Context, update, done string) error {
	ctx := c.Request().Context()
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return errNoSuchReward
	}
	rw, err := s.queries().RewardGetInWorkspace(ctx, db.RewardGetInWorkspaceParams{ID: id, WorkspaceID: adminFrom(c).WorkspaceID})
	if errors.Is(err, pgx.ErrNoRows) {
		return errNoSuchReward
	}
	if err != nil {
		return fmt.Errorf("load reward: %w", err)
	}
	r, err := s.queries().ReferralGetByID(ctx, rw.ReferralID)
	if err != nil {
		return fmt.Errorf("load the reward's referral: %w", err)
	}
	reason := adminFormValue(c, "reason")
	if len([]rune(reason)) > 1000 {
		reason = string([]rune(reason)[:1000])
	}
	back := adminFormValue(c, "back")
	if back == "" || back[0] != '/' || len(back) > 1 && (back[1] == '/' || back[1] == '\\') {
		back = "/admin/rewards"
	}
	if _, err := s.decideReward(c, r, update, rw.ID.String(), RewardDecisionInput{Reason: reason}); err != nil {
		page := s.newAdminPage(c, "Rewards", navRewards)
		if !page.SetProblems(err) {
			return err
		}
		page.Error = "The reward could not be " + done + ": " + page.Error
		// The list shows again (a form's URL has no filters) with why.
		return s.renderRewards(c, page, http.StatusUnprocessableEntity)
	}
	return s.redirectWithFlash(c, back, "Reward "+rw.ID.String()+" "+done+".")
}
