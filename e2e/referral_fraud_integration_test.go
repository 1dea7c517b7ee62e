package e2e_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/review"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// TestFraudChecksAtTheDoorOnRealStack runs the fraud checks where they run
// in production: the referral's workflow, on a real Temporal dev server,
// worker and Postgres. A signal whose action is review holds the referral in
// the review queue with its reason (nothing sent on, an admin's set-status
// refused with why); approving lets it go on, rejecting denies it for good.
// A signal whose action is deny denies it at once. Each signal is in the
// audit trail. The rejected referral's run is the saved history
// workflows/testdata/referral_fraud_review_rejected.json (see
// TestReplaySavedHistories).
func TestFraudChecksAtTheDoorOnRealStack(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	database := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	fx := database.SeedReferral(t) // member maya@example.com
	s := campaign.Defaults()       // self_referral deny, disposable_email review
	database.SetCampaignSettings(t, fx.Campaign, s)

	ws := worker.New(tc.Client, database.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	defer ws.Stop()

	add := func(email string) db.Referral {
		r, err := database.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
			WorkspaceID: fx.Workspace.ID, CampaignID: fx.Campaign.ID, MemberID: fx.Member.ID,
			LeadEmail: email, LeadEmailNormalized: referral.NormalizeEmail(email), Source: "api",
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := workflows.StartReferralWorkflow(ctx, tc.Client, tc.TaskQueue, tc.HubSpotTaskQueue, r.ID.String()); err != nil {
			t.Fatal(err)
		}
		return r
	}
	held := func(s workflows.ReferralState) bool { return s.PendingReview != nil }

	// Review: a disposable lead email waits for an admin.
	approved := add("lead@box.mailinator.com")
	wfID := "referral/" + approved.ID.String()
	st := waitForState(ctx, t, tc.Client, wfID, held)
	if st.Status != referral.Pending || len(st.PendingReview.Fraud) != 1 || st.PendingReview.Fraud[0].Reason != referral.FraudDisposableEmail {
		t.Fatalf("held state = %+v", st)
	}
	entry, err := database.Queries.ReviewEntryGetOpenOfReferral(ctx, &approved.ID)
	if err != nil {
		t.Fatalf("no open review entry for the held referral: %v", err)
	}
	var data struct {
		Signals []struct{ Reason, Detail, Action string }
	}
	if err := json.Unmarshal(entry.Data, &data); err != nil {
		t.Fatal(err)
	}
	if review.Reason(entry.Reason) != review.FraudCheck || len(data.Signals) != 1 || data.Signals[0].Reason != "disposable_email" ||
		data.Signals[0].Action != "review" || !strings.Contains(data.Signals[0].Detail, "mailinator.com") {
		t.Fatalf("review entry: reason %s, data %s", entry.Reason, entry.Data)
	}
	if row, _ := database.Queries.ReferralGetByID(ctx, approved.ID); !row.InReview {
		t.Fatal("the held referral is not flagged in review")
	}
	if kinds := eventKinds(ctx, t, database, approved); !has(kinds, "fraud_signal") || has(kinds, "lead_not_sent") || has(kinds, "lead_sent_to_hubspot") {
		t.Fatalf("while held: trail %q, want a fraud_signal and no lead step", kinds)
	}
	if _, err := setStatus(ctx, tc.Client, wfID, workflows.SetStatusRequest{Status: referral.Qualified, Actor: "admin:1"}); err == nil || !strings.Contains(err.Error(), "review") {
		t.Fatalf("set-status while held: %v, want a refusal pointing to the review", err)
	}
	st = decide(ctx, t, tc.Client, wfID, workflows.UpdateResolveReview, workflows.ReviewDecision{Accept: true, Actor: "admin:1"})
	if st.PendingReview != nil || st.Status != referral.Pending {
		t.Fatalf("after approval: %+v", st)
	}
	waitForEvent(ctx, t, database, approved, "lead_not_sent") // the lead step ran (this campaign sends nothing)
	if kinds := eventKinds(ctx, t, database, approved); !has(kinds, "review_accepted") {
		t.Fatalf("after approval: trail %q", kinds)
	}
	if after, _ := database.Queries.ReviewEntryGetByID(ctx, entry.ID); after.Status != string(review.Resolved) || deref(after.Decision) != "accepted" {
		t.Fatalf("review entry after approval: %s %s", after.Status, deref(after.Decision))
	}

	// Review, rejected: denied for good with the reasons.
	rejected := add("other@mailinator.com")
	rejectedID := "referral/" + rejected.ID.String()
	waitForState(ctx, t, tc.Client, rejectedID, held)
	decide(ctx, t, tc.Client, rejectedID, workflows.UpdateResolveReview, workflows.ReviewDecision{Accept: false, Actor: "admin:1"})
	var final workflows.ReferralState
	if err := tc.Client.GetWorkflow(ctx, rejectedID, "").Get(ctx, &final); err != nil {
		t.Fatal(err)
	}
	if final.Status != referral.Denied || !final.FinalDenial || !strings.HasPrefix(final.DeniedReason, "rejected in review: disposable_email: ") {
		t.Fatalf("rejected: %+v", final)
	}
	// Its run (held for review, rejected) replays against the current code,
	// and is saved for the replay test with REFERFLOW_RECORD_HISTORIES=1.
	hist := &historypb.History{}
	it := tc.Client.GetWorkflowHistory(ctx, rejectedID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
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
		t.Fatalf("replay of the rejected referral's run: %v", err)
	}
	if os.Getenv("REFERFLOW_RECORD_HISTORIES") == "1" {
		raw, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "workflows", "testdata", "referral_fraud_review_rejected.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Deny: the member's own mailbox is denied at once, the reason kept.
	self := add("Maya+again@example.com")
	final = workflows.ReferralState{}
	if err := tc.Client.GetWorkflow(ctx, "referral/"+self.ID.String(), "").Get(ctx, &final); err != nil {
		t.Fatal(err)
	}
	row, err := database.Queries.ReferralGetByID(ctx, self.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.Status != referral.Denied || row.Status != "denied" || !strings.HasPrefix(deref(row.DeniedReason), "self_referral: ") || row.InReview {
		t.Fatalf("self-referral: state %+v, row status %s reason %q", final, row.Status, deref(row.DeniedReason))
	}
	if kinds := eventKinds(ctx, t, database, self); !has(kinds, "fraud_signal") || has(kinds, "lead_not_sent") {
		t.Fatalf("self-referral trail %q", kinds)
	}
}

func eventKinds(ctx context.Context, t *testing.T, d *testenv.Database, r db.Referral) []string {
	t.Helper()
	events, err := d.Queries.ReferralEventListByReferral(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	kinds := make([]string, len(events))
	for i, ev := range events {
		kinds[i] = ev.Kind
		if ev.Kind == string(referral.EventFraudSignal) {
			var d struct{ Reason string }
			_ = json.Unmarshal(ev.Details, &d)
			kinds[i] += ":" + d.Reason
		}
	}
	return kinds
}

// has tells whether a trail has an event of kind (a fraud_signal of any reason).
func has(kinds []string, kind string) bool {
	for _, k := range kinds {
		if k == kind || strings.HasPrefix(k, kind+":") {
			return true
		}
	}
	return false
}

func waitForEvent(ctx context.Context, t *testing.T, d *testenv.Database, r db.Referral, kind string) {
	t.Helper()
	for !has(eventKinds(ctx, t, d, r), kind) {
		select {
		case <-ctx.Done():
			t.Fatalf("referral %s: no %s event (trail %q)", r.ID, kind, eventKinds(ctx, t, d, r))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
