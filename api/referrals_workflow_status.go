package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/referflow/referflow/workflows"
)

// What GET /api/v1/referrals/{id} says of the referral's workflow
// (workflow_status).
const (
	workflowRunning    = "running"
	workflowCompleted  = "completed"
	workflowNotStarted = "not_started"
	workflowUnknown    = "unknown"
)

// workflowStatuses are every workflow_status.
var workflowStatuses = []string{workflowRunning, workflowCompleted, "failed", "terminated", "timed_out", "canceled", workflowNotStarted, workflowUnknown}

// referralWorkflowStatus is the referral's workflow as Temporal has it, so a
// failed or stuck run is never shown as a healthy pending referral: its
// status, and what is wrong with it (a failed run, an activity retrying).
func (s *Server) referralWorkflowStatus(ctx context.Context, id uuid.UUID) (status, problem string) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	desc, err := s.deps.Temporal.DescribeWorkflowExecution(ctx, workflows.ReferralWorkflowID(id.String()), "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return workflowNotStarted, "the referral has no workflow yet: the worker's reconciler starts it within a minute of Temporal being reachable"
	case err != nil:
		return workflowUnknown, "Temporal could not be asked: " + err.Error()
	}
	info := desc.GetWorkflowExecutionInfo()
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		for _, a := range desc.GetPendingActivities() {
			if a.GetAttempt() > 1 && a.GetLastFailure() != nil {
				problem = fmt.Sprintf("%s is retrying (attempt %d): %s", a.GetActivityType().GetName(), a.GetAttempt(), a.GetLastFailure().GetMessage())
				break
			}
		}
		return workflowRunning, problem
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return workflowCompleted, ""
	}
	if status, ok := endedStatus[info.GetStatus()]; ok {
		return status, "the referral's workflow " + strings.ReplaceAll(status, "_", " ") + ": run `referflow referrals resume` to start it again from what the database holds"
	}
	return workflowUnknown, "Temporal reports the workflow as " + info.GetStatus().String()
}

// endedStatus names the ways a workflow ends without completing.
var endedStatus = map[enumspb.WorkflowExecutionStatus]string{
	enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:     "failed",
	enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED: "terminated",
	enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:  "timed_out",
	enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:   "canceled",
}
