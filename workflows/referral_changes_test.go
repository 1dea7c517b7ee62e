package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/salesentry"
)

var dealRules = campaign.StatusRules{
	Qualified: &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"contractsent"}},
	Approved:  &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}},
	Denied:    &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedlost"}},
}

// changeLog records what the workflow wrote, as the database would see it.
type changeLog struct {
	mu        sync.Mutex
	moves     []activities.StatusChange
	records   []activities.ReferralEvent
	review    []bool
	decisions []string
	objects   []activities.HubSpotObjectEvent
}

func newChangesEnv(t *testing.T, reviewDeniedToQualified bool) (*testsuite.TestWorkflowEnvironment, *changeLog) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(testActs)
	env.RegisterActivity(testHubSpotActs)
	noDecisionCallbacks(env)
	env.OnActivity(testHubSpotActs.SendLeadToHubSpot, mock.Anything, testReferralID).Return(activities.LeadResult{Skipped: "the campaign's leads action is none"}, nil)
	log := &changeLog{}
	env.OnActivity(testActs.LoadReferral, mock.Anything, testReferralID).Return(activities.Referral{
		ID: testReferralID, CampaignID: "camp-1", MemberCode: "MAYA-7Q2", LeadEmail: "leo@example.org", Status: referral.Pending,
		StatusRules: dealRules, ReviewDeniedToQualified: reviewDeniedToQualified,
	}, nil)
	env.OnActivity(testActs.CheckReferralFraud, mock.Anything, testReferralID).Return(activities.FraudVerdict{}, nil)
	env.OnActivity(testActs.RecordReferralEvent, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ev activities.ReferralEvent) error {
			log.mu.Lock()
			defer log.mu.Unlock()
			if ev.Kind == "hubspot_change" {
				log.records = append(log.records, ev)
			}
			return nil
		})
	env.OnActivity(testActs.ChangeReferralStatus, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ch activities.StatusChange) error {
			log.mu.Lock()
			defer log.mu.Unlock()
			log.moves = append(log.moves, ch)
			return nil
		})
	env.OnActivity(testActs.OpenReferralReview, mock.Anything, mock.Anything).Return(
		func(_ context.Context, r activities.ReferralReview) (string, error) {
			log.mu.Lock()
			defer log.mu.Unlock()
			if r.ReferralID != testReferralID || r.Reason != "denied_to_approved" || r.WorkflowID == "" {
				return "", fmt.Errorf("unexpected review %+v", r)
			}
			log.review = append(log.review, true)
			return "review-1", nil
		})
	env.OnActivity(testActs.CloseReferralReview, mock.Anything, testReferralID, mock.Anything, mock.Anything).Return(
		func(_ context.Context, _, decision, actor string) error {
			log.mu.Lock()
			defer log.mu.Unlock()
			log.review = append(log.review, false)
			log.decisions = append(log.decisions, decision)
			return nil
		})
	env.OnActivity(testActs.ApplyHubSpotObjectEvent, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ev activities.HubSpotObjectEvent) (string, error) {
			log.mu.Lock()
			defer log.mu.Unlock()
			log.objects = append(log.objects, ev)
			return "applied", nil
		})
	return env, log
}

var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func stage(value string, at time.Duration, key string) HubSpotChange {
	return HubSpotChange{ObjectType: "deal", ObjectID: 3000001, Property: "dealstage", Value: value, OccurredAt: t0.Add(at), DedupeKey: key}
}

func signalAll(env *testsuite.TestWorkflowEnvironment, delay time.Duration, changes ...HubSpotChange) {
	env.RegisterDelayedCallback(func() {
		for _, c := range changes {
			env.SignalWorkflow(SignalHubSpotChange, c)
		}
	}, delay)
}

