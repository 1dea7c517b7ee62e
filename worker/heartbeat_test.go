package worker

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/internal/dev/testenv"
)

// slowActivity takes three seconds and reports nothing on its own.
func slowActivity(ctx context.Context) (string, error) {
	select {
	case <-time.After(3 * time.Second):
		return "done", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// oneSlowActivity runs slowActivity once with a one-second heartbeat
// timeout.
func oneSlowActivity(ctx workflow.Context) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, HeartbeatTimeout: time.Second,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var out string
	err := workflow.ExecuteActivity(ctx, slowActivity).Get(ctx, &out)
	return out, err
}

// A regular activity outlives its heartbeat timeout with the worker's
// heartbeats, and times out without them: the interceptor is what lets the
// server retry an activity whose worker died after seconds, not minutes.
func TestActivitiesHeartbeatWhileTheyRun(t *testing.T) {
	t.Parallel()
	tc := testenv.NewTemporal(t)
	for _, withHeartbeats := range []bool{true, false} {
		queue := tc.TaskQueue + "-heartbeats"
		if !withHeartbeats {
			queue = tc.TaskQueue + "-silent"
		}
		opts := sdkworker.Options{}
		if withHeartbeats {
			opts.Interceptors = []interceptor.WorkerInterceptor{&heartbeats{}}
		}
		w := sdkworker.New(tc.Client, queue, opts)
		w.RegisterWorkflow(oneSlowActivity)
		w.RegisterActivity(slowActivity)
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		run, err := tc.Client.ExecuteWorkflow(ctx, clientStart(queue), oneSlowActivity)
		if err != nil {
			t.Fatal(err)
		}
		var out string
		err = run.Get(ctx, &out)
		switch {
		case withHeartbeats && (err != nil || out != "done"):
			t.Errorf("with heartbeats the activity = %q, %v; want it done", out, err)
		case !withHeartbeats && err == nil:
			t.Errorf("without heartbeats the activity outlived its heartbeat timeout: the test proves nothing")
		}
	}
}

func clientStart(queue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{TaskQueue: queue}
}
