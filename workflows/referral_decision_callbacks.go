package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/referral"
)

// HubSpot workflows can wait for a referral's decision (the "Wait for
// referral decision" workflow action, answered BLOCK and stored against the
// referral). When the referral is approved or denied, its workflow completes
// them through HubSpot's callback API with the decision. Like sending the
// lead, the step never fails the workflow: when HubSpot is down or the
// connection broken it waits, says why (referral_waiting.go), and runs again
// on its timer, on retry-waiting or an admin's retry-now.

// decisionCallbacksChange versions completing HubSpot's decision callbacks:
// runs decided before it replay as they ran.
const decisionCallbacksChange = "complete-decision-callbacks"

// decided marks the decision callbacks due when the referral was approved or
// denied.
func (w *referralWorkflow) decided(ctx workflow.Context, status referral.Status) {
	if status != referral.Approved && status != referral.Denied {
		return
	}
	if workflow.GetVersion(ctx, decisionCallbacksChange, workflow.DefaultVersion, 1) == 1 {
		w.state.DecisionCallbacks = status
	}
}

// completeDecisionCallbacksIfDue tells HubSpot workflows waiting for the
// referral's decision what it is, when one is due. One step waits at a time:
// while another waits (a reward's fulfilment endpoint down), this one
// follows it.
func (w *referralWorkflow) completeDecisionCallbacksIfDue(ctx workflow.Context) error {
	decision := w.state.DecisionCallbacks
	if decision == "" || (w.state.Waiting != nil && !w.waitingOn(referral.WaitCompleteDecisionCallbacks)) {
		return nil
	}
	if w.waitingOn(referral.WaitCompleteDecisionCallbacks) {
		if g := w.giveUp; g != nil {
			w.state.DecisionCallbacks = ""
			if err := w.recordWait(ctx, referral.EventDecisionCallbacksNotCompleted, g.Actor, map[string]any{"given_up": true, "reason": g.Reason, "decision": decision}); err != nil {
				return err
			}
			defer w.gaveUp()
			return w.endWait(ctx)
		}
		if !w.stepDue(ctx, referral.WaitCompleteDecisionCallbacks) {
			return nil
		}
	}
	w.retryNow = false

	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	var blocked int
	if err := workflow.ExecuteLocalActivity(actx, acts.CountDecisionCallbacks, w.state.ReferralID).Get(ctx, &blocked); err != nil {
		return err
	}
	if blocked > 0 {
		opts := referralHubSpotActivityOptions
		opts.TaskQueue = w.hubSpotTaskQueue
		var res activities.CallbacksCompleted
		in := activities.DecisionCallbacks{ReferralID: w.state.ReferralID, Decision: string(decision)}
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), hubspotActs.CompleteDecisionCallbacks, in).Get(ctx, &res); err != nil {
			return w.wait(ctx, referral.WaitCompleteDecisionCallbacks, "", err)
		}
		ev := activities.ReferralEvent{
			ReferralID: w.state.ReferralID, Kind: referral.EventDecisionCallbacksCompleted, Actor: "system",
			Details:        map[string]any{"decision": string(decision), "completed": res.Completed, "expired": res.Expired},
			IdempotencyKey: fmt.Sprintf("decision_callbacks:%s:%d", w.state.ReferralID, w.state.Transitions),
		}
		if err := workflow.ExecuteLocalActivity(actx, acts.RecordReferralEvent, ev).Get(ctx, nil); err != nil {
			return err
		}
	}
	// A decision that changed meanwhile (approved, then denied) is due again.
	if w.state.DecisionCallbacks == decision {
		w.state.DecisionCallbacks = ""
	}
	return w.endWait(ctx)
}
