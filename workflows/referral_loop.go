package workflows

import (
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/internal/referral"
)

// listen applies HubSpot changes until the referral's life is over,
// continuing as new when the history grows long.
func (w *referralWorkflow) listen(ctx workflow.Context) (ReferralState, error) {
	for {
		if err := w.sendLeadIfDue(ctx); err != nil {
			return w.state, err
		}
		if err := w.completeDecisionCallbacksIfDue(ctx); err != nil {
			return w.state, err
		}
		if err := w.settleRewards(ctx); err != nil {
			return w.state, err
		}
		if w.giveUp != nil && w.state.Waiting == nil {
			w.gaveUp() // the step succeeded or ended before the admin's give-up reached it
		}
		// While the fraud checks hold the referral for review, HubSpot
		// changes wait in their channel (applied once an admin decides) and
		// the run does not continue as new (it would have to drain them).
		held := w.fraudHeld
		wake := func() bool {
			return (w.changes.Len() > 0 && !held()) || w.conversionDue || w.fraudCleared ||
				(w.state.DecisionCallbacks != "" && w.state.Waiting == nil) ||
				(w.finished() && workflow.AllHandlersFinished(ctx)) ||
				(workflow.GetInfo(ctx).GetContinueAsNewSuggested() && !held()) ||
				(w.state.Waiting != nil && (w.retryNow || w.giveUp != nil))
		}
		if deadline, ok := w.nextDeadline(); ok {
			d := deadline.Sub(workflow.Now(ctx))
			if w.state.Waiting != nil {
				d = max(d, time.Second) // a step due now has just run: never spin
			}
			if _, err := workflow.AwaitWithTimeout(ctx, d, wake); err != nil {
				return w.state, err
			}
		} else if err := workflow.Await(ctx, wake); err != nil {
			return w.state, err
		}
		if w.expiring() && !workflow.Now(ctx).Before(w.rules.ExpiresAt) {
			reason := fmt.Sprintf("expired: still pending %s after it was added", w.rules.ExpiresAt.Format("2006-01-02"))
			if _, err := w.apply(ctx, SetStatusRequest{Status: referral.Denied, Reason: reason, Actor: "system"}, "expired:"+w.state.ReferralID, nil); err != nil {
				return w.state, err
			}
		}
		w.fraudCleared = false
		if err := w.applyPending(ctx); err != nil {
			return w.state, err
		}
		if w.finished() && workflow.AllHandlersFinished(ctx) && w.changes.Len() == 0 && !w.conversionDue {
			return w.state, nil
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() && !w.conversionDue && !held() {
			return w.continueAsNew(ctx)
		}
	}
}

// nextDeadline is the next time the workflow must wake without a signal: the
// expiry of a pending referral, the end of a reward hold, or the next
// attempt of a waiting step.
func (w *referralWorkflow) nextDeadline() (time.Time, bool) {
	var next time.Time
	if w.expiring() {
		next = w.rules.ExpiresAt
	}
	if w.holding() && !w.waitingOn(referral.WaitIssueReward) && (next.IsZero() || w.state.HoldUntil.Before(next)) {
		next = w.state.HoldUntil
	}
	if wt := w.state.Waiting; wt != nil && (next.IsZero() || wt.NextAttempt.Before(next)) {
		next = wt.NextAttempt
	}
	return next, !next.IsZero()
}

// applyPending drains the signal channel and applies what arrived in
// occurredAt order: signals that came in together are sorted first, since
// HubSpot does not deliver in order.
func (w *referralWorkflow) applyPending(ctx workflow.Context) error {
	if w.fraudHeld() {
		return nil // applied once an admin decides
	}
	var batch []HubSpotChange
	for {
		var c HubSpotChange
		if !w.changes.ReceiveAsync(&c) {
			break
		}
		batch = append(batch, c)
	}
	sort.SliceStable(batch, func(i, j int) bool { return batch[i].OccurredAt.Before(batch[j].OccurredAt) })
	for _, c := range batch {
		if err := w.applyChange(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// continueAsNew hands the state to a fresh run once no signal is waiting and
// no handler is running, so nothing is lost between the two runs.
func (w *referralWorkflow) continueAsNew(ctx workflow.Context) (ReferralState, error) {
	for {
		if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
			return w.state, err
		}
		if err := w.applyPending(ctx); err != nil {
			return w.state, err
		}
		if err := w.settleRewards(ctx); err != nil {
			return w.state, err
		}
		if w.changes.Len() == 0 && workflow.AllHandlersFinished(ctx) {
			break
		}
	}
	carried := &CarriedState{State: w.state, SeenKeys: w.seen.Keys, LastApplied: w.lastApplied}
	return w.state, workflow.NewContinueAsNewError(ctx, ReferralWorkflow, ReferralInput{ReferralID: w.state.ReferralID, HubSpotTaskQueue: w.hubSpotTaskQueue, Carried: carried})
}

// maxSeenKeys bounds the dedupe memory. HubSpot redelivers within about a
// day; a referral sees few changes a day, so the last 2,000 cover it.
const maxSeenKeys = 2000

// dedupeSet remembers the last dedupe keys in arrival order.
type dedupeSet struct {
	Keys  []string
	index map[string]bool
}

func (d *dedupeSet) addNew(key string) bool {
	if d.index == nil {
		d.index = make(map[string]bool, len(d.Keys))
		for _, k := range d.Keys {
			d.index[k] = true
		}
	}
	if d.index[key] {
		return false
	}
	d.index[key] = true
	d.Keys = append(d.Keys, key)
	if len(d.Keys) > maxSeenKeys {
		delete(d.index, d.Keys[0])
		d.Keys = d.Keys[1:]
	}
	return true
}

// expiring tells whether an expiry timer applies: the campaign expires
// referrals and this one is still pending (and not held by the fraud checks:
// an admin decides that one).
func (w *referralWorkflow) expiring() bool {
	return !w.rules.ExpiresAt.IsZero() && w.state.Status == referral.Pending && !w.fraudHeld()
}

// finished tells whether the referral's life is over: approved with its
// rewards issued and paid (a campaign rewarding every conversion keeps
// listening for the next), or denied for good by the fraud checks. A referral denied by a rule or an admin keeps
// listening: HubSpot may still move it, and the campaign may want a person to
// review that.
func (w *referralWorkflow) finished() bool {
	if w.state.FinalDenial {
		return w.state.DecisionCallbacks == ""
	}
	if w.leadDue || w.state.Waiting != nil || w.state.DecisionCallbacks != "" {
		return false
	}
	if w.state.Status != referral.Approved || w.conversionDue || w.pendingRewards() > 0 {
		return false
	}
	if !w.hasRewardSettings() {
		return true
	}
	// Rewards all cancelled (the deal fell back during the hold): the next
	// win converts again, so keep listening. Issued rewards wait for an
	// admin to mark them paid.
	return w.anyIssued() && !w.anyUnpaid() && !w.rules.Rewards.EveryConversion
}
