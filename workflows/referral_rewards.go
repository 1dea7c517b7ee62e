package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/reward"
)

// rewardStatus is the status that earns the campaign's rewards.
func (w *referralWorkflow) rewardStatus() referral.Status {
	if s := w.rules.Rewards.OnStatus; s != "" {
		return s
	}
	return referral.Approved
}

func (w *referralWorkflow) hasRewardSettings() bool {
	return w.rules.Rewards.Member != nil || w.rules.Rewards.Friend != nil
}

// holding tells whether rewards are created and waiting for their hold to
// end.
func (w *referralWorkflow) holding() bool {
	return w.pendingRewards() > 0 && !w.state.HoldUntil.IsZero()
}

func (w *referralWorkflow) pendingRewards() int {
	n := 0
	for _, r := range w.state.Rewards {
		if r.Status == reward.Pending {
			n++
		}
	}
	return n
}

// rewardPaid marks, in the workflow's copy, an issued reward an admin marked
// paid (the database keeps it issued with paid_at set).
const rewardPaid = "paid"

func (w *referralWorkflow) anyIssued() bool {
	for _, r := range w.state.Rewards {
		if r.Status == reward.Issued || r.Status == rewardPaid {
			return true
		}
	}
	return false
}

func (w *referralWorkflow) anyUnpaid() bool {
	for _, r := range w.state.Rewards {
		if r.Status == reward.Issued {
			return true
		}
	}
	return false
}

// newConversion tells whether a change that matches the reward status again
// starts another conversion: with every-conversion rewards, each HubSpot
// object (a new won deal) converts once; and a conversion whose rewards were
// all cancelled during the hold may convert again. conversionDue is whether a
// conversion is already due (w.conversionDue, or about to be).
func (w *referralWorkflow) newConversion(c HubSpotChange, conversionDue bool) bool {
	if !w.hasRewardSettings() || w.holding() || conversionDue {
		return false
	}
	rewarded := false
	for _, r := range w.state.Rewards {
		if r.Status != reward.Cancelled {
			rewarded = true
		}
	}
	if !rewarded {
		return true
	}
	return w.rules.Rewards.EveryConversion && !slices.Contains(w.state.ConvertedObjects, c.ObjectID)
}

// leavesRewardedState tells whether a change takes the referral's object out
// of the values that earned the held rewards (a deal leaving closedwon).
func (w *referralWorkflow) leavesRewardedState(c HubSpotChange) bool {
	rule := w.rules.StatusRules.Approved
	if w.rewardStatus() == referral.Qualified {
		rule = w.rules.StatusRules.Qualified
	}
	return rule != nil && rule.Object == c.ObjectType && rule.Property == c.Property && !slices.Contains(rule.Values, c.Value)
}

// settleRewards creates the rewards of a due conversion and issues held
// rewards whose hold has ended.
func (w *referralWorkflow) settleRewards(ctx workflow.Context) error {
	if w.conversionDue {
		w.conversionDue = false
		if err := w.createRewards(ctx); err != nil {
			return err
		}
	}
	if w.waitingOn(referral.WaitIssueReward) {
		// The reward waited on may have been cancelled meanwhile.
		if r := w.reward(w.state.Waiting.RewardID); r == nil || r.Status != reward.Pending {
			if err := w.endWait(ctx); err != nil {
				return err
			}
		}
	}
	if w.pendingRewards() > 0 && !workflow.Now(ctx).Before(w.state.HoldUntil) {
		return w.issueRewards(ctx)
	}
	return nil
}

func (w *referralWorkflow) createRewards(ctx workflow.Context) error {
	if !w.hasRewardSettings() {
		return nil
	}
	w.state.Conversions++
	if w.conversionObject != 0 {
		w.state.ConvertedObjects = append(w.state.ConvertedObjects, w.conversionObject)
	}
	hold := time.Duration(w.rules.Rewards.HoldDays) * 24 * time.Hour
	w.state.HoldUntil = workflow.Now(ctx).Add(hold)
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	var refs []activities.RewardRef
	err := workflow.ExecuteLocalActivity(actx, acts.CreateRewards, activities.CreateRewardsInput{
		ReferralID: w.state.ReferralID, Conversion: w.state.Conversions, HoldUntil: w.state.HoldUntil,
	}).Get(ctx, &refs)
	var appErr *temporal.ApplicationError
	if err != nil && asApplicationError(err, &appErr) && appErr.Type() == activities.ErrTypeNoSaleValue {
		// A percentage reward needs the sale value: record why nothing was
		// created, and create it when HubSpot reports the value.
		w.state.WaitingForSaleValue = true
		w.state.HoldUntil = time.Time{}
		ev := activities.ReferralEvent{ReferralID: w.state.ReferralID, Kind: referral.EventRewardWaiting, Actor: "system",
			Details:        map[string]any{"reason": appErr.Message(), "conversion": w.state.Conversions},
			IdempotencyKey: fmt.Sprintf("reward_waiting:%s:%d", w.state.ReferralID, w.state.Conversions)}
		w.state.Conversions--
		if n := len(w.state.ConvertedObjects); w.conversionObject != 0 && n > 0 {
			w.state.ConvertedObjects = w.state.ConvertedObjects[:n-1]
		}
		return workflow.ExecuteLocalActivity(actx, acts.RecordReferralEvent, ev).Get(ctx, nil)
	}
	if err != nil {
		return err
	}
	w.state.Rewards = append(w.state.Rewards, refs...)
	return w.publish(ctx)
}

