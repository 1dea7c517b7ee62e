package workflows

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/review"
	"github.com/referflow/referflow/internal/salesentry"
)

const (
	seWorkspace = "0b6a3f4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	seCampaign  = "1c7b4a5f-2d3e-4f60-9bac-1d2e3f4a5b6c"
	seReferral  = "2d8c5b60-3e4f-4071-8cbd-2e3f4a5b6c7d"
	seReferral2 = "3e9d6c71-4f50-4182-9dce-3f4a5b6c7d8e"
	seMember    = "4fae7d82-5061-4293-8edf-4a5b6c7d8e9f"
	seReview    = "5abf8e93-6172-43a4-9fe0-5b6c7d8e9fa0"
)

// salesEnv is a test environment for one sales entry with its activities
// mocked; the recorded calls are what the workflow asked of the database.
type salesEnv struct {
	env     *testsuite.TestWorkflowEnvironment
	mu      sync.Mutex
	steps   []activities.SalesEntryStep
	reviews []activities.OpenReviewInput
	closed  []activities.CloseReviewInput
	links   []activities.LinkObjectInput
	adds    []activities.AddFromHubSpotInput
	matches []activities.MatchInput
	signals []HubSpotChange
	// enrolments is what enrolling the contact answers; enrols the calls.
	enrolments []activities.Enrolment
	enrols     []activities.EnrolInput
	// memberWorkflows are the members whose workflow was started.
	memberWorkflows []string
}

func newSalesEnv(t *testing.T, entry activities.SalesEntry) *salesEnv {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	se := &salesEnv{env: s.NewTestWorkflowEnvironment()}
	env := se.env
	env.RegisterActivity(testActs)
	env.RegisterActivity(testHubSpotActs)
	env.RegisterWorkflow(ReferralWorkflow)
	env.OnActivity(testActs.LoadSalesEntry, mock.Anything, entry.ID).Return(entry, nil)
	env.OnActivity(testHubSpotActs.ReadSalesEntryObject, mock.Anything, mock.Anything).Return(
		activities.MatchObject{ObjectType: entry.ObjectType, ObjectID: entry.ObjectID, Properties: map[string]string{"email": "leo@example.org"}}, nil).Maybe()
	env.OnActivity(testActs.RecordSalesEntryStep, mock.Anything, mock.Anything).Return(
		func(_ context.Context, s activities.SalesEntryStep) error {
			se.mu.Lock()
			defer se.mu.Unlock()
			se.steps = append(se.steps, s)
			return nil
		}).Maybe()
	env.OnActivity(testActs.EnrolContact, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.EnrolInput) ([]activities.Enrolment, error) {
			se.mu.Lock()
			defer se.mu.Unlock()
			se.enrols = append(se.enrols, in)
			return se.enrolments, nil
		}).Maybe()
	env.RegisterWorkflow(MemberWorkflow)
	env.OnWorkflow(MemberWorkflow, mock.Anything, mock.Anything).Return(
		func(_ workflow.Context, in MemberInput) (MemberState, error) {
			se.mu.Lock()
			defer se.mu.Unlock()
			se.memberWorkflows = append(se.memberWorkflows, in.MemberID)
			return MemberState{MemberID: in.MemberID, Done: true}, nil
		}).Maybe()
	env.OnActivity(testActs.OpenSalesEntryReview, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.OpenReviewInput) (string, error) {
			se.mu.Lock()
			defer se.mu.Unlock()
			se.reviews = append(se.reviews, in)
			return seReview, nil
		}).Maybe()
	env.OnActivity(testActs.CloseReviewEntry, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CloseReviewInput) error {
			se.mu.Lock()
			defer se.mu.Unlock()
			se.closed = append(se.closed, in)
			return nil
		}).Maybe()
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", SignalHubSpotChange, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			se.mu.Lock()
			defer se.mu.Unlock()
			se.signals = append(se.signals, arg.(HubSpotChange))
			return nil
		}).Maybe()
	return se
}

// onMatch answers matching with results in turn (the last one repeats).
func (se *salesEnv) onMatch(results ...activities.MatchResult) {
	se.env.OnActivity(testActs.MatchSalesEntry, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.MatchInput) (activities.MatchResult, error) {
			se.mu.Lock()
			defer se.mu.Unlock()
			se.matches = append(se.matches, in)
			i := min(len(se.matches), len(results)) - 1
			return results[i], nil
		})
}

func (se *salesEnv) onLink() {
	se.env.OnActivity(testActs.LinkHubSpotObject, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.LinkObjectInput) (activities.LinkedReferral, error) {
			se.mu.Lock()
			defer se.mu.Unlock()
			se.links = append(se.links, in)
			if in.ReferralID == seReferral2+"-gone" {
				return activities.LinkedReferral{}, nil
			}
			return activities.LinkedReferral{ReferralID: in.ReferralID, CampaignID: seCampaign, MemberID: seMember, Linked: true}, nil
		})
}

