package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// TestReferralWorkflowOnRealStack drives one referral's workflow through a
// real Temporal dev server (the pinned CLI), a real worker and a real
// Postgres: start (twice, idempotently), an invalid admin decision that must
// leave no trace, two valid ones, and the results in Postgres, the audit
// trail and the Web UI's search attributes.
func TestReferralWorkflowOnRealStack(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	database := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	fx := database.SeedReferral(t)
	referralID := fx.Referral.ID.String()

	ws := worker.New(tc.Client, database.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	defer ws.Stop()

	run, err := workflows.StartReferralWorkflow(ctx, tc.Client, tc.TaskQueue, tc.HubSpotTaskQueue, referralID)
	if err != nil {
		t.Fatal(err)
	}
	again, err := workflows.StartReferralWorkflow(ctx, tc.Client, tc.TaskQueue, tc.HubSpotTaskQueue, referralID)
	if err != nil {
		t.Fatalf("second start of the same referral: %v", err)
	}
	if again.GetRunID() != run.GetRunID() {
		t.Fatalf("adding the referral twice started two runs: %s and %s", run.GetRunID(), again.GetRunID())
	}
	if run.GetID() != "referral/"+referralID {
		t.Fatalf("workflow ID = %q, want referral/<id>", run.GetID())
	}

	state := waitForState(ctx, t, tc.Client, run.GetID(), func(s workflows.ReferralState) bool { return s.Status != "" })
	if state.Status != referral.Pending || state.MemberCode != fx.Member.ReferralCode || state.CampaignID != fx.Campaign.ID.String() {
		t.Fatalf("loaded state = %+v", state)
	}

	// A denial without a reason is rejected by the validator: an error for
	// the admin, nothing in the history.
	_, err = setStatus(ctx, tc.Client, run.GetID(), workflows.SetStatusRequest{Status: referral.Denied, Actor: "admin:1"})
	if err == nil || !strings.Contains(err.Error(), "needs a reason") {
		t.Fatalf("denial without reason: err = %v, want a validator rejection naming the reason", err)
	}
	if n := countUpdateEvents(ctx, t, tc.Client, run.GetID()); n != 0 {
		t.Fatalf("a rejected update left %d events in history", n)
	}

	got, err := setStatus(ctx, tc.Client, run.GetID(), workflows.SetStatusRequest{Status: referral.Qualified, Actor: "admin:1"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != referral.Qualified {
		t.Fatalf("after qualify: %+v", got)
	}
	row, err := database.Queries.ReferralGetByID(ctx, fx.Referral.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Status != "qualified" || row.QualifiedAt == nil {
		t.Fatalf("referral in Postgres after qualify: status %s, qualified_at %v", row.Status, row.QualifiedAt)
	}
	if sa := searchAttribute(ctx, t, tc.Client, run.GetID(), "ReferralStatus"); sa != "qualified" {
		t.Fatalf("ReferralStatus search attribute = %q, want qualified", sa)
	}
	if sa := searchAttribute(ctx, t, tc.Client, run.GetID(), "MemberCode"); sa != fx.Member.ReferralCode {
		t.Fatalf("MemberCode search attribute = %q, want %s", sa, fx.Member.ReferralCode)
	}

	if _, err := setStatus(ctx, tc.Client, run.GetID(), workflows.SetStatusRequest{Status: referral.Approved, Actor: "admin:1"}); err != nil {
		t.Fatal(err)
	}
	var final workflows.ReferralState
	if err := run.Get(ctx, &final); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	if final.Status != referral.Approved || final.Transitions != 2 {
		t.Fatalf("final state = %+v, want approved after 2 transitions", final)
	}

	events, err := database.Queries.ReferralEventListByReferral(ctx, fx.Referral.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The lead step runs while admin decisions may arrive, so it is checked
	// apart from the ordered trail of decisions.
	var trail []string
	leadEvents := 0
	for _, ev := range events {
		if ev.Kind == "lead_not_sent" {
			leadEvents++
			continue
		}
		s := ev.Kind
		if ev.ToStatus != nil {
			s += ":" + *ev.FromStatus + "->" + *ev.ToStatus + " by " + ev.Actor
		}
		trail = append(trail, s)
	}
	if leadEvents != 1 {
		t.Fatalf("lead events = %d, want one lead_not_sent (the campaign sends nothing)", leadEvents)
	}
	want := []string{"workflow_started", "status_changed:pending->qualified by admin:1", "status_changed:qualified->approved by admin:1"}
	if len(trail) != len(want) {
		t.Fatalf("audit trail = %q, want %q", trail, want)
	}
	for i := range want {
		if trail[i] != want[i] {
			t.Fatalf("audit trail = %q, want %q", trail, want)
		}
	}

	// The Web UI finds the run by its search attributes.
	waitForVisibility(ctx, t, tc.Client, `ReferralStatus = "approved" AND CampaignID = "`+fx.Campaign.ID.String()+`"`, run.GetID())
}

func setStatus(ctx context.Context, c client.Client, workflowID string, req workflows.SetStatusRequest) (workflows.ReferralState, error) {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateName:   workflows.UpdateSetStatus,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return workflows.ReferralState{}, err
	}
	var s workflows.ReferralState
	err = h.Get(ctx, &s)
	return s, err
}

func waitForState(ctx context.Context, t *testing.T, c client.Client, workflowID string, ok func(workflows.ReferralState) bool) workflows.ReferralState {
	t.Helper()
	for {
		var s workflows.ReferralState
		v, err := c.QueryWorkflow(ctx, workflowID, "", workflows.QueryReferralState)
		if err == nil {
			if err := v.Get(&s); err != nil {
				t.Fatal(err)
			}
			if ok(s) {
				return s
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("workflow %s never reached the expected state (last %+v, err %v)", workflowID, s, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func countUpdateEvents(ctx context.Context, t *testing.T, c client.Client, workflowID string) int {
	t.Helper()
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED:
			n++
		}
	}
	return n
}

func searchAttribute(ctx context.Context, t *testing.T, c client.Client, workflowID, name string) string {
	t.Helper()
	desc, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[name]
	if !ok {
		return ""
	}
	var v string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func waitForVisibility(ctx context.Context, t *testing.T, c client.Client, query, workflowID string) {
	t.Helper()
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("list workflows %q: %v", query, err)
		}
		for _, ex := range resp.GetExecutions() {
			if ex.GetExecution().GetWorkflowId() == workflowID {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("workflow %s never listed for %q", workflowID, query)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
