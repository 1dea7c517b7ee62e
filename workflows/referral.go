package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/personaldata"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/salesentry"
)

// The referral workflow's contract: everything another process needs to
// start a referral's workflow and talk to it. ReferralWorkflow itself and its
// code are in referral_workflow.go and the other referral_*.go files.

// ReferralWorkflowID is the workflow ID of a referral's life: one workflow per
// referral, readable in the Web UI, and the key that makes starting it
// idempotent.
func ReferralWorkflowID(referralID string) string { return "referral/" + referralID }

// StartReferralWorkflow starts a referral's life, or returns the run already
// under way: the workflow ID is derived from the referral, so adding the same
// referral twice (a retried request, two capture surfaces, the reconciler)
// never starts two workflows. A referral whose workflow has ended is not
// started again.
func StartReferralWorkflow(ctx context.Context, c client.Client, taskQueue, hubSpotTaskQueue, referralID string) (client.WorkflowRun, error) {
	return startReferralWorkflow(ctx, c, taskQueue, hubSpotTaskQueue, referralID, enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE)
}

// ResumeReferralWorkflow starts a new run for a referral whose last run
// failed, was terminated or timed out (referflow referrals resume); it
// carries on from what the database holds (status, lead IDs, rewards). A
// running workflow is returned as it is, and one that completed is not
// started again.
func ResumeReferralWorkflow(ctx context.Context, c client.Client, taskQueue, hubSpotTaskQueue, referralID string) (client.WorkflowRun, error) {
	return startReferralWorkflow(ctx, c, taskQueue, hubSpotTaskQueue, referralID, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY)
}

func startReferralWorkflow(ctx context.Context, c client.Client, taskQueue, hubSpotTaskQueue, referralID string, reuse enumspb.WorkflowIdReusePolicy) (client.WorkflowRun, error) {
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       ReferralWorkflowID(referralID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    reuse,
		StaticSummary:            "Referral " + referralID,
	}, ReferralWorkflow, ReferralInput{ReferralID: referralID, HubSpotTaskQueue: hubSpotTaskQueue})
	if err != nil {
		return nil, fmt.Errorf("start workflow of referral %s: %w", referralID, err)
	}
	return run, nil
}

// ReferralInput starts a referral's workflow. Carried is set only when the
// workflow continues as new: what it must not forget across runs.
type ReferralInput struct {
	ReferralID string
	// HubSpotTaskQueue is where HubSpot activities run (default
	// HubSpotTaskQueue; tests use their own).
	HubSpotTaskQueue string        `json:",omitempty"`
	Carried          *CarriedState `json:",omitempty"`
}

// CarriedState is what a referral's workflow hands to its next run when it
// continues as new, so no change is applied twice and no stale one wins.
type CarriedState struct {
	State       ReferralState
	SeenKeys    []string
	LastApplied map[string]time.Time
}

// ReferralState is what the workflow knows of its referral; the state query
// returns it and the workflow returns it when the referral's life ends.
type ReferralState struct {
	ReferralID   string
	CampaignID   string
	MemberCode   string
	LeadEmail    string `personal:""`
	Status       referral.Status
	DeniedReason string
	// Transitions counts status changes applied by this workflow.
	Transitions int
	// CannotQualify, when set, says why HubSpot changes can never qualify
	// this referral.
	CannotQualify string `json:",omitempty"`
	// FinalDenial is set when the referral was denied for good (fraud
	// checks): its workflow then ends.
	FinalDenial bool `json:",omitempty"`
	// PendingReview is a HubSpot change, or a new referral the fraud checks
	// hold, waiting for an admin's decision.
	PendingReview *PendingReview `json:",omitempty"`
	// Conversions counts conversions started (each gets its own rewards);
	// Rewards are every reward of this referral as the workflow last saw
	// them; HoldUntil is when held rewards are issued.
	Conversions      int                    `json:",omitempty"`
	Rewards          []activities.RewardRef `json:",omitempty"`
	HoldUntil        time.Time              `json:",omitempty"`
	ConvertedObjects []int64                `json:",omitempty"`
	// WaitingForSaleValue: a percentage reward could not be computed yet;
	// the next sale value from HubSpot creates it.
	WaitingForSaleValue bool `json:",omitempty"`
	// DeletedObjects are the referral's HubSpot records HubSpot reported
	// deleted ("contact 123").
	DeletedObjects []string `json:",omitempty"`
	// Waiting is set while a step that needs the outside world (sending the
	// lead, issuing a reward) cannot succeed and waits to run again.
	Waiting *Waiting `json:",omitempty"`
	// WaitEvents counts the audit events written about waits, for their
	// idempotency keys.
	WaitEvents int `json:",omitempty"`
	// DecisionCallbacks is the decision (approved, denied) HubSpot workflows
	// waiting for it ("Wait for referral decision") are still to be told
	// (referral_decision_callbacks.go).
	DecisionCallbacks referral.Status `json:",omitempty"`
}

// MarshalJSON seals the lead's email under the lead's key in Temporal's
// histories (internal/personaldata): the state is the workflow's result and
// what a continue-as-new carries.
func (s ReferralState) MarshalJSON() ([]byte, error) {
	type plain ReferralState
	return personaldata.MarshalFields(plain(s), s.LeadEmail)
}

// UnmarshalJSON reads what MarshalJSON wrote; an erased lead's email reads
// as "".
func (s *ReferralState) UnmarshalJSON(b []byte) error {
	type plain ReferralState
	_, err := personaldata.UnmarshalFields(b, (*plain)(s))
	return err
}

