package workflows

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/referral"
)

// A referrals import: batches until every row has its outcome, the
// referrals' workflows started after each batch at the input's rate, then
// finished; the progress query answers with the last progress.
func TestCSVImportWorkflowRunsBatchesThenStartsAndFinishes(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(testActs)
	env.RegisterWorkflowWithOptions(CSVImportWorkflow, workflow.RegisterOptions{Name: CSVImportWorkflowType})
	const id = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	p := activities.ImportProgress{ImportID: id, Kind: referral.ImportReferrals, Status: referral.ImportRunning, RowsRead: 2500}
	env.OnActivity(testActs.StartCSVImport, mock.Anything, id).Return(p, nil)
	batches, starts := 0, 0
	env.OnActivity(testActs.ImportCSVBatch, mock.Anything, activities.ImportBatch{ImportID: id, Size: activities.DefaultImportBatchSize}).Return(
		func(context.Context, activities.ImportBatch) (activities.ImportProgress, error) {
			batches++
			p.RowsProcessed = min(p.RowsRead, batches*1000)
			p.Added = p.RowsProcessed
			p.RowsDone = p.RowsProcessed == p.RowsRead
			p.StartsDone = false
			return p, nil
		})
	env.OnActivity(testActs.StartImportedReferralWorkflows, mock.Anything, activities.ImportStarts{ImportID: id, PerSecond: 5, Max: 300}).Return(
		func(context.Context, activities.ImportStarts) (activities.ImportProgress, error) {
			starts++
			p.WorkflowsStarted = p.RowsProcessed
			p.StartsDone = true
			return p, nil
		})
	var finished activities.ImportEnd
	env.OnActivity(testActs.FinishCSVImport, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ImportEnd) (activities.ImportProgress, error) {
			finished = in
			p.Status = referral.ImportCompleted
			return p, nil
		})
	env.ExecuteWorkflow(CSVImportWorkflowType, CSVImportInput{ImportID: id, StartsPerSecond: 5})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if batches != 3 || starts != 3 || finished.ImportID != id || finished.Failure != "" {
		t.Fatalf("%d batches, %d start passes, finished %+v; want 3, 3, completed", batches, starts, finished)
	}
	v, err := env.QueryWorkflow(QueryCSVImportProgress)
	if err != nil {
		t.Fatal(err)
	}
	var got CSVImportProgress
	if err := v.Get(&got); err != nil || got.Status != referral.ImportCompleted || got.Added != 2500 || got.WorkflowsStarted != 2500 {
		t.Fatalf("progress query = %+v (%v)", got, err)
	}
}

// A batch finding the campaign not active ends the import failed, saying why.
func TestCSVImportWorkflowFailsWhenTheCampaignStops(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(testActs)
	env.RegisterWorkflowWithOptions(CSVImportWorkflow, workflow.RegisterOptions{Name: CSVImportWorkflowType})
	const id = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e"
	p := activities.ImportProgress{ImportID: id, Kind: referral.ImportMembers, Status: referral.ImportRunning, RowsRead: 10}
	env.OnActivity(testActs.StartCSVImport, mock.Anything, id).Return(p, nil)
	stopped := p
	stopped.Stopped = "the campaign is paused"
	env.OnActivity(testActs.ImportCSVBatch, mock.Anything, mock.Anything).Return(stopped, nil)
	var finished activities.ImportEnd
	env.OnActivity(testActs.FinishCSVImport, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ImportEnd) (activities.ImportProgress, error) {
			finished = in
			return p, nil
		})
	env.ExecuteWorkflow(CSVImportWorkflowType, CSVImportInput{ImportID: id})
	if err := env.GetWorkflowError(); err != nil || finished.Failure != "the campaign is paused" {
		t.Fatalf("finished %+v (%v); want failed with the reason", finished, err)
	}
}

// A long import continues as new after importBatchesPerRun batches,
// carrying its input.
func TestCSVImportWorkflowContinuesAsNew(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(testActs)
	env.RegisterWorkflowWithOptions(CSVImportWorkflow, workflow.RegisterOptions{Name: CSVImportWorkflowType})
	const id = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4f"
	p := activities.ImportProgress{ImportID: id, Kind: referral.ImportMembers, Status: referral.ImportRunning, RowsRead: 1_000_000}
	env.OnActivity(testActs.StartCSVImport, mock.Anything, id).Return(p, nil)
	env.OnActivity(testActs.ImportCSVBatch, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ImportBatch) (activities.ImportProgress, error) {
			p.RowsProcessed += 1000
			return p, nil
		})
	env.ExecuteWorkflow(CSVImportWorkflowType, CSVImportInput{ImportID: id})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errorsAs(err, &can) || p.RowsProcessed != importBatchesPerRun*1000 {
		t.Fatalf("after %d rows: %v; want continue-as-new after %d batches", p.RowsProcessed, err, importBatchesPerRun)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
