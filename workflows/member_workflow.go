package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/internal/referral"
)

// MemberWorkflow takes a member who joined through their steps (see
// member.go): it marks the member's workflow started, then runs each step
// until it succeeds, waiting between failures on a durable timer or until
// the retry-waiting signal, and saying why it waits.
func MemberWorkflow(ctx workflow.Context, in MemberInput) (MemberState, error) {
	w := &memberWorkflow{}
	if err := w.setup(ctx, in); err != nil {
		return w.state, err
	}
	return w.run(ctx)
}

type memberWorkflow struct {
	in    MemberInput
	state MemberState
	// retryNow is set by the retry-waiting signal while a step waits.
	retryNow bool
	// skipSend says why the member is not sent while their code and link
	// are written back to the contact they already have.
	skipSend string
}

// memberStep is one step of a member's workflow: run does its work (an
// activity) and records what it learnt in the state; an error from it makes
// the step wait and run again.
type memberStep struct {
	name referral.MemberWaitStep
	run  func(ctx workflow.Context) error
}

// steps are the member's steps, in order. A new step goes at the end, named
// in referral.MemberWaitSteps: runs that are waiting on an earlier step
// replay as they ran and meet it afterwards. A step inserted before others
// needs workflow.GetVersion (as the welcome email, asked before the steps,
// has: it is no step, its own workflow does the waiting).
func (w *memberWorkflow) steps() []memberStep {
	return []memberStep{
		{referral.MemberWaitSendToHubSpot, w.sendToHubSpot},
		{referral.MemberWaitWriteBack, w.writeBack},
		{referral.MemberWaitLabelReferrals, w.labelReferrals},
	}
}

// labelReferralsChange versions the label_referrals step: runs that ended
// before it replay as they ran.
const labelReferralsChange = "member-label-referrals"

// labelReferrals labels who referred whom on the member's referrals whose
// leads reached HubSpot before the member had a contact (association labels
// Referrer / Referred, Referred by), once they have one.
func (w *memberWorkflow) labelReferrals(ctx workflow.Context) error {
	if workflow.GetVersion(ctx, labelReferralsChange, workflow.DefaultVersion, 1) != 1 {
		return nil
	}
	if w.state.Skipped != "" || w.state.ContactID == "" {
		return nil
	}
	var res activities.MemberLabelsResult
	return workflow.ExecuteActivity(w.hubSpotContext(ctx), hubspotActs.LabelMemberReferralsInHubSpot, w.in.MemberID).Get(ctx, &res)
}

func (w *memberWorkflow) setup(ctx workflow.Context, in MemberInput) error {
	if in.MemberID == "" {
		return temporal.NewNonRetryableApplicationError("member workflow started without a member ID", "InvalidInput", nil)
	}
	if in.HubSpotTaskQueue == "" {
		in.HubSpotTaskQueue = HubSpotTaskQueue
	}
	w.in, w.state = in, MemberState{MemberID: in.MemberID}
	if err := workflow.SetQueryHandler(ctx, QueryMemberState, func() (MemberState, error) { return w.state, nil }); err != nil {
		return fmt.Errorf("register state query: %w", err)
	}
	workflow.Go(ctx, w.receiveRetries)
	return nil
}

// welcomeEmailChange versions the welcome email of a member's workflow.
const welcomeEmailChange = "welcome-email"

func (w *memberWorkflow) run(ctx workflow.Context) (MemberState, error) {
	lctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	var started activities.MemberStarted
	if err := workflow.ExecuteLocalActivity(lctx, acts.MarkMemberWorkflowStarted, w.in.MemberID).Get(ctx, &started); err != nil {
		return w.state, err
	}
	w.state.Skipped, w.skipSend = started.SkipHubSpot, started.SkipSend
	// The welcome email goes first: HubSpot's steps below may wait for
	// hours. It is only queued here; its own workflow sends it and waits out
	// the SMTP server (member_email.go). Runs from before it replay without.
	if workflow.GetVersion(ctx, welcomeEmailChange, workflow.DefaultVersion, 1) == 1 {
		if err := emailMember(ctx, activities.QueueEmailInput{Kind: email.Welcome, SubjectID: w.in.MemberID, Actor: "system"}); err != nil {
			return w.state, err
		}
	}
	for _, step := range w.steps() {
		if err := w.untilDone(ctx, step); err != nil {
			return w.state, err
		}
		w.state.StepsDone = append(w.state.StepsDone, step.name)
	}
	w.state.Done = true
	return w.state, nil
}

// hubSpotContext runs a step's activity on the HubSpot task queue, with a
// referral's bounded retries: past them the step waits in the workflow.
func (w *memberWorkflow) hubSpotContext(ctx workflow.Context) workflow.Context {
	opts := referralHubSpotActivityOptions
	opts.TaskQueue = w.in.HubSpotTaskQueue
	return workflow.WithActivityOptions(ctx, opts)
}

