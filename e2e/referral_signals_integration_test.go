package e2e_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// TestHubSpotChangesMoveAReferral sends HubSpot changes to a referral's
// workflow as signals on the real stack — out of order and duplicated — and
// checks the referral in Postgres and its audit trail. Its history is then
// replayed against the current workflow code, and, with
// REFERFLOW_RECORD_HISTORIES=1, saved under workflows/testdata for the replay
// test that guards every later change of the workflow.
func TestHubSpotChangesMoveAReferral(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	fx := d.SeedReferral(t)

	s := campaign.Defaults()
	s.Leads = campaign.CRMSettings{Action: campaign.ActionNone, FieldMapping: []campaign.FieldMapping{}}
	s.StatusRules = campaign.StatusRules{
		Qualified: &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"contractsent"}},
		Approved:  &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}},
	}
	d.SetCampaignSettings(t, fx.Campaign, s)

	ws := worker.New(tc.Client, d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	defer ws.Stop()
	id := fx.Referral.ID.String()
	run, err := workflows.StartReferralWorkflow(ctx, tc.Client, tc.TaskQueue, tc.HubSpotTaskQueue, id)
	if err != nil {
		t.Fatal(err)
	}
	waitForState(ctx, t, tc.Client, run.GetID(), func(s workflows.ReferralState) bool { return s.Status != "" })

	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	change := func(value string, minute int, key string) workflows.HubSpotChange {
		return workflows.HubSpotChange{ObjectType: "deal", ObjectID: 3000001, Property: "dealstage", Value: value,
			OccurredAt: at.Add(time.Duration(minute) * time.Minute), DedupeKey: key}
	}
	for _, c := range []workflows.HubSpotChange{
		change("contractsent", 3, "e3"),
		change("qualifiedtobuy", 2, "e2"), // older: ignored
		change("contractsent", 3, "e3"),   // redelivery: dropped
	} {
		if err := tc.Client.SignalWorkflow(ctx, run.GetID(), "", workflows.SignalHubSpotChange, c); err != nil {
			t.Fatal(err)
		}
	}
	waitForState(ctx, t, tc.Client, run.GetID(), func(s workflows.ReferralState) bool { return s.Status == referral.Qualified })
	if err := tc.Client.SignalWorkflow(ctx, run.GetID(), "", workflows.SignalHubSpotChange, change("closedwon", 9, "e9")); err != nil {
		t.Fatal(err)
	}
	var final workflows.ReferralState
	if err := run.Get(ctx, &final); err != nil {
		t.Fatal(err)
	}
	if final.Status != referral.Approved || final.Transitions != 2 {
		t.Fatalf("final = %+v", final)
	}
	row, err := d.Queries.ReferralGetByID(ctx, fx.Referral.ID)
	if err != nil || row.Status != "approved" || row.ApprovedAt == nil {
		t.Fatalf("referral in Postgres: %+v %v", row, err)
	}
	events, err := d.Queries.ReferralEventListByReferral(ctx, fx.Referral.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Whether the two first changes reach the workflow in one task or two
	// decides whether qualifiedtobuy is applied before contractsent (sorted)
	// or ignored as older; either way it moves nothing.
	counts := map[string]int{}
	for _, ev := range events {
		counts[ev.Kind+"/"+ev.Actor]++
	}
	// lead_not_sent: the campaign's leads action is none.
	if len(events) != 5 || counts["workflow_started/system"] != 1 || counts["lead_not_sent/system"] != 1 ||
		counts["status_changed/hubspot"] != 2 || counts["hubspot_change/hubspot"] != 1 {
		t.Fatalf("audit trail = %v", counts)
	}

	// The run replays against the current code, and can be saved for the
	// replay test.
	hist := &historypb.History{}
	it := tc.Client.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, ev)
	}
	replayer := sdkworker.NewWorkflowReplayer()
	replayer.RegisterWorkflow(workflows.ReferralWorkflow)
	if err := replayer.ReplayWorkflowHistory(nil, hist); err != nil {
		t.Fatalf("replay of the run just made: %v", err)
	}
	if os.Getenv("REFERFLOW_RECORD_HISTORIES") == "1" {
		raw, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "workflows", "testdata", "referral_hubspot_changes.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