// Changes delivered out of order and twice are applied once each, in
// occurredAt order; a change older than one already applied is kept but
// ignored, with its reason.
func TestHubSpotChangesInOrderOnceEach(t *testing.T) {
	env, log := newChangesEnv(t, false)
	signalAll(env, time.Minute,
		stage("presentationscheduled", 1*time.Minute, "e1"),
		stage("contractsent", 3*time.Minute, "e3"),
		stage("contractsent", 3*time.Minute, "e3"), // redelivery
		stage("qualifiedtobuy", 2*time.Minute, "e2"),
	)
	signalAll(env, time.Hour,
		stage("appointmentscheduled", 30*time.Second, "e0"), // arrives late, happened first
		HubSpotChange{ObjectType: "deal", ObjectID: 3000001, Property: "amount", Value: "1200", OccurredAt: t0.Add(4 * time.Minute), DedupeKey: "e4"},
		stage("closedwon", 5*time.Minute, "e5"),
		stage("contractsent", 3*time.Minute, "e3"), // redelivered a day later
	)
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	var final ReferralState
	if err := env.GetWorkflowResult(&final); err != nil {
		t.Fatal(err)
	}
	if final.Status != referral.Approved || final.Transitions != 2 {
		t.Fatalf("final = %+v", final)
	}
	if len(log.moves) != 2 || log.moves[0].To != referral.Qualified || log.moves[1].To != referral.Approved ||
		log.moves[0].Actor != "hubspot" || log.moves[0].IdempotencyKey != "hubspot:e3" || log.moves[0].Cause["value"] != "contractsent" {
		t.Fatalf("moves = %+v", log.moves)
	}
	outcomes := map[string]string{}
	for _, r := range log.records {
		outcomes[strings.TrimPrefix(r.IdempotencyKey, "hubspot:")] = r.Details["outcome"].(string)
	}
	want := map[string]string{
		"e1": "no status rule matches this value",
		"e2": "no status rule matches this value", // sorted before e3, so not stale
		"e0": "ignored: older than",
		"e4": "ignored: no status rule uses deal.amount",
	}
	for key, prefix := range want {
		if !strings.HasPrefix(outcomes[key], prefix) {
			t.Errorf("change %s: outcome %q, want %q", key, outcomes[key], prefix)
		}
	}
	if len(log.records) != len(want) {
		t.Errorf("recorded %d changes, want %d (redeliveries are dropped): %v", len(log.records), len(want), outcomes)
	}
}

// A denied referral that HubSpot would move to approved waits for an admin
// when the campaign says so; the admin's acceptance moves it.
func TestDeniedToApprovedWaitsForReview(t *testing.T) {
	env, log := newChangesEnv(t, true)
	signalAll(env, time.Minute, stage("closedlost", time.Minute, "lost"))
	signalAll(env, time.Hour, stage("closedwon", 2*time.Minute, "won"))
	var early, accept updateResult
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateResolveReview, "too-early", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { early.rejected = err }, OnComplete: func(any, error) { early.completed = true },
		}, ReviewDecision{Accept: true, Actor: "admin:1"})
	}, 30*time.Minute)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryReferralState)
		var s ReferralState
		if err == nil {
			err = v.Get(&s)
		}
		if err != nil || s.Status != referral.Denied || s.PendingReview == nil || s.PendingReview.To != referral.Approved {
			t.Errorf("state while held: %+v %v", s, err)
		}
		env.UpdateWorkflow(UpdateResolveReview, "accept", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { accept.rejected = err },
			OnComplete: func(v any, err error) {
				accept.completed, accept.err = true, err
			},
		}, ReviewDecision{Accept: true, Actor: "admin:1"})
	}, 2*time.Hour)
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	if early.rejected == nil || !strings.Contains(early.rejected.Error(), "nothing is waiting for review") {
		t.Fatalf("a review decision with nothing to review: %v", early.rejected)
	}
	if !accept.completed || accept.err != nil {
		t.Fatalf("accept: %+v", accept)
	}
	var final ReferralState
	if err := env.GetWorkflowResult(&final); err != nil {
		t.Fatal(err)
	}
	if final.Status != referral.Approved || final.PendingReview != nil {
		t.Fatalf("final = %+v", final)
	}
	if len(log.review) != 2 || !log.review[0] || log.review[1] {
		t.Fatalf("review queue writes = %v, want opened then closed", log.review)
	}
	if len(log.decisions) != 1 || log.decisions[0] != "accepted" {
		t.Fatalf("review entry closed with %v, want accepted", log.decisions)
	}
	if len(log.moves) != 2 || log.moves[1].From != referral.Denied || log.moves[1].Actor != "admin:1" {
		t.Fatalf("moves = %+v", log.moves)
	}
}

// When the server suggests it, the workflow continues as new only after
// applying every signal it holds, and hands on what it must remember.
func TestContinueAsNewLosesNothing(t *testing.T) {
	env, log := newChangesEnv(t, false)
	signalAll(env, time.Minute, stage("contractsent", time.Minute, "q1"), stage("presentationscheduled", 30*time.Second, "p1"))
	env.RegisterDelayedCallback(func() { env.SetContinueAsNewSuggested(true) }, 2*time.Minute)
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	if len(log.moves) != 1 || log.moves[0].To != referral.Qualified || len(log.records) != 1 {
		t.Fatalf("before continuing: moves %+v, records %+v", log.moves, log.records)
	}
	var next ReferralInput
	if err := decodeContinueAsNewInput(can, &next); err != nil {
		t.Fatal(err)
	}
	c := next.Carried
	if c == nil || c.State.Status != referral.Qualified || len(c.SeenKeys) != 2 || c.LastApplied["deal.dealstage"].IsZero() {
		t.Fatalf("carried = %+v", c)
	}

	// The next run drops a redelivery of a change the first applied.
	env2, log2 := newChangesEnv(t, false)
	signalAll(env2, time.Minute, stage("contractsent", time.Minute, "q1"), stage("closedwon", 5*time.Minute, "w1"))
	env2.ExecuteWorkflow(ReferralWorkflow, next)
	var final ReferralState
	if err := env2.GetWorkflowResult(&final); err != nil {
		t.Fatal(err)
	}
	if final.Status != referral.Approved || len(log2.moves) != 1 || len(log2.records) != 0 {
		t.Fatalf("second run: %+v moves %+v records %+v", final, log2.moves, log2.records)
	}
}

