package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/referral"
)

// Steps that need the outside world never fail a referral's workflow. When
// one cannot succeed — HubSpot not connected or broken, a refused property,
// campaign setup required, a fulfilment URL refused, an endpoint failing
// past its retries — the referral keeps its status and records why it waits
// (ReferralState.Waiting, referrals.waiting_*, an audit event, an ERROR log
// line with the referral's ID). The step runs again on a durable timer
// backing off from a minute to six hours, at once on the retry-waiting
// signal (sent when HubSpot is connected or a campaign's settings are saved)
// or an admin's retry-now, and never again after an admin's give-up. The
// workflow keeps listening meanwhile: HubSpot changes and admin decisions
// apply as usual.

// Bounds of the waiting step's retry timer.
const (
	firstRetryAfter = time.Minute
	maxRetryAfter   = 6 * time.Hour
)

// retryAfter is how long a step waits after its attempts-th failure.
func retryAfter(attempts int) time.Duration {
	d := firstRetryAfter
	for i := 1; i < attempts && d < maxRetryAfter; i++ {
		d *= 2
	}
	return min(d, maxRetryAfter)
}

// waitCause is the kind of trouble an activity's error reports (its error
// type, or the timeout) and what an admin reads of it.
func waitCause(err error) (cause, reason string) {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		cause = appErr.Type()
		if cause == "" {
			cause = "Error"
		}
		return cause, appErr.Message()
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return "Timeout", "the step timed out: " + timeout.Error()
	}
	return "Error", err.Error()
}

// waitingOn tells whether the referral waits on step.
func (w *referralWorkflow) waitingOn(step referral.WaitStep) bool {
	return w.state.Waiting != nil && w.state.Waiting.Step == step
}

// stepDue tells whether a waiting step runs again now: its timer is up, or
// someone asked.
func (w *referralWorkflow) stepDue(ctx workflow.Context, step referral.WaitStep) bool {
	if !w.waitingOn(step) {
		return true
	}
	return w.retryNow || !workflow.Now(ctx).Before(w.state.Waiting.NextAttempt)
}

// wait records that step failed with err and waits: the first failure and
// each new cause go to the audit trail and the referral's row; every one is
// logged at ERROR with the referral's ID.
func (w *referralWorkflow) wait(ctx workflow.Context, step referral.WaitStep, rewardID string, err error) error {
	if temporal.IsCanceledError(err) {
		return err
	}
	w.retryNow = false
	cause, reason := waitCause(err)
	now := workflow.Now(ctx)
	wt := w.state.Waiting
	changed := wt == nil || wt.Step != step || wt.RewardID != rewardID || wt.Cause != cause || wt.Reason != reason
	if wt == nil || wt.Step != step || wt.RewardID != rewardID {
		wt = &Waiting{Step: step, RewardID: rewardID, Since: now}
		w.state.Waiting = wt
	}
	wt.Attempts++
	wt.Cause, wt.Reason = cause, reason
	wt.NextAttempt = now.Add(retryAfter(wt.Attempts))
	// The reason may quote HubSpot's message about the lead's data: it goes
	// to the database, never to the log.
	workflow.GetLogger(ctx).Error("referral step failed; it waits and runs again",
		"referral_id", w.state.ReferralID, "step", string(step), "cause", cause, "attempts", wt.Attempts, "next_attempt", wt.NextAttempt)
	if changed {
		kind := referral.EventLeadNotSent
		switch step {
		case referral.WaitIssueReward:
			kind = referral.EventRewardNotIssued
		case referral.WaitCompleteDecisionCallbacks:
			kind = referral.EventDecisionCallbacksNotCompleted
		}
		details := map[string]any{"waiting": true, "error_type": cause, "reason": reason, "next_attempt": wt.NextAttempt}
		if rewardID != "" {
			details["reward_id"] = rewardID
		}
		if err := w.recordWait(ctx, kind, "system", details); err != nil {
			return err
		}
		if err := w.saveWaiting(ctx); err != nil {
			return err
		}
	}
	return w.publish(ctx)
}

// endWait records that the referral waits on nothing any more.
func (w *referralWorkflow) endWait(ctx workflow.Context) error {
	if w.state.Waiting == nil {
		return nil
	}
	w.state.Waiting = nil
	w.retryNow = false
	if err := w.saveWaiting(ctx); err != nil {
		return err
	}
	return w.publish(ctx)
}

// recordWait writes an audit event about a wait, keyed by the count of such
// events so far.
func (w *referralWorkflow) recordWait(ctx workflow.Context, kind referral.EventKind, actor string, details map[string]any) error {
	ev := activities.ReferralEvent{ReferralID: w.state.ReferralID, Kind: kind, Actor: actor, Details: details,
		IdempotencyKey: fmt.Sprintf("wait:%s:%d", w.state.ReferralID, w.state.WaitEvents)}
	w.state.WaitEvents++
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	return workflow.ExecuteLocalActivity(actx, acts.RecordReferralEvent, ev).Get(ctx, nil)
}

// saveWaiting writes ReferralState.Waiting to the referral's row.
func (w *referralWorkflow) saveWaiting(ctx workflow.Context) error {
	in := activities.ReferralWaiting{ReferralID: w.state.ReferralID}
	if wt := w.state.Waiting; wt != nil {
		in.Step, in.Cause, in.Reason = wt.Step, wt.Cause, wt.Reason
	}
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	return workflow.ExecuteLocalActivity(actx, acts.SetReferralWaiting, in).Get(ctx, nil)
}

// The retry-waiting signal, and the admin's retry-now and give-up updates.

// receiveRetries turns retry-waiting signals into a retry of the waiting
// step; a referral that waits on nothing ignores them.
func (w *referralWorkflow) receiveRetries(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalRetryWaiting)
	for {
		var req RetryRequest
		ch.Receive(ctx, &req)
		if w.state.Waiting != nil {
			w.retryNow = true
		}
	}
}

func (w *referralWorkflow) validateRetryNow(ctx workflow.Context, d RetryDecision) error {
	if w.state.Waiting == nil {
		return errors.New("this referral waits on nothing: there is no step to retry")
	}
	if d.Actor == "" {
		return errors.New("a decision needs an actor (who decided)")
	}
	return nil
}

// retryNow runs the waiting step again and answers with the state after
// that attempt.
func (w *referralWorkflow) retryWaitingNow(ctx workflow.Context, d RetryDecision) (ReferralState, error) {
	attempts := w.state.Waiting.Attempts
	w.retryNow = true
	err := workflow.Await(ctx, func() bool {
		return w.state.Waiting == nil || w.state.Waiting.Attempts > attempts
	})
	return w.state, err
}

func (w *referralWorkflow) validateGiveUp(ctx workflow.Context, d GiveUpDecision) error {
	switch {
	case w.state.Waiting == nil:
		return errors.New("this referral waits on nothing: there is no step to give up")
	case d.Reason == "":
		return errors.New("giving up needs a reason")
	case d.Actor == "":
		return errors.New("a decision needs an actor (who decided)")
	}
	return nil
}

// giveUpWaiting stops the waiting step for good and answers with the state
// once the step has acted on it.
func (w *referralWorkflow) giveUpWaiting(ctx workflow.Context, d GiveUpDecision) (ReferralState, error) {
	w.giveUp = &d
	done := w.givenUp + 1
	err := workflow.Await(ctx, func() bool { return w.givenUp >= done })
	return w.state, err
}

// gaveUp records that the step acted on the admin's give-up.
func (w *referralWorkflow) gaveUp() {
	w.giveUp = nil
	w.givenUp++
}
