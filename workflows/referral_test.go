package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/referral"
)

const testReferralID = "5b1f6a0e-6a43-4f4a-9d7e-3f5f0c2b1a11"

// testActs names activities for mocks; the mocks stand in for its methods.
var testActs = &activities.Activities{}

// testHubSpotActs names the HubSpot activities for mocks.
var testHubSpotActs = &activities.HubSpot{}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(testActs)
	env.RegisterActivity(testHubSpotActs)
	noDecisionCallbacks(env)
	env.OnActivity(testHubSpotActs.SendLeadToHubSpot, mock.Anything, testReferralID).Return(activities.LeadResult{Skipped: "the campaign's leads action is none"}, nil)
	env.OnActivity(testActs.LoadReferral, mock.Anything, testReferralID).Return(activities.Referral{
		ID: testReferralID, CampaignID: "camp-1", MemberCode: "MAYA-7Q2", LeadEmail: "leo@example.org", Status: referral.Pending,
	}, nil)
	env.OnActivity(testActs.RecordReferralEvent, mock.Anything, mock.Anything).Return(nil)
	return env
}

// passFraudChecks lets the referral through the fraud checks.
func passFraudChecks(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(testActs.CheckReferralFraud, mock.Anything, testReferralID).Return(activities.FraudVerdict{}, nil)
}

type updateResult struct {
	rejected  error
	completed bool
	state     ReferralState
	err       error
}

func sendUpdate(env *testsuite.TestWorkflowEnvironment, delay time.Duration, id string, req SetStatusRequest, res *updateResult) {
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateSetStatus, id, &testsuite.TestUpdateCallback{
			OnReject: func(err error) { res.rejected = err },
			OnComplete: func(v any, err error) {
				res.completed, res.err = true, err
				if s, ok := v.(ReferralState); ok {
					res.state = s
				}
			},
		}, req)
	}, delay)
}

func TestValidatorRejectsImpossibleDecisions(t *testing.T) {
	cases := []struct {
		name string
		req  SetStatusRequest
		want string
	}{
		{"unknown status", SetStatusRequest{Status: "paid", Actor: "admin:1"}, `unknown referral status "paid"`},
		{"same status", SetStatusRequest{Status: referral.Pending, Actor: "admin:1"}, "already pending"},
		{"denial without reason", SetStatusRequest{Status: referral.Denied, Actor: "admin:1"}, "needs a reason"},
		{"no actor", SetStatusRequest{Status: referral.Qualified}, "needs an actor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			passFraudChecks(env)
			passFraudChecks(env)
			var res updateResult
			sendUpdate(env, time.Second, "u1", tc.req, &res)
			// End the run afterwards with a valid decision.
			var end updateResult
			sendUpdate(env, 2*time.Second, "u2", SetStatusRequest{Status: referral.Approved, Actor: "admin:1"}, &end)
			env.OnActivity(testActs.ChangeReferralStatus, mock.Anything, mock.Anything).Return(nil).Once()
			env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

			if res.rejected == nil || !strings.Contains(res.rejected.Error(), tc.want) {
				t.Fatalf("rejection = %v, want one saying %q", res.rejected, tc.want)
			}
			if res.completed {
				t.Fatal("a rejected decision ran its handler")
			}
			var final ReferralState
			if err := env.GetWorkflowResult(&final); err != nil {
				t.Fatal(err)
			}
			if final.Transitions != 1 {
				t.Fatalf("transitions = %d, want only the valid one", final.Transitions)
			}
		})
	}
}

func TestDecisionsMoveTheReferralAndEndIt(t *testing.T) {
	env := newEnv(t)
	passFraudChecks(env)
	var changes []activities.StatusChange
	env.OnActivity(testActs.ChangeReferralStatus, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ch activities.StatusChange) error { changes = append(changes, ch); return nil })
	var qualify, deny, approve updateResult
	sendUpdate(env, time.Minute, "q", SetStatusRequest{Status: referral.Qualified, Actor: "admin:7"}, &qualify)
	sendUpdate(env, time.Hour, "d", SetStatusRequest{Status: referral.Denied, Reason: "lead is an employee", Actor: "admin:7"}, &deny)
	sendUpdate(env, 2*time.Hour, "a", SetStatusRequest{Status: referral.Approved, Actor: "admin:8"}, &approve)
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	if qualify.err != nil || qualify.state.Status != referral.Qualified {
		t.Fatalf("qualify: %+v", qualify)
	}
	// An admin's denial does not end the referral's life: HubSpot or an
	// admin may still move it.
	if deny.err != nil || deny.state.Status != referral.Denied || deny.state.DeniedReason != "lead is an employee" {
		t.Fatalf("deny: %+v", deny)
	}
	var final ReferralState
	if err := env.GetWorkflowResult(&final); err != nil {
		t.Fatal(err)
	}
	if final.Status != referral.Approved || final.DeniedReason != "" || final.Transitions != 3 {
		t.Fatalf("final = %+v", final)
	}
	if len(changes) != 3 || changes[0].From != referral.Pending || changes[1].From != referral.Qualified ||
		changes[1].Reason != "lead is an employee" || changes[2].From != referral.Denied || changes[0].IdempotencyKey == changes[1].IdempotencyKey {
		t.Fatalf("status changes written = %+v", changes)
	}
}

