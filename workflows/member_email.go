package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/internal/email"
)

// An email to a member's workflow: it sends one queued email (a row of
// emails, activities.QueueEmail) through SendMemberEmail, retrying while
// the SMTP server is down, so an outage never holds up or fails the
// referral or member that asked for it. The referral workflow starts one as
// an abandoned child when a referral is approved and when a reward is issued
// to the member, the member workflow when a member joins, the admin API for
// an invite. Its ID is the email's key, so an event starts at most one.
//
// Within bounds: each try is an activity with five quick attempts (a
// second to about 15 s); after that the workflow waits on a durable timer
// backing off from a minute to six hours (retryAfter, as referrals wait),
// recording why in the email's row (emails.reason, next_attempt_at) and the
// Web UI's current details, and tries again at once on the retry-waiting
// signal. After MaxEmailWait it gives up: the email is failed, with why.
//
// This file is its contract; MemberEmailWorkflow itself is in
// member_email_workflow.go.

// MemberEmailWorkflowType is the registered name of MemberEmailWorkflow.
const MemberEmailWorkflowType = "MemberEmailWorkflow"

// MaxEmailWait is how long an email keeps trying: news of an approval or a
// reward older than this is better told by the member's portal.
const MaxEmailWait = 3 * 24 * time.Hour

// MemberEmailWorkflowID is the workflow ID of the email of kind about
// subject (the member, referral or reward).
func MemberEmailWorkflowID(kind email.Kind, subjectID string) string {
	return "member-email/" + string(kind) + "/" + subjectID
}

// MemberEmailInput starts an email's workflow.
type MemberEmailInput struct {
	EmailID   string
	Kind      email.Kind
	SubjectID string
}

// MemberEmailState is where an email's workflow stands (the state query's
// answer and the workflow's result).
type MemberEmailState struct {
	EmailID string
	// Status is the email's once settled (sent, skipped, failed, unknown).
	Status email.Status `json:",omitempty"`
	Reason string       `json:",omitempty"`
	// Waiting is why the email waits, while it does.
	Waiting *EmailWaiting `json:",omitempty"`
}

// EmailWaiting is why an email waits, and when it tries again.
type EmailWaiting struct {
	Cause, Reason string
	Attempts      int
	Since         time.Time
	NextAttempt   time.Time
}

// QueryMemberEmailState is the state query (→ MemberEmailState).
const QueryMemberEmailState = "state"

// memberEmailSummary is the Web UI's summary of an email's workflow.
func memberEmailSummary(in MemberEmailInput) string {
	return fmt.Sprintf("Email %s about %s", in.Kind, in.SubjectID)
}

// StartMemberEmailWorkflow starts an email's workflow (the admin API's
// invites); one already started or ended is no error.
func StartMemberEmailWorkflow(ctx context.Context, c client.Client, taskQueue string, in MemberEmailInput) error {
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    MemberEmailWorkflowID(in.Kind, in.SubjectID),
		TaskQueue:             taskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:         memberEmailSummary(in),
	}, MemberEmailWorkflowType, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("start the workflow of email %s: %w", in.EmailID, err)
	}
	return nil
}
