package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspot/signature"
	"github.com/referflow/referflow/internal/hubspotaction"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/workflows"
)

// referflow's actions in HubSpot workflows (internal/hubspotaction).
//
// POST /hubspot/actions/{action} takes HubSpot's execution of an action:
// signed with the app's client secret (v2, or v3 when HubSpot sends it;
// never v1, which does not cover the URL), answered 200 with output fields.
// An action that cannot do its work (an unknown member, a decision the
// referral's workflow refuses) answers FAIL_CONTINUE with an error field
// HubSpot shows in the workflow's history, never a 5xx: HubSpot retries a
// 5xx or a timeout, which is kept for what a retry may mend (the database or
// Temporal unreachable). Each callbackId's answer is stored
// (hubspot_action_executions) under a lock on the callbackId, so HubSpot's
// retries do the work once and get the same answer.

// hubSpotActionTimeout bounds one execution's work: HubSpot gives up on an
// answer after about 20 seconds and retries.
const hubSpotActionTimeout = 15 * time.Second

// Execution states stored in hubspot_action_executions.
const (
	executionAnswered = "answered"
	executionBlocked  = "blocked"
)

func (s *Server) routeHubSpotActions() {
	// Not under /api/v1: HubSpot authenticates by signature, not as an admin.
	s.echo.POST("/hubspot/actions/:action", s.executeHubSpotAction)
}

func (s *Server) executeHubSpotAction(c echo.Context) error {
	if s.deps.WebhookSecret == "" {
		return NewError(http.StatusServiceUnavailable, "unavailable", "HubSpot workflow actions are not configured: set HUBSPOT_CLIENT_SECRET")
	}
	r := c.Request()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) || errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
			return echo.ErrStatusRequestEntityTooLarge
		}
		return NewError(http.StatusBadRequest, "bad_request", "the request body could not be read")
	}
	// The signature first: nothing of an unsigned body is looked at.
	if r.Header.Get(signature.HeaderV3) == "" && r.Header.Get(signature.HeaderV1V2) != "" && r.Header.Get(signature.HeaderVersion) != "v2" {
		return NewError(http.StatusUnauthorized, "invalid_signature", "workflow action executions are signed v2 (X-HubSpot-Signature-Version: v2) or v3")
	}
	if err := s.webhookVerifier(r).Verify(r, body); err != nil {
		return signatureError(err)
	}
	action, err := hubspotaction.Parse(c.Param("action"))
	if err != nil {
		return NewError(http.StatusNotFound, "not_found", err.Error())
	}
	ex, err := hubspotaction.ParseExecution(body)
	if err != nil {
		return NewError(http.StatusBadRequest, "invalid_execution", err.Error())
	}

	ctx, cancel := context.WithTimeout(r.Context(), hubSpotActionTimeout)
	defer cancel()
	conn, err := s.queries().HubSpotConnectionGetActiveByPortal(ctx, ex.Origin.PortalID)
	if errors.Is(err, pgx.ErrNoRows) {
		return c.JSON(http.StatusOK, hubspotaction.Failed(fmt.Sprintf("HubSpot portal %d is not connected to referflow: connect it first", ex.Origin.PortalID), nil))
	}
	if err != nil {
		return s.actionUnavailable(c, action, err)
	}
	answer, err := s.runHubSpotAction(ctx, c, conn.WorkspaceID, action, ex)
	if err != nil {
		return s.actionUnavailable(c, action, err)
	}
	return c.JSON(http.StatusOK, answer)
}

// actionUnavailable answers an execution whose work a retry may mend: 503,
// and HubSpot retries it.
func (s *Server) actionUnavailable(c echo.Context, action hubspotaction.Action, err error) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	s.deps.Logger.WarnContext(c.Request().Context(), "HubSpot workflow action not done; HubSpot retries it", "action", string(action), "error", err.Error())
	return NewError(http.StatusServiceUnavailable, "unavailable", "the action could not be done now; HubSpot retries it")
}

