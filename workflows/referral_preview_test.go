package workflows

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/referral"
)

// The preview-change query answers, before each change arrives, exactly the
// outcome the change then gets, and changes nothing: the state, the audit
// trail and the review queue are as they were, and a change only previewed
// is no redelivery when it comes for real.
func TestPreviewChangeIsWhatApplyingDoes(t *testing.T) {
	env, log := newChangesEnv(t, true)
	amount := stage("1200", 3*time.Minute, "a1")
	amount.Property = "amount"
	steps := []struct {
		change HubSpotChange
		want   ChangePreview
	}{
		{stage("contractsent", time.Minute, "q1"), ChangePreview{Status: referral.Pending, Outcome: "moved to qualified", MovesTo: referral.Qualified}},
		{stage("contractsent", time.Minute, "q1"), ChangePreview{Status: referral.Qualified, Redelivery: true}},
		{amount, ChangePreview{Status: referral.Qualified, Outcome: "ignored: no status rule uses deal.amount"}},
		{stage("closedlost", 4*time.Minute, "d1"), ChangePreview{Status: referral.Qualified, Outcome: "moved to denied", MovesTo: referral.Denied}},
		{stage("appointmentscheduled", 2*time.Minute, "old"), ChangePreview{Status: referral.Denied}},
		{stage("closedwon", 5*time.Minute, "w1"), ChangePreview{Status: referral.Denied, Outcome: "held for review: a denied referral would move to approved", MovesTo: referral.Approved, HeldForReview: true}},
	}
	previews := make([]ChangePreview, len(steps))
	state := func() ReferralState {
		t.Helper()
		v, err := env.QueryWorkflow(QueryReferralState)
		var s ReferralState
		if err == nil {
			err = v.Get(&s)
		}
		if err != nil {
			t.Fatalf("state query: %v", err)
		}
		return s
	}
	for i, s := range steps {
		env.RegisterDelayedCallback(func() {
			before, moves, records, reviews := state(), len(log.moves), len(log.records), len(log.review)
			v, err := env.QueryWorkflow(QueryPreviewChange, s.change)
			if err == nil {
				err = v.Get(&previews[i])
			}
			if err != nil {
				t.Errorf("preview of step %d: %v", i, err)
			}
			if after := state(); !reflect.DeepEqual(before, after) || len(log.moves) != moves || len(log.records) != records || len(log.review) != reviews {
				t.Errorf("preview of step %d changed something: state %+v → %+v", i, before, after)
			}
			env.SignalWorkflow(SignalHubSpotChange, s.change)
		}, time.Duration(i+1)*time.Hour)
	}
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Duration(len(steps)+1)*time.Hour)
	env.ExecuteWorkflow(ReferralWorkflow, ReferralInput{ReferralID: testReferralID})

	applied := map[string]string{}
	for _, r := range log.records {
		applied[strings.TrimPrefix(r.IdempotencyKey, "hubspot:")] = r.Details["outcome"].(string)
	}
	for _, m := range log.moves {
		applied[strings.TrimPrefix(m.IdempotencyKey, "hubspot:")] = m.Cause["outcome"].(string)
	}
	for i, s := range steps {
		got, want := previews[i], s.want
		if i == 4 { // the stale change: its outcome names the time applied
			if !strings.HasPrefix(got.Outcome, "ignored: older than the change to deal.dealstage already applied") {
				t.Errorf("step %d preview = %+v", i, got)
			}
			want.Outcome = got.Outcome
		}
		if want.Redelivery {
			want.Outcome = got.Outcome
		}
		if got != want {
			t.Errorf("step %d preview = %+v, want %+v", i, got, want)
		}
		if !want.Redelivery && applied[s.change.DedupeKey] != got.Outcome {
			t.Errorf("step %d: previewed %q, applied %q", i, got.Outcome, applied[s.change.DedupeKey])
		}
	}
	if len(log.moves) != 2 || len(log.records) != 3 || len(log.review) != 1 {
		t.Errorf("applied: %d moves, %d records, %d reviews; want 2, 3, 1", len(log.moves), len(log.records), len(log.review))
	}
}
