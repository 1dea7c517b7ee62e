package salesreceiver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/salesentry"

	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/workflows"
)

var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// A known deal's winning stage reaches the referral's workflow and approves
// the referral; a later change after the workflow ended is kept, processed,
// and says it was recorded only.
func TestAKnownDealsWinningStageApprovesItsReferral(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const deal = 4001
	w := newWorld(ctx, t, deal, 0)
	dispatch(t, w.dispatcher())
	ws := w.fx.Workspace.ID

	id := record(ctx, t, w.d, entry{portal: 77, workspace: &ws, subType: "deal.propertyChange", objectID: deal,
		property: "dealstage", value: "closedwon", occurredAt: t0})[0]
	row := waitEntry(ctx, t, w.d, id, dispatched)
	refID := w.fx.Referral.ID.String()
	if row.Status != "processed" || row.ReferralID == nil || *row.ReferralID != w.fx.Referral.ID ||
		row.CampaignID == nil || *row.CampaignID != w.fx.Campaign.ID || deref(row.WorkflowID) != "referral/"+refID ||
		row.ProcessedAt == nil || row.DispatchError != nil {
		t.Fatalf("entry = status %s referral %v campaign %v workflow %s processed_at %v dispatch error %s",
			row.Status, row.ReferralID, row.CampaignID, deref(row.WorkflowID), row.ProcessedAt, deref(row.DispatchError))
	}
	if got := onlyAction(t, row); got != fmt.Sprintf("sent the change of deal %d dealstage to referral %s", deal, refID) {
		t.Fatalf("action = %q", got)
	}
	if a := actions(t, row)[0]; a.Step != salesentry.StepSignalled || a.Data["referral_id"] != refID || a.Data["workflow_id"] != "referral/"+refID {
		t.Fatalf("action = %+v", a)
	}
	var final workflows.ReferralState
	if err := w.run.Get(ctx, &final); err != nil {
		t.Fatal(err)
	}
	if final.Status != referral.Approved {
		t.Fatalf("referral state = %+v", final)
	}
	if ref, err := w.d.Queries.ReferralGetByID(ctx, w.fx.Referral.ID); err != nil || ref.Status != "approved" {
		t.Fatalf("referral in Postgres: %s %v", ref.Status, err)
	}

	// The workflow has ended (approved, no rewards to pay).
	id = record(ctx, t, w.d, entry{portal: 77, workspace: &ws, subType: "deal.propertyChange", objectID: deal,
		property: "dealstage", value: "closedlost", occurredAt: t0.Add(time.Hour)})[0]
	row = waitEntry(ctx, t, w.d, id, dispatched)
	if got := onlyAction(t, row); row.Status != "processed" || got != "referral "+refID+"'s workflow has ended; change recorded only" {
		t.Fatalf("entry after the workflow ended: %s %q", row.Status, got)
	}
}