// runHubSpotAction does an execution once: under a transaction-scoped lock
// on its callbackId, a stored answer is returned as it is; otherwise the
// action runs and its answer is stored in the same transaction.
func (s *Server) runHubSpotAction(ctx context.Context, c echo.Context, ws uuid.UUID, action hubspotaction.Action, ex hubspotaction.Execution) (hubspotaction.Answer, error) {
	var none hubspotaction.Answer
	tx, err := s.deps.Pool.Begin(ctx)
	if err != nil {
		return none, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	q := db.New(tx)
	if err := q.HubSpotActionExecutionLock(ctx, ex.CallbackID); err != nil {
		return none, err
	}
	stored, err := q.HubSpotActionExecutionGet(ctx, ex.CallbackID)
	switch {
	case err == nil:
		var a hubspotaction.Answer
		if err := json.Unmarshal(stored.Answer, &a.OutputFields); err != nil {
			return none, fmt.Errorf("stored answer of callback %s: %w", ex.CallbackID, err)
		}
		return a, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return none, err
	}

	var out actionOutcome
	switch action {
	case hubspotaction.EnrolMember:
		out, err = s.enrolMemberAction(ctx, ws, ex)
	case hubspotaction.AddReferral:
		out, err = s.addReferralAction(ctx, ws, ex)
	case hubspotaction.SetReferralStatus:
		out, err = s.setReferralStatusAction(ctx, c, ws, ex)
	case hubspotaction.WaitForDecision:
		out, err = s.waitForDecisionAction(ctx, q, ws, ex)
	}
	if err != nil {
		return none, err
	}
	answer, err := json.Marshal(out.answer.OutputFields)
	if err != nil {
		return none, err
	}
	state := executionAnswered
	if out.answer.OutputFields[hubspotaction.FieldExecutionState] == hubspotaction.StateBlock {
		state = executionBlocked
	}
	if _, err := q.HubSpotActionExecutionRecord(ctx, db.HubSpotActionExecutionRecordParams{
		CallbackID: ex.CallbackID, PortalID: ex.Origin.PortalID, WorkspaceID: ws, Action: string(action),
		ObjectType: ex.Object.ObjectType, ObjectID: ex.Object.ObjectID, ReferralID: out.referralID,
		State: state, Answer: answer,
	}); err != nil {
		return none, err
	}
	if err := tx.Commit(ctx); err != nil {
		return none, err
	}
	return out.answer, nil
}

// actionOutcome is an action's answer and the referral it concerns, if any.
type actionOutcome struct {
	answer     hubspotaction.Answer
	referralID *uuid.UUID
}

func failed(reason string) actionOutcome {
	return actionOutcome{answer: hubspotaction.Failed(reason, nil)}
}

// campaignOfWorkspace reads the campaign_id input field.
func (s *Server) campaignOfWorkspace(ctx context.Context, ws uuid.UUID, ex hubspotaction.Execution) (db.Campaign, string, error) {
	raw := ex.Input("campaign_id")
	if raw == "" {
		return db.Campaign{}, "the campaign_id input field is required", nil
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return db.Campaign{}, fmt.Sprintf("campaign_id %q is not a campaign ID (a UUID)", raw), nil
	}
	camp, err := s.queries().CampaignGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && camp.WorkspaceID != ws) {
		return db.Campaign{}, "no campaign " + raw + " in the workspace connected to this portal", nil
	}
	return camp, "", err
}

// enrolMemberAction: "Enrol as member". The contact becomes a member through
// the enrolment verb (activities.EnrolContactIn); the member's workflow
// writes the code and link back to the contact.
func (s *Server) enrolMemberAction(ctx context.Context, ws uuid.UUID, ex hubspotaction.Execution) (actionOutcome, error) {
	if ex.Object.ObjectType != string(hubspotobject.Contact) {
		return failed("Enrol as member acts on contacts, not on a " + ex.Object.ObjectType), nil
	}
	camp, problem, err := s.campaignOfWorkspace(ctx, ws, ex)
	if err != nil || problem != "" {
		return failed(problem), err
	}
	e, err := activities.EnrolContactIn(ctx, s.deps.Pool, ws, camp.ID, activities.MatchObject{
		ObjectType: hubspotobject.Contact, ObjectID: ex.Object.ObjectID, Properties: ex.Object.Properties,
	})
	if err != nil {
		return actionOutcome{}, err
	}
	if e.NotEnrolled != "" {
		return failed("not enrolled: " + e.NotEnrolled), nil
	}
	memberID, err := uuid.Parse(e.MemberID)
	if err != nil {
		return actionOutcome{}, err
	}
	m, err := s.queries().MemberGetByID(ctx, memberID)
	if err != nil {
		return actionOutcome{}, err
	}
	// The member's workflow writes the code and link to the contact; if
	// Temporal is unreachable the worker's reconciler starts it later.
	if err := workflows.StartMemberWorkflow(ctx, s.deps.Temporal, s.deps.TaskQueue, s.deps.HubSpotTaskQueue, e.MemberID); err != nil {
		s.deps.Logger.WarnContext(ctx, "member's workflow not started yet; the reconciler will", "member_id", e.MemberID, "error", err.Error())
	}
	return actionOutcome{answer: hubspotaction.Success(map[string]string{
		hubspotaction.FieldMemberID: e.MemberID, hubspotaction.FieldReferralCode: m.ReferralCode,
		hubspotaction.FieldReferralLink: s.referralLinkOf(m.ReferralCode), hubspotaction.FieldJoined: strconv.FormatBool(e.Joined),
	})}, nil
}

