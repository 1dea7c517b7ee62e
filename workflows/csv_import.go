package workflows

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/activities"
)

// A CSV import's workflow: the rows of an upload (staged in Postgres by the
// API, never passed through Temporal) are added in batches by activities,
// each batch resumable from the last row committed; imported referrals'
// workflows start at a controlled rate; progress is queryable and kept in
// the imports table.
//
// This file is its contract: what the API needs to start it and ask how far
// it got. CSVImportWorkflow itself is in csv_import_workflow.go.

// CSVImportWorkflowType is the registered name of CSVImportWorkflow.
const CSVImportWorkflowType = "CSVImportWorkflow"

// CSVImportWorkflowID is the ID of import id's workflow: starting it twice
// is harmless.
func CSVImportWorkflowID(importID string) string { return "import/" + importID }

// DefaultImportStartsPerSecond is how many imported referrals' workflows
// start a second: HubSpot's per-portal budget (about 10 calls a second, the
// HubSpot task queue's cap, worker.HubSpotActivitiesPerSecond), so the
// leads of an import of 10,000 reach HubSpot over about 17 minutes as fast
// as HubSpot takes them, instead of piling up as a backlog of waiting
// activities in front of live referrals' calls.
const DefaultImportStartsPerSecond = 10

// CSVImportInput starts an import's workflow. Resumed is set when it
// continues as new.
type CSVImportInput struct {
	ImportID string
	// BatchSize is how many rows each activity adds (default 1,000);
	// StartsPerSecond how many imported referrals' workflows start a
	// second (default DefaultImportStartsPerSecond).
	BatchSize       int  `json:",omitempty"`
	StartsPerSecond int  `json:",omitempty"`
	Resumed         bool `json:",omitempty"`
}

// CSVImportProgress is where an import stands (the progress query's answer
// and the workflow's result).
type CSVImportProgress = activities.ImportProgress

// QueryCSVImportProgress is the progress query (progress → CSVImportProgress).
const QueryCSVImportProgress = "progress"

// StartCSVImportWorkflow starts import id's workflow on taskQueue.
func StartCSVImportWorkflow(ctx context.Context, c client.Client, taskQueue, importID, summary string) (client.WorkflowRun, error) {
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       CSVImportWorkflowID(importID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            summary,
	}, CSVImportWorkflowType, CSVImportInput{ImportID: importID})
	if err != nil {
		return nil, fmt.Errorf("start the workflow of import %s: %w", importID, err)
	}
	return run, nil
}
