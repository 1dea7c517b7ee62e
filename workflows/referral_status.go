package workflows

import (
	"errors"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/internal/referral"
)

// validateSetStatus is set-status's validator: it rejects, with the reason,
// a decision that cannot apply (denied for good by the fraud checks, no
// actor, an unknown status or the one it already has, a denial without a
// reason). A decision that arrives while the workflow still loads its
// referral is checked against what can be known then, and again by the
// handler once the referral is loaded, so a fresh referral takes decisions
// at once.
func (w *referralWorkflow) validateSetStatus(ctx workflow.Context, req SetStatusRequest) error {
	if w.state.Status == "" {
		if req.Actor == "" {
			return errors.New("a decision needs an actor (who decided)")
		}
		return referral.CheckTransition("", req.Status, req.Reason)
	}
	if w.state.FinalDenial {
		return errors.New("the fraud checks denied this referral for good: " + w.state.DeniedReason)
	}
	if w.fraudHeld() {
		return errors.New("the fraud checks hold this referral for review (" + fraudReasons(w.state.PendingReview.Fraud) + "): approve or reject it in the review queue first")
	}
	if req.Actor == "" {
		return errors.New("a decision needs an actor (who decided)")
	}
	return referral.CheckTransition(w.state.Status, req.Status, req.Reason)
}

// setStatus applies an admin's set-status decision, keyed by the update's
// ID, once the referral is loaded.
func (w *referralWorkflow) setStatus(ctx workflow.Context, req SetStatusRequest) (ReferralState, error) {
	if w.state.Status == "" {
		if err := workflow.Await(ctx, func() bool { return w.state.Status != "" }); err != nil {
			return w.state, err
		}
		if err := w.validateSetStatus(ctx, req); err != nil {
			return w.state, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidDecision", nil)
		}
	}
	return w.apply(ctx, req, "update:"+workflow.GetCurrentUpdateInfo(ctx).ID, nil)
}

// apply moves the referral to a status, one change at a time, writing the
// change and its audit event under idempotencyKey. It is the one way the
// status moves: fraud checks, admin decisions, HubSpot changes, an accepted
// review and expiry all go through it.
func (w *referralWorkflow) apply(ctx workflow.Context, req SetStatusRequest, idempotencyKey string, cause map[string]any) (ReferralState, error) {
	if err := w.lock.Lock(ctx); err != nil {
		return w.state, err
	}
	defer w.lock.Unlock()
	// An earlier decision may have changed the status while this one waited.
	if err := referral.CheckTransition(w.state.Status, req.Status, req.Reason); err != nil {
		return w.state, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidDecision", nil)
	}

	change := activities.StatusChange{
		ReferralID:     w.state.ReferralID,
		From:           w.state.Status,
		To:             req.Status,
		Reason:         req.Reason,
		Actor:          req.Actor,
		IdempotencyKey: idempotencyKey,
		Cause:          cause,
	}
	if id, ok := cause["sales_entry_id"].(int64); ok {
		change.SalesEntryID = id
	}
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	if err := workflow.ExecuteLocalActivity(actx, acts.ChangeReferralStatus, change).Get(ctx, nil); err != nil {
		var appErr *temporal.ApplicationError
		if asApplicationError(err, &appErr) && appErr.Type() == activities.ErrTypeDuplicateChange {
			// This referral recorded the same change before: nothing to do.
			return w.state, nil
		}
		return w.state, err
	}
	w.state.Status = req.Status
	if req.Status == referral.Denied {
		w.state.DeniedReason = req.Reason
	} else {
		w.state.DeniedReason = ""
	}
	w.state.Transitions++
	w.decided(ctx, req.Status)
	if req.Status == referral.Approved {
		// "Your referral was approved": queued here, sent by its own
		// workflow, so an SMTP outage never holds the referral up.
		if err := w.emailMemberOf(ctx, email.ReferralApproved, w.state.ReferralID); err != nil {
			return w.state, err
		}
	}
	if req.Status == w.rewardStatus() {
		w.conversionDue = true
		if c, ok := cause["object_id"].(int64); ok {
			w.conversionObject = c
		}
	}
	return w.state, w.publish(ctx)
}
