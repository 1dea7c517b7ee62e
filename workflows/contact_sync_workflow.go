package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
)

// syncPageActivityOptions fit a sync's page: a few HubSpot calls and one
// transaction, waiting on the portal's rate limiter (seconds when other
// work shares it). Ten attempts, then the run waits on its own durable
// timer saying why (RecordContactSyncWaiting), as a referral's steps do.
var syncPageActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 5 * time.Minute,
	HeartbeatTimeout:    activityHeartbeatTimeout,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
		MaximumAttempts:    10,
	},
}

// syncActivitiesPerRun bounds a run's history (about six events an
// activity, each up to 20 pages) well under the server's limits; the run
// then continues as new.
const syncActivitiesPerRun = 250

// SignalContactSyncRetry makes a waiting run try again at once (the API
// sends it when a paused sync is resumed).
const SignalContactSyncRetry = "retry-waiting"

// ContactSyncWorkflow runs one run of a contact sync: StartContactSyncRun,
// then SyncContactsPage until the last page, then FinishContactSyncRun.
// Each page commits its own progress in Postgres, so the workflow carries
// only the page number, and continues as new every syncActivitiesPerRun
// activities.
//
// Nothing from HubSpot fails it: a page that cannot be read or written
// after its retries (HubSpot down, disconnected, a scope missing) makes
// the run wait — said in the sync (last_run_status waiting, with the
// reason) and in the Web UI — on a timer from a minute doubling to six
// hours, or until the retry-waiting signal; then the same page runs again.
// A list HubSpot no longer has, or a property it refuses to search, ends
// the run failed with HubSpot's reason.
func ContactSyncWorkflow(ctx workflow.Context, in ContactSyncInput) (ContactSyncProgress, error) {
	w := &contactSyncWorkflow{}
	if err := w.setup(ctx, in); err != nil {
		return ContactSyncProgress{}, err
	}
	return w.run(ctx)
}

type contactSyncWorkflow struct {
	in       ContactSyncInput
	progress ContactSyncProgress
	retry    workflow.ReceiveChannel
}

func (w *contactSyncWorkflow) setup(ctx workflow.Context, in ContactSyncInput) error {
	if in.SyncID == "" {
		return temporal.NewNonRetryableApplicationError("sync workflow started without a sync ID", "InvalidInput", nil)
	}
	if in.HubSpotTaskQueue == "" {
		in.HubSpotTaskQueue = HubSpotTaskQueue
	}
	w.in = in
	w.progress = ContactSyncProgress{SyncID: in.SyncID}
	w.retry = workflow.GetSignalChannel(ctx, SignalContactSyncRetry)
	if err := workflow.SetQueryHandler(ctx, QueryContactSyncProgress, func() (ContactSyncProgress, error) {
		return w.progress, nil
	}); err != nil {
		return fmt.Errorf("register progress query: %w", err)
	}
	return nil
}

func (w *contactSyncWorkflow) run(ctx workflow.Context) (ContactSyncProgress, error) {
	lctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	if !w.in.Resumed {
		if err := workflow.ExecuteLocalActivity(lctx, acts.StartContactSyncRun, w.in.SyncID).Get(ctx, &w.progress); err != nil {
			return w.progress, err
		}
		if w.progress.Stopped != "" {
			return w.finish(ctx, w.progress.Stopped)
		}
	}
	hctx := workflow.WithActivityOptions(ctx, syncPageActivityOptions)
	hctx = workflow.WithTaskQueue(hctx, w.in.HubSpotTaskQueue)
	waits := 0
	for calls := 0; ; calls++ {
		if w.progress.Done {
			return w.finish(ctx, "")
		}
		if calls >= syncActivitiesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			next := w.in
			next.Resumed = true
			return ContactSyncProgress{}, workflow.NewContinueAsNewError(ctx, ContactSyncWorkflowType, next)
		}
		var p ContactSyncProgress
		err := workflow.ExecuteActivity(hctx, hubspotActs.SyncContactsPage, activities.SyncPage{SyncID: w.in.SyncID, Page: w.progress.Page}).Get(ctx, &p)
		if err == nil {
			w.progress, waits = p, 0
			w.show(ctx, "")
			continue
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			switch appErr.Type() {
			case activities.ErrorTypeSyncNotFound:
				return w.progress, nil
			case activities.ErrorTypeSyncSourceRefused:
				return w.finish(ctx, appErr.Message())
			}
		}
		waits++
		if err := w.wait(ctx, err, waits); err != nil {
			return w.progress, err
		}
	}
}

// wait records why the run waits and sleeps until its timer or the
// retry-waiting signal.
func (w *contactSyncWorkflow) wait(ctx workflow.Context, cause error, waits int) error {
	_, reason := waitCause(cause)
	d := retryAfter(waits)
	lctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	if err := workflow.ExecuteLocalActivity(lctx, acts.RecordContactSyncWaiting, activities.SyncWaiting{SyncID: w.in.SyncID, Reason: reason}).Get(ctx, nil); err != nil {
		return err
	}
	w.show(ctx, fmt.Sprintf("waiting %s before page %d: %s", d, w.progress.Page+1, reason))
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(workflow.NewTimer(tctx, d), func(workflow.Future) {})
	sel.AddReceive(w.retry, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	sel.Select(ctx)
	for w.retry.ReceiveAsync(nil) {
	}
	return nil
}

// finish records the end of the run: succeeded, or failed with why.
func (w *contactSyncWorkflow) finish(ctx workflow.Context, failure string) (ContactSyncProgress, error) {
	lctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	if err := workflow.ExecuteLocalActivity(lctx, acts.FinishContactSyncRun, activities.SyncRunEnd{SyncID: w.in.SyncID, Failure: failure}).Get(ctx, nil); err != nil {
		return w.progress, err
	}
	w.progress.Stopped = failure
	w.show(ctx, "")
	return w.progress, nil
}

// show puts the run's progress in the Web UI's current details.
func (w *contactSyncWorkflow) show(ctx workflow.Context, waiting string) {
	s := w.progress.Stats
	details := fmt.Sprintf("**sync %s**: %d pages, %d contacts seen — %d created, %d updated, %d unchanged, %d written back, %d failed",
		w.in.SyncID, s.Pages, s.Seen, s.Created, s.Updated, s.Unchanged, s.WrittenBack, s.Failed)
	if w.progress.Stopped != "" {
		details += "; stopped: " + w.progress.Stopped
	}
	if waiting != "" {
		details += "; " + waiting
	}
	workflow.SetCurrentDetails(ctx, details)
}