// referralLinkOf is a member's referral link.
func (s *Server) referralLinkOf(code string) string {
	base := ""
	if s.deps.PublicURL != nil {
		base = strings.TrimRight(s.deps.PublicURL.String(), "/")
	}
	return base + "/r/" + code
}

// addReferralAction: "Add referral". The enrolled contact is the lead,
// referred by the member with the code or email given, added through
// activities.AddReferral like every referral.
func (s *Server) addReferralAction(ctx context.Context, ws uuid.UUID, ex hubspotaction.Execution) (actionOutcome, error) {
	if ex.Object.ObjectType != string(hubspotobject.Contact) {
		return failed("Add referral acts on contacts (the lead), not on a " + ex.Object.ObjectType), nil
	}
	camp, problem, err := s.campaignOfWorkspace(ctx, ws, ex)
	if err != nil || problem != "" {
		return failed(problem), err
	}
	code, email := ex.Input("member_code"), ex.Input("member_email")
	var m db.Member
	switch {
	case code != "":
		m, err = s.queries().MemberGetByCode(ctx, db.MemberGetByCodeParams{CampaignID: camp.ID, ReferralCode: code})
	case email != "":
		m, err = s.queries().MemberGetByEmail(ctx, db.MemberGetByEmailParams{CampaignID: camp.ID, Email: email})
	default:
		return failed("give the referring member's member_code or member_email"), nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return failed("no member of the campaign has this code or email"), nil
	}
	if err != nil {
		return actionOutcome{}, err
	}
	props := ex.Object.Properties
	leadEmail := strings.TrimSpace(props["email"])
	if err := referral.CheckEmail(leadEmail); err != nil {
		return failed("the contact's email cannot be a lead's: " + err.Error()), nil
	}
	contactID := ex.Object.ObjectID
	row, err := activities.AddReferral(ctx, s.deps.Pool, activities.NewReferral{
		Member: m, Source: referral.SourceHubSpotWorkflowAction, Actor: fmt.Sprintf("hubspot-workflow:%d", ex.Context.WorkflowID),
		Lead:    activities.Lead{Email: leadEmail, FirstName: strings.TrimSpace(props["firstname"]), LastName: strings.TrimSpace(props["lastname"]), Company: strings.TrimSpace(props["company"])},
		HubSpot: hubspotobject.IDs{Contact: &contactID},
		Details: map[string]any{"hubspot_workflow_id": ex.Context.WorkflowID, "callback_id": ex.CallbackID},
	})
	added := true
	var dup *activities.DuplicateLeadError
	var notActive *campaign.NotActiveError
	switch {
	case errors.As(err, &dup):
		if dup.Existing.MemberID != m.ID {
			return failed("this lead was already referred in the campaign by another member, as referral " + dup.Existing.ID.String()), nil
		}
		row, added = dup.Existing, false
	case errors.As(err, &notActive):
		return failed(notActive.Error()), nil
	case err != nil:
		return actionOutcome{}, err
	}
	if _, err := workflows.StartReferralWorkflow(ctx, s.deps.Temporal, s.deps.TaskQueue, s.deps.HubSpotTaskQueue, row.ID.String()); err != nil && added {
		// Stored: the reconciler starts the workflow once Temporal answers.
		s.deps.Logger.WarnContext(ctx, "referral's workflow not started yet; the reconciler will", "referral_id", row.ID.String(), "error", err.Error())
	}
	id := row.ID
	return actionOutcome{referralID: &id, answer: hubspotaction.Success(map[string]string{
		hubspotaction.FieldReferralID: id.String(), hubspotaction.FieldReferralStatus: row.Status, hubspotaction.FieldAdded: strconv.FormatBool(added),
	})}, nil
}

