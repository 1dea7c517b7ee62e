package temporalclient_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/temporalclient"
)

func greet(ctx workflow.Context) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var s string
	err := workflow.ExecuteActivity(ctx, hello).Get(ctx, &s)
	return s, err
}

func hello(context.Context) (string, error) { return "hello", nil }

// A worker whose client reports to NewMetricsHandler shows the SDK's metrics
// under the names Temporal's Prometheus integration uses: counters end in
// _total, timers are histograms in seconds.
func TestMetricsHandlerReportsTheSDKsMetrics(t *testing.T) {
	tc := testenv.NewTemporal(t)
	reg := prometheus.NewRegistry()
	ctx := context.Background()
	c, err := temporalclient.Dial(ctx, tc.Address, tc.Namespace, slog.New(slog.DiscardHandler), temporalclient.NewMetricsHandler(reg), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := sdkworker.New(c, tc.TaskQueue, sdkworker.Options{})
	w.RegisterWorkflow(greet)
	w.RegisterActivity(hello)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: tc.TaskQueue}, greet)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "hello" {
		t.Fatalf("workflow = %q, %v", got, err)
	}

	// The client can see the run complete a moment before the worker,
	// which counts it once the server has taken the completion: gather
	// until the count is there (or a few seconds have passed).
	var byName map[string]*dto.MetricFamily
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		families, err := reg.Gather()
		if err != nil {
			t.Fatalf("gather: %v", err)
		}
		byName = map[string]*dto.MetricFamily{}
		for _, f := range families {
			byName[f.GetName()] = f
		}
		if c := byName["temporal_workflow_completed_total"]; (c != nil && sum(c, "workflow_type", "greet") >= 1) || time.Now().After(deadline) {
			break
		}
	}
	completed := byName["temporal_workflow_completed_total"]
	if completed == nil || sum(completed, "workflow_type", "greet") != 1 {
		t.Errorf("temporal_workflow_completed_total{workflow_type=greet} = %v, want 1", completed)
	}
	latency := byName["temporal_activity_schedule_to_start_latency_seconds"]
	if latency == nil || latency.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("temporal_activity_schedule_to_start_latency_seconds: %v, want a histogram", latency)
	}
	if n := latency.GetMetric()[0].GetHistogram().GetSampleCount(); n < 1 {
		t.Errorf("schedule-to-start latency has %d samples, want at least 1", n)
	}
	if byName["temporal_request_total"] == nil {
		t.Error("no temporal_request_total")
	}
}

// sum adds the counter values of the family's series whose label is value.
func sum(f *dto.MetricFamily, label, value string) float64 {
	total := 0.0
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}
