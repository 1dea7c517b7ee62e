package workflows

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplaySavedHistories replays every saved history in testdata against
// the current workflow code: a change that would make running referral
// workflows non-deterministic fails here, before a deploy. Histories are
// recorded with REFERFLOW_RECORD_HISTORIES=1 by the integration tests that
// write them (e2e's, and api's TestReferralsImport for csv_import_*.json).
func TestReplaySavedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no saved histories in testdata: record them (see the doc comment)")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(ReferralWorkflow)
			r.RegisterWorkflow(SetUpHubSpotPortalWorkflow)
			r.RegisterWorkflowWithOptions(CSVImportWorkflow, workflow.RegisterOptions{Name: CSVImportWorkflowType})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replaying %s: %v", f, err)
			}
		})
	}
}
