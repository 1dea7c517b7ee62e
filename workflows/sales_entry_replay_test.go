package workflows

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplaySalesEntryHistories replays the saved sales-entry workflow
// histories (a review worked through admins' updates, a member attached,
// the referral's workflow started as a child) against the current code, so
// a change that would break entries waiting in review fails here. They are
// recorded by the worker package's TestANoMatchEntryWaitsInReview... with
// REFERFLOW_RECORD_HISTORIES=1, in a folder of their own: the referral
// replay test reads testdata/*.json.
func TestReplaySalesEntryHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "sales_entry", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no saved sales-entry histories in testdata/sales_entry: record them (see the doc comment)")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(SalesEntryWorkflow, workflow.RegisterOptions{Name: SalesEntryWorkflowType})
			r.RegisterWorkflow(ReferralWorkflow)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replaying %s: %v", f, err)
			}
		})
	}
}