// Entries no rule needs are kept, marked ignored with the reason, and never
// reach a workflow; an entry whose payload cannot be read is failed with
// the reason.
func TestEntriesNothingNeedsAreIgnoredWithTheReason(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const deal = 4101
	w := newWorld(ctx, t, deal, 0)
	dispatch(t, w.dispatcher())
	ws := w.fx.Workspace.ID

	ids := record(ctx, t, w.d,
		entry{portal: 999, subType: "contact.creation", objectID: 1, occurredAt: t0},
		entry{portal: 77, workspace: &ws, subType: "deal.propertyChange", objectID: deal, property: "dealtype", value: "newbusiness", occurredAt: t0},
		entry{portal: 77, workspace: &ws, subType: "deal.associationChange", objectID: 5101, occurredAt: t0,
			extra: map[string]any{"associationType": "DEAL_TO_CONTACT", "fromObjectId": 5101, "toObjectId": 5102, "associationRemoved": false}},
		entry{portal: 77, workspace: &ws, subType: "contact.deletion", objectID: 5103, occurredAt: t0},
		entry{portal: 77, workspace: &ws, subType: "contact.merge", objectID: 5104, occurredAt: t0,
			extra: map[string]any{"primaryObjectId": 5104}},
		entry{portal: 77, workspace: &ws, subType: "deal.associationChange", objectID: 5105, occurredAt: t0,
			rawPayload: `{"associationType":"DEAL_TO_CONTACT","fromObjectId":"not a number"}`},
	)
	want := []struct{ status, action string }{
		{"ignored", "portal 999 is not connected to a workspace"},
		{"ignored", "no rule reads deal.dealtype"},
		{"ignored", "neither deal 5101 nor contact 5102 is linked to a referral"},
		{"ignored", "contact 5103 is not linked to any referral: its deletion is recorded only"},
		{"failed", "cannot be routed: contact.merge event names no record merged into 5104 (mergedObjectIds)"},
		{"failed", "cannot be routed: stored payload of a deal.associationChange event is not readable"},
	}
	for i, id := range ids {
		row := waitEntry(ctx, t, w.d, id, dispatched)
		got := onlyAction(t, row)
		if row.Status != want[i].status || !strings.HasPrefix(got, want[i].action) || row.ProcessedAt == nil || row.WorkflowID != nil {
			t.Errorf("entry %d: %s %q (workflow %s), want %s %q", i, row.Status, got, deref(row.WorkflowID), want[i].status, want[i].action)
		}
		if (row.Status == "failed") != (row.Error != nil) {
			t.Errorf("entry %d: status %s with error %s", i, row.Status, deref(row.Error))
		}
	}
	// Nothing reached the referral: its history has no signal.
	if n := countSignals(ctx, t, w, w.run.GetID()); n != 0 {
		t.Fatalf("the referral's workflow got %d signals", n)
	}
}

// An entry about an object no referral holds starts sales-entry/<id>, which
// matches it; a creation of an object a referral holds needs nothing.
func TestAnUnknownObjectStartsItsSalesEntryWorkflow(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const deal = 4201
	w := newWorld(ctx, t, deal, 0)
	dispatch(t, w.dispatcher())
	ws := w.fx.Workspace.ID

	ids := record(ctx, t, w.d,
		entry{portal: 77, workspace: &ws, subType: "deal.creation", objectID: 6201, occurredAt: t0},
		entry{portal: 77, workspace: &ws, subType: "contact.propertyChange", objectID: 6202,
			property: "referflow_referral_id", value: w.fx.Referral.ID.String(), occurredAt: t0},
		entry{portal: 77, workspace: &ws, subType: "deal.creation", objectID: deal, occurredAt: t0},
	)
	for _, id := range ids[:2] {
		row := waitEntry(ctx, t, w.d, id, dispatched)
		wfID := workflows.SalesEntryWorkflowID(id)
		if row.Status != "matching" || deref(row.WorkflowID) != wfID || row.ProcessedAt != nil {
			t.Fatalf("entry %d: %s workflow %s processed_at %v", id, row.Status, deref(row.WorkflowID), row.ProcessedAt)
		}
		if got := onlyAction(t, row); !strings.HasSuffix(got, "is not linked to any referral: matching it") {
			t.Fatalf("entry %d: action %q", id, got)
		}
		var in workflows.SalesEntryInput
		if err := w.tc.Client.GetWorkflow(ctx, wfID, "").Get(ctx, &in); err != nil {
			t.Fatal(err)
		}
		if in.SalesEntryID != id || in.HubSpotTaskQueue != w.tc.HubSpotTaskQueue {
			t.Fatalf("%s started with %+v", wfID, in)
		}
	}
	row := waitEntry(ctx, t, w.d, ids[2], dispatched)
	if got := onlyAction(t, row); row.Status != "processed" || got != "already linked to referral "+w.fx.Referral.ID.String() ||
		row.ReferralID == nil || *row.ReferralID != w.fx.Referral.ID {
		t.Fatalf("creation of the known deal: %s %q", row.Status, got)
	}
}

