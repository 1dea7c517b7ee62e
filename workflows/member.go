package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/internal/referral"
)

// The member workflow's contract: everything another process needs to start
// a member's workflow and talk to it. MemberWorkflow itself is in
// member_workflow.go.
//
// A member's workflow (member/<id>) runs once a member joins and takes them
// through their steps, in order (member_workflow.go, memberWorkflow.steps):
//
//  1. send_to_hubspot: their contact is created or updated, or a deal
//     created, per the campaign's settings.referrers
//     (activities.SendMemberToHubSpot);
//  2. write_back: their referral code, link and counts are written to their
//     contact (activities.WriteMemberToHubSpot).
//
// A step that needs the outside world never fails the workflow: while
// HubSpot is down or not connected, or the referrers mapping is incomplete
// ("campaign setup required"), the step waits on a durable timer backing off
// from a minute to six hours, saying why (members.waiting_*, shown in the
// member view; MemberState.Waiting, the state query, the Web UI's current
// details; an ERROR log line with the member's ID), and runs again at once on
// the retry-waiting signal, which the API sends to a campaign's waiting
// members when its settings are saved and to a workspace's when HubSpot is
// connected. The workflow ends when the last step is done.
//
// How a member gets their workflow. Every way in adds the member through
// activities.AddMember (or AddMembers), which leaves
// members.workflow_started_at empty; the workflow sets it on its first step.
// The admin API and the join page then call StartMemberWorkflow at once; a
// CSV import does not, and the worker's reconciler starts, every minute, the
// workflow of every member whose workflow_started_at is still empty and who
// was added more than 30 seconds ago (a lost start, Temporal unreachable, an
// import's members).
//
// How a way in opts out. A way in that writes its members back to HubSpot
// itself — the contact sync, whose members already have their contact and
// whose runs write the links back in batches of 100 — must not get a
// workflow per member. Its members are added with workflow_started_at set:
// AddMembers does it for every source whose
// referral.MemberSource.WritesBackItself is true (today MemberSourceSync),
// so the reconciler never starts them. A new way in of that kind adds its
// source there; it must not call StartMemberWorkflow.

// MemberWorkflowID is the workflow ID of a member's workflow: one per
// member, and the key that makes starting it idempotent.
func MemberWorkflowID(memberID string) string { return "member/" + memberID }

// StartMemberWorkflow starts a member's workflow, or finds the run already
// under way (no error): the admin API and the join page call it after
// activities.AddMember; the reconciler for the rest. A run that already ended
// is not started again: that is a *serviceerror.WorkflowExecutionAlreadyStarted
// (wrapped), which the API ignores and the reconciler acts on.
func StartMemberWorkflow(ctx context.Context, c client.Client, taskQueue, hubSpotTaskQueue, memberID string) error {
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       MemberWorkflowID(memberID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:            "Member " + memberID,
	}, MemberWorkflow, MemberInput{MemberID: memberID, HubSpotTaskQueue: hubSpotTaskQueue})
	if err != nil {
		return fmt.Errorf("start workflow of member %s: %w", memberID, err)
	}
	return nil
}

// MemberInput starts a member's workflow.
type MemberInput struct {
	MemberID string
	// HubSpotTaskQueue is where HubSpot activities run (default
	// HubSpotTaskQueue; tests use their own).
	HubSpotTaskQueue string `json:",omitempty"`
}

// MemberState is what a member's workflow knows; the state query returns
// it and the workflow returns it when done.
type MemberState struct {
	MemberID string
	// ContactID and DealID are the member's HubSpot records, once sent.
	ContactID string `json:",omitempty"`
	DealID    string `json:",omitempty"`
	// Skipped says why nothing was sent to HubSpot (referrers action none,
	// campaign archived); nothing is written back then.
	Skipped string `json:",omitempty"`
	// StepsDone lists the steps done, in order.
	StepsDone []referral.MemberWaitStep `json:",omitempty"`
	// Done is set when every step is done: the workflow ends.
	Done bool `json:",omitempty"`
	// Waiting says what waits and why, while a step does.
	Waiting *MemberWaiting `json:",omitempty"`
}

// MemberWaiting is why a member's step waits, and when it runs again.
type MemberWaiting struct {
	Step referral.MemberWaitStep
	// Cause is the failing activity's error type (e.g.
	// HubSpotConnectionBroken, CampaignSetupRequired) and Reason its message.
	Cause, Reason string
	Attempts      int
	Since         time.Time
	NextAttempt   time.Time
}

// QueryMemberState is the query answering a member workflow's MemberState.
const QueryMemberState = "state"

// SignalRetryWaitingMember signals a member's workflow to run its waiting
// step again now (SignalRetryWaiting with a RetryRequest, as referrals get
// it). A member whose workflow has ended is not an error.
func SignalRetryWaitingMember(ctx context.Context, c client.Client, memberID, cause string) error {
	err := c.SignalWorkflow(ctx, MemberWorkflowID(memberID), "", SignalRetryWaiting, RetryRequest{Cause: cause})
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("signal member %s to retry: %w", memberID, err)
	}
	return nil
}