func (se *salesEnv) onAdd() {
	se.env.OnActivity(testActs.AddReferralFromHubSpot, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.AddFromHubSpotInput) (activities.AddedReferral, error) {
			se.mu.Lock()
			defer se.mu.Unlock()
			se.adds = append(se.adds, in)
			return activities.AddedReferral{ReferralID: seReferral2, CampaignID: seCampaign, MemberID: in.MemberID, Created: true}, nil
		})
}

func (se *salesEnv) run(t *testing.T, entryID int64) SalesEntryState {
	t.Helper()
	se.env.ExecuteWorkflow(SalesEntryWorkflow, SalesEntryInput{SalesEntryID: entryID})
	if !se.env.IsWorkflowCompleted() {
		t.Fatal("the sales entry workflow did not complete")
	}
	var st SalesEntryState
	if err := se.env.GetWorkflowResult(&st); err != nil {
		t.Fatalf("workflow error: %v", err)
	}
	return st
}

func (se *salesEnv) lastStep() activities.SalesEntryStep {
	se.mu.Lock()
	defer se.mu.Unlock()
	return se.steps[len(se.steps)-1]
}

type decisionResult struct {
	rejected  error
	completed bool
	err       error
	state     SalesEntryState
}

func (se *salesEnv) decideAt(delay time.Duration, id string, d SalesEntryDecision, res *decisionResult) {
	se.env.RegisterDelayedCallback(func() {
		se.env.UpdateWorkflow(UpdateSalesEntryDecision, id, &testsuite.TestUpdateCallback{
			OnReject: func(err error) { res.rejected = err },
			OnComplete: func(v any, err error) {
				res.completed, res.err = true, err
				if s, ok := v.(SalesEntryState); ok {
					res.state = s
				}
			},
		}, d)
	}, delay)
}

func propertyChange(id int64) activities.SalesEntry {
	return activities.SalesEntry{Entry: salesentry.Entry{
		ID: id, WorkspaceID: seWorkspace, PortalID: 62515, SubscriptionType: "contact.propertyChange",
		ObjectType: "contact", ObjectID: 901, PropertyName: "lifecyclestage", PropertyValue: "customer",
		OccurredAt: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), DedupeKey: "dk-" + string(rune('a'+id%26)), Status: "matching",
	}}
}

func creation(id int64) activities.SalesEntry {
	e := propertyChange(id)
	e.SubscriptionType, e.PropertyName, e.PropertyValue = "contact.creation", "", ""
	return e
}

func directMatch(auto bool) activities.MatchResult {
	return activities.MatchResult{
		Kind:       salesentry.MatchDirect,
		Candidates: []activities.MatchCandidate{{ReferralID: seReferral, CampaignID: seCampaign, How: "referflow_referral_id"}},
		Rules:      map[string]activities.CampaignRules{seCampaign: {AutoProcessDirectMatches: auto}},
	}
}

func memberMatch() activities.MatchResult {
	return activities.MatchResult{
		Kind:       salesentry.MatchMember,
		Candidates: []activities.MatchCandidate{{MemberID: seMember, CampaignID: seCampaign, How: "matching rule contact.referred_by holds referral_code"}},
		Rules:      map[string]activities.CampaignRules{seCampaign: {}},
		Lead:       activities.Lead{Email: "leo@example.org", FirstName: "Leo"},
	}
}

func noMatch(hints ...activities.NoMatchHint) activities.MatchResult {
	return activities.MatchResult{Kind: salesentry.MatchNone, Hints: hints,
		Rules: map[string]activities.CampaignRules{seCampaign: {ReviewWhenNoMemberMatches: true}}}
}

func TestSalesEntryDirectMatchProcessedAutomatically(t *testing.T) {
	se := newSalesEnv(t, propertyChange(1))
	se.onMatch(directMatch(true))
	se.onLink()
	st := se.run(t, 1)

	if st.Status != salesentry.Processed || st.Match == nil || st.Match.Kind != salesentry.MatchDirect || st.Match.ReferralID != seReferral {
		t.Fatalf("state = %+v", st)
	}
	if len(se.links) != 1 || se.links[0].ObjectType != "contact" || se.links[0].ObjectID != 901 || se.links[0].SalesEntryID != 1 {
		t.Fatalf("links = %+v", se.links)
	}
	if len(se.signals) != 1 {
		t.Fatalf("signals = %+v, want the change forwarded once", se.signals)
	}
	sig := se.signals[0]
	if sig.Kind != salesentry.ChangeProperty || sig.Property != "lifecyclestage" || sig.Value != "customer" || sig.ObjectID != 901 || sig.SalesEntryID != 1 || sig.DedupeKey == "" {
		t.Fatalf("forwarded change = %+v", sig)
	}
	last := se.lastStep()
	if last.Status != salesentry.Processed || last.ReferralID != seReferral || !strings.Contains(last.Action.Detail, "direct match") {
		t.Fatalf("last step = %+v", last)
	}
	if len(se.reviews) != 0 {
		t.Fatalf("an automatic match went to review: %+v", se.reviews)
	}
	// Each step's action key is distinct: retries are harmless, steps are not lost.
	keys := map[string]bool{}
	for _, s := range se.steps {
		if keys[s.Action.Key] {
			t.Fatalf("action key %s used twice", s.Action.Key)
		}
		keys[s.Action.Key] = true
	}
}

