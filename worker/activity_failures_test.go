package worker_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// A local activity that fails is logged at ERROR with the referral's ID,
// which the Temporal SDK does not do for local activities.
func TestAFailedLocalActivityIsLoggedWithItsReferral(t *testing.T) {
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	var logs testenv.LogBuffer
	ws := worker.New(tc.Client, d.Pool, worker.Options{
		TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	defer ws.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A referral that does not exist: loading it fails for good.
	missing := uuid.NewString()
	run, err := tc.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.ReferralWorkflowID(missing), TaskQueue: tc.TaskQueue},
		worker.ReferralWorkflowType, workflows.ReferralInput{ReferralID: missing, HubSpotTaskQueue: tc.HubSpotTaskQueue})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err == nil {
		t.Fatal("the workflow of a referral that does not exist succeeded")
	}

	var found map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == "local activity failed" && entry["referral_id"] == missing {
			found = entry
		}
	}
	if found == nil {
		t.Fatalf("no \"local activity failed\" line with referral_id %s in:\n%s", missing, logs.String())
	}
	for k, want := range map[string]any{"level": "ERROR", "activity_type": "LoadReferral", "error_type": "ReferralNotFound", "workflow_id": workflows.ReferralWorkflowID(missing)} {
		if found[k] != want {
			t.Errorf("%s = %v, want %v (line %v)", k, found[k], want, found)
		}
	}
}
