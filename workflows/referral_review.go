package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/review"
)

// holdForReview puts the referral in review instead of moving it to to;
// outcome is what the trail says of it (decideStatus words it).
func (w *referralWorkflow) holdForReview(ctx workflow.Context, c HubSpotChange, to referral.Status, cause map[string]any, outcome string) error {
	cause["outcome"] = outcome
	w.state.PendingReview = &PendingReview{To: to, Cause: cause}
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	open := activities.ReferralReview{
		ReferralID: w.state.ReferralID, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		Reason: review.DeniedToApproved, Data: map[string]any{"to": string(to), "change": cause},
	}
	if err := workflow.ExecuteLocalActivity(actx, acts.OpenReferralReview, open).Get(ctx, &w.state.PendingReview.ReviewEntryID); err != nil {
		return err
	}
	return w.recordChange(ctx, c, cause, outcome)
}

// validateResolveReview is resolve-review's validator: a change must be
// waiting for review, and the decision needs an actor.
func (w *referralWorkflow) validateResolveReview(ctx workflow.Context, d ReviewDecision) error {
	if w.state.PendingReview == nil {
		return fmt.Errorf("nothing is waiting for review on this referral")
	}
	if d.Actor == "" {
		return fmt.Errorf("a decision needs an actor (who decided)")
	}
	return nil
}

// resolveReview applies (accept) or drops (reject) the change held for
// review, and takes the referral out of review; a referral the fraud checks
// held goes on or is denied (resolveFraudReview).
func (w *referralWorkflow) resolveReview(ctx workflow.Context, d ReviewDecision) (ReferralState, error) {
	held := w.state.PendingReview
	if held == nil { // resolved by a concurrent decision
		return w.state, nil
	}
	w.state.PendingReview = nil
	key := "review:" + workflow.GetCurrentUpdateInfo(ctx).ID
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	decision := "rejected"
	if d.Accept {
		decision = "accepted"
	}
	if err := workflow.ExecuteLocalActivity(actx, acts.CloseReferralReview, w.state.ReferralID, decision, d.Actor).Get(ctx, nil); err != nil {
		return w.state, err
	}
	if len(held.Fraud) > 0 {
		return w.resolveFraudReview(ctx, held, d, key)
	}
	if !d.Accept {
		ev := activities.ReferralEvent{ReferralID: w.state.ReferralID, Kind: referral.EventReviewRejected, Actor: d.Actor, Details: held.Cause, IdempotencyKey: key}
		return w.state, workflow.ExecuteLocalActivity(actx, acts.RecordReferralEvent, ev).Get(ctx, nil)
	}
	return w.apply(ctx, SetStatusRequest{Status: held.To, Actor: d.Actor}, key, held.Cause)
}