func TestSalesEntryDirectMatchNotAutoGoesToReviewThenApprove(t *testing.T) {
	se := newSalesEnv(t, propertyChange(2))
	se.onMatch(directMatch(false))
	se.onLink()
	var approve decisionResult
	se.decideAt(time.Hour, "a1", SalesEntryDecision{Action: review.Approve, Actor: "admin:7"}, &approve)
	var during SalesEntryState
	se.env.RegisterDelayedCallback(func() {
		v, err := se.env.QueryWorkflow(QuerySalesEntryState)
		if err != nil {
			t.Error(err)
			return
		}
		_ = v.Get(&during)
	}, time.Minute)
	st := se.run(t, 2)

	if during.Status != salesentry.InReview || during.ReviewReason != review.UnconfirmedMatch ||
		during.Proposal == nil || during.Proposal.ReferralID != seReferral || during.ReviewEntryID != seReview {
		t.Fatalf("state in review = %+v", during)
	}
	if len(se.reviews) != 1 || se.reviews[0].Reason != review.UnconfirmedMatch || se.reviews[0].CampaignID != seCampaign ||
		se.reviews[0].WorkflowID != "sales-entry/2" || se.reviews[0].Data["proposal"] == nil {
		t.Fatalf("review entries = %+v", se.reviews)
	}
	if approve.rejected != nil || approve.err != nil || !approve.completed {
		t.Fatalf("approve = %+v", approve)
	}
	if st.Status != salesentry.Processed || st.Match.ReferralID != seReferral || len(st.Decisions) != 1 || st.Decisions[0].Actor != "admin:7" {
		t.Fatalf("final = %+v", st)
	}
	if len(se.closed) != 1 || se.closed[0].Status != "resolved" || se.closed[0].DecidedBy != "admin:7" || se.closed[0].ReviewEntryID != seReview {
		t.Fatalf("review closed = %+v", se.closed)
	}
	if len(se.signals) != 1 {
		t.Fatalf("signals = %+v", se.signals)
	}
}

// A creation carries no property: the contact is linked, nothing is
// forwarded.
func TestSalesEntryFuzzySingleMatchOfACreation(t *testing.T) {
	se := newSalesEnv(t, creation(3))
	se.onMatch(activities.MatchResult{
		Kind:       salesentry.MatchFuzzy,
		Candidates: []activities.MatchCandidate{{ReferralID: seReferral, CampaignID: seCampaign, How: "email"}},
		Rules:      map[string]activities.CampaignRules{seCampaign: {AutoProcessFuzzyMatches: true}},
	})
	se.onLink()
	st := se.run(t, 3)
	if st.Status != salesentry.Processed || st.Match.Kind != salesentry.MatchFuzzy || !strings.Contains(st.Match.Forwarded, "nothing to forward") {
		t.Fatalf("state = %+v", st)
	}
	if len(se.signals) != 0 {
		t.Fatalf("a creation was forwarded: %+v", se.signals)
	}
	if len(se.links) != 1 {
		t.Fatalf("links = %+v", se.links)
	}
}

func TestSalesEntryFuzzyMatchWithoutTheSwitchIsUnconfirmed(t *testing.T) {
	se := newSalesEnv(t, creation(4))
	se.onMatch(activities.MatchResult{
		Kind:       salesentry.MatchFuzzy,
		Candidates: []activities.MatchCandidate{{ReferralID: seReferral, CampaignID: seCampaign, How: "name and company domain"}},
		Rules:      map[string]activities.CampaignRules{seCampaign: {AutoProcessDirectMatches: true}},
	})
	var dismiss decisionResult
	se.decideAt(time.Hour, "d", SalesEntryDecision{Action: review.Dismiss, Reason: "not the same person", Actor: "admin:1"}, &dismiss)
	st := se.run(t, 4)
	if len(se.reviews) != 1 || se.reviews[0].Reason != review.UnconfirmedMatch {
		t.Fatalf("reviews = %+v", se.reviews)
	}
	if st.Status != salesentry.Ignored || st.Reason != "dismissed by admin:1: not the same person" {
		t.Fatalf("final = %+v", st)
	}
}