// sendToHubSpot creates or updates the member's contact, or creates their
// deal, per the campaign's referrers settings, unless the campaign sends
// nothing.
func (w *memberWorkflow) sendToHubSpot(ctx workflow.Context) error {
	if w.state.Skipped != "" || w.skipSend != "" {
		return nil
	}
	var res activities.ReferrerResult
	if err := workflow.ExecuteActivity(w.hubSpotContext(ctx), hubspotActs.SendMemberToHubSpot, w.in.MemberID).Get(ctx, &res); err != nil {
		return err
	}
	w.state.ContactID, w.state.DealID, w.state.Skipped = res.ContactID, res.DealID, res.Skipped
	return nil
}

// writeBack writes the member's referral code, link and counts to their
// contact, unless nothing was sent.
func (w *memberWorkflow) writeBack(ctx workflow.Context) error {
	if w.state.Skipped != "" {
		return nil
	}
	var res activities.MemberWriteResult
	if err := workflow.ExecuteActivity(w.hubSpotContext(ctx), hubspotActs.WriteMemberToHubSpot, w.in.MemberID).Get(ctx, &res); err != nil {
		return err
	}
	if res.ContactID != "" {
		w.state.ContactID = res.ContactID
	}
	return nil
}

// untilDone runs step until it succeeds. After each failure it records why
// the step waits and waits for its timer (retryAfter: a minute doubling to
// six hours) or the retry-waiting signal; once it succeeds after waiting,
// the wait is cleared.
func (w *memberWorkflow) untilDone(ctx workflow.Context, step memberStep) error {
	for {
		err := step.run(ctx)
		if err == nil {
			return w.endWait(ctx)
		}
		if temporal.IsCanceledError(err) {
			return err
		}
		if err := w.wait(ctx, step.name, err); err != nil {
			return err
		}
		next := w.state.Waiting.NextAttempt.Sub(workflow.Now(ctx))
		if _, err := workflow.AwaitWithTimeout(ctx, next, func() bool { return w.retryNow }); err != nil {
			return err
		}
	}
}

// wait records that step failed with err: in the state, on the member's row
// when the step or its cause changed, and in an ERROR log line with the
// member's ID (never the reason, which may quote HubSpot's message about the
// member's data).
func (w *memberWorkflow) wait(ctx workflow.Context, step referral.MemberWaitStep, err error) error {
	w.retryNow = false
	cause, reason := waitCause(err)
	now := workflow.Now(ctx)
	wt := w.state.Waiting
	changed := wt == nil || wt.Step != step || wt.Cause != cause || wt.Reason != reason
	if wt == nil || wt.Step != step {
		wt = &MemberWaiting{Step: step, Since: now}
		w.state.Waiting = wt
	}
	wt.Attempts++
	wt.Cause, wt.Reason = cause, reason
	wt.NextAttempt = now.Add(retryAfter(wt.Attempts))
	workflow.GetLogger(ctx).Error("member step failed; it waits and runs again",
		"member_id", w.state.MemberID, "step", string(step), "cause", cause, "attempts", wt.Attempts, "next_attempt", wt.NextAttempt)
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**Waiting** on %s (%s, attempt %d): %s\n\nNext attempt %s, or at once on the retry-waiting signal.",
		step, cause, wt.Attempts, reason, wt.NextAttempt.Format("2006-01-02 15:04:05 MST")))
	if !changed {
		return nil
	}
	return w.saveWaiting(ctx)
}

// endWait records that the member waits on nothing any more.
func (w *memberWorkflow) endWait(ctx workflow.Context) error {
	if w.state.Waiting == nil {
		return nil
	}
	w.state.Waiting, w.retryNow = nil, false
	workflow.SetCurrentDetails(ctx, "")
	return w.saveWaiting(ctx)
}

// saveWaiting writes MemberState.Waiting to the member's row.
func (w *memberWorkflow) saveWaiting(ctx workflow.Context) error {
	in := activities.MemberWaiting{MemberID: w.state.MemberID}
	if wt := w.state.Waiting; wt != nil {
		in.Step, in.Cause, in.Reason = wt.Step, wt.Cause, wt.Reason
	}
	lctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	return workflow.ExecuteLocalActivity(lctx, acts.SetMemberWaiting, in).Get(ctx, nil)
}

// receiveRetries turns retry-waiting signals into an attempt now; a member
// that waits on nothing ignores them.
func (w *memberWorkflow) receiveRetries(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalRetryWaiting)
	for {
		var req RetryRequest
		ch.Receive(ctx, &req)
		if w.state.Waiting != nil {
			w.retryNow = true
		}
	}
}
