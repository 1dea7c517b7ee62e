package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/email"
)

// memberEmailActivityOptions fit SendMemberEmail: one SMTP conversation
// (at most 30 s), five attempts a second to 8 s apart; then the workflow
// waits on its own timer, saying why.
var memberEmailActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: time.Minute,
	HeartbeatTimeout:    activityHeartbeatTimeout,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        8 * time.Second,
		MaximumAttempts:        5,
		NonRetryableErrorTypes: []string{"InvalidInput"},
	},
}

// MemberEmailWorkflow sends one email (see member_email.go).
func MemberEmailWorkflow(ctx workflow.Context, in MemberEmailInput) (MemberEmailState, error) {
	w := &memberEmailWorkflow{state: MemberEmailState{EmailID: in.EmailID}}
	if err := workflow.SetQueryHandler(ctx, QueryMemberEmailState, func() (MemberEmailState, error) { return w.state, nil }); err != nil {
		return w.state, err
	}
	workflow.Go(ctx, w.receiveRetries)
	actx := workflow.WithActivityOptions(ctx, memberEmailActivityOptions)
	start := workflow.Now(ctx)
	for {
		var res activities.SendEmailResult
		err := workflow.ExecuteActivity(actx, acts.SendMemberEmail, in.EmailID).Get(ctx, &res)
		if err == nil {
			w.state.Status, w.state.Reason, w.state.Waiting = res.Status, res.Reason, nil
			workflow.SetCurrentDetails(ctx, "")
			return w.state, nil
		}
		if temporal.IsCanceledError(err) {
			return w.state, err
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.NonRetryable() {
			// Nothing to send (a malformed ID): end, saying why.
			w.state.Status, w.state.Reason = email.Failed, appErr.Message()
			return w.state, nil
		}
		w.wait(ctx, err)
		if w.state.Waiting.NextAttempt.Sub(start) > MaxEmailWait {
			reason := fmt.Sprintf("given up after %d tries over %s: %s", w.state.Waiting.Attempts, MaxEmailWait, w.state.Waiting.Reason)
			lctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
			if err := workflow.ExecuteLocalActivity(lctx, acts.GiveUpMemberEmail, activities.GiveUpEmailInput{EmailID: in.EmailID, Reason: reason}).Get(ctx, nil); err != nil {
				return w.state, err
			}
			w.state.Status, w.state.Reason, w.state.Waiting = email.Failed, reason, nil
			return w.state, nil
		}
		lctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
		if err := workflow.ExecuteLocalActivity(lctx, acts.SetMemberEmailWaiting, activities.MemberEmailWaiting{EmailID: in.EmailID, NextAttempt: w.state.Waiting.NextAttempt}).Get(ctx, nil); err != nil {
			return w.state, err
		}
		if _, err := workflow.AwaitWithTimeout(ctx, w.state.Waiting.NextAttempt.Sub(workflow.Now(ctx)), func() bool { return w.retryNow }); err != nil {
			return w.state, err
		}
		w.retryNow = false
	}
}

type memberEmailWorkflow struct {
	state    MemberEmailState
	retryNow bool
}

// wait records why the email's try failed and when it runs again.
func (w *memberEmailWorkflow) wait(ctx workflow.Context, err error) {
	w.retryNow = false
	cause, reason := waitCause(err)
	now := workflow.Now(ctx)
	wt := w.state.Waiting
	if wt == nil {
		wt = &EmailWaiting{Since: now}
		w.state.Waiting = wt
	}
	wt.Attempts++
	wt.Cause, wt.Reason = cause, reason
	wt.NextAttempt = now.Add(retryAfter(wt.Attempts))
	workflow.GetLogger(ctx).Error("an email to a member could not be sent; it waits and tries again",
		"email_id", w.state.EmailID, "cause", cause, "attempts", wt.Attempts, "next_attempt", wt.NextAttempt)
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**Waiting** (%s, try %d): %s\n\nNext try %s, or at once on the retry-waiting signal.",
		cause, wt.Attempts, reason, wt.NextAttempt.Format("2006-01-02 15:04:05 MST")))
}

// receiveRetries turns retry-waiting signals into a try now.
func (w *memberEmailWorkflow) receiveRetries(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalRetryWaiting)
	for {
		var req RetryRequest
		ch.Receive(ctx, &req)
		if w.state.Waiting != nil {
			w.retryNow = true
		}
	}
}

// memberEmailsChange versions the emails the referral workflow asks for
// (approved, reward earned): runs from before them replay as they ran, and
// send none.
const memberEmailsChange = "member-emails"

// emailMemberOf asks for the email of a referral's event, in runs that
// have emails (memberEmailsChange).
func (w *referralWorkflow) emailMemberOf(ctx workflow.Context, kind email.Kind, subjectID string) error {
	if workflow.GetVersion(ctx, memberEmailsChange, workflow.DefaultVersion, 1) != 1 {
		return nil
	}
	return emailMember(ctx, activities.QueueEmailInput{Kind: kind, SubjectID: subjectID, Actor: "system"})
}

// emailMember queues the email of an event and starts its workflow as an
// abandoned child: the email goes on, retrying as long as it must, whatever
// becomes of the workflow that asked. It waits only for the child to start.
// Nothing to send (no SMTP server, the email off, the member unsubscribed)
// is no error, and neither is a child already started: an event sends once.
func emailMember(ctx workflow.Context, in activities.QueueEmailInput) error {
	lctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	var q activities.QueueEmailResult
	if err := workflow.ExecuteLocalActivity(lctx, acts.QueueMemberEmail, in).Get(ctx, &q); err != nil {
		return err
	}
	if !q.Queued {
		return nil
	}
	child := MemberEmailInput{EmailID: q.EmailID, Kind: in.Kind, SubjectID: in.SubjectID}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            MemberEmailWorkflowID(in.Kind, in.SubjectID),
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:         memberEmailSummary(child),
	})
	err := workflow.ExecuteChildWorkflow(cctx, MemberEmailWorkflowType, child).GetChildWorkflowExecution().Get(ctx, nil)
	if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		return nil
	}
	return err
}