// issueRewards issues every pending reward exactly once (the activity is
// idempotent; the database's key makes a second issue impossible). A reward
// that cannot be issued or announced waits (referral_waiting.go) and the
// rest wait behind it; an admin's give-up marks it failed.
func (w *referralWorkflow) issueRewards(ctx workflow.Context) error {
	if w.waitingOn(referral.WaitIssueReward) {
		if g := w.giveUp; g != nil {
			id := w.state.Waiting.RewardID
			actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
			if err := workflow.ExecuteLocalActivity(actx, acts.FailReward, activities.FailRewardInput{RewardID: id, Reason: g.Reason, Actor: g.Actor}).Get(ctx, nil); err != nil {
				return err
			}
			if r := w.reward(id); r != nil {
				r.Status = reward.Failed
			}
			if err := w.endWait(ctx); err != nil {
				return err
			}
			w.gaveUp()
		} else if !w.stepDue(ctx, referral.WaitIssueReward) {
			return nil
		}
		w.retryNow = false
	}
	actx := workflow.WithActivityOptions(ctx, issueRewardActivityOptions)
	local := workflow.GetVersion(ctx, issueRewardLocallyChange, workflow.DefaultVersion, 1) == 1
	for i := range w.state.Rewards {
		r := &w.state.Rewards[i]
		if r.Status != reward.Pending {
			continue
		}
		var res activities.IssueRewardResult
		var err error
		if local {
			// First in this worker, as a local activity: no round trip
			// through the server when the endpoint answers, which is most
			// of the time. An endpoint that fails gets the regular
			// activity's long retries.
			lctx := workflow.WithLocalActivityOptions(ctx, issueRewardLocalActivityOptions)
			err = workflow.ExecuteLocalActivity(lctx, acts.IssueReward, r.ID).Get(ctx, &res)
		}
		var appErr *temporal.ApplicationError
		if !local || (err != nil && !(asApplicationError(err, &appErr) && appErr.NonRetryable()) && !temporal.IsCanceledError(err)) {
			err = workflow.ExecuteActivity(actx, acts.IssueReward, r.ID).Get(ctx, &res)
		}
		if err != nil && asApplicationError(err, &appErr) && appErr.Type() == activities.ErrTypeRewardCancelled {
			r.Status = reward.Cancelled
			continue
		}
		if err != nil {
			return w.wait(ctx, referral.WaitIssueReward, r.ID, err)
		}
		r.Status = reward.Issued
		if r.Recipient == reward.Member {
			if err := w.emailMemberOf(ctx, email.RewardEarned, r.ID); err != nil {
				return err
			}
		}
	}
	w.state.HoldUntil = time.Time{}
	if err := w.endWait(ctx); err != nil {
		return err
	}
	if err := w.writeMemberToHubSpot(ctx); err != nil {
		return err
	}
	return w.publish(ctx)
}

// writeMemberToHubSpot writes the member's new counts (and link) to their
// HubSpot contact. HubSpot being unreachable is retried; a workspace with no
// working connection, or a member without a contact, is recorded and does not
// stop the referral.
func (w *referralWorkflow) writeMemberToHubSpot(ctx workflow.Context) error {
	opts := referralHubSpotActivityOptions
	opts.TaskQueue = w.hubSpotTaskQueue
	var res activities.MemberWriteResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), hubspotActs.WriteMemberToHubSpot, w.rules.MemberID).Get(ctx, &res)
	details := map[string]any{"member_id": w.rules.MemberID, "contact_id": res.ContactID, "skipped": res.Skipped}
	kind := referral.EventMemberWritten
	switch {
	case err != nil && temporal.IsCanceledError(err):
		return err
	case err != nil:
		// Past its retries, or an error no retry fixes: the member's counts
		// are written with the next reward; the referral goes on.
		_, details["error"] = waitCause(err)
		kind = referral.EventMemberNotWritten
		workflow.GetLogger(ctx).Error("member not written to HubSpot", "referral_id", w.state.ReferralID, "member_id", w.rules.MemberID)
	case res.Skipped != "":
		kind = referral.EventMemberNotWritten
	}
	ev := activities.ReferralEvent{ReferralID: w.state.ReferralID, Kind: kind, Actor: "system", Details: details,
		IdempotencyKey: fmt.Sprintf("member_written:%s:%d", w.state.ReferralID, w.state.Conversions)}
	return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, databaseActivityOptions), acts.RecordReferralEvent, ev).Get(ctx, nil)
}