func TestSalesEntryAmbiguousMatchThenAttachReferral(t *testing.T) {
	se := newSalesEnv(t, propertyChange(5))
	se.onMatch(activities.MatchResult{
		Kind: salesentry.MatchFuzzy,
		Candidates: []activities.MatchCandidate{
			{ReferralID: seReferral, CampaignID: seCampaign, How: "email"},
			{ReferralID: seReferral2, CampaignID: seCampaign, How: "email"},
		},
		Rules: map[string]activities.CampaignRules{seCampaign: {AutoProcessFuzzyMatches: true}},
	})
	se.onLink()
	var approve, attach decisionResult
	se.decideAt(time.Minute, "ap", SalesEntryDecision{Action: review.Approve, Actor: "admin:1"}, &approve)
	se.decideAt(time.Hour, "at", SalesEntryDecision{Action: review.AttachReferral, ReferralID: seReferral2, Actor: "admin:1"}, &attach)
	st := se.run(t, 5)

	if len(se.reviews) != 1 || se.reviews[0].Reason != review.AmbiguousMatch || se.reviews[0].CampaignID != seCampaign {
		t.Fatalf("reviews = %+v", se.reviews)
	}
	if approve.rejected == nil || !strings.Contains(approve.rejected.Error(), "exactly one proposal") {
		t.Fatalf("approve of an ambiguous match: %+v", approve)
	}
	if attach.err != nil || st.Status != salesentry.Processed || st.Match.ReferralID != seReferral2 || st.Match.Kind != salesentry.MatchAdmin {
		t.Fatalf("attach = %+v, final = %+v", attach, st)
	}
	if len(se.links) != 1 || se.links[0].ReferralID != seReferral2 || se.links[0].Actor != "admin:1" {
		t.Fatalf("links = %+v", se.links)
	}
	if len(se.signals) != 1 || se.signals[0].Value != "customer" {
		t.Fatalf("signals = %+v", se.signals)
	}
}

func TestSalesEntryMatchingRuleAddsAReferralAndStartsItsWorkflow(t *testing.T) {
	se := newSalesEnv(t, propertyChange(6))
	se.onMatch(memberMatch())
	se.onAdd()
	se.env.OnWorkflow(ReferralWorkflow, mock.Anything, mock.Anything).Return(ReferralState{}, nil)
	var started []ReferralInput
	var startedIDs []string
	se.env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, args converter.EncodedValues) {
		var in ReferralInput
		if err := args.Get(&in); err != nil {
			t.Error(err)
		}
		started = append(started, in)
		startedIDs = append(startedIDs, info.WorkflowExecution.ID)
	})
	st := se.run(t, 6)

	if st.Status != salesentry.Processed || st.Match == nil || !st.Match.ReferralAdded || st.Match.ReferralID != seReferral2 || st.Match.MemberID != seMember {
		t.Fatalf("state = %+v", st)
	}
	if len(se.adds) != 1 || se.adds[0].MemberID != seMember || se.adds[0].Lead.Email != "leo@example.org" || se.adds[0].ObjectID != 901 {
		t.Fatalf("referrals added = %+v", se.adds)
	}
	if len(started) != 1 || started[0].ReferralID != seReferral2 || startedIDs[0] != ReferralWorkflowID(seReferral2) {
		t.Fatalf("referral workflows started = %+v", started)
	}
	// The test environment routes the forwarded change to the child it
	// started (a stand-in that has already ended here), not to the signal
	// mock; the real-stack test in the worker package follows the change
	// into the referral's workflow.
	if st.Match.Forwarded == "" {
		t.Fatal("the change was not forwarded")
	}
	if last := se.lastStep(); last.MemberID != seMember || last.ReferralID != seReferral2 {
		t.Fatalf("last step = %+v", last)
	}
}

// A member found by a rule on an object without any email cannot become a
// referral: a person decides.
func TestSalesEntryMemberMatchWithoutEmailGoesToReview(t *testing.T) {
	se := newSalesEnv(t, propertyChange(7))
	se.onMatch(memberMatch())
	se.env.OnActivity(testActs.AddReferralFromHubSpot, mock.Anything, mock.Anything).Return(activities.AddedReferral{},
		temporal.NewNonRetryableApplicationError("contact 901 has no email", activities.ErrTypeNoLeadEmail, nil))
	var dismiss decisionResult
	se.decideAt(time.Hour, "d", SalesEntryDecision{Action: review.Dismiss, Reason: "test", Actor: "admin:1"}, &dismiss)
	se.run(t, 7)
	if len(se.reviews) != 1 || se.reviews[0].Reason != review.Manual || !strings.Contains(se.reviews[0].Data["why"].(string), "no email") {
		t.Fatalf("reviews = %+v", se.reviews)
	}
}

