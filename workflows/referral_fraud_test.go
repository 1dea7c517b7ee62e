package workflows

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/review"
)

// A fraud signal whose action is review holds the referral: its review is
// opened with the reasons, each signal is in the audit trail, the lead is
// not sent and set-status is refused until an admin decides; approval sends
// the lead.
func TestFraudReviewHoldsTheReferralUntilApproved(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(testActs)
	env.RegisterActivity(testHubSpotActs)
	noDecisionCallbacks(env)
	env.OnActivity(testActs.LoadReferral, mock.Anything, testReferralID).Return(activities.Referral{
		ID: testReferralID, CampaignID: "camp-1", MemberCode: "MAYA-7Q2", LeadEmail: "leo@mailinator.com", Status: referral.Pending, LeadsAction: campaign.ActionCreateContact,
	}, nil)
	signals := []activities.FraudSignal{
		{Reason: referral.FraudDisposableEmail, Detail: "the lead's email domain mailinator.com is a disposable mailbox provider's", Action: campaign.FraudReview},
		{Reason: referral.FraudMemberVelocity, Detail: "the member has 21 referrals in 1 day (more than 20)", Action: campaign.FraudReview},
	}
	env.OnActivity(testActs.CheckReferralFraud, mock.Anything, testReferralID).Return(activities.FraudVerdict{
		Action: campaign.FraudReview, Signals: signals, Reason: "disposable_email: ...; member_velocity: ...",
	}, nil)
	var mu sync.Mutex
	var events []activities.ReferralEvent
	var opened []activities.ReferralReview
	var leadSent int
	env.OnActivity(testActs.RecordReferralEvent, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ev activities.ReferralEvent) error {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, ev)
			return nil
		})
	env.OnActivity(testActs.OpenReferralReview, mock.Anything, mock.Anything).Return(
		func(_ context.Context, r activities.ReferralReview) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			opened = append(opened, r)
			return "review-1", nil
		})
	env.OnActivity(testActs.CloseReferralReview, mock.Anything, testReferralID, "accepted", "admin:1").Return(nil).Once()
	env.OnActivity(testHubSpotActs.SendLeadToHubSpot, mock.Anything, testReferralID).Return(
		func(context.Context, string) (activities.LeadResult, error) {
			mu.Lock()
			defer mu.Unlock()
			leadSent++
			return activities.LeadResult{ContactID: "7"}, nil
		})
	env.OnActivity(testHubSpotActs.AssociateReferredByInHubSpot, mock.Anything, testReferralID).Return(
		activities.ReferredByResult{Associated: []string{"contacts 7 → contact 9 (Referrer)"}, MemberContactID: "9"}, nil)

	var refused, accept updateResult
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryReferralState)
		var st ReferralState
		if err == nil {
			err = v.Get(&st)
		}
		if err != nil || st.PendingReview == nil || len(st.PendingReview.Fraud) != 2 || st.PendingReview.ReviewEntryID != "review-1" {
			t.Errorf("state while held: %+v %v", st, err)
		}
		mu.Lock()
		if leadSent != 0 {
			t.Errorf("the lead was sent while held")
		}
		mu.Unlock()
		sendUpdate(env, 0, "approve-directly", SetStatusRequest{Status: referral.Qualified, Actor: "admin:1"}, &refused)
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateResolveReview, "accept", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { accept.rejected = err },
			OnComplete: func(v any, err error) { accept.completed, accept.err = true, err },
		}, ReviewDecision{Accept: true, Actor: "admin:1"})
	}, 2*time.Hour)
	env.RegisterDelayedCallback(env.CancelWorkflow, 3*time.Hour)
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	if refused.rejected == nil || !strings.Contains(refused.rejected.Error(), "hold this referral for review (disposable_email, member_velocity)") {
		t.Fatalf("set-status while held: %+v", refused)
	}
	if !accept.completed || accept.err != nil {
		t.Fatalf("approval: %+v", accept)
	}
	mu.Lock()
	defer mu.Unlock()
	if leadSent != 1 {
		t.Fatalf("lead sent %d times after approval, want 1", leadSent)
	}
	if len(opened) != 1 || opened[0].Reason != review.FraudCheck || len(opened[0].Data["signals"].([]map[string]any)) != 2 {
		t.Fatalf("reviews opened: %+v", opened)
	}
	var kinds []string
	for _, ev := range events {
		k := string(ev.Kind)
		if ev.Kind == referral.EventFraudSignal {
			k += ":" + ev.Details["reason"].(string)
		}
		kinds = append(kinds, k)
	}
	want := []string{"workflow_started", "fraud_signal:disposable_email", "fraud_signal:member_velocity", "review_accepted", "lead_sent_to_hubspot", "referred_by_labelled"}
	if strings.Join(kinds, " ") != strings.Join(want, " ") {
		t.Fatalf("audit trail %q, want %q", kinds, want)
	}
}

// A deny-action signal among review ones denies the referral for good,
// naming them all.
func TestFraudDenyIsTheStrictest(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(testActs.CheckReferralFraud, mock.Anything, testReferralID).Return(activities.FraudVerdict{
		Deny: true, Action: campaign.FraudDeny, Reason: "self_referral: the lead's email is the member's own; disposable_email: ...",
		Signals: []activities.FraudSignal{
			{Reason: referral.FraudSelfReferral, Detail: "the lead's email is the member's own", Action: campaign.FraudDeny},
			{Reason: referral.FraudDisposableEmail, Detail: "...", Action: campaign.FraudReview},
		},
	}, nil)
	var change activities.StatusChange
	env.OnActivity(testActs.ChangeReferralStatus, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ch activities.StatusChange) error { change = ch; return nil }).Once()
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})
	var final ReferralState
	if err := env.GetWorkflowResult(&final); err != nil {
		t.Fatal(err)
	}
	if final.Status != referral.Denied || !final.FinalDenial || final.PendingReview != nil ||
		!strings.Contains(final.DeniedReason, "self_referral: ") || !strings.Contains(final.DeniedReason, "disposable_email: ") {
		t.Fatalf("final = %+v", final)
	}
	if change.To != referral.Denied || change.Cause["fraud_signals"] == nil {
		t.Fatalf("status change = %+v", change)
	}
}