// Entries recorded out of order reach the referral in occurredAt order: the
// deal's stages are applied contractsent then closedwon, so the referral
// goes pending → qualified → approved rather than skipping qualified and
// ignoring the older change.
func TestOutOfOrderEntriesReachTheReferralInOccurredAtOrder(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const deal = 4301
	w := newWorld(ctx, t, deal, 0)
	ws := w.fx.Workspace.ID
	stage := func(value string, minute int) entry {
		return entry{portal: 77, workspace: &ws, subType: "deal.propertyChange", objectID: deal,
			property: "dealstage", value: value, occurredAt: t0.Add(time.Duration(minute) * time.Minute)}
	}
	// Recorded newest first, before any dispatcher runs, so one batch holds
	// them all.
	ids := record(ctx, t, w.d, stage("closedwon", 3), stage("contractsent", 2), stage("qualifiedtobuy", 1))
	dispatch(t, w.dispatcher())

	var final workflows.ReferralState
	if err := w.run.Get(ctx, &final); err != nil {
		t.Fatal(err)
	}
	if final.Status != referral.Approved || final.Transitions != 2 {
		t.Fatalf("final = %+v, want approved after 2 transitions", final)
	}
	events, err := w.d.Queries.ReferralEventListByReferral(ctx, w.fx.Referral.ID)
	if err != nil {
		t.Fatal(err)
	}
	var moves []string
	for _, ev := range events {
		if ev.Kind == "status_changed" {
			moves = append(moves, fmt.Sprintf("%s→%s", deref(ev.FromStatus), deref(ev.ToStatus)))
		}
	}
	if strings.Join(moves, " ") != "pending→qualified qualified→approved" {
		t.Fatalf("status changes = %v", moves)
	}
	for _, id := range ids {
		if row := waitEntry(ctx, t, w.d, id, dispatched); row.Status != "processed" {
			t.Fatalf("entry %d: %s", id, row.Status)
		}
	}
}

// An entry waiting for its retry (Temporal failed on it) holds back the
// newer entries of its object: they reach the referral after it, even when
// they arrive once Temporal is fine again.
func TestANewerEntryWaitsForAnOlderOneBeingRetried(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const deal = 4351
	w := newWorld(ctx, t, deal, 0)
	ws := w.fx.Workspace.ID
	older := record(ctx, t, w.d, entry{portal: 77, workspace: &ws, subType: "deal.propertyChange", objectID: deal,
		property: "dealstage", value: "contractsent", occurredAt: t0.Add(time.Minute)})[0]
	// As a failed attempt leaves it.
	if _, err := w.d.Pool.Exec(ctx, `UPDATE sales_entries SET dispatch_attempts = 1, dispatch_error = 'Temporal did not answer',
		next_dispatch_at = now() + interval '1500 milliseconds' WHERE id = $1`, older); err != nil {
		t.Fatal(err)
	}
	dispatch(t, w.dispatcher())
	newer := record(ctx, t, w.d, entry{portal: 77, workspace: &ws, subType: "deal.propertyChange", objectID: deal,
		property: "dealstage", value: "closedwon", occurredAt: t0.Add(2 * time.Minute)})[0]
	held := waitEntry(ctx, t, w.d, newer, func(r db.SalesEntry) bool { return r.DispatchError != nil || r.DispatchedAt != nil })
	if held.DispatchedAt != nil || held.DispatchAttempts != 0 || !strings.HasPrefix(deref(held.DispatchError), fmt.Sprintf("waits for sales entry %d ", older)) {
		t.Fatalf("the newer entry was not held back: dispatched %v attempts %d error %q", held.DispatchedAt, held.DispatchAttempts, deref(held.DispatchError))
	}
	a, b := waitEntry(ctx, t, w.d, older, dispatched), waitEntry(ctx, t, w.d, newer, dispatched)
	if b.DispatchedAt.Before(*a.DispatchedAt) || a.Status != "processed" || b.Status != "processed" {
		t.Fatalf("older routed %v (%s), newer %v (%s)", a.DispatchedAt, a.Status, b.DispatchedAt, b.Status)
	}
	var final workflows.ReferralState
	if err := w.run.Get(ctx, &final); err != nil {
		t.Fatal(err)
	}
	if final.Status != referral.Approved || final.Transitions != 2 {
		t.Fatalf("final = %+v, want approved through qualified", final)
	}
}