// A member found by a rule whose campaign was paused (or archived) between
// matching and adding the referral: the campaign takes no new referral, and
// the entry is ignored saying why.
func TestSalesEntryMemberOfACampaignNoLongerActiveIsIgnored(t *testing.T) {
	se := newSalesEnv(t, propertyChange(17))
	se.onMatch(memberMatch())
	se.env.OnActivity(testActs.AddReferralFromHubSpot, mock.Anything, mock.Anything).Return(activities.AddedReferral{},
		temporal.NewNonRetryableApplicationError("the campaign is paused: it takes no new members or referrals", activities.ErrTypeCampaignNotActive, nil))
	st := se.run(t, 17)
	if st.Status != salesentry.Ignored || !strings.Contains(st.Reason, "the campaign is paused") || len(se.reviews) != 0 {
		t.Fatalf("state = %+v, reviews %+v", st, se.reviews)
	}
	if last := se.lastStep(); last.Status != salesentry.Ignored {
		t.Fatalf("last step = %+v", last)
	}
}

func TestSalesEntryNothingMatched(t *testing.T) {
	hint := activities.NoMatchHint{CampaignID: seCampaign, Why: "matching rule contact.referred_by holds referral_code: no member of the campaign has that value"}
	t.Run("an ordinary contact is ignored", func(t *testing.T) {
		se := newSalesEnv(t, creation(8))
		se.onMatch(noMatch())
		st := se.run(t, 8)
		if st.Status != salesentry.Ignored || st.Reason != "no referral or member matches" || len(se.reviews) != 0 {
			t.Fatalf("state = %+v, reviews %+v", st, se.reviews)
		}
		if last := se.lastStep(); last.Status != salesentry.Ignored {
			t.Fatalf("last step = %+v", last)
		}
	})
	t.Run("a contact enrolled as a member is processed", func(t *testing.T) {
		se := newSalesEnv(t, creation(12))
		se.enrolments = []activities.Enrolment{{CampaignID: seCampaign, MemberID: seMember, Joined: true}}
		se.onMatch(noMatch())
		st := se.run(t, 12)
		if len(se.enrols) != 1 || !se.enrols[0].Created || se.enrols[0].Contact.ObjectType != "contact" {
			t.Fatalf("enrol calls = %+v", se.enrols)
		}
		if len(se.memberWorkflows) != 1 || se.memberWorkflows[0] != seMember {
			t.Fatalf("member workflows started = %v", se.memberWorkflows)
		}
		if st.Status != salesentry.Processed || !strings.Contains(st.Reason, "joined as member "+seMember) {
			t.Fatalf("state = %+v", st)
		}
		var enrolled bool
		for _, s := range se.steps {
			enrolled = enrolled || s.Action.Step == salesentry.StepEnrolled
		}
		if last := se.lastStep(); !enrolled || last.Status != salesentry.Processed || last.MemberID != seMember || last.CampaignID != seCampaign {
			t.Fatalf("steps = %+v", se.steps)
		}
	})
	t.Run("one that looks like a referral goes to review", func(t *testing.T) {
		se := newSalesEnv(t, creation(9))
		se.onMatch(noMatch(hint))
		var dismiss decisionResult
		se.decideAt(time.Hour, "d", SalesEntryDecision{Action: review.Dismiss, Reason: "typo in the code", Actor: "admin:1"}, &dismiss)
		se.run(t, 9)
		if len(se.reviews) != 1 || se.reviews[0].Reason != review.NoMemberMatch || se.reviews[0].CampaignID != seCampaign {
			t.Fatalf("reviews = %+v", se.reviews)
		}
	})
	t.Run("unless the campaign does not review unmatched entries", func(t *testing.T) {
		se := newSalesEnv(t, creation(10))
		res := noMatch(hint)
		res.Rules[seCampaign] = activities.CampaignRules{}
		se.onMatch(res)
		st := se.run(t, 10)
		if st.Status != salesentry.Ignored || len(se.reviews) != 0 {
			t.Fatalf("state = %+v", st)
		}
	})
}

func TestSalesEntryObjectGoneFromHubSpotIsIgnored(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	se := &salesEnv{env: s.NewTestWorkflowEnvironment()}
	se.env.RegisterActivity(testActs)
	se.env.RegisterActivity(testHubSpotActs)
	se.env.OnActivity(testActs.LoadSalesEntry, mock.Anything, int64(11)).Return(propertyChange(11), nil)
	se.env.OnActivity(testHubSpotActs.ReadSalesEntryObject, mock.Anything, mock.Anything).Return(activities.MatchObject{Missing: true}, nil)
	se.env.OnActivity(testActs.RecordSalesEntryStep, mock.Anything, mock.Anything).Return(
		func(_ context.Context, s activities.SalesEntryStep) error { se.steps = append(se.steps, s); return nil })
	st := se.run(t, 11)
	if st.Status != salesentry.Ignored || st.Reason != "HubSpot no longer has contact 901" {
		t.Fatalf("state = %+v", st)
	}
}

