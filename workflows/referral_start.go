package workflows

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

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
