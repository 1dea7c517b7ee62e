package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/referral"
)

// A HubSpot workflow waits for the referral's decision; HubSpot's callback
// API fails when the referral is approved: the referral keeps its status,
// waits on complete_decision_callbacks saying why, and completes the
// callback on its retry timer. The workflow never fails, and ends only once
// the callback is completed.
func TestDecisionCallbacksWaitWhileHubSpotFails(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(testActs)
	env.RegisterActivity(testHubSpotActs)
	env.OnActivity(testHubSpotActs.SendLeadToHubSpot, mock.Anything, testReferralID).Return(activities.LeadResult{Skipped: "none"}, nil)
	env.OnActivity(testActs.LoadReferral, mock.Anything, testReferralID).Return(activities.Referral{
		ID: testReferralID, CampaignID: "camp-1", MemberCode: "MAYA-7Q2", LeadEmail: "leo@example.org", Status: referral.Pending,
	}, nil)
	var events []activities.ReferralEvent
	env.OnActivity(testActs.RecordReferralEvent, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ev activities.ReferralEvent) error { events = append(events, ev); return nil })
	passFraudChecks(env)
	env.OnActivity(testActs.ChangeReferralStatus, mock.Anything, mock.Anything).Return(nil)
	var waiting []activities.ReferralWaiting
	env.OnActivity(testActs.SetReferralWaiting, mock.Anything, mock.Anything).Return(
		func(_ context.Context, w activities.ReferralWaiting) error { waiting = append(waiting, w); return nil })
	env.OnActivity(testActs.CountDecisionCallbacks, mock.Anything, testReferralID).Return(1, nil)
	var sent []activities.DecisionCallbacks
	var completedAt time.Time
	env.OnActivity(testHubSpotActs.CompleteDecisionCallbacks, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.DecisionCallbacks) (activities.CallbacksCompleted, error) {
			sent = append(sent, in)
			if len(sent) == 1 {
				return activities.CallbacksCompleted{}, temporal.NewNonRetryableApplicationError("HubSpot connection broken", "HubSpotConnectionBroken", nil)
			}
			completedAt = env.Now()
			return activities.CallbacksCompleted{Completed: 1}, nil
		})
	var approve updateResult
	sendUpdate(env, time.Minute, "a", SetStatusRequest{Status: referral.Approved, Actor: "admin:1"}, &approve)
	var during ReferralState
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryReferralState)
		if err == nil {
			_ = v.Get(&during)
		}
	}, 90*time.Second)
	start := env.Now()
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	if approve.err != nil || approve.state.Status != referral.Approved {
		t.Fatalf("approve: %+v", approve)
	}
	if during.Waiting == nil || during.Waiting.Step != referral.WaitCompleteDecisionCallbacks || during.Waiting.Cause != "HubSpotConnectionBroken" ||
		during.Status != referral.Approved || during.DecisionCallbacks != referral.Approved {
		t.Fatalf("while HubSpot failed: %+v", during)
	}
	var final ReferralState
	if err := env.GetWorkflowResult(&final); err != nil {
		t.Fatalf("the workflow failed: %v", err)
	}
	if len(sent) != 2 || sent[1].Decision != "approved" || sent[1].ReferralID != testReferralID {
		t.Fatalf("completions sent: %+v", sent)
	}
	if d := completedAt.Sub(start); d < 2*time.Minute || d > 3*time.Minute {
		t.Fatalf("completed %v after the start, want on the one-minute retry timer after the approval", d)
	}
	if final.Waiting != nil || final.DecisionCallbacks != "" || final.Status != referral.Approved {
		t.Fatalf("final = %+v", final)
	}
	if len(waiting) != 2 || waiting[0].Step != referral.WaitCompleteDecisionCallbacks || waiting[1].Step != "" {
		t.Fatalf("waiting written: %+v", waiting)
	}
	var notCompleted, completed bool
	for _, ev := range events {
		notCompleted = notCompleted || ev.Kind == referral.EventDecisionCallbacksNotCompleted
		completed = completed || (ev.Kind == referral.EventDecisionCallbacksCompleted && ev.Details["decision"] == "approved")
	}
	if !notCompleted || !completed {
		t.Fatalf("audit events: %+v", events)
	}
}