func TestSalesEntryValidatorRejectsImpossibleDecisions(t *testing.T) {
	cases := []struct {
		name string
		d    SalesEntryDecision
		want string
	}{
		{"unknown action", SalesEntryDecision{Action: "merge", Actor: "admin:1"}, `unknown action "merge"`},
		{"no actor", SalesEntryDecision{Action: review.Dismiss, Reason: "x"}, "needs an actor"},
		{"edit without data", SalesEntryDecision{Action: review.Edit, Actor: "admin:1"}, "an edit needs data"},
		{"edit with an unknown key", SalesEntryDecision{Action: review.Edit, Data: map[string]string{"email": "a@b.co", "phone": "1"}, Actor: "admin:1"}, `unknown data key "phone"`},
		{"edit with a malformed member ID", SalesEntryDecision{Action: review.Edit, Data: map[string]string{"member_id": "7"}, Actor: "admin:1"}, "not a member ID"},
		{"attach a malformed referral ID", SalesEntryDecision{Action: review.AttachReferral, ReferralID: "ref-1", Actor: "admin:1"}, "needs referral_id"},
		{"attach a malformed member ID", SalesEntryDecision{Action: review.AttachMember, Actor: "admin:1"}, "needs member_id"},
		{"approve without a proposal", SalesEntryDecision{Action: review.Approve, Actor: "admin:1"}, "exactly one proposal"},
		{"dismiss without a reason", SalesEntryDecision{Action: review.Dismiss, Reason: "  ", Actor: "admin:1"}, "needs a reason"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := int64(20 + i)
			se := newSalesEnv(t, creation(id))
			se.onMatch(noMatch(activities.NoMatchHint{CampaignID: seCampaign, Why: "a code naming no member"}))
			var bad, end decisionResult
			se.decideAt(time.Minute, "bad", tc.d, &bad)
			se.decideAt(time.Hour, "end", SalesEntryDecision{Action: review.Dismiss, Reason: "done", Actor: "admin:2"}, &end)
			st := se.run(t, id)
			if bad.rejected == nil || !strings.Contains(bad.rejected.Error(), tc.want) {
				t.Fatalf("rejection = %v, want one saying %q", bad.rejected, tc.want)
			}
			if bad.completed {
				t.Fatal("a rejected decision ran its handler")
			}
			if len(st.Decisions) != 1 || st.Decisions[0].UpdateID != "end" {
				t.Fatalf("decisions = %+v, want only the valid one", st.Decisions)
			}
		})
	}
}

// A decision while the entry is still being matched is refused: nothing is
// in review yet.
func TestSalesEntryDecisionWhenNothingIsInReview(t *testing.T) {
	se := newSalesEnv(t, creation(40))
	se.env.OnActivity(testActs.MatchSalesEntry, mock.Anything, mock.Anything).After(time.Hour).Return(noMatch(), nil)
	var early decisionResult
	se.decideAt(time.Minute, "early", SalesEntryDecision{Action: review.Dismiss, Reason: "x", Actor: "admin:1"}, &early)
	st := se.run(t, 40)
	if early.rejected == nil || !strings.Contains(early.rejected.Error(), "not in review") {
		t.Fatalf("decision during matching: %+v", early)
	}
	if st.Status != salesentry.Ignored {
		t.Fatalf("final = %+v", st)
	}
}

func TestSalesEntryAttachToAMissingReferralKeepsItInReview(t *testing.T) {
	se := newSalesEnv(t, creation(41))
	se.onMatch(noMatch(activities.NoMatchHint{CampaignID: seCampaign, Why: "a code naming no member"}))
	se.env.OnActivity(testActs.LinkHubSpotObject, mock.Anything, mock.Anything).Return(activities.LinkedReferral{},
		temporal.NewNonRetryableApplicationError("referral "+seReferral+" does not exist", activities.ErrorTypeReferralNotFound, nil))
	var attach, dismiss decisionResult
	var between SalesEntryState
	se.decideAt(time.Minute, "attach", SalesEntryDecision{Action: review.AttachReferral, ReferralID: seReferral, Actor: "admin:1"}, &attach)
	se.env.RegisterDelayedCallback(func() {
		v, err := se.env.QueryWorkflow(QuerySalesEntryState)
		if err == nil {
			_ = v.Get(&between)
		}
	}, 30*time.Minute)
	se.decideAt(time.Hour, "dismiss", SalesEntryDecision{Action: review.Dismiss, Reason: "spam", Actor: "admin:1"}, &dismiss)
	st := se.run(t, 41)

	var appErr *temporal.ApplicationError
	if !asApplicationError(attach.err, &appErr) || appErr.Type() != activities.ErrorTypeReferralNotFound || !strings.Contains(appErr.Message(), "does not exist") || !appErr.NonRetryable() {
		t.Fatalf("attach to a missing referral: %v", attach.err)
	}
	if between.Status != salesentry.InReview || len(between.Decisions) != 1 || !between.Decisions[0].Failed {
		t.Fatalf("after the failed decision: %+v", between)
	}
	if st.Status != salesentry.Ignored || len(se.closed) != 1 || se.closed[0].Status != "dismissed" {
		t.Fatalf("final = %+v, closed %+v", st, se.closed)
	}
}