// Two decisions arriving together are applied one after the other, each from
// the status the previous one left.
func TestConcurrentDecisionsAreSerialised(t *testing.T) {
	env := newEnv(t)
	passFraudChecks(env)
	var changes []activities.StatusChange
	env.OnActivity(testActs.ChangeReferralStatus, mock.Anything, mock.Anything).After(time.Second).Return(
		func(_ context.Context, ch activities.StatusChange) error { changes = append(changes, ch); return nil })
	var a, b updateResult
	sendUpdate(env, time.Minute, "a", SetStatusRequest{Status: referral.Qualified, Actor: "admin:1"}, &a)
	sendUpdate(env, time.Minute, "b", SetStatusRequest{Status: referral.Approved, Actor: "admin:2"}, &b)
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	if a.err != nil || b.err != nil {
		t.Fatalf("updates: %v / %v", a.err, b.err)
	}
	if len(changes) != 2 || changes[0].To != referral.Qualified || changes[1].From != referral.Qualified || changes[1].To != referral.Approved {
		t.Fatalf("changes = %+v, want pending→qualified then qualified→approved", changes)
	}
}

func TestAFailedWriteLeavesTheStatusAlone(t *testing.T) {
	env := newEnv(t)
	passFraudChecks(env)
	env.OnActivity(testActs.ChangeReferralStatus, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("referral is qualified, not pending", "StatusConflict", nil)).Once()
	env.OnActivity(testActs.ChangeReferralStatus, mock.Anything, mock.Anything).Return(nil)
	var failed, end updateResult
	sendUpdate(env, time.Minute, "f", SetStatusRequest{Status: referral.Approved, Actor: "admin:1"}, &failed)
	sendUpdate(env, time.Hour, "e", SetStatusRequest{Status: referral.Approved, Actor: "admin:1"}, &end)
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	var appErr *temporal.ApplicationError
	if !errors.As(failed.err, &appErr) || appErr.Type() != "StatusConflict" {
		t.Fatalf("failed update error = %v", failed.err)
	}
	var final ReferralState
	if err := env.GetWorkflowResult(&final); err != nil {
		t.Fatal(err)
	}
	if final.Transitions != 1 || final.Status != referral.Approved {
		t.Fatalf("final = %+v: the failed decision must not count", final)
	}
}

func TestStateQueryAndMissingReferral(t *testing.T) {
	env := newEnv(t)
	passFraudChecks(env)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryReferralState)
		if err != nil {
			t.Fatal(err)
		}
		var s ReferralState
		if err := v.Get(&s); err != nil {
			t.Fatal(err)
		}
		if s.Status != referral.Pending || s.MemberCode != "MAYA-7Q2" {
			t.Errorf("state query = %+v", s)
		}
		env.CancelWorkflow()
	}, time.Minute)
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	env = newEnv(t)
	passFraudChecks(env)
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{})
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "without a referral ID") {
		t.Fatalf("start without ID: %v", err)
	}
}

// A referral the fraud checks refuse is denied with their reason before
// anything else happens, and its workflow ends.
func TestFraudChecksDenyFirst(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(testActs.CheckReferralFraud, mock.Anything, testReferralID).Return(
		activities.FraudVerdict{Deny: true, Reason: "self_referral: the lead's email is the member's own"}, nil)
	var change activities.StatusChange
	env.OnActivity(testActs.ChangeReferralStatus, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ch activities.StatusChange) error { change = ch; return nil }).Once()
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	var final ReferralState
	if err := env.GetWorkflowResult(&final); err != nil {
		t.Fatal(err)
	}
	if final.Status != referral.Denied || !strings.HasPrefix(final.DeniedReason, "self_referral") {
		t.Fatalf("final = %+v", final)
	}
	if change.Actor != "system" || change.From != referral.Pending || change.IdempotencyKey != "fraud_check:"+testReferralID {
		t.Fatalf("status change = %+v", change)
	}
}

// noDecisionCallbacks says no HubSpot workflow waits for the referral's
// decision, so deciding it asks nothing of HubSpot.
func noDecisionCallbacks(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(testActs.CountDecisionCallbacks, mock.Anything, mock.Anything).Return(0, nil)
}