func decodeContinueAsNewInput(can *workflow.ContinueAsNewError, into *ReferralInput) error {
	return converter.GetDefaultDataConverter().FromPayloads(can.Input, into)
}

// A referral still pending when the campaign's expiry comes is denied
// "expired"; one that moved on before is not.
func TestPendingReferralExpires(t *testing.T) {
	for _, tc := range []struct {
		name    string
		signals []HubSpotChange
		want    referral.Status
	}{
		{"still pending", nil, referral.Denied},
		{"qualified in time", []HubSpotChange{stage("contractsent", time.Minute, "q")}, referral.Qualified},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterActivity(testActs)
			env.RegisterActivity(testHubSpotActs)
			noDecisionCallbacks(env)
			start := env.Now()
			env.OnActivity(testActs.LoadReferral, mock.Anything, testReferralID).Return(activities.Referral{
				ID: testReferralID, Status: referral.Pending, StatusRules: dealRules, ExpiresAt: start.Add(30 * 24 * time.Hour),
			}, nil)
			env.OnActivity(testActs.CheckReferralFraud, mock.Anything, testReferralID).Return(activities.FraudVerdict{}, nil)
			env.OnActivity(testHubSpotActs.SendLeadToHubSpot, mock.Anything, testReferralID).Return(activities.LeadResult{}, nil)
			env.OnActivity(testActs.RecordReferralEvent, mock.Anything, mock.Anything).Return(nil)
			var moves []activities.StatusChange
			env.OnActivity(testActs.ChangeReferralStatus, mock.Anything, mock.Anything).Return(
				func(_ context.Context, ch activities.StatusChange) error { moves = append(moves, ch); return nil })
			signalAll(env, time.Hour, tc.signals...)
			var state ReferralState
			env.RegisterDelayedCallback(func() {
				v, err := env.QueryWorkflow(QueryReferralState)
				if err == nil {
					err = v.Get(&state)
				}
				if err != nil {
					t.Error(err)
				}
				env.CancelWorkflow()
			}, 40*24*time.Hour)
			env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

			if state.Status != tc.want {
				t.Fatalf("after 40 days: %+v", state)
			}
			if tc.want == referral.Denied && (len(moves) != 1 || !strings.HasPrefix(moves[0].Reason, "expired") || moves[0].Actor != "system") {
				t.Fatalf("moves = %+v", moves)
			}
		})
	}
}

// Deletions, merges and associations reach the activity that keeps the
// referral pointing at its records, once each however often HubSpot
// delivers them, and a deletion shows in the referral's state; the deal a
// contact referral learns of by association then moves it by its stage.
func TestObjectEventsReachTheReferral(t *testing.T) {
	env, log := newChangesEnv(t, false)
	assoc := HubSpotChange{Kind: salesentry.ChangeAssociation, ObjectType: "deal", ObjectID: 3000001, ToObjectType: "contact", ToObjectID: 42,
		OccurredAt: t0, DedupeKey: "a1", SalesEntryID: 7}
	merge := HubSpotChange{Kind: salesentry.ChangeMerge, ObjectType: "contact", ObjectID: 42, MergedObjectIDs: []int64{42, 43}, SurvivingObjectID: 44,
		OccurredAt: t0.Add(time.Minute), DedupeKey: "m1"}
	del := HubSpotChange{Kind: salesentry.ChangeDeletion, ObjectType: "company", ObjectID: 5, OccurredAt: t0.Add(2 * time.Minute), DedupeKey: "d1"}
	signalAll(env, time.Minute, assoc, merge, assoc, del, merge)
	signalAll(env, time.Hour, stage("closedwon", 5*time.Minute, "e5"))
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	var final ReferralState
	if err := env.GetWorkflowResult(&final); err != nil {
		t.Fatal(err)
	}
	if len(log.objects) != 3 {
		t.Fatalf("object events applied = %+v, want association, merge and deletion once each", log.objects)
	}
	a, m, d := log.objects[0], log.objects[1], log.objects[2]
	if a.Kind != "association" || a.ToObjectID != 42 || a.SalesEntryID != 7 || a.IdempotencyKey != "hubspot:a1" ||
		m.Kind != "merge" || m.SurvivingObjectID != 44 || len(m.MergedObjectIDs) != 2 || d.Kind != "deletion" {
		t.Fatalf("object events = %+v", log.objects)
	}
	if len(final.DeletedObjects) != 1 || final.DeletedObjects[0] != "company 5" {
		t.Fatalf("deleted objects in state = %v", final.DeletedObjects)
	}
	if final.Status != referral.Approved {
		t.Fatalf("status = %s, want approved by the deal's stage", final.Status)
	}
}