func TestSalesEntryEditRunsMatchingAgain(t *testing.T) {
	se := newSalesEnv(t, propertyChange(42))
	se.onMatch(noMatch(activities.NoMatchHint{CampaignID: seCampaign, Why: "a code naming no member"}), memberMatch())
	se.onAdd()
	se.env.OnWorkflow(ReferralWorkflow, mock.Anything, mock.Anything).Return(ReferralState{}, nil)
	var edit decisionResult
	se.decideAt(time.Hour, "e", SalesEntryDecision{Action: review.Edit, Data: map[string]string{"referral_code": "MAYA-7Q2"}, Actor: "admin:3"}, &edit)
	st := se.run(t, 42)

	if edit.err != nil || edit.state.Status != salesentry.Processed {
		t.Fatalf("edit = %+v", edit)
	}
	if len(se.matches) != 2 || se.matches[0].Edited != nil || se.matches[1].Edited["referral_code"] != "MAYA-7Q2" {
		t.Fatalf("matching inputs = %+v", se.matches)
	}
	if st.Status != salesentry.Processed || st.Edited["referral_code"] != "MAYA-7Q2" || !st.Match.ReferralAdded {
		t.Fatalf("final = %+v", st)
	}
	if len(se.closed) != 1 || se.closed[0].Status != "resolved" || se.closed[0].DecidedBy != "admin:3" {
		t.Fatalf("review closed = %+v", se.closed)
	}
	var edited bool
	for _, s := range se.steps {
		if s.Action.Step == "edited" && s.Action.Actor == "admin:3" && s.Action.Data["referral_code"] == "MAYA-7Q2" {
			edited = true
		}
	}
	if !edited {
		t.Fatalf("the edit is not in the entry's actions: %+v", se.steps)
	}
}

// An edit that still matches nothing leaves the entry in review for the
// admin working on it.
func TestSalesEntryEditThatMatchesNothingStaysInReview(t *testing.T) {
	se := newSalesEnv(t, creation(43))
	se.onMatch(activities.MatchResult{
		Kind:       salesentry.MatchFuzzy,
		Candidates: []activities.MatchCandidate{{ReferralID: seReferral, CampaignID: seCampaign, How: "email"}},
		Rules:      map[string]activities.CampaignRules{seCampaign: {}},
	}, noMatch())
	var edit, dismiss decisionResult
	se.decideAt(time.Minute, "e", SalesEntryDecision{Action: review.Edit, Data: map[string]string{"email": "other@example.net"}, Actor: "admin:3"}, &edit)
	se.decideAt(time.Hour, "d", SalesEntryDecision{Action: review.Dismiss, Reason: "x", Actor: "admin:3"}, &dismiss)
	se.run(t, 43)
	if edit.err != nil || edit.state.Status != salesentry.InReview || edit.state.ReviewReason != review.NoMemberMatch || edit.state.Proposal != nil {
		t.Fatalf("after the edit: %+v", edit)
	}
	if len(se.reviews) != 2 || se.reviews[1].CampaignID != seCampaign || se.reviews[1].Data["edited"] == nil {
		t.Fatalf("reviews = %+v", se.reviews)
	}
}

// reviewThenDismiss runs an entry that goes to review in a campaign that
// notifies on review, then is dismissed; it returns the review entries
// NotifyReview was called for and the dismissal's result.
func (se *salesEnv) reviewThenDismiss(t *testing.T) ([]string, decisionResult) {
	t.Helper()
	res := noMatch(activities.NoMatchHint{CampaignID: seCampaign, Why: "a code naming no member"})
	res.Rules[seCampaign] = activities.CampaignRules{ReviewWhenNoMemberMatches: true, NotifyOnReview: true}
	se.onMatch(res)
	var notified []string
	se.env.OnActivity(testActs.NotifyReview, mock.Anything, mock.Anything).Return(
		func(_ context.Context, id string) (activities.ReviewNotification, error) {
			notified = append(notified, id)
			return activities.ReviewNotification{Sent: true, EventID: activities.ReviewCreatedEventID(id)}, nil
		})
	var dismiss decisionResult
	se.decideAt(time.Hour, "d", SalesEntryDecision{Action: review.Dismiss, Reason: "x", Actor: "admin:1"}, &dismiss)
	se.run(t, 44)
	return notified, dismiss
}

