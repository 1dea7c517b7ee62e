package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
)

// labelEnv is a referral whose lead goes to HubSpot as a contact, with its
// audit trail recorded.
func labelEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, func() []activities.ReferralEvent) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(testActs)
	env.RegisterActivity(testHubSpotActs)
	env.OnActivity(testActs.LoadReferral, mock.Anything, testReferralID).Return(activities.Referral{
		ID: testReferralID, CampaignID: "camp-1", MemberCode: "MAYA-7Q2", LeadEmail: "leo@example.org", Status: referral.Pending,
		LeadsAction: campaign.ActionCreateContact,
	}, nil)
	env.OnActivity(testHubSpotActs.SendLeadToHubSpot, mock.Anything, testReferralID).Return(activities.LeadResult{ContactID: "7", ContactCreated: true}, nil)
	env.OnActivity(testActs.SetReferralWaiting, mock.Anything, mock.Anything).Return(nil)
	var mu sync.Mutex
	var events []activities.ReferralEvent
	env.OnActivity(testActs.RecordReferralEvent, mock.Anything, mock.Anything).Return(func(_ context.Context, ev activities.ReferralEvent) error {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, ev)
		return nil
	})
	return env, func() []activities.ReferralEvent {
		mu.Lock()
		defer mu.Unlock()
		return append([]activities.ReferralEvent(nil), events...)
	}
}

func kindsOf(events []activities.ReferralEvent) []referral.EventKind {
	out := make([]referral.EventKind, len(events))
	for i, ev := range events {
		out[i] = ev.Kind
	}
	return out
}

// Labelling who referred whom follows the lead: once it is sent, the
// referral's records are associated with the member's contact and the
// trail says so. When HubSpot refuses (past the activity's retries), the
// lead step waits and runs again — the lead is not sent twice, its event is
// keyed — and the referral's workflow goes on.
func TestLabellingFailureMakesTheLeadStepWait(t *testing.T) {
	env, trail := labelEnv(t)
	passFraudChecks(env)
	calls := 0
	env.OnActivity(testHubSpotActs.AssociateReferredByInHubSpot, mock.Anything, testReferralID).Return(
		func(context.Context, string) (activities.ReferredByResult, error) {
			calls++
			if calls == 1 {
				return activities.ReferredByResult{}, temporal.NewNonRetryableApplicationError("HubSpot refused the label", "HubSpotValidation", nil)
			}
			return activities.ReferredByResult{Associated: []string{"contacts 7 → contact 9 (Referrer)"}, MemberContactID: "9"}, nil
		})
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryReferralState)
		var st ReferralState
		if err == nil {
			err = v.Get(&st)
		}
		if err != nil || st.Waiting == nil || st.Waiting.Step != referral.WaitSendLead || st.Waiting.Cause != "HubSpotValidation" {
			t.Errorf("after the refusal: waiting %+v %v", st.Waiting, err)
		}
	}, 30*time.Second)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryReferralState)
		var st ReferralState
		if err == nil {
			err = v.Get(&st)
		}
		if err != nil || st.Waiting != nil {
			t.Errorf("after the retry: waiting %+v %v", st.Waiting, err)
		}
		env.CancelWorkflow()
	}, 3*time.Minute)
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	want := []referral.EventKind{referral.EventWorkflowStarted, referral.EventLeadSent, referral.EventLeadNotSent, referral.EventLeadSent, referral.EventReferredByLabelled}
	got := kindsOf(trail())
	if len(got) != len(want) {
		t.Fatalf("trail %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("trail %q, want %q", got, want)
		}
	}
	last := trail()[len(got)-1]
	if last.IdempotencyKey != "referred_by:"+testReferralID || last.Details["member_contact_id"] != "9" {
		t.Fatalf("labelled event: %+v", last)
	}
	if calls != 2 {
		t.Fatalf("labelling ran %d times, want 2", calls)
	}
}

// A member without a HubSpot contact is no failure: the trail says why the
// referral is not labelled and nothing waits.
func TestMemberWithoutContactIsRecordedNotAwaited(t *testing.T) {
	env, trail := labelEnv(t)
	passFraudChecks(env)
	env.OnActivity(testHubSpotActs.AssociateReferredByInHubSpot, mock.Anything, testReferralID).Return(
		activities.ReferredByResult{Skipped: "the member has no HubSpot contact yet", MemberWaits: true}, nil).Once()
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryReferralState)
		var st ReferralState
		if err == nil {
			err = v.Get(&st)
		}
		if err != nil || st.Waiting != nil {
			t.Errorf("waiting %+v %v", st.Waiting, err)
		}
		env.CancelWorkflow()
	}, time.Minute)
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})
	events := trail()
	last := events[len(events)-1]
	if last.Kind != referral.EventReferredByNotLabelled || last.Details["member_waits"] != true {
		t.Fatalf("trail %q, last %+v", kindsOf(events), last)
	}
}

// The same_hubspot_company check runs when the database checks ask for it;
// its signal joins theirs and the strictest action applies (review). When
// HubSpot cannot be read the referral goes on without it, saying why.
func TestSameHubSpotCompanyJoinsTheVerdict(t *testing.T) {
	env, trail := labelEnv(t)
	env.OnActivity(testActs.CheckReferralFraud, mock.Anything, testReferralID).Return(activities.FraudVerdict{SameHubSpotCompany: campaign.FraudReview}, nil)
	env.OnActivity(testHubSpotActs.CheckSameHubSpotCompany, mock.Anything, testReferralID).Return(
		activities.SameCompanyResult{Fired: true, Detail: "the lead's HubSpot contact 7 and the member's contact 9 are both associated with HubSpot company 3"}, nil)
	env.OnActivity(testActs.OpenReferralReview, mock.Anything, mock.Anything).Return("review-1", nil)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryReferralState)
		var st ReferralState
		if err == nil {
			err = v.Get(&st)
		}
		if err != nil || st.PendingReview == nil || len(st.PendingReview.Fraud) != 1 || st.PendingReview.Fraud[0].Reason != referral.FraudSameHubSpotCompany {
			t.Errorf("held: %+v %v", st.PendingReview, err)
		}
		env.CancelWorkflow()
	}, time.Minute)
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})
	if got := kindsOf(trail()); len(got) != 2 || got[1] != referral.EventFraudSignal {
		t.Fatalf("trail %q", got)
	}

	env, trail = labelEnv(t)
	env.OnActivity(testActs.CheckReferralFraud, mock.Anything, testReferralID).Return(activities.FraudVerdict{SameHubSpotCompany: campaign.FraudReview}, nil)
	env.OnActivity(testHubSpotActs.CheckSameHubSpotCompany, mock.Anything, testReferralID).Return(
		activities.SameCompanyResult{}, temporal.NewNonRetryableApplicationError("HubSpot is not connected for this workspace", "HubSpotConnectionBroken", nil))
	env.OnActivity(testHubSpotActs.AssociateReferredByInHubSpot, mock.Anything, testReferralID).Return(activities.ReferredByResult{Skipped: "the member has no HubSpot contact yet", MemberWaits: true}, nil)
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Minute)
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})
	events := trail()
	if got := kindsOf(events); len(got) < 3 || got[1] != referral.EventFraudCheckNotRun || got[2] != referral.EventLeadSent {
		t.Fatalf("trail %q: the check not run, then the lead sent", got)
	}
	if events[1].Details["error"] != "HubSpot is not connected for this workspace" {
		t.Fatalf("not-run event: %+v", events[1])
	}
}
