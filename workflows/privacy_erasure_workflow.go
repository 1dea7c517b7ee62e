package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
)

// PrivacyErasureWorkflow runs the erasures it is signalled (see
// privacy_erasure.go), one after another, and ends when none is left: an
// erasure signalled while the last one finishes makes Temporal replay the
// run with it, so none is lost.
func PrivacyErasureWorkflow(ctx workflow.Context, in PrivacyErasureInput) (PrivacyErasureResult, error) {
	w := &privacyErasureWorkflow{}
	if err := w.setup(ctx, in); err != nil {
		return PrivacyErasureResult{}, err
	}
	return w.run(ctx)
}

type privacyErasureWorkflow struct {
	in       PrivacyErasureInput
	requests workflow.ReceiveChannel
	result   PrivacyErasureResult
}

// privacyErasureActivityOptions: the erasure is one transaction over a
// person's rows, seconds at most; retried while the database is down.
var privacyErasureActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: time.Minute,
	HeartbeatTimeout:    activityHeartbeatTimeout,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    30 * time.Second,
	},
}

func (w *privacyErasureWorkflow) setup(ctx workflow.Context, in PrivacyErasureInput) error {
	if in.WorkspaceID == "" || in.SubjectHash == "" {
		return temporal.NewNonRetryableApplicationError("privacy erasure started without a workspace or subject", "InvalidInput", nil)
	}
	w.in = in
	w.requests = workflow.GetSignalChannel(ctx, SignalPrivacyErasure)
	return nil
}

func (w *privacyErasureWorkflow) run(ctx workflow.Context) (PrivacyErasureResult, error) {
	actx := workflow.WithActivityOptions(ctx, privacyErasureActivityOptions)
	for {
		var req PrivacyErasureSignal
		if !w.requests.ReceiveAsync(&req) {
			return w.result, nil
		}
		var res activities.ErasePersonResult
		if err := workflow.ExecuteActivity(actx, acts.ErasePerson, activities.ErasePersonInput{ErasureID: req.ErasureID}).Get(ctx, &res); err != nil {
			return w.result, err
		}
		w.result.Erasures++
	}
}