// The review.created webhook is queued by OpenSalesEntryReview in its
// transaction (activities' tests): the workflow itself sends nothing.
func TestSalesEntryReviewLeavesItsNotificationToTheOutbox(t *testing.T) {
	se := newSalesEnv(t, creation(44))
	notified, dismiss := se.reviewThenDismiss(t)
	if len(notified) != 0 || dismiss.err != nil {
		t.Fatalf("NotifyReview called for %v (decision: %v); the outbox announces reviews", notified, dismiss.err)
	}
}

// A run from before the outbox (no version marker) goes on notifying
// through the NotifyReview activity, as its history says it did.
func TestSalesEntryReviewFromBeforeTheOutboxNotifiesThroughTheActivity(t *testing.T) {
	se := newSalesEnv(t, creation(44))
	se.env.OnGetVersion(reviewNotifyOutboxChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	notified, dismiss := se.reviewThenDismiss(t)
	if len(notified) != 1 || notified[0] != seReview || dismiss.err != nil {
		t.Fatalf("notifications = %v (decision: %v)", notified, dismiss.err)
	}
	var recorded bool
	for _, s := range se.steps {
		if s.Action.Step == "review_notification" && strings.Contains(s.Action.Detail, "review.created:"+seReview) {
			recorded = true
		}
	}
	if !recorded {
		t.Fatalf("the notification is not in the entry's actions: %+v", se.steps)
	}
}

// An error no retry fixes marks the entry failed with the reason instead of
// leaving it "matching".
func TestSalesEntryFailsWithTheReason(t *testing.T) {
	se := newSalesEnv(t, creation(45))
	se.onMatch(memberMatch())
	se.env.OnActivity(testActs.AddReferralFromHubSpot, mock.Anything, mock.Anything).Return(activities.AddedReferral{},
		temporal.NewNonRetryableApplicationError("member "+seMember+" does not exist", activities.ErrTypeMemberNotFound, nil))
	st := se.run(t, 45)
	if st.Status != salesentry.Failed || !strings.Contains(st.Reason, "does not exist") {
		t.Fatalf("state = %+v", st)
	}
	if last := se.lastStep(); last.Status != salesentry.Failed || !strings.Contains(last.Error, "does not exist") {
		t.Fatalf("last step = %+v", last)
	}
}

// An entry an earlier run decided is left as it is.
func TestSalesEntryAlreadyDecidedIsLeftAlone(t *testing.T) {
	e := creation(46)
	e.Status = salesentry.Processed
	se := newSalesEnv(t, e)
	st := se.run(t, 46)
	if st.Status != salesentry.Processed || len(se.steps) != 0 {
		t.Fatalf("state = %+v, steps %+v", st, se.steps)
	}
}

// HubSpot unusable (the connection broken) does not fail the entry: it
// waits, says so once, and reads again until HubSpot answers, then is
// matched as usual.
func TestSalesEntryWaitsForABrokenConnection(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	se := &salesEnv{env: s.NewTestWorkflowEnvironment()}
	se.env.RegisterActivity(testActs)
	se.env.RegisterActivity(testHubSpotActs)
	se.env.OnActivity(testActs.LoadSalesEntry, mock.Anything, int64(12)).Return(propertyChange(12), nil)
	reads := 0
	se.env.OnActivity(testHubSpotActs.ReadSalesEntryObject, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ReadObjectInput) (activities.MatchObject, error) {
			reads++
			if reads <= 3 {
				return activities.MatchObject{}, temporal.NewNonRetryableApplicationError("workspace: HubSpot is not connected", hubSpotErrConnectionBroken, nil)
			}
			return activities.MatchObject{Missing: true}, nil
		})
	se.env.OnActivity(testActs.RecordSalesEntryStep, mock.Anything, mock.Anything).Return(
		func(_ context.Context, s activities.SalesEntryStep) error { se.steps = append(se.steps, s); return nil })
	st := se.run(t, 12)
	if reads != 4 || st.Status != salesentry.Ignored {
		t.Fatalf("after %d reads the entry is %+v; want it read until HubSpot answered", reads, st)
	}
	waits := 0
	for _, s := range se.steps {
		if s.Action.Step == salesentry.StepWaiting {
			waits++
		}
	}
	if waits != 1 {
		t.Fatalf("%d waiting steps recorded, want 1: %+v", waits, se.steps)
	}
}
