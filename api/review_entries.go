package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
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
	"github.com/referflow/referflow/internal/review"
	"github.com/referflow/referflow/workflows"
)

// The review queue: what the rules say a person must decide. Each open
// review entry is held by a workflow waiting for the admin's decision as a
// validated workflow update — a sales entry's (sales-entry/<id>) or a
// referral's (referral/<id>, a denied referral HubSpot would move on). The
// API checks what only the database knows, then lets the workflow's
// validator decide; a refusal comes back as 422 with its reason.

// ReviewEntryView is a review entry as the admin API shows it.
type ReviewEntryView struct {
	ID           string          `json:"id"`
	CampaignID   *string         `json:"campaign_id"`
	SalesEntryID *int64          `json:"sales_entry_id"`
	ReferralID   *string         `json:"referral_id"`
	Reason       string          `json:"reason"`
	Status       string          `json:"status"`
	Data         json.RawMessage `json:"data"`
	Decision     string          `json:"decision,omitempty"`
	DecidedBy    string          `json:"decided_by,omitempty"`
	DecidedAt    *time.Time      `json:"decided_at,omitempty"`
	WorkflowID   string          `json:"workflow_id,omitempty"`
	WorkflowURL  string          `json:"workflow_url,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
}

func (s *Server) reviewEntryView(r db.ReviewEntry) ReviewEntryView {
	v := ReviewEntryView{
		ID: r.ID.String(), CampaignID: uuidString(r.CampaignID), SalesEntryID: r.SalesEntryID, ReferralID: uuidString(r.ReferralID),
		Reason: r.Reason, Status: r.Status, Data: r.Data, Decision: deref(r.Decision), DecidedBy: deref(r.DecidedBy),
		DecidedAt: r.DecidedAt, WorkflowID: deref(r.WorkflowID), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if len(v.Data) == 0 {
		v.Data = json.RawMessage("{}")
	}
	v.WorkflowURL = s.workflowURL(v.WorkflowID)
	return v
}

func uuidString(id *uuid.UUID) *string {
	if id == nil {
		return nil
	}
	s := id.String()
	return &s
}

// ReviewEntryList is one page of the review queue; NextCursor, when not
// null, fetches the next page.
type ReviewEntryList struct {
	ReviewEntries []ReviewEntryView `json:"review_entries"`
	NextCursor    *string           `json:"next_cursor"`
}

// listReviewEntries is the review queue, oldest first (first in, first
// decided); status defaults to open.
func (s *Server) listReviewEntries(c echo.Context) error {
	out, err := s.reviewEntryList(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// reviewEntryList is the page of the review queue the request's query asks
// for (status, limit, cursor): the JSON list's and the admin UI's.
func (s *Server) reviewEntryList(c echo.Context) (ReviewEntryList, error) {
	q := newListQuery(c, "status", "limit", "cursor")
	status := string(review.Open)
	if st := q.oneOf("status", words(review.Statuses)); st != nil {
		status = *st
	}
	params := db.ReviewEntryListFilteredParams{WorkspaceID: adminFrom(c).WorkspaceID, Status: status,
		AfterCreatedAt: startOfTime, AfterID: uuid.Nil} // the first page starts before every entry
	limit := q.limit()
	if cur, ok := q.cursor("review_entries"); ok {
		params.AfterCreatedAt, params.AfterID = cur.timeAndUUID(q)
	}
	if err := q.err(); err != nil {
		return ReviewEntryList{}, err
	}
	params.PageSize = limit + 1
	rows, err := s.queries().ReviewEntryListFiltered(c.Request().Context(), params)
	if err != nil {
		return ReviewEntryList{}, fmt.Errorf("list review entries: %w", err)
	}
	out := ReviewEntryList{ReviewEntries: make([]ReviewEntryView, 0, min(len(rows), int(limit)))}
	for i, r := range rows {
		if i == int(limit) {
			last := rows[i-1]
			out.NextCursor = pageCursor{Kind: "review_entries", At: &last.CreatedAt, ID: last.ID.String()}.encode()
			break
		}
		out.ReviewEntries = append(out.ReviewEntries, s.reviewEntryView(r))
	}
	return out, nil
}

// reviewEntryOfAdmin loads the review entry in the path when it is in the
// admin's workspace; another workspace's entry is not found.
func (s *Server) reviewEntryOfAdmin(c echo.Context) (db.ReviewEntry, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return db.ReviewEntry{}, NewError(http.StatusNotFound, "not_found", "no such review entry: review entry IDs are UUIDs")
	}
	r, err := s.queries().ReviewEntryGetByID(c.Request().Context(), id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && r.WorkspaceID != adminFrom(c).WorkspaceID) {
		return db.ReviewEntry{}, NewError(http.StatusNotFound, "not_found", "no such review entry in your workspace")
	}
	if err != nil {
		return db.ReviewEntry{}, fmt.Errorf("load review entry: %w", err)
	}
	return r, nil
}

func (s *Server) getReviewEntry(c echo.Context) error {
	r, err := s.reviewEntryOfAdmin(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.reviewEntryView(r))
}

// ReviewDecisionInput is an admin's decision on a review entry. Data
// replaces the entry's matching data (edit); ReferralID and MemberID say what
// to attach it to; Reason explains a dismissal.
type ReviewDecisionInput struct {
	Action     review.Action     `json:"action"`
	Data       map[string]string `json:"data" limit:"20" itemlimit:"254"`
	ReferralID string            `json:"referral_id" limit:"100"`
	MemberID   string            `json:"member_id" limit:"100"`
	Reason     string            `json:"reason" limit:"1000"`
}

// ReviewDecisionResult is the answer to a decision: the review entry as it
// stands afterwards, and what the workflow holding it answered.
type ReviewDecisionResult struct {
	ReviewEntry ReviewEntryView `json:"review_entry"`
	Result      any             `json:"result"`
}

func (s *Server) decideReviewEntry(c echo.Context) error {
	entry, err := s.reviewEntryOfAdmin(c)
	if err != nil {
		return err
	}
	var in ReviewDecisionInput
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	out, err := s.decideReview(c, entry, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// decideReview sends an admin's decision on an open review entry to the
// workflow holding it: the JSON API's and the admin UI's.
func (s *Server) decideReview(c echo.Context, entry db.ReviewEntry, in ReviewDecisionInput) (ReviewDecisionResult, error) {
	// Which actions an entry accepts is up to the workflow holding it (a
	// referral's held change: approve or reject).
	in.Action = review.Action(strings.TrimSpace(string(in.Action)))
	if !slices.Contains(review.Actions, in.Action) {
		return ReviewDecisionResult{}, invalid(map[string]string{"action": "must be one of " + strings.Join(words(review.Actions), ", ")})
	}
	if review.Status(entry.Status) != review.Open {
		how := ""
		if entry.Decision != nil || entry.DecidedBy != nil {
			how = fmt.Sprintf(" (%s by %s)", deref(entry.Decision), deref(entry.DecidedBy))
		}
		return ReviewDecisionResult{}, &APIError{Status: http.StatusConflict, Code: "conflict",
			Message: "this review entry is already " + entry.Status + how + ": it cannot be decided again",
			Fields:  map[string]string{"status": entry.Status}}
	}
	problems, err := s.checkDecisionTargets(c.Request().Context(), adminFrom(c).WorkspaceID, in)
	if err != nil {
		return ReviewDecisionResult{}, err
	}
	if len(problems) > 0 {
		return ReviewDecisionResult{}, invalid(problems)
	}
	holder := deref(entry.WorkflowID)
	var result any
	switch {
	case strings.HasPrefix(holder, "sales-entry/"):
		result, err = s.decideSalesEntry(c, holder, in)
	case strings.HasPrefix(holder, "referral/"):
		result, err = s.decideHeldReferralChange(c, entry, strings.TrimPrefix(holder, "referral/"), in)
	default:
		return ReviewDecisionResult{}, NewError(http.StatusConflict, "conflict",
			"no workflow holds this review entry, so no decision can reach it; it was recorded without one")
	}
	if err != nil {
		return ReviewDecisionResult{}, err
	}
	after, err := s.queries().ReviewEntryGetByID(c.Request().Context(), entry.ID)
	if err != nil {
		return ReviewDecisionResult{}, fmt.Errorf("reload review entry: %w", err)
	}
	return ReviewDecisionResult{ReviewEntry: s.reviewEntryView(after), Result: result}, nil
}

// checkDecisionTargets checks what only the database knows: the referral or
// member a decision names (attach_referral, attach_member, or an edit's
// data.member_id) exists in the admin's workspace. The workflow's validator
// does no I/O, so without this a typo would only fail inside the workflow.
func (s *Server) checkDecisionTargets(ctx context.Context, workspace uuid.UUID, in ReviewDecisionInput) (map[string]string, error) {
	problems := map[string]string{}
	check := func(field, raw, what string, load func(uuid.UUID) (uuid.UUID, error)) error {
		if raw == "" {
			return nil
		}
		id, err := uuid.Parse(raw)
		if err != nil {
			problems[field] = "is not a " + what + " ID (a UUID)"
			return nil
		}
		ws, err := load(id)
		switch {
		case errors.Is(err, pgx.ErrNoRows) || (err == nil && ws != workspace):
			problems[field] = "no such " + what + " in your workspace"
		case err != nil:
			return fmt.Errorf("look up the %s a decision names: %w", what, err)
		}
		return nil
	}
	referral := func(id uuid.UUID) (uuid.UUID, error) {
		r, err := s.queries().ReferralGetByID(ctx, id)
		return r.WorkspaceID, err
	}
	member := func(id uuid.UUID) (uuid.UUID, error) {
		m, err := s.queries().MemberGetByID(ctx, id)
		return m.WorkspaceID, err
	}
	for _, err := range []error{
		check("referral_id", strings.TrimSpace(in.ReferralID), "referral", referral),
		check("member_id", strings.TrimSpace(in.MemberID), "member", member),
		check("data.member_id", strings.TrimSpace(in.Data["member_id"]), "member", member),
	} {
		if err != nil {
			return nil, err
		}
	}
	return problems, nil
}

// decideSalesEntry sends the decision to the sales entry's workflow as the
// UpdateSalesEntryDecision update and returns the workflow's answer (its
// state) as it sent it.
func (s *Server) decideSalesEntry(c echo.Context, workflowID string, in ReviewDecisionInput) (any, error) {
	if in.Action == review.Reject {
		return nil, invalid(map[string]string{"action": "reject answers a referral's held status change; to close a sales entry's review, dismiss it with a reason"})
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	h, err := s.deps.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID,
		UpdateName: workflows.UpdateSalesEntryDecision,
		Args: []any{workflows.SalesEntryDecision{
			Action: in.Action, Data: in.Data, ReferralID: in.ReferralID, MemberID: in.MemberID, Reason: in.Reason,
			Actor: "admin:" + adminFrom(c).ID.String(),
		}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var state json.RawMessage
	if err == nil {
		err = h.Get(ctx, &state)
	}
	var notFound *serviceerror.NotFound
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &notFound):
		return nil, NewError(http.StatusConflict, "conflict", "the workflow holding this review entry is not running any more: no decision can change it now")
	case errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeCampaignNotActive:
		// Attaching a member of a campaign that takes no new referrals.
		return nil, NewError(http.StatusConflict, "campaign_not_active", appErr.Message())
	case errors.As(err, &appErr):
		return nil, &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: appErr.Message(), Fields: map[string]string{"action": appErr.Message()}}
	case err != nil:
		return nil, NewError(http.StatusServiceUnavailable, "unavailable", "the decision could not reach the workflow holding this review entry; try again")
	}
	if len(state) == 0 {
		return nil, nil
	}
	return state, nil
}

// decideHeldReferralChange answers a review entry held by a referral's
// workflow (a denied referral HubSpot would move on): approve applies the
// held change and reject drops it, through the same update as
// POST /referrals/{id}/review. The workflow closes its review entry itself
// ("accepted" or "rejected"), as it does when the decision comes through
// that route.
func (s *Server) decideHeldReferralChange(c echo.Context, entry db.ReviewEntry, referralID string, in ReviewDecisionInput) (any, error) {
	if !slices.Contains(review.HeldChangeActions, in.Action) {
		return nil, invalid(map[string]string{"action": "a referral's held status change can only be approved (applied) or rejected (dropped)"})
	}
	ctx := c.Request().Context()
	id, err := uuid.Parse(referralID)
	if err != nil {
		return nil, NewError(http.StatusConflict, "conflict", "this review entry names a workflow that is not a referral's: it cannot be decided here")
	}
	r, err := s.queries().ReferralGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && r.WorkspaceID != entry.WorkspaceID) {
		return nil, NewError(http.StatusConflict, "conflict", "the referral holding this review entry no longer exists")
	}
	if err != nil {
		return nil, fmt.Errorf("load the referral holding a review entry: %w", err)
	}
	state, err := s.sendDecision(c, r, workflows.UpdateResolveReview, "action",
		workflows.ReviewDecision{Accept: in.Action == review.Approve, Actor: "admin:" + adminFrom(c).ID.String()})
	if err != nil {
		return nil, err
	}
	return map[string]any{"referral_id": r.ID.String(), "status": state.Status, "in_review": state.PendingReview != nil}, nil
}
