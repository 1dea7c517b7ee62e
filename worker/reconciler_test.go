package worker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// startWorkers runs a worker on the test's queues until the test ends.
func startWorkers(t *testing.T, d *testenv.Database, tc *testenv.Temporal) {
	t.Helper()
	ws := worker.New(tc.Client, d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Stop)
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: never happened", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// A referral saved while Temporal was unreachable has no workflow; the
// reconciler starts it, once.
func TestReconcilerStartsTheWorkflowOfAReferralSavedWithoutOne(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	fx := d.SeedReferral(t) // saved, its workflow never started
	startWorkers(t, d, tc)
	r := &worker.Reconciler{Pool: d.Pool, Temporal: tc.Client, TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue, Grace: time.Millisecond}

	n, err := r.Once(ctx)
	if err != nil || n != 1 {
		t.Fatalf("first pass started %d, %v; want the one referral without a workflow", n, err)
	}
	waitFor(t, ctx, "the workflow's first step", func() bool {
		row, err := d.Queries.ReferralGetByID(ctx, fx.Referral.ID)
		return err == nil && row.WorkflowStartedAt != nil
	})
	if n, err := r.Once(ctx); err != nil || n != 0 {
		t.Fatalf("second pass started %d, %v; want none", n, err)
	}
	events, err := d.Queries.ReferralEventListByReferral(ctx, fx.Referral.ID)
	if err != nil {
		t.Fatal(err)
	}
	started := 0
	for _, ev := range events {
		if ev.Kind == string(referral.EventWorkflowStarted) {
			started++
		}
	}
	if started != 1 {
		t.Fatalf("%d workflow_started events, want 1", started)
	}
}

// A referral whose run ended without completing (terminated here; failed
// runs of older versions alike) is started again by `referflow referrals
// resume`, carrying on from the database; a second resume leaves the
// running workflow alone.
func TestResumeFailedReferrals(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	fx := d.SeedReferral(t)
	startWorkers(t, d, tc)
	id := fx.Referral.ID.String()
	wid := workflows.ReferralWorkflowID(id)
	if _, err := workflows.StartReferralWorkflow(ctx, tc.Client, tc.TaskQueue, tc.HubSpotTaskQueue, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "workflow started", func() bool {
		row, err := d.Queries.ReferralGetByID(ctx, fx.Referral.ID)
		return err == nil && row.WorkflowStartedAt != nil
	})
	if err := tc.Client.TerminateWorkflow(ctx, wid, "", "operator stopped it"); err != nil {
		t.Fatal(err)
	}
	opts := worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue}
	waitFor(t, ctx, "the terminated run in visibility", func() bool {
		ids, err := worker.FailedReferrals(ctx, tc.Client, testenv.TemporalNamespace, tc.TaskQueue)
		return err == nil && slices.Contains(ids, id)
	})

	res, err := worker.ResumeFailedReferrals(ctx, tc.Client, testenv.TemporalNamespace, opts, false)
	if err != nil || len(res) != 1 || !res[0].Resumed || res[0].ReferralID != id {
		t.Fatalf("resume = %+v, %v", res, err)
	}
	// The new run carries on: an admin's decision reaches it.
	h, err := tc.Client.UpdateWorkflow(ctx, clientUpdate(wid, workflows.SetStatusRequest{Status: referral.Qualified, Actor: "admin:test"}))
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.ReferralState
	if err := h.Get(ctx, &st); err != nil || st.Status != referral.Qualified {
		t.Fatalf("decision on the resumed run = %+v, %v", st, err)
	}
	res, err = worker.ResumeFailedReferrals(ctx, tc.Client, testenv.TemporalNamespace, opts, false)
	if err != nil || len(res) != 1 || res[0].Resumed || res[0].Skipped == "" {
		t.Fatalf("second resume = %+v, %v; want it skipped (running already)", res, err)
	}
}

func clientUpdate(workflowID string, req workflows.SetStatusRequest) client.UpdateWorkflowOptions {
	return client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: workflows.UpdateSetStatus, Args: []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	}
}

// A referral a running CSV import added is the import's to start, at its
// pace: the reconciler leaves it alone until the import ends (or stops
// moving), then starts it if the import did not.
func TestReconcilerLeavesImportedReferralsToTheirImport(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	fx := d.SeedReferral(t)
	imp, err := d.Queries.ImportCreate(ctx, db.ImportCreateParams{WorkspaceID: fx.Workspace.ID, CampaignID: fx.Campaign.ID, Kind: "referrals", Header: []string{"email", "member_code"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, `INSERT INTO import_rows (import_id, row_number, fields, referral_id) VALUES ($1, 2, '{}', $2)`, imp.ID, fx.Referral.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.Queries.ImportStart(ctx, imp.ID); err != nil {
		t.Fatal(err)
	}
	r := &worker.Reconciler{Pool: d.Pool, Temporal: tc.Client, TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue, Grace: time.Millisecond}
	if n, err := r.Once(ctx); err != nil || n != 0 {
		t.Fatalf("while the import runs the reconciler started %d (%v); want none", n, err)
	}
	reason := "stopped"
	if _, err := d.Queries.ImportFinish(ctx, db.ImportFinishParams{ID: imp.ID, Status: "failed", FailureReason: &reason}); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Once(ctx); err != nil || n != 1 {
		t.Fatalf("after the import failed the reconciler started %d (%v); want its referral", n, err)
	}
}