// cancelHeldRewards cancels the rewards still in their hold when the
// referral's object leaves the winning state.
func (w *referralWorkflow) cancelHeldRewards(ctx workflow.Context, c HubSpotChange, cause map[string]any) error {
	reason := heldRewardsCancelReason(c)
	if err := w.cancelPending(ctx, "", reason, "hubspot"); err != nil {
		return err
	}
	return w.recordChange(ctx, c, cause, "cancelled the rewards held: "+reason)
}

// heldRewardsCancelReason is why a change cancels the rewards held.
func heldRewardsCancelReason(c HubSpotChange) string {
	return fmt.Sprintf("HubSpot: %s %d %s changed to %s during the hold", c.ObjectType, c.ObjectID, c.Property, c.Value)
}

// cancelPending cancels one pending reward (rewardID) or all of them ("").
func (w *referralWorkflow) cancelPending(ctx workflow.Context, rewardID, reason, actor string) error {
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	for i := range w.state.Rewards {
		r := &w.state.Rewards[i]
		if r.Status != reward.Pending || (rewardID != "" && r.ID != rewardID) {
			continue
		}
		if err := workflow.ExecuteLocalActivity(actx, acts.CancelReward, activities.CancelRewardInput{RewardID: r.ID, Reason: reason, Actor: actor}).Get(ctx, nil); err != nil {
			return err
		}
		r.Status = reward.Cancelled
	}
	if w.pendingRewards() == 0 {
		w.state.HoldUntil = time.Time{}
	}
	return w.publish(ctx)
}

func (w *referralWorkflow) reward(id string) *activities.RewardRef {
	for i := range w.state.Rewards {
		if w.state.Rewards[i].ID == id {
			return &w.state.Rewards[i]
		}
	}
	return nil
}

func (w *referralWorkflow) validateCancelReward(ctx workflow.Context, d RewardDecision) error {
	r := w.reward(d.RewardID)
	switch {
	case r == nil:
		return fmt.Errorf("reward %q is not one of this referral's rewards", d.RewardID)
	case r.Status != reward.Pending:
		return fmt.Errorf("reward %s is %s: only a pending reward can be cancelled", d.RewardID, r.Status)
	case d.Reason == "":
		return fmt.Errorf("cancelling a reward needs a reason")
	case d.Actor == "":
		return fmt.Errorf("a decision needs an actor (who decided)")
	}
	return nil
}

func (w *referralWorkflow) cancelReward(ctx workflow.Context, d RewardDecision) (ReferralState, error) {
	if err := w.lock.Lock(ctx); err != nil {
		return w.state, err
	}
	defer w.lock.Unlock()
	return w.state, w.cancelPending(ctx, d.RewardID, d.Reason, d.Actor)
}

func (w *referralWorkflow) validateMarkRewardPaid(ctx workflow.Context, d RewardDecision) error {
	r := w.reward(d.RewardID)
	switch {
	case r == nil:
		return fmt.Errorf("reward %q is not one of this referral's rewards", d.RewardID)
	case r.Status != reward.Issued:
		return fmt.Errorf("reward %s is %s: only an issued reward can be marked paid", d.RewardID, r.Status)
	case d.Actor == "":
		return fmt.Errorf("a decision needs an actor (who decided)")
	}
	return nil
}

func (w *referralWorkflow) markRewardPaid(ctx workflow.Context, d RewardDecision) (ReferralState, error) {
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	if err := workflow.ExecuteLocalActivity(actx, acts.MarkRewardPaid, activities.MarkRewardPaidInput{RewardID: d.RewardID, Actor: d.Actor}).Get(ctx, nil); err != nil {
		return w.state, err
	}
	if r := w.reward(d.RewardID); r != nil {
		r.Status = rewardPaid
	}
	return w.state, w.publish(ctx)
}
