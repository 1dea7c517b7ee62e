package workflows

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/activities"
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
// referral twice (a retried request, two capture surfaces) never starts two
// workflows. A referral whose workflow has ended is not started again.
func StartReferralWorkflow(ctx context.Context, c client.Client, taskQueue, hubSpotTaskQueue, referralID string) (client.WorkflowRun, error) {
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       ReferralWorkflowID(referralID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
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
	LeadEmail    string
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
	// PendingReview is a HubSpot change waiting for an admin's decision.
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
}

// PendingReview is a change the campaign wants a person to decide: a denied
// referral that HubSpot would move to qualified or approved.
type PendingReview struct {
	To    referral.Status
	Cause map[string]any
	// ReviewEntryID is the review queue's entry for it.
	ReviewEntryID string `json:",omitempty"`
}

// QueryReferralState is the state query (state → ReferralState).
const QueryReferralState = "state"

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

// SignalHubSpotChange delivers a HubSpotChange to a referral's workflow
// (hubspot-change: HubSpotChange; a signal answers nothing).
const SignalHubSpotChange = "hubspot-change"

// HubSpotChange is one change HubSpot reported about a record of the
// referral (its contact, deal or company): a property change, a deletion, a
// merge or an association (salesentry.ChangeKind). It is defined with the
// sales entry it comes from, which builds it (salesentry.Entry.ChangeFor).
type HubSpotChange = salesentry.Change