// A referral just added whose workflow has not started yet (the sales-entry
// workflow links the object first) gets its change once the workflow runs;
// a referral added long ago with no workflow only has the change recorded.
func TestAChangeWaitsForAWorkflowAboutToStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const deal = 4371
	w := newWorldStarting(ctx, t, deal, 0, false)
	d := w.dispatcher()
	d.MinBackoff, d.MaxBackoff = 50*time.Millisecond, 200*time.Millisecond
	dispatch(t, d)
	ws := w.fx.Workspace.ID
	id := record(ctx, t, w.d, entry{portal: 77, workspace: &ws, subType: "deal.propertyChange", objectID: deal,
		property: "dealstage", value: "contractsent", occurredAt: t0})[0]
	row := waitEntry(ctx, t, w.d, id, func(r db.SalesEntry) bool { return r.DispatchAttempts >= 1 })
	if row.DispatchedAt != nil || !strings.Contains(deref(row.DispatchError), "has not started yet") {
		t.Fatalf("before the workflow started: dispatched %v, error %q", row.DispatchedAt, deref(row.DispatchError))
	}
	w.start(ctx, t)
	row = waitEntry(ctx, t, w.d, id, dispatched)
	if got := onlyAction(t, row); row.Status != "processed" || !strings.HasPrefix(got, "sent the change of deal") {
		t.Fatalf("after it started: %s %q", row.Status, got)
	}
	waitForState(ctx, t, w.tc.Client, w.run.GetID(), func(s workflows.ReferralState) bool { return s.Status == referral.Qualified })

	// Another referral, added an hour ago, never had a workflow.
	other := w.d.SeedReferral(t)
	w.d.SetCampaignSettings(t, other.Campaign, campaign.Defaults())
	const otherDeal = 4372
	otherDealID := int64(otherDeal)
	if _, err := w.d.Queries.ReferralSetHubSpotObjects(ctx, db.ReferralSetHubSpotObjectsParams{ID: other.Referral.ID, HubspotDealID: &otherDealID}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.d.Pool.Exec(ctx, "UPDATE referrals SET created_at = now() - interval '1 hour' WHERE id = $1", other.Referral.ID); err != nil {
		t.Fatal(err)
	}
	ows := other.Workspace.ID
	id = record(ctx, t, w.d, entry{portal: 78, workspace: &ows, subType: "deal.propertyChange", objectID: otherDeal,
		property: "referflow_referral_id", value: other.Referral.ID.String(), occurredAt: t0})[0]
	row = waitEntry(ctx, t, w.d, id, dispatched)
	if got := onlyAction(t, row); row.Status != "processed" || got != "referral "+other.Referral.ID.String()+"'s workflow has ended; change recorded only" {
		t.Fatalf("a referral without a workflow: %s %q", row.Status, got)
	}
}

