package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/workflows"
)

// FailedReferralsQuery finds, in Temporal's visibility, the referral
// workflows of a task queue whose run ended without completing (a run that
// failed before referral workflows stopped failing on the outside world, or
// one an operator terminated).
func FailedReferralsQuery(taskQueue string) string {
	return "WorkflowType = '" + ReferralWorkflowType + "' AND TaskQueue = '" + strings.ReplaceAll(taskQueue, "'", "") + "'" +
		" AND (ExecutionStatus = 'Failed' OR ExecutionStatus = 'Terminated' OR ExecutionStatus = 'TimedOut' OR ExecutionStatus = 'Canceled')"
}

// ResumeResult is what ResumeFailedReferrals did with one referral.
type ResumeResult struct {
	ReferralID string
	// Resumed: a new run started (RunID); otherwise Skipped says why not.
	Resumed bool
	RunID   string
	Skipped string
}

// FailedReferrals lists the IDs of referrals (of the task queue) with a run
// that ended without completing, each once.
func FailedReferrals(ctx context.Context, c client.Client, namespace, taskQueue string) ([]string, error) {
	seen := map[string]bool{}
	var ids []string
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, Query: FailedReferralsQuery(taskQueue), NextPageToken: token, PageSize: 1000,
		})
		if err != nil {
			return nil, fmt.Errorf("list failed referral workflows: %w", err)
		}
		for _, ex := range resp.GetExecutions() {
			id, ok := strings.CutPrefix(ex.GetExecution().GetWorkflowId(), workflows.ReferralWorkflowID(""))
			if ok && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return ids, nil
		}
	}
}

// ResumeFailedReferrals starts a new run for every referral whose last run
// failed, was terminated or timed out: it carries on from the database
// (status, lead, rewards), so nothing is sent or paid twice. A referral
// whose workflow runs again already, or whose last run completed, is left
// alone. With dryRun it only lists them.
func ResumeFailedReferrals(ctx context.Context, c client.Client, namespace string, opts Options, dryRun bool) ([]ResumeResult, error) {
	opts.fill()
	ids, err := FailedReferrals(ctx, c, namespace, opts.TaskQueue)
	if err != nil {
		return nil, err
	}
	out := make([]ResumeResult, 0, len(ids))
	for _, id := range ids {
		res := ResumeResult{ReferralID: id}
		if dryRun {
			res.Skipped = "dry run"
			out = append(out, res)
			continue
		}
		desc, err := c.DescribeWorkflowExecution(ctx, workflows.ReferralWorkflowID(id), "")
		if err != nil {
			return out, fmt.Errorf("describe the workflow of referral %s: %w", id, err)
		}
		if desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			res.Skipped = "its workflow runs already"
			out = append(out, res)
			continue
		}
		run, err := workflows.ResumeReferralWorkflow(ctx, c, opts.TaskQueue, opts.HubSpotTaskQueue, id)
		var completed *serviceerror.WorkflowExecutionAlreadyStarted
		switch {
		case errors.As(err, &completed):
			res.Skipped = "its last run completed"
		case err != nil:
			return out, err
		default:
			res.Resumed, res.RunID = true, run.GetRunID()
		}
		out = append(out, res)
	}
	return out, nil
}
