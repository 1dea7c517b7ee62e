package salesreceiver_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/salesreceiver"
	"github.com/referflow/referflow/workflows"
)

// A test event is what the same real event then does: the preview says
// "moved to qualified" and writes nothing; the real event, recorded and
// routed, sends the same change and moves the referral to qualified.
func TestATestEventIsWhatTheRealEventDoes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const deal = 4701
	w := newWorld(ctx, t, deal, 0)
	dispatch(t, w.dispatcher())
	ws, camp := w.fx.Workspace.ID, w.fx.Campaign.ID
	refID := w.fx.Referral.ID.String()

	te := salesreceiver.TestEvent{ObjectType: hubspotobject.Deal, RecordID: deal, Property: "dealstage", Value: "contractsent"}
	res, err := salesreceiver.PreviewTestEvent(ctx, w.d.Queries, w.tc.Client, testLogger(), ws, camp, te)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Referrals) != 1 || res.Referrals[0].ReferralID != refID || res.Referrals[0].Preview == nil {
		t.Fatalf("test event = %+v", res)
	}
	if p := *res.Referrals[0].Preview; p.Outcome != "moved to qualified" || p.MovesTo != referral.Qualified || p.Status != referral.Pending {
		t.Fatalf("preview = %+v", p)
	}
	var entries int
	if err := w.d.Pool.QueryRow(ctx, `SELECT count(*) FROM sales_entries`).Scan(&entries); err != nil || entries != 0 {
		t.Fatalf("sales entries after the test event: %d %v", entries, err)
	}
	if s := waitForState(ctx, t, w.tc.Client, w.run.GetID(), func(workflows.ReferralState) bool { return true }); s.Status != referral.Pending || s.Transitions != 0 {
		t.Fatalf("state after the test event = %+v", s)
	}

	id := record(ctx, t, w.d, entry{portal: 77, workspace: &ws, subType: "deal.propertyChange", objectID: deal,
		property: "dealstage", value: "contractsent", occurredAt: time.Now()})[0]
	row := waitEntry(ctx, t, w.d, id, dispatched)
	a := actions(t, row)[0]
	raw, _ := json.Marshal(a.Data["change"])
	var sent workflows.HubSpotChange
	if err := json.Unmarshal(raw, &sent); err != nil {
		t.Fatal(err)
	}
	tried := res.Change
	if sent.Kind != tried.Kind || sent.ObjectType != tried.ObjectType || sent.ObjectID != tried.ObjectID || sent.Property != tried.Property || sent.Value != tried.Value {
		t.Fatalf("the real event sent %+v; the test event tried %+v", sent, tried)
	}
	if s := waitForState(ctx, t, w.tc.Client, w.run.GetID(), func(s workflows.ReferralState) bool { return s.Transitions > 0 }); s.Status != referral.Qualified {
		t.Fatalf("after the real event = %+v", s)
	}
}
