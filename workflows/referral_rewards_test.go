package workflows

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/reward"
)

type rewardLog struct {
	memberWrites int
	created      []activities.CreateRewardsInput
	issued       []string
	cancelled    []activities.CancelRewardInput
	emails       []activities.QueueEmailInput
}

func newRewardsEnv(t *testing.T, rewards campaign.Rewards) (*testsuite.TestWorkflowEnvironment, *rewardLog) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(testActs)
	env.RegisterActivity(testHubSpotActs)
	noDecisionCallbacks(env)
	log := &rewardLog{}
	env.OnActivity(testActs.LoadReferral, mock.Anything, testReferralID).Return(activities.Referral{
		ID: testReferralID, Status: referral.Pending, StatusRules: dealRules, Rewards: rewards,
	}, nil)
	env.OnActivity(testActs.CheckReferralFraud, mock.Anything, testReferralID).Return(activities.FraudVerdict{}, nil)
	env.OnActivity(testHubSpotActs.SendLeadToHubSpot, mock.Anything, testReferralID).Return(activities.LeadResult{}, nil)
	env.OnActivity(testActs.RecordReferralEvent, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(testActs.ChangeReferralStatus, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(testActs.CreateRewards, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CreateRewardsInput) ([]activities.RewardRef, error) {
			log.created = append(log.created, in)
			n := len(log.created)
			return []activities.RewardRef{
				{ID: "member-" + string(rune('0'+n)), Recipient: "member", Amount: "50.00", Currency: "USD", Status: reward.Pending, Conversion: in.Conversion},
				{ID: "friend-" + string(rune('0'+n)), Recipient: "friend", Amount: "25.00", Currency: "USD", Status: reward.Pending, Conversion: in.Conversion},
			}, nil
		})
	env.OnActivity(testActs.IssueReward, mock.Anything, mock.Anything).Return(
		func(_ context.Context, id string) (activities.IssueRewardResult, error) {
			log.issued = append(log.issued, id)
			return activities.IssueRewardResult{RewardID: id}, nil
		})
	env.OnActivity(testActs.CancelReward, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CancelRewardInput) error {
			log.cancelled = append(log.cancelled, in)
			return nil
		})
	env.OnActivity(testActs.MarkRewardPaid, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(testActs.QueueMemberEmail, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.QueueEmailInput) (activities.QueueEmailResult, error) {
			log.emails = append(log.emails, in)
			return activities.QueueEmailResult{Reason: "no SMTP server in this test"}, nil
		})
	env.OnActivity(testHubSpotActs.WriteMemberToHubSpot, mock.Anything, mock.Anything).Return(
		func(_ context.Context, memberID string) (activities.MemberWriteResult, error) {
			log.memberWrites++
			return activities.MemberWriteResult{ContactID: "1000001"}, nil
		})
	return env, log
}

var fixedRewards = campaign.Rewards{
	OnStatus: "approved", HoldDays: 30,
	Member: &campaign.Reward{Kind: campaign.RewardFixed, Amount: "50", Currency: "USD"},
	Friend: &campaign.Reward{Kind: campaign.RewardFixed, Amount: "25", Currency: "USD"},
}

// Approval creates the rewards, holds them for the campaign's days, then
// issues each once, and the referral's life ends.
func TestRewardsAreHeldThenIssued(t *testing.T) {
	env, log := newRewardsEnv(t, fixedRewards)
	signalAll(env, time.Minute, stage("contractsent", time.Minute, "q"), stage("closedwon", 2*time.Minute, "w"))
	var during ReferralState
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryReferralState)
		if err == nil {
			err = v.Get(&during)
		}
		if err != nil {
			t.Error(err)
		}
	}, 10*24*time.Hour)
	for i, id := range []string{"member-1", "friend-1"} {
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(UpdateMarkRewardPaid, id, &testsuite.TestUpdateCallback{OnReject: func(err error) { t.Error(err) }, OnComplete: func(any, error) {}},
				RewardDecision{RewardID: id, Actor: "admin:1"})
		}, time.Duration(40+i)*24*time.Hour)
	}
	start := env.Now()
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	var final ReferralState
	if err := env.GetWorkflowResult(&final); err != nil {
		t.Fatal(err)
	}
	if len(log.created) != 1 || log.created[0].Conversion != 1 || log.created[0].HoldUntil.Sub(start) < 30*24*time.Hour {
		t.Fatalf("created = %+v", log.created)
	}
	if len(during.Rewards) != 2 || during.Rewards[0].Status != reward.Pending {
		t.Fatalf("during the hold: %+v", during)
	}
	if len(log.issued) != 2 || final.Rewards[0].Status != rewardPaid || final.Rewards[1].Status != rewardPaid {
		t.Fatalf("issued %v, final %+v", log.issued, final.Rewards)
	}
	if env.Now().Sub(start) < 30*24*time.Hour {
		t.Fatalf("rewards issued before the hold ended (%v)", env.Now().Sub(start))
	}
	if log.memberWrites != 1 {
		t.Fatalf("member counts written to HubSpot %d times, want once", log.memberWrites)
	}
	// The member is told of the approval and of their reward, once each;
	// the friend's reward is no member's news.
	want := []activities.QueueEmailInput{
		{Kind: email.ReferralApproved, SubjectID: testReferralID, Actor: "system"},
		{Kind: email.RewardEarned, SubjectID: "member-1", Actor: "system"},
	}
	if len(log.emails) != len(want) || log.emails[0] != want[0] || log.emails[1] != want[1] {
		t.Fatalf("emails asked for %+v, want %+v", log.emails, want)
	}
}

