package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/reward"
	"github.com/referflow/referflow/workflows"
)

// Referrals in the admin API: add one (its workflow starts at once), read one
// with its audit trail, and decide on it (a validated workflow update).

// ReferralView is a referral as the admin API shows it.
type ReferralView struct {
	ID           string          `json:"id"`
	CampaignID   string          `json:"campaign_id"`
	MemberID     string          `json:"member_id"`
	LeadEmail    string          `json:"lead_email"`
	LeadName     string          `json:"lead_name,omitempty"`
	Status       referral.Status `json:"status"`
	InReview     bool            `json:"in_review"`
	DeniedReason string          `json:"denied_reason,omitempty"`
	Source       string          `json:"source"`
	// CannotQualifyReason says why HubSpot changes can never qualify it.
	CannotQualifyReason string `json:"cannot_qualify_reason,omitempty"`
	// The referral's HubSpot records, as HubSpot writes IDs (strings).
	HubSpotContactID string `json:"hubspot_contact_id,omitempty"`
	HubSpotDealID    string `json:"hubspot_deal_id,omitempty"`
	HubSpotCompanyID string `json:"hubspot_company_id,omitempty"`
	// Waiting is set while a step that needs the outside world waits.
	Waiting     *WaitingView `json:"waiting,omitempty"`
	WorkflowID  string       `json:"workflow_id"`
	WorkflowURL string       `json:"workflow_url,omitempty"` // its page in the Temporal Web UI
	// WorkflowStatus is its workflow's status in Temporal, on reads of one
	// referral (running, completed, failed, terminated, timed_out,
	// canceled, not_started, or unknown when Temporal is unreachable);
	// WorkflowProblem says what is wrong with it, if anything.
	WorkflowStatus  string    `json:"workflow_status,omitempty"`
	WorkflowProblem string    `json:"workflow_problem,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	// Events is the audit trail, oldest first, and Rewards what the referral
	// earned (on reads of one referral).
	Events  []ReferralEventView `json:"events,omitempty"`
	Rewards []RewardView        `json:"rewards,omitempty"`
}

// RewardView is a reward as the admin API shows it.
type RewardView struct {
	ID           string     `json:"id"`
	Recipient    string     `json:"recipient"`
	Amount       string     `json:"amount"`
	Currency     string     `json:"currency"`
	Status       string     `json:"status"`
	Conversion   int32      `json:"conversion"`
	HoldUntil    *time.Time `json:"hold_until,omitempty"`
	IssuedAt     *time.Time `json:"issued_at,omitempty"`
	PaidAt       *time.Time `json:"paid_at,omitempty"`
	CancelReason string     `json:"cancel_reason,omitempty"`
}

// ReferralEventView is one entry of the audit trail: what happened, why
// (Reason), and the HubSpot change that caused it, if one did.
type ReferralEventView struct {
	Kind         string            `json:"kind"`
	FromStatus   string            `json:"from_status,omitempty"`
	ToStatus     string            `json:"to_status,omitempty"`
	Actor        string            `json:"actor"`
	Reason       string            `json:"reason,omitempty"`
	SalesEntryID *int64            `json:"sales_entry_id,omitempty"`
	HubSpotCause *HubSpotCauseView `json:"hubspot_cause,omitempty"`
	// Details are everything the event recorded.
	Details    json.RawMessage `json:"details,omitempty"`
	OccurredAt time.Time       `json:"occurred_at"`
}

// HubSpotCauseView is the HubSpot change behind an event: which record,
// which property and value, when HubSpot says it happened, and what became
// of it.
type HubSpotCauseView struct {
	ObjectType string     `json:"object_type"`
	ObjectID   string     `json:"object_id"`
	Property   string     `json:"property,omitempty"`
	Value      string     `json:"value,omitempty"`
	OccurredAt *time.Time `json:"occurred_at,omitempty"`
	Outcome    string     `json:"outcome,omitempty"`
}

func referralView(r db.Referral) ReferralView {
	return ReferralView{
		ID: r.ID.String(), CampaignID: r.CampaignID.String(), MemberID: r.MemberID.String(),
		LeadEmail: r.LeadEmail, LeadName: strings.TrimSpace(deref(r.LeadFirstName) + " " + deref(r.LeadLastName)),
		Status: referral.Status(r.Status), InReview: r.InReview, DeniedReason: deref(r.DeniedReason),
		CannotQualifyReason: deref(r.CannotQualifyReason),
		HubSpotContactID:    hubSpotIDString(r.HubspotContactID), HubSpotDealID: hubSpotIDString(r.HubspotDealID),
		HubSpotCompanyID: hubSpotIDString(r.HubspotCompanyID), Waiting: waitingOfRow(r),
		Source: r.Source, WorkflowID: workflows.ReferralWorkflowID(r.ID.String()), CreatedAt: r.CreatedAt,
	}
}

func hubSpotIDString(id *int64) string {
	if id == nil {
		return ""
	}
	return strconv.FormatInt(*id, 10)
}

// ReferralInput adds a referral: the member (by ID or code) and the lead.
type ReferralInput struct {
	MemberID   *string   `json:"member_id" limit:"100"`
	MemberCode *string   `json:"member_code" limit:"100"`
	Lead       LeadInput `json:"lead"`
	ExternalID *string   `json:"external_id" limit:"200"`
}

// LeadInput is the referred person.
type LeadInput struct {
	Email     string  `json:"email"` // referral.CheckEmail: RFC 5321 lengths
	FirstName *string `json:"first_name" limit:"200"`
	LastName  *string `json:"last_name" limit:"200"`
	Company   *string `json:"company" limit:"200"`
}

func (s *Server) createReferral(c echo.Context) error {
	camp, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	var in ReferralInput
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	row, created, err := s.addReferral(c, camp, in)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, referralView(row))
}

// addReferral adds an admin's referral to the campaign and starts its
// workflow: the JSON API's and the admin UI's. created is false when the
// same member had already referred the lead (a retried request: the answer
// is that referral).
func (s *Server) addReferral(c echo.Context, camp db.Campaign, in ReferralInput) (row db.Referral, created bool, err error) {
	problems := map[string]string{}
	if err := referral.CheckEmail(in.Lead.Email); err != nil {
		problems["lead.email"] = err.Error()
	}
	if (in.MemberID == nil) == (in.MemberCode == nil) {
		problems["member_id"] = "give the referring member's member_id or member_code (one of them)"
	}
	if len(problems) > 0 {
		return db.Referral{}, false, invalid(problems)
	}
	ctx := c.Request().Context()
	member, err := s.memberOfCampaign(ctx, camp, in)
	if err != nil {
		return db.Referral{}, false, err
	}
	row, err = activities.AddReferral(ctx, s.deps.Pool, activities.NewReferral{
		Member: member, Source: referral.SourceAdminAPI, Actor: "admin:" + adminFrom(c).ID.String(), ExternalID: in.ExternalID,
		Lead: activities.Lead{Email: in.Lead.Email, FirstName: deref(in.Lead.FirstName), LastName: deref(in.Lead.LastName), Company: deref(in.Lead.Company)},
	})
	var dup *activities.DuplicateLeadError
	if errors.As(err, &dup) {
		row, err = s.duplicateReferral(c, dup.Existing, member)
		return row, false, err
	}
	var notActive *campaign.NotActiveError
	if errors.As(err, &notActive) {
		return db.Referral{}, false, notActiveAnswer(notActive)
	}
	if err != nil {
		return db.Referral{}, false, err
	}
	if _, err := workflows.StartReferralWorkflow(ctx, s.deps.Temporal, s.deps.TaskQueue, s.deps.HubSpotTaskQueue, row.ID.String()); err != nil {
		// The referral is stored and the worker's reconciler starts its
		// workflow once Temporal answers; sending the same request again
		// answers with the referral.
		return db.Referral{}, false, NewError(http.StatusServiceUnavailable, "unavailable",
			"the referral "+row.ID.String()+" was saved but its workflow could not start yet (Temporal unreachable); it starts by itself once Temporal is back, and sending the same request again answers with the referral")
	}
	return row, true, nil
}

// duplicateReferral answers a lead already referred in the campaign. The
// same member sending it again is a retried request: the answer is the
// referral (200), and its workflow is started if the first attempt could
// not start it. Another member referring the same lead is a conflict.
func (s *Server) duplicateReferral(c echo.Context, existing db.Referral, member db.Member) (db.Referral, error) {
	ctx := c.Request().Context()
	_, err := workflows.StartReferralWorkflow(ctx, s.deps.Temporal, s.deps.TaskQueue, s.deps.HubSpotTaskQueue, existing.ID.String())
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	startErr := err != nil && !errors.As(err, &started)
	if existing.MemberID == member.ID {
		if startErr {
			s.deps.Logger.WarnContext(ctx, "referral's workflow not started yet (Temporal unreachable); the reconciler will", "referral_id", existing.ID.String())
		}
		return existing, nil
	}
	if startErr {
		return db.Referral{}, NewError(http.StatusServiceUnavailable, "unavailable", "Temporal is unreachable; try again")
	}
	return db.Referral{}, &APIError{Status: http.StatusConflict, Code: "conflict",
		Message: "this lead was already referred in the campaign as referral " + existing.ID.String(),
		Fields:  map[string]string{"lead.email": "already referred (referral " + existing.ID.String() + ")"}}
}

func (s *Server) memberOfCampaign(ctx context.Context, camp db.Campaign, in ReferralInput) (db.Member, error) {
	var m db.Member
	var err error
	field := "member_code"
	if in.MemberID != nil {
		field = "member_id"
		id, perr := uuid.Parse(*in.MemberID)
		if perr != nil {
			return db.Member{}, invalid(map[string]string{field: "is not a member ID"})
		}
		m, err = s.queries().MemberGetByID(ctx, id)
		if err == nil && m.CampaignID != camp.ID {
			err = pgx.ErrNoRows
		}
	} else {
		m, err = s.queries().MemberGetByCode(ctx, db.MemberGetByCodeParams{CampaignID: camp.ID, ReferralCode: *in.MemberCode})
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Member{}, invalid(map[string]string{field: "no such member in this campaign"})
	}
	return m, err
}

// referralOfAdmin loads the referral in the path when it is in the admin's
// workspace.
func (s *Server) referralOfAdmin(c echo.Context) (db.Referral, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return db.Referral{}, NewError(http.StatusNotFound, "not_found", "no such referral: referral IDs are UUIDs")
	}
	r, err := s.queries().ReferralGetByID(c.Request().Context(), id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && r.WorkspaceID != adminFrom(c).WorkspaceID) {
		return db.Referral{}, NewError(http.StatusNotFound, "not_found", "no such referral in your workspace")
	}
	return r, err
}

func (s *Server) getReferral(c echo.Context) error {
	r, err := s.referralOfAdmin(c)
	if err != nil {
		return err
	}
	v, err := s.referralDetail(c, r)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// referralDetail is a referral with its workflow's link and status, its
// audit trail and its rewards: the JSON API's referral and the admin UI's
// referral page.
func (s *Server) referralDetail(c echo.Context, r db.Referral) (ReferralView, error) {
	events, err := s.queries().ReferralEventListByReferral(c.Request().Context(), r.ID)
	if err != nil {
		return ReferralView{}, err
	}
	v := referralView(r)
	v.WorkflowURL = s.workflowURL(v.WorkflowID)
	v.WorkflowStatus, v.WorkflowProblem = s.referralWorkflowStatus(c.Request().Context(), r.ID)
	v.Events = make([]ReferralEventView, 0, len(events))
	for _, ev := range events {
		v.Events = append(v.Events, referralEventView(ev))
	}
	rewards, err := s.queries().RewardListByReferral(c.Request().Context(), r.ID)
	if err != nil {
		return ReferralView{}, err
	}
	for _, rw := range rewards {
		amount, _, err := reward.FromNumeric(rw.Amount, rw.Currency)
		if err != nil {
			return ReferralView{}, err
		}
		v.Rewards = append(v.Rewards, RewardView{
			ID: rw.ID.String(), Recipient: rw.Recipient, Amount: amount.String(), Currency: rw.Currency, Status: rw.Status,
			Conversion: rw.ConversionNumber, HoldUntil: rw.HoldUntil, IssuedAt: rw.IssuedAt, PaidAt: rw.PaidAt, CancelReason: deref(rw.CancelReason),
		})
	}
	return v, nil
}

// DecisionInput is an admin's decision on a referral.
type DecisionInput struct {
	Status string `json:"status"`
	Reason string `json:"reason" limit:"1000"`
}

// decideReferral sends the decision to the referral's workflow as an update.
// The workflow's validator decides whether it is possible; a refusal comes
// back as 422 with its reason and leaves no trace.
func (s *Server) decideReferral(c echo.Context) error {
	r, err := s.referralOfAdmin(c)
	if err != nil {
		return err
	}
	var in DecisionInput
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	state, err := s.decideReferralStatus(c, r, in, "admin:"+adminFrom(c).ID.String())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"referral_id": r.ID.String(), "status": state.Status, "denied_reason": state.DeniedReason})
}

// decideReferralStatus is a person's decision on a referral's status
// (approve, deny with a reason...), the referral's set-status workflow
// update: the JSON API's, the admin UI's and the HubSpot card's. actor is
// who decided, as the audit trail records it ("admin:<id>" for an admin,
// cardActor for a HubSpot user).
func (s *Server) decideReferralStatus(c echo.Context, r db.Referral, in DecisionInput, actor string) (workflows.ReferralState, error) {
	status, err := referral.ParseStatus(in.Status)
	if err != nil {
		return workflows.ReferralState{}, invalid(map[string]string{"status": err.Error()})
	}
	return s.sendDecision(c, r, workflows.UpdateSetStatus, "status",
		workflows.SetStatusRequest{Status: status, Reason: in.Reason, Actor: actor})
}

// sendDecision delivers an admin's decision to the referral's workflow as a
// validated update and waits for its result. A refusal by the validator (or
// by the handler) is 422 with its reason, keyed by field; a workflow that has
// ended is 409.
func (s *Server) sendDecision(c echo.Context, r db.Referral, update, field string, arg any) (workflows.ReferralState, error) {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	h, err := s.deps.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.ReferralWorkflowID(r.ID.String()),
		UpdateName:   update,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var state workflows.ReferralState
	if err == nil {
		err = h.Get(ctx, &state)
	}
	var notFound *serviceerror.NotFound
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &notFound):
		return state, NewError(http.StatusConflict, "conflict", "this referral's workflow is not running (its life has ended): no decision can change it now")
	case errors.As(err, &appErr):
		return state, &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: appErr.Message(), Fields: map[string]string{field: appErr.Message()}}
	case err != nil:
		return state, NewError(http.StatusServiceUnavailable, "unavailable", "the decision could not reach the referral's workflow; try again")
	}
	return state, nil
}

// RewardDecisionInput cancels a reward (with a reason) or marks it paid.
type RewardDecisionInput struct {
	Reason string `json:"reason" limit:"1000"`
}

func (s *Server) cancelReward(c echo.Context) error {
	return s.rewardDecision(c, workflows.UpdateCancelReward)
}

func (s *Server) markRewardPaid(c echo.Context) error {
	return s.rewardDecision(c, workflows.UpdateMarkRewardPaid)
}

func (s *Server) rewardDecision(c echo.Context, update string) error {
	r, err := s.referralOfAdmin(c)
	if err != nil {
		return err
	}
	var in RewardDecisionInput
	if c.Request().ContentLength != 0 {
		if err := decodeStrict(c, &in); err != nil {
			return err
		}
	}
	state, err := s.decideReward(c, r, update, c.Param("reward_id"), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"referral_id": r.ID.String(), "rewards": state.Rewards})
}

// decideReward cancels the reward rewardID of the referral or marks it
// paid (update is workflows.UpdateCancelReward or UpdateMarkRewardPaid), as
// the signed-in admin: the referral's workflow decides whether it can. The
// JSON API, the referral page and the rewards page all call it.
func (s *Server) decideReward(c echo.Context, r db.Referral, update, rewardID string, in RewardDecisionInput) (workflows.ReferralState, error) {
	return s.sendDecision(c, r, update, "reward", workflows.RewardDecision{
		RewardID: rewardID, Reason: in.Reason, Actor: "admin:" + adminFrom(c).ID.String(),
	})
}

// ReviewInput accepts or rejects the HubSpot change a referral is held on.
type ReviewInput struct {
	Accept *bool `json:"accept"`
}

func (s *Server) resolveReview(c echo.Context) error {
	r, err := s.referralOfAdmin(c)
	if err != nil {
		return err
	}
	var in ReviewInput
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	if in.Accept == nil {
		return invalid(map[string]string{"accept": "is required: true applies the held change, false drops it"})
	}
	state, err := s.sendDecision(c, r, workflows.UpdateResolveReview, "review",
		workflows.ReviewDecision{Accept: *in.Accept, Actor: "admin:" + adminFrom(c).ID.String()})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"referral_id": r.ID.String(), "status": state.Status})
}
