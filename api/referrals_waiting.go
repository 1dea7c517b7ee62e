package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/workflows"
)

// Referrals whose workflow waits on the outside world (see
// workflows/referral_waiting.go): the admin retries the waiting step now or
// gives it up, and the paths that may have removed the cause — HubSpot
// connected, a campaign's settings or fulfilment URL saved — wake the
// waiting referrals at once instead of leaving them to their retry timer.

// maxWoken bounds one wake-up; referrals beyond it retry on their timer.
const maxWoken = 10000

// wakeWaitingReferrals signals the workspace's waiting referrals (of one
// campaign when campaignID is set) to run their step again now, because
// cause may have fixed it. It never fails the request that fixed things: a
// referral it cannot reach retries on its own timer.
func (s *Server) wakeWaitingReferrals(ctx context.Context, workspaceID uuid.UUID, campaignID *uuid.UUID, cause string) {
	ids, err := s.queries().ReferralListWaiting(ctx, db.ReferralListWaitingParams{
		WorkspaceID: workspaceID, CampaignID: campaignID, MaxResults: maxWoken,
	})
	if err != nil {
		s.deps.Logger.ErrorContext(ctx, "list waiting referrals to wake", "workspace_id", workspaceID.String(), "error", err.Error())
		return
	}
	if len(ids) == 0 {
		return
	}
	failed := s.signalEach(ctx, ids, func(ctx context.Context, id string) error {
		return workflows.SignalRetryWaitingReferral(ctx, s.deps.Temporal, id, cause)
	})
	s.deps.Logger.InfoContext(ctx, "woke waiting referrals", "workspace_id", workspaceID.String(), "cause", cause,
		"woken", len(ids)-failed, "not_reached", failed)
}

// signalEach calls signal for each ID, a few at a time (a workspace may have
// thousands waiting), and says how many it could not reach.
func (s *Server) signalEach(ctx context.Context, ids []uuid.UUID, signal func(ctx context.Context, id string) error) int {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	sem := make(chan struct{}, 8)
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := signal(ctx, id.String()); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// GiveUpInput gives up a referral's waiting step, with why.
type GiveUpInput struct {
	Reason string `json:"reason" limit:"1000"`
}

// POST /api/v1/referrals/{id}/retry runs the referral's waiting step again
// now and answers with what it waits on after that attempt (nothing when it
// succeeded).
func (s *Server) retryReferral(c echo.Context) error {
	r, err := s.referralOfAdmin(c)
	if err != nil {
		return err
	}
	state, err := s.retryWaiting(c, r)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, waitingAnswer(r.ID, state))
}

// retryWaiting runs the referral's waiting step again now: the JSON API's
// and the admin UI's.
func (s *Server) retryWaiting(c echo.Context, r db.Referral) (workflows.ReferralState, error) {
	return s.sendDecision(c, r, workflows.UpdateRetryNow, "waiting",
		workflows.RetryDecision{Actor: "admin:" + adminFrom(c).ID.String()})
}

// POST /api/v1/referrals/{id}/give-up stops the referral's waiting step for
// good: a lead never sent (the referral stays where it is), a reward marked
// failed.
func (s *Server) giveUpReferral(c echo.Context) error {
	r, err := s.referralOfAdmin(c)
	if err != nil {
		return err
	}
	var in GiveUpInput
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	state, err := s.giveUpWaiting(c, r, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, waitingAnswer(r.ID, state))
}

// giveUpWaiting stops the referral's waiting step for good, with the
// admin's reason: the JSON API's and the admin UI's.
func (s *Server) giveUpWaiting(c echo.Context, r db.Referral, in GiveUpInput) (workflows.ReferralState, error) {
	if in.Reason == "" {
		return workflows.ReferralState{}, invalid(map[string]string{"reason": "say why you give up (it goes to the audit trail)"})
	}
	return s.sendDecision(c, r, workflows.UpdateGiveUp, "waiting",
		workflows.GiveUpDecision{Reason: in.Reason, Actor: "admin:" + adminFrom(c).ID.String()})
}

func waitingAnswer(id uuid.UUID, state workflows.ReferralState) map[string]any {
	var w *WaitingView
	if wt := state.Waiting; wt != nil {
		next := wt.NextAttempt
		w = &WaitingView{Step: string(wt.Step), Cause: wt.Cause, Reason: wt.Reason, Since: wt.Since, NextAttempt: &next, Attempts: wt.Attempts, RewardID: wt.RewardID}
	}
	return map[string]any{"referral_id": id.String(), "status": state.Status, "waiting": w}
}

// WaitingView is what a referral's workflow waits on: a step that needs the
// outside world and could not succeed yet.
type WaitingView struct {
	// Step is send_lead, issue_reward or complete_decision_callbacks; Cause the kind of trouble (e.g.
	// HubSpotConnectionBroken, CampaignSetupRequired, InvalidFulfilmentURL);
	// Reason what went wrong, in words.
	Step   string    `json:"step"`
	Cause  string    `json:"cause"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	// NextAttempt and Attempts, on answers from the workflow.
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	Attempts    int        `json:"attempts,omitempty"`
	RewardID    string     `json:"reward_id,omitempty"`
}

// waitingOfRow is what the referral's row says it waits on, or nil.
func waitingOfRow(r db.Referral) *WaitingView {
	if r.WaitingStep == nil {
		return nil
	}
	w := &WaitingView{Step: *r.WaitingStep, Cause: deref(r.WaitingCause), Reason: deref(r.WaitingReason)}
	if r.WaitingSince != nil {
		w.Since = *r.WaitingSince
	}
	return w
}