// A deal that leaves the winning stage during the hold cancels the held
// rewards; winning again is a new conversion with its own rewards.
func TestLeavingTheWinningStageDuringTheHoldCancels(t *testing.T) {
	env, log := newRewardsEnv(t, fixedRewards)
	signalAll(env, time.Minute, stage("closedwon", time.Minute, "w1"))
	signalAll(env, 24*time.Hour, stage("contractsent", 24*time.Hour, "back"))
	signalAll(env, 48*time.Hour, stage("closedwon", 48*time.Hour, "w2"))
	for i, id := range []string{"member-2", "friend-2"} {
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(UpdateMarkRewardPaid, id, &testsuite.TestUpdateCallback{OnReject: func(err error) { t.Error(err) }, OnComplete: func(any, error) {}},
				RewardDecision{RewardID: id, Actor: "admin:1"})
		}, time.Duration(40+i)*24*time.Hour)
	}
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	var final ReferralState
	if err := env.GetWorkflowResult(&final); err != nil {
		t.Fatal(err)
	}
	if len(log.cancelled) != 2 || !strings.Contains(log.cancelled[0].Reason, "during the hold") || log.cancelled[0].Actor != "hubspot" {
		t.Fatalf("cancelled = %+v", log.cancelled)
	}
	if len(log.created) != 2 || log.created[1].Conversion != 2 {
		t.Fatalf("created = %+v, want a second conversion", log.created)
	}
	if strings.Join(log.issued, ",") != "member-2,friend-2" {
		t.Fatalf("issued = %v, want only the second conversion's rewards", log.issued)
	}
	if final.Status != referral.Approved {
		t.Fatalf("final = %+v", final)
	}
}

// Reward decisions are validated: only a pending reward can be cancelled,
// only an issued one marked paid, and only this referral's rewards.
func TestRewardDecisionsAreValidated(t *testing.T) {
	env, log := newRewardsEnv(t, fixedRewards)
	signalAll(env, time.Minute, stage("closedwon", time.Minute, "w"))
	results := map[string]error{}
	completed := map[string]bool{}
	decide := func(at time.Duration, name, update string, d RewardDecision) {
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(update, name, &testsuite.TestUpdateCallback{
				OnReject:   func(err error) { results[name] = err },
				OnComplete: func(_ any, err error) { results[name], completed[name] = err, true },
			}, d)
		}, at)
	}
	decide(time.Hour, "paid-too-early", UpdateMarkRewardPaid, RewardDecision{RewardID: "member-1", Actor: "admin:1"})
	decide(time.Hour, "unknown", UpdateCancelReward, RewardDecision{RewardID: "nope", Reason: "x", Actor: "admin:1"})
	decide(2*time.Hour, "cancel-friend", UpdateCancelReward, RewardDecision{RewardID: "friend-1", Reason: "friend is a partner", Actor: "admin:1"})
	decide(3*time.Hour, "cancel-again", UpdateCancelReward, RewardDecision{RewardID: "friend-1", Reason: "x", Actor: "admin:1"})
	decide(31*24*time.Hour, "paid", UpdateMarkRewardPaid, RewardDecision{RewardID: "member-1", Actor: "admin:1"})
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})
	// Marking the last issued reward paid ends the referral's life.
	var final ReferralState
	if err := env.GetWorkflowResult(&final); err != nil {
		t.Fatal(err)
	}

	for name, want := range map[string]string{
		"paid-too-early": "only an issued reward",
		"unknown":        "not one of this referral's rewards",
		"cancel-again":   "only a pending reward",
	} {
		if results[name] == nil || !strings.Contains(results[name].Error(), want) {
			t.Errorf("%s: %v, want a rejection saying %q", name, results[name], want)
		}
	}
	if !completed["cancel-friend"] || !completed["paid"] || results["cancel-friend"] != nil || results["paid"] != nil {
		t.Fatalf("valid decisions failed: %v / %v", results["cancel-friend"], results["paid"])
	}
	if strings.Join(log.issued, ",") != "member-1" || len(log.cancelled) != 1 || log.cancelled[0].Actor != "admin:1" {
		t.Fatalf("issued %v cancelled %+v", log.issued, log.cancelled)
	}
	if final.Rewards[0].Status != rewardPaid || final.Rewards[1].Status != reward.Cancelled {
		t.Fatalf("final rewards = %+v", final.Rewards)
	}
}

