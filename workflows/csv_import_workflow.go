package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/referral"
)

// importActivityOptions fit an import's batches: a thousand rows in a few
// seconds, heartbeating (the worker's interceptor), retried without end
// while Postgres is unreachable — each attempt continues from the last
// committed row.
var importActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 5 * time.Minute,
	HeartbeatTimeout:    activityHeartbeatTimeout,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
	},
}

// importBatchesPerRun bounds a run's history (about eight events a batch)
// well under the server's limits; the run then continues as new.
const importBatchesPerRun = 250

// CSVImportWorkflow adds an import's rows batch by batch (ImportCSVBatch);
// for referrals, after each batch it starts the workflows of the referrals
// added so far at StartsPerSecond (StartImportedReferralWorkflows). When
// every row has its outcome and every referral its workflow, it records the
// import completed; when the campaign left active, failed with the reason.
// Its progress is the progress query's answer and the Web UI's current
// details.
func CSVImportWorkflow(ctx workflow.Context, in CSVImportInput) (CSVImportProgress, error) {
	w := &csvImportWorkflow{}
	if err := w.setup(ctx, in); err != nil {
		return CSVImportProgress{}, err
	}
	return w.run(ctx)
}

type csvImportWorkflow struct {
	in       CSVImportInput
	progress CSVImportProgress
}

func (w *csvImportWorkflow) setup(ctx workflow.Context, in CSVImportInput) error {
	if in.ImportID == "" {
		return temporal.NewNonRetryableApplicationError("import workflow started without an import ID", "InvalidInput", nil)
	}
	if in.BatchSize <= 0 {
		in.BatchSize = activities.DefaultImportBatchSize
	}
	if in.StartsPerSecond <= 0 {
		in.StartsPerSecond = DefaultImportStartsPerSecond
	}
	w.in = in
	w.progress = CSVImportProgress{ImportID: in.ImportID, Status: referral.ImportQueued}
	if err := workflow.SetQueryHandler(ctx, QueryCSVImportProgress, func() (CSVImportProgress, error) {
		return w.progress, nil
	}); err != nil {
		return fmt.Errorf("register progress query: %w", err)
	}
	return nil
}

func (w *csvImportWorkflow) run(ctx workflow.Context) (CSVImportProgress, error) {
	actx := workflow.WithActivityOptions(ctx, importActivityOptions)
	if err := w.step(actx, acts.StartCSVImport, w.in.ImportID); err != nil {
		return w.finish(actx, failureMessage(err))
	}
	for batch := 0; ; batch++ {
		if !w.progress.RowsDone {
			if err := w.step(actx, acts.ImportCSVBatch, activities.ImportBatch{ImportID: w.in.ImportID, Size: w.in.BatchSize}); err != nil {
				return w.finish(actx, failureMessage(err))
			}
			if w.progress.Stopped != "" {
				return w.finish(actx, w.progress.Stopped)
			}
		}
		if w.progress.Kind == referral.ImportReferrals && !w.progress.StartsDone {
			// At most a minute of starts an activity, so a run of rows
			// keeps moving between them.
			if err := w.step(actx, acts.StartImportedReferralWorkflows, activities.ImportStarts{
				ImportID: w.in.ImportID, PerSecond: w.in.StartsPerSecond, Max: 60 * w.in.StartsPerSecond,
			}); err != nil {
				return w.finish(actx, failureMessage(err))
			}
		}
		if w.progress.RowsDone && (w.progress.Kind != referral.ImportReferrals || w.progress.StartsDone) {
			return w.finish(actx, "")
		}
		if batch+1 >= importBatchesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			next := w.in
			next.Resumed = true
			return CSVImportProgress{}, workflow.NewContinueAsNewError(ctx, CSVImportWorkflowType, next)
		}
	}
}

// step runs one of the import's activities and takes the progress it
// returns.
func (w *csvImportWorkflow) step(ctx workflow.Context, activity any, arg any) error {
	var p CSVImportProgress
	if err := workflow.ExecuteActivity(ctx, activity, arg).Get(ctx, &p); err != nil {
		return err
	}
	w.progress = p
	w.show(ctx)
	return nil
}

// finish records the end of the import: completed, or failed with why.
func (w *csvImportWorkflow) finish(ctx workflow.Context, failure string) (CSVImportProgress, error) {
	if err := w.step(ctx, acts.FinishCSVImport, activities.ImportEnd{ImportID: w.in.ImportID, Failure: failure}); err != nil {
		return w.progress, err
	}
	w.progress.Stopped = failure
	return w.progress, nil
}

// show puts the progress in the Web UI's current details.
func (w *csvImportWorkflow) show(ctx workflow.Context) {
	p := w.progress
	details := fmt.Sprintf("**%s import %s**: %d of %d rows processed — %d added, %d skipped, %d failed",
		p.Kind, p.Status, p.RowsProcessed, p.RowsRead, p.Added, p.Skipped, p.Failed)
	if p.Kind == referral.ImportReferrals {
		details += fmt.Sprintf("; %d referral workflows started", p.WorkflowsStarted)
	}
	workflow.SetCurrentDetails(ctx, details)
}