// referralOfRecord finds the referral whose lead is the enrolled record
// (its contact or deal), in the campaign given when there are several.
func (s *Server) referralOfRecord(ctx context.Context, ws uuid.UUID, ex hubspotaction.Execution) (uuid.UUID, string, error) {
	rows, err := s.queries().ReferralListByHubSpotObjects(ctx, db.ReferralListByHubSpotObjectsParams{
		WorkspaceIds: []uuid.UUID{ws}, ObjectTypes: []string{ex.Object.ObjectType}, ObjectIds: []int64{ex.Object.ObjectID},
	})
	if err != nil {
		return uuid.Nil, "", err
	}
	campaignID := ex.Input("campaign_id")
	var found []uuid.UUID
	for _, r := range rows {
		if campaignID == "" || r.CampaignID.String() == campaignID {
			found = append(found, r.ID)
		}
	}
	switch {
	case len(found) == 0 && campaignID != "":
		return uuid.Nil, fmt.Sprintf("this %s is the lead of no referral in campaign %s", ex.Object.ObjectType, campaignID), nil
	case len(found) == 0:
		return uuid.Nil, fmt.Sprintf("this %s is the lead of no referral", ex.Object.ObjectType), nil
	case len(found) > 1:
		return uuid.Nil, fmt.Sprintf("this %s is the lead of %d referrals: set the action's campaign_id", ex.Object.ObjectType, len(found)), nil
	}
	return found[0], "", nil
}

// setReferralStatusAction: "Set referral status". The decision goes to the
// referral's workflow as the admin API's does (sendDecision, the set-status
// update); a refusal is the answer's error.
func (s *Server) setReferralStatusAction(ctx context.Context, c echo.Context, ws uuid.UUID, ex hubspotaction.Execution) (actionOutcome, error) {
	status, err := referral.ParseStatus(ex.Input("status"))
	if err != nil {
		return failed(err.Error()), nil
	}
	id, problem, err := s.referralOfRecord(ctx, ws, ex)
	if err != nil || problem != "" {
		return failed(problem), err
	}
	r, err := s.queries().ReferralGetByID(ctx, id)
	if err != nil {
		return actionOutcome{}, err
	}
	state, err := s.sendDecision(c, r, workflows.UpdateSetStatus, "status", workflows.SetStatusRequest{
		Status: status, Reason: ex.Input("reason"), Actor: fmt.Sprintf("hubspot-workflow:%d", ex.Context.WorkflowID),
	})
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status != http.StatusServiceUnavailable {
		o := failed(apiErr.Message)
		o.answer.OutputFields[hubspotaction.FieldReferralID] = id.String()
		o.referralID = &id
		return o, nil
	}
	if err != nil {
		return actionOutcome{}, err
	}
	return actionOutcome{referralID: &id, answer: hubspotaction.Success(map[string]string{
		hubspotaction.FieldReferralID: id.String(), hubspotaction.FieldReferralStatus: string(state.Status),
	})}, nil
}

// waitForDecisionAction: "Wait for referral decision". A referral already
// approved or denied is answered at once with the decision; otherwise the
// answer is BLOCK, stored in the caller's transaction while the referral's
// row is held, so a decision committed meanwhile is either seen here or
// finds this execution (the referral's workflow then completes it).
func (s *Server) waitForDecisionAction(ctx context.Context, q *db.Queries, ws uuid.UUID, ex hubspotaction.Execution) (actionOutcome, error) {
	id, problem, err := s.referralOfRecord(ctx, ws, ex)
	if err != nil || problem != "" {
		return failed(problem), err
	}
	r, err := q.ReferralGetStatusForShare(ctx, id)
	if err != nil {
		return actionOutcome{}, err
	}
	switch st := referral.Status(r.Status); st {
	case referral.Approved, referral.Denied:
		return actionOutcome{referralID: &id, answer: hubspotaction.Success(hubspotaction.Decided(id.String(), string(st)))}, nil
	}
	return actionOutcome{referralID: &id, answer: hubspotaction.Blocked(id.String())}, nil
}