// A percentage reward waits for the sale value: the deal's amount, copied
// onto the referral by the campaign's property update, creates it.
func TestPercentageRewardWaitsForTheSaleValue(t *testing.T) {
	rewards := campaign.Rewards{OnStatus: "approved", Member: &campaign.Reward{Kind: campaign.RewardPercentage, Percent: "10"}}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(testActs)
	env.RegisterActivity(testHubSpotActs)
	noDecisionCallbacks(env)
	env.OnActivity(testActs.LoadReferral, mock.Anything, testReferralID).Return(activities.Referral{
		ID: testReferralID, Status: referral.Pending, StatusRules: dealRules, Rewards: rewards,
		PropertyUpdates: campaign.PropertyUpdates{Mappings: []campaign.PropertyUpdate{{Object: "deal", Property: "amount", Field: "sale_value", Currency: "USD"}}},
	}, nil)
	env.OnActivity(testActs.CheckReferralFraud, mock.Anything, testReferralID).Return(activities.FraudVerdict{}, nil)
	env.OnActivity(testHubSpotActs.SendLeadToHubSpot, mock.Anything, testReferralID).Return(activities.LeadResult{}, nil)
	env.OnActivity(testHubSpotActs.WriteMemberToHubSpot, mock.Anything, mock.Anything).Return(activities.MemberWriteResult{}, nil)
	env.OnActivity(testActs.RecordReferralEvent, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(testActs.ChangeReferralStatus, mock.Anything, mock.Anything).Return(nil)
	var copied []activities.PropertyUpdateInput
	env.OnActivity(testActs.ApplyPropertyUpdate, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PropertyUpdateInput) error {
			copied = append(copied, in)
			return nil
		})
	saleValue := false
	var created []activities.CreateRewardsInput
	env.OnActivity(testActs.CreateRewards, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CreateRewardsInput) ([]activities.RewardRef, error) {
			created = append(created, in)
			if !saleValue {
				return nil, temporal.NewNonRetryableApplicationError("no sale value yet", activities.ErrTypeNoSaleValue, nil)
			}
			return []activities.RewardRef{{ID: "m1", Recipient: "member", Amount: "120.00", Currency: "USD", Status: reward.Pending, Conversion: in.Conversion}}, nil
		})
	env.OnActivity(testActs.IssueReward, mock.Anything, "m1").Return(activities.IssueRewardResult{RewardID: "m1"}, nil)
	env.OnActivity(testActs.MarkRewardPaid, mock.Anything, mock.Anything).Return(nil)
	signalAll(env, time.Minute, stage("closedwon", time.Minute, "won"))
	env.RegisterDelayedCallback(func() {
		saleValue = true
		env.SignalWorkflow(SignalHubSpotChange, HubSpotChange{ObjectType: "deal", ObjectID: 3000001, Property: "amount", Value: "1200", OccurredAt: t0.Add(time.Hour), DedupeKey: "amt"})
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateMarkRewardPaid, "pay", &testsuite.TestUpdateCallback{OnReject: func(err error) { t.Error(err) }, OnComplete: func(any, error) {}},
			RewardDecision{RewardID: "m1", Actor: "admin:1"})
	}, 2*time.Hour)
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	var final ReferralState
	if err := env.GetWorkflowResult(&final); err != nil {
		t.Fatal(err)
	}
	if len(created) != 2 || created[0].Conversion != 1 || created[1].Conversion != 1 {
		t.Fatalf("create attempts = %+v, want conversion 1 twice", created)
	}
	if len(copied) != 1 || copied[0].Value != "1200" || copied[0].Update.Field != "sale_value" {
		t.Fatalf("copied = %+v", copied)
	}
	if final.WaitingForSaleValue || len(final.Rewards) != 1 || final.Rewards[0].Status != rewardPaid {
		t.Fatalf("final = %+v", final)
	}
}
