package api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/workflows"
)

// The admin UI's referrals pages: the list (the JSON list's filters and
// keyset paging: referralList) and a referral's page with its audit trail,
// its run in the Temporal Web UI, its rewards and the admin's decisions
// (decideReferralStatus, decideReward: the JSON API's workflow updates; a
// validator's refusal shows on the page).

const navReferrals = "referrals"

func (s *Server) routeAdminReferrals(g *echo.Group) {
	g.GET("/referrals", s.adminReferrals)
	g.GET("/referrals/:id", s.adminReferral)
	g.POST("/referrals/:id/decision", s.adminDecideReferral)
	g.POST("/referrals/:id/retry", s.adminRetryReferral)
	g.POST("/referrals/:id/give-up", s.adminGiveUpReferral)
	g.POST("/referrals/:id/rewards/:reward_id/cancel", s.adminRewardDecision(workflows.UpdateCancelReward, "was cancelled"))
	g.POST("/referrals/:id/rewards/:reward_id/paid", s.adminRewardDecision(workflows.UpdateMarkRewardPaid, "is marked paid"))
}

type referralsPage struct {
	AdminPage
	Campaigns []adminOption
	Statuses  []adminOption
	MemberID  string
	Email     string
	Since     string
	Until     string
	Referrals []ReferralView
	NextPage  string
}

func (s *Server) adminReferrals(c echo.Context) error {
	p := referralsPage{AdminPage: s.newAdminPage(c, "Referrals", navReferrals),
		MemberID: strings.TrimSpace(c.QueryParam("member_id")), Email: strings.TrimSpace(c.QueryParam("email")),
		Since: strings.TrimSpace(c.QueryParam("since")), Until: strings.TrimSpace(c.QueryParam("until"))}
	chosen, _ := uuid.Parse(strings.TrimSpace(c.QueryParam("campaign_id")))
	opts, _, err := s.adminCampaignOptions(c, chosen)
	if err != nil {
		return err
	}
	p.Campaigns = append([]adminOption{{Value: "", Label: "All campaigns"}}, opts...)
	status := strings.TrimSpace(c.QueryParam("status"))
	p.Statuses = []adminOption{{Value: "", Label: "Any status"}}
	for _, st := range referral.Statuses {
		p.Statuses = append(p.Statuses, adminOption{Value: string(st), Label: string(st), Selected: string(st) == status})
	}
	list, err := s.referralList(c)
	code := http.StatusOK
	if err != nil {
		if !p.SetProblems(err) {
			return err
		}
		code = statusOf(err)
	}
	if id, perr := uuid.Parse(p.MemberID); perr == nil {
		// The filter names a member of the admin's workspace, or nothing:
		// the page does not repeat another workspace's ID.
		if m, err := s.queries().MemberGetByID(c.Request().Context(), id); err != nil || m.WorkspaceID != adminFrom(c).WorkspaceID {
			p.MemberID = ""
		}
	}
	p.Referrals = list.Referrals
	if list.NextCursor != nil {
		next := url.Values{}
		for k, v := range c.QueryParams() {
			if k != "cursor" && len(v) == 1 && v[0] != "" {
				next.Set(k, v[0])
			}
		}
		next.Set("cursor", *list.NextCursor)
		p.NextPage = "/admin/referrals?" + next.Encode()
	}
	return renderAdmin(c, code, "admin_referrals", &p)
}

type referralPage struct {
	AdminPage
	Referral     ReferralView
	Decisions    []adminOption
	ReasonField  adminField
	RewardReason string
}

func (s *Server) adminReferral(c echo.Context) error {
	return s.renderReferral(c, http.StatusOK, nil)
}

func (s *Server) renderReferral(c echo.Context, status int, failed error) error {
	r, err := s.referralOfAdmin(c)
	if err != nil {
		return err
	}
	v, err := s.referralDetail(c, r)
	if err != nil {
		return err
	}
	p := referralPage{AdminPage: s.newAdminPage(c, "Referral of "+r.LeadEmail, navReferrals), Referral: v}
	if failed != nil && !p.SetProblems(failed) {
		return failed
	}
	for _, st := range []referral.Status{referral.Approved, referral.Denied, referral.Qualified, referral.Pending} {
		p.Decisions = append(p.Decisions, adminOption{Value: string(st), Label: string(st), Selected: c.FormValue("status") == string(st)})
	}
	reasonErr := p.FieldError("reason")
	if reasonErr == "" {
		reasonErr = p.FieldError("status")
	}
	p.ReasonField = adminField{Name: "reason", ID: "reason", Label: "Reason", Type: "textarea", MaxLength: 1000,
		Hint: "Shown in the audit trail; a denial's reason is what the member sees.", Value: adminFormValue(c, "reason"), Error: reasonErr}
	return renderAdmin(c, status, "admin_referral", &p)
}

func (s *Server) adminDecideReferral(c echo.Context) error {
	r, err := s.referralOfAdmin(c)
	if err != nil {
		return err
	}
	in := DecisionInput{Status: adminFormValue(c, "status"), Reason: adminFormValue(c, "reason")}
	if len(in.Reason) > 1000 {
		return s.renderReferral(c, http.StatusUnprocessableEntity, invalid(map[string]string{"reason": "is too long: at most 1000 characters"}))
	}
	state, err := s.decideReferralStatus(c, r, in, "admin:"+adminFrom(c).ID.String())
	if err != nil {
		return s.renderReferral(c, statusOf(err), err)
	}
	return s.redirectWithFlash(c, "/admin/referrals/"+r.ID.String(), "The referral is now "+string(state.Status)+".")
}

func (s *Server) adminRewardDecision(update, done string) echo.HandlerFunc {
	return func(c echo.Context) error {
		r, err := s.referralOfAdmin(c)
		if err != nil {
			return err
		}
		in := RewardDecisionInput{Reason: adminFormValue(c, "reason")}
		if len(in.Reason) > 1000 {
			return s.renderReferral(c, http.StatusUnprocessableEntity, invalid(map[string]string{"reward": "the reason is too long: at most 1000 characters"}))
		}
		if _, err := s.decideReward(c, r, update, c.Param("reward_id"), in); err != nil {
			return s.renderReferral(c, statusOf(err), err)
		}
		return s.redirectWithFlash(c, "/admin/referrals/"+r.ID.String(), "The reward "+done+".")
	}
}

func (s *Server) adminRetryReferral(c echo.Context) error {
	r, err := s.referralOfAdmin(c)
	if err != nil {
		return err
	}
	if _, err := s.retryWaiting(c, r); err != nil {
		return s.renderReferral(c, statusOf(err), err)
	}
	return s.redirectWithFlash(c, "/admin/referrals/"+r.ID.String(), "The waiting step runs again now.")
}

func (s *Server) adminGiveUpReferral(c echo.Context) error {
	r, err := s.referralOfAdmin(c)
	if err != nil {
		return err
	}
	in := GiveUpInput{Reason: adminFormValue(c, "give_up_reason")}
	if len(in.Reason) > 1000 {
		return s.renderReferral(c, http.StatusUnprocessableEntity, invalid(map[string]string{"waiting": "the reason is too long: at most 1000 characters"}))
	}
	if _, err := s.giveUpWaiting(c, r, in); err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Fields["reason"] != "" {
			err = &APIError{Status: apiErr.Status, Code: apiErr.Code, Message: apiErr.Message, Fields: map[string]string{"waiting": apiErr.Fields["reason"]}}
		}
		return s.renderReferral(c, statusOf(err), err)
	}
	return s.redirectWithFlash(c, "/admin/referrals/"+r.ID.String(), "The waiting step was given up.")
}