// A deal associated with the referral's contact, and a merge of that
// contact, reach the referral's workflow with the referral's own object as
// the change's object, whichever end HubSpot reported from.
func TestAssociationsAndMergesReachTheReferralHoldingEitherEnd(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const contact = 7001
	w := newWorld(ctx, t, 0, contact)
	dispatch(t, w.dispatcher())
	ws := w.fx.Workspace.ID

	ids := record(ctx, t, w.d,
		entry{portal: 77, workspace: &ws, subType: "deal.associationChange", objectID: 8001, occurredAt: t0,
			extra: map[string]any{"associationType": "DEAL_TO_CONTACT", "fromObjectId": 8001, "toObjectId": contact, "associationRemoved": false}},
		entry{portal: 77, workspace: &ws, subType: "contact.merge", objectID: 7002, occurredAt: t0.Add(time.Minute),
			extra: map[string]any{"primaryObjectId": 7002, "mergedObjectIds": []int64{contact}, "newObjectId": 7002}},
		entry{portal: 77, workspace: &ws, subType: "contact.deletion", objectID: contact, occurredAt: t0.Add(2 * time.Minute)},
	)
	var log []string
	for _, id := range ids {
		row := waitEntry(ctx, t, w.d, id, dispatched)
		if row.Status != "processed" || row.ReferralID == nil {
			t.Fatalf("entry %d: %s %s", id, row.Status, row.Actions)
		}
		log = append(log, string(row.Actions))
	}
	// A signal that arrives while a workflow task runs joins the history
	// when the task completes.
	got := signals(ctx, t, w, w.run.GetID())
	for len(got) < 3 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		got = signals(ctx, t, w, w.run.GetID())
	}
	if len(got) != 3 {
		t.Fatalf("signals = %+v\nentries' actions:\n%s", got, strings.Join(log, "\n"))
	}
	a, m, del := got[0], got[1], got[2]
	if a.Kind != salesentry.ChangeAssociation || a.ObjectType != "contact" || a.ObjectID != contact ||
		a.ToObjectType != "deal" || a.ToObjectID != 8001 || a.AssociationRemoved || a.SalesEntryID != ids[0] || a.DedupeKey == "" {
		t.Errorf("association = %+v", a)
	}
	if m.Kind != salesentry.ChangeMerge || m.ObjectID != contact || m.SurvivingObjectID != 7002 ||
		len(m.MergedObjectIDs) != 1 || m.MergedObjectIDs[0] != contact || !m.OccurredAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("merge = %+v", m)
	}
	if del.Kind != salesentry.ChangeDeletion || del.ObjectType != "contact" || del.ObjectID != contact {
		t.Errorf("deletion = %+v", del)
	}
}

// Two dispatchers (two worker processes) share the queue: each entry is
// routed exactly once.
func TestTwoDispatchersRouteEachEntryOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(ctx, t, 4401, 0)
	ws := w.fx.Workspace.ID
	var batch []entry
	for i := range 300 {
		e := entry{portal: 999, subType: "contact.creation", objectID: int64(10000 + i), occurredAt: t0.Add(time.Duration(i) * time.Millisecond)}
		if i%15 == 0 { // some start workflows, so batches take a while
			e = entry{portal: 77, workspace: &ws, subType: "deal.creation", objectID: int64(20000 + i), occurredAt: e.occurredAt}
		}
		batch = append(batch, e)
	}
	for range 2 {
		d := w.dispatcher()
		d.BatchSize = 40
		dispatch(t, d)
	}
	ids := record(ctx, t, w.d, batch...)
	for _, id := range ids {
		row := waitEntry(ctx, t, w.d, id, dispatched)
		onlyAction(t, row)
		if row.DispatchAttempts != 0 {
			t.Fatalf("entry %d took %d attempts: %s", id, row.DispatchAttempts, deref(row.DispatchError))
		}
	}
}

// signals lists the HubSpot changes signalled to a workflow, in order.
func signals(ctx context.Context, t *testing.T, w *world, workflowID string) []workflows.HubSpotChange {
	t.Helper()
	var out []workflows.HubSpotChange
	it := w.tc.Client.GetWorkflowHistory(ctx, workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		attrs := ev.GetWorkflowExecutionSignaledEventAttributes()
		if attrs == nil || attrs.GetSignalName() != workflows.SignalHubSpotChange {
			continue
		}
		var c workflows.HubSpotChange
		if err := converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func countSignals(ctx context.Context, t *testing.T, w *world, workflowID string) int {
	return len(signals(ctx, t, w, workflowID))
}