// Waiting is a step of the referral's life that needs the outside world and
// failed: the referral keeps its status and the step runs again at
// NextAttempt (backing off from a minute to six hours), at once when the
// cause may have gone away (the retry-waiting signal: HubSpot connected,
// campaign settings saved) or an admin retries (retry-now), or never when
// an admin gives up (give-up).
type Waiting struct {
	Step referral.WaitStep
	// RewardID is the reward being issued (Step issue_reward).
	RewardID string `json:",omitempty"`
	// Cause is the kind of trouble (the activity's error type, e.g.
	// HubSpotConnectionBroken); Reason what an admin reads.
	Cause       string
	Reason      string
	Since       time.Time
	Attempts    int
	NextAttempt time.Time
}

// PendingReview is a change the campaign wants a person to decide: a denied
// referral that HubSpot would move to qualified or approved, or (Fraud set)
// a new referral the fraud checks hold: approving lets it go on (its lead is
// sent), rejecting denies it for good.
type PendingReview struct {
	To    referral.Status
	Cause map[string]any
	// Fraud are the fraud signals that put the referral in review.
	Fraud []activities.FraudSignal `json:",omitempty"`
	// ReviewEntryID is the review queue's entry for it.
	ReviewEntryID string `json:",omitempty"`
}

// QueryReferralState is the state query (state → ReferralState).
const QueryReferralState = "state"

// QueryPreviewChange asks what a HubSpotChange would do to the referral now,
// changing nothing (preview-change: HubSpotChange → ChangePreview): the same
// decision the hubspot-change signal executes. The campaign setup's "send a
// test event" asks it. It fails while the workflow has not loaded its
// referral yet.
const QueryPreviewChange = "preview-change"

// ChangePreview is what a HubSpotChange would do to the referral.
type ChangePreview struct {
	// Status is the referral's status now.
	Status referral.Status
	// Outcome is what would become of the change, as the audit trail words
	// it: "moved to approved", "already qualified", "ignored: ...".
	Outcome string
	// MovesTo is the status the change would move the referral to, or
	// (HeldForReview) would put to an admin.
	MovesTo       referral.Status `json:",omitempty"`
	HeldForReview bool            `json:",omitempty"`
	// CopiesTo is the referral's field the change's value would be copied
	// to (the campaign's property updates).
	CopiesTo string `json:",omitempty"`
	// Redelivery: the change was received before; it would be dropped.
	Redelivery bool `json:",omitempty"`
}

// Admin decisions are workflow updates, each with a validator: a decision it
// rejects fails with the reason and leaves no trace in the workflow's
// history; an accepted one answers with the ReferralState after it.

// UpdateSetStatus is an admin's decision to move the referral to a status
// (set-status: SetStatusRequest → ReferralState).
const UpdateSetStatus = "set-status"

// SetStatusRequest is an admin's decision.
type SetStatusRequest struct {
	Status referral.Status
	Reason string
	// Actor identifies the admin for the audit trail, e.g. "admin:<id>".
	Actor string
}

// UpdateResolveReview accepts or rejects a change held for review
// (resolve-review: ReviewDecision → ReferralState).
const UpdateResolveReview = "resolve-review"

// ReviewDecision is an admin's answer to a PendingReview (UpdateResolveReview).
type ReviewDecision struct {
	Accept bool
	Actor  string
}

// UpdateCancelReward cancels a pending reward
// (cancel-reward: RewardDecision → ReferralState).
const UpdateCancelReward = "cancel-reward"

// UpdateMarkRewardPaid records that an issued reward was paid
// (mark-reward-paid: RewardDecision → ReferralState).
const UpdateMarkRewardPaid = "mark-reward-paid"

// RewardDecision is an admin's decision about one reward.
type RewardDecision struct {
	RewardID string
	Reason   string
	Actor    string
}

// SignalRetryWaiting asks a referral whose step waits on the outside world
// to run it again now (retry-waiting: RetryRequest): sent to a workspace's
// waiting referrals when HubSpot is connected or a campaign's settings are
// saved. A referral that waits on nothing ignores it.
const SignalRetryWaiting = "retry-waiting"

// RetryRequest says why a waiting step should run again now.
type RetryRequest struct {
	// Cause is what may have fixed it, for the log ("HubSpot connected").
	Cause string
}

// UpdateRetryNow is an admin's request to run the waiting step again now
// (retry-now: RetryDecision → ReferralState after the attempt). Refused when
// the referral waits on nothing.
const UpdateRetryNow = "retry-now"

// RetryDecision is an admin's retry-now.
type RetryDecision struct {
	Actor string
}

// UpdateGiveUp is an admin's decision to stop trying the waiting step
// (give-up: GiveUpDecision → ReferralState): a lead that is never sent (the
// referral stays where it is), a reward marked failed. Refused when the
// referral waits on nothing.
const UpdateGiveUp = "give-up"

// GiveUpDecision is an admin's give-up, with why.
type GiveUpDecision struct {
	Reason string
	Actor  string
}

// SignalRetryWaitingReferral signals a referral's workflow to run its
// waiting step again now. A referral whose workflow has ended is not an error (nothing
// waits there).
func SignalRetryWaitingReferral(ctx context.Context, c client.Client, referralID, cause string) error {
	err := c.SignalWorkflow(ctx, ReferralWorkflowID(referralID), "", SignalRetryWaiting, RetryRequest{Cause: cause})
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("signal referral %s to retry: %w", referralID, err)
	}
	return nil
}

// SignalHubSpotChange delivers a HubSpotChange to a referral's workflow
// (hubspot-change: HubSpotChange; a signal answers nothing).
const SignalHubSpotChange = "hubspot-change"

// HubSpotChange is one change HubSpot reported about a record of the
// referral (its contact, deal or company): a property change, a deletion, a
// merge or an association (salesentry.ChangeKind). It is defined with the
// sales entry it comes from, which builds it (salesentry.Entry.ChangeFor).
type HubSpotChange = salesentry.Change
