package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/review"
	"github.com/referflow/referflow/internal/salesentry"
)

// SalesEntryWorkflow matches one sales entry about a HubSpot object
// referflow does not know (the dispatcher starts it for creations and for
// changes of properties a rule uses) and decides what to do with it by the
// matched campaign's process rules:
//
//   - one direct match with auto_process_direct_matches, or one fuzzy match
//     with auto_process_fuzzy_matches: the object is linked to the referral
//     and the change forwarded to the referral's workflow → processed;
//   - a match the switches do not allow → review, unconfirmed_match;
//   - several candidates → review, ambiguous_match;
//   - a matching rule naming a member → a referral is added from HubSpot,
//     its workflow started and the change forwarded → processed;
//   - nothing → review, no_member_match, when a campaign with
//     review_when_no_member_matches finds the entry looks like a referral
//     (a matching-rule property held a value naming no member, or the change
//     is one of its status rules); otherwise ignored. An ordinary new
//     contact that no rule points at is not a referral, and sending every
//     one to review would bury the entries that need a person.
//
// An entry in review waits for admins' UpdateSalesEntryDecision updates
// until one takes it out of review.
func SalesEntryWorkflow(ctx workflow.Context, in SalesEntryInput) (SalesEntryState, error) {
	w := &salesEntryWorkflow{}
	if err := w.setup(ctx, in); err != nil {
		return SalesEntryState{}, err
	}
	return w.run(ctx)
}

type salesEntryWorkflow struct {
	in    SalesEntryInput
	state SalesEntryState
	entry activities.SalesEntry
	// object is the HubSpot object as read; lastMatch the latest matching.
	object    activities.MatchObject
	lastMatch activities.MatchResult
	// lock serialises decisions: each runs activities.
	lock workflow.Mutex
	// step numbers the entry's actions: their keys make retries harmless.
	step int
	// notified is the review entry admins were told about; stopNotify
	// cancels a notification still being retried.
	notified   string
	stopNotify workflow.CancelFunc
	// campaignID is the campaign the entry concerns once known;
	// publishedCampaign the one last set as search attribute.
	campaignID        string
	publishedCampaign string
	// enrolled is what enrolling the entry's contact did (enrol).
	enrolled []activities.Enrolment
}

func (w *salesEntryWorkflow) setup(ctx workflow.Context, in SalesEntryInput) error {
	if in.SalesEntryID <= 0 {
		return temporal.NewNonRetryableApplicationError("sales entry workflow started without a sales entry ID", "InvalidInput", nil)
	}
	if in.HubSpotTaskQueue == "" {
		in.HubSpotTaskQueue = HubSpotTaskQueue
	}
	w.in = in
	w.state = SalesEntryState{SalesEntryID: in.SalesEntryID, Status: salesentry.Matching}
	w.lock = workflow.NewMutex(ctx)
	if err := workflow.SetQueryHandler(ctx, QuerySalesEntryState, func() (SalesEntryState, error) {
		return w.state, nil
	}); err != nil {
		return fmt.Errorf("register state query: %w", err)
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateSalesEntryDecision, w.decide, workflow.UpdateHandlerOptions{
		Validator: w.validateDecision,
	})
}

func (w *salesEntryWorkflow) run(ctx workflow.Context) (SalesEntryState, error) {
	dbctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	if err := workflow.ExecuteLocalActivity(dbctx, acts.LoadSalesEntry, w.in.SalesEntryID).Get(ctx, &w.entry); err != nil {
		return w.state, err
	}
	w.state.ObjectType, w.state.ObjectID = w.entry.ObjectType, w.entry.ObjectID
	switch w.entry.Status {
	case salesentry.Processed, salesentry.Ignored, salesentry.Failed:
		// Decided by an earlier run: nothing to do again.
		w.state.Status = w.entry.Status
		return w.state, nil
	}
	w.publish(ctx)
	if w.entry.WorkspaceID == "" {
		return w.state, w.ignore(ctx, fmt.Sprintf("no workspace is connected to HubSpot portal %d", w.entry.PortalID))
	}

	err := w.readObject(ctx)
	if err != nil {
		// Only an error no retry can fix gets here (a broken connection, a
		// missing scope): the entry says so.
		return w.state, w.fail(ctx, "reading the object from HubSpot failed: "+failureMessage(err))
	}
	if w.object.Missing {
		return w.state, w.ignore(ctx, fmt.Sprintf("HubSpot no longer has %s %d", w.entry.ObjectType, w.entry.ObjectID))
	}

	if err := w.enrol(ctx); err != nil {
		return w.state, err
	}
	if w.entry.Kind() == salesentry.AddedToList {
		return w.state, w.listEntryDone(ctx)
	}
	res, err := w.match(ctx)
	if err == nil {
		err = w.apply(ctx, res, "system", false)
	}
	var appErr *temporal.ApplicationError
	if err != nil && asApplicationError(err, &appErr) && appErr.NonRetryable() {
		// No retry can fix it (a member deleted between matching and adding
		// the referral, settings that cannot be read): the entry says why
		// instead of staying "matching" for ever.
		return w.state, w.fail(ctx, "matching failed: "+failureMessage(err))
	}
	if err != nil {
		return w.state, err
	}
	if err := workflow.Await(ctx, func() bool { return w.state.Status != salesentry.InReview }); err != nil {
		return w.state, err
	}
	if w.stopNotify != nil {
		w.stopNotify()
	}
	return w.state, workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// readObject reads the entry's object from HubSpot. While the workspace's
// connection cannot be used (not connected, broken, a revoked token) the
// entry waits, says so once in its actions, and reads again on a durable
// timer (1 min doubling to 30 min): the event is not lost to an outage an
// admin mends by reconnecting. Other errors no retry fixes are returned.
func (w *salesEntryWorkflow) readObject(ctx workflow.Context) error {
	opts := hubSpotActivityOptions
	opts.TaskQueue = w.in.HubSpotTaskQueue
	for attempt := 1; ; attempt++ {
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), hubspotActs.ReadSalesEntryObject, activities.ReadObjectInput{
			WorkspaceID: w.entry.WorkspaceID, ObjectType: w.entry.ObjectType, ObjectID: w.entry.ObjectID, Properties: w.entry.ReadProperties,
		}).Get(ctx, &w.object)
		var appErr *temporal.ApplicationError
		if err == nil || !asApplicationError(err, &appErr) || !connectionTrouble[appErr.Type()] {
			return err
		}
		workflow.GetLogger(ctx).Error("sales entry waits for HubSpot", "sales_entry_id", w.entry.ID, "cause", appErr.Type(), "attempt", attempt)
		if attempt == 1 {
			if err := w.record(ctx, salesentry.StepWaiting, "HubSpot cannot be read: "+failureMessage(err)+"; reading again until it can", "system", nil); err != nil {
				return err
			}
		}
		if err := workflow.Sleep(ctx, min(retryAfter(attempt), 30*time.Minute)); err != nil {
			return err
		}
	}
}

// HubSpot's error types (internal/hubspot, which workflows do not import;
// a test ties the two) that an admin mends by (re)connecting HubSpot.
const (
	hubSpotErrConnectionBroken = "HubSpotConnectionBroken"
	hubSpotErrUnauthorized     = "HubSpotUnauthorized"
)

// connectionTrouble are the HubSpot error types an admin mends by
// (re)connecting HubSpot.
var connectionTrouble = map[string]bool{
	hubSpotErrConnectionBroken: true,
	hubSpotErrUnauthorized:     true,
}

// match runs matching on the object as read, with the admin's edits.
func (w *salesEntryWorkflow) match(ctx workflow.Context) (activities.MatchResult, error) {
	dbctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	var res activities.MatchResult
	err := workflow.ExecuteLocalActivity(dbctx, acts.MatchSalesEntry, activities.MatchInput{
		SalesEntryID: w.entry.ID, WorkspaceID: w.entry.WorkspaceID, Object: w.object, Edited: w.state.Edited,
		Property: w.entry.PropertyName, Value: w.entry.PropertyValue,
	}).Get(ctx, &res)
	if err != nil {
		return res, err
	}
	w.lastMatch = res
	return res, nil
}

// apply decides what to do with a match by the process rules (see
// SalesEntryWorkflow). afterEdit is set when an admin's edit ran the
// matching: an entry the admin is working on stays in review when nothing
// matches, rather than being ignored under their hands.
func (w *salesEntryWorkflow) apply(ctx workflow.Context, res activities.MatchResult, actor string, afterEdit bool) error {
	if err := w.record(ctx, salesentry.StepMatched, describeMatch(res), actor, map[string]any{"kind": res.Kind, "candidates": res.Candidates}); err != nil {
		return err
	}
	switch res.Kind {
	case salesentry.MatchDirect, salesentry.MatchFuzzy:
		if len(res.Candidates) > 1 {
			return w.review(ctx, review.AmbiguousMatch, res, "", fmt.Sprintf("%d referrals match (%s)", len(res.Candidates), res.Kind))
		}
		c := res.Candidates[0]
		rules := res.Rules[c.CampaignID]
		if (res.Kind == salesentry.MatchDirect && !rules.AutoProcessDirectMatches) || (res.Kind == salesentry.MatchFuzzy && !rules.AutoProcessFuzzyMatches) {
			return w.review(ctx, review.UnconfirmedMatch, res, c.CampaignID,
				fmt.Sprintf("a %s match (%s) that campaign %s does not process automatically", res.Kind, c.How, c.CampaignID))
		}
		return w.attachReferral(ctx, c, res.Kind, actor, "")
	case salesentry.MatchMember:
		if len(res.Candidates) > 1 {
			return w.review(ctx, review.AmbiguousMatch, res, "", fmt.Sprintf("%d members match", len(res.Candidates)))
		}
		c := res.Candidates[0]
		err := w.addReferral(ctx, c, salesentry.MatchMember, actor, "")
		var appErr *temporal.ApplicationError
		switch {
		case err != nil && asApplicationError(err, &appErr) &&
			(appErr.Type() == activities.ErrTypeNoLeadEmail || appErr.Type() == activities.ErrTypeDuplicateLead):
			return w.review(ctx, review.Manual, res, c.CampaignID, "member "+c.MemberID+" matches, but "+appErr.Message())
		case err != nil && asApplicationError(err, &appErr) && appErr.Type() == activities.ErrTypeCampaignNotActive:
			// The campaign left active between matching (which reads only
			// active campaigns' rules) and adding: it takes no referral,
			// and the entry says why.
			return w.ignore(ctx, "member "+c.MemberID+" matches, but "+appErr.Message())
		}
		return err
	}
	for _, h := range res.Hints {
		if res.Rules[h.CampaignID].ReviewWhenNoMemberMatches {
			return w.review(ctx, review.NoMemberMatch, res, h.CampaignID, h.Why)
		}
	}
	if afterEdit {
		return w.review(ctx, review.NoMemberMatch, res, w.campaignID, "the edited data matches no referral or member")
	}
	if len(w.enrolled) > 0 {
		return w.enrolledOnly(ctx)
	}
	return w.ignore(ctx, "no referral or member matches")
}

func describeMatch(res activities.MatchResult) string {
	if res.Kind == salesentry.MatchNone {
		return "no referral or member matches"
	}
	parts := make([]string, len(res.Candidates))
	for i, c := range res.Candidates {
		if c.ReferralID != "" {
			parts[i] = "referral " + c.ReferralID + " (" + c.How + ")"
		} else {
			parts[i] = "member " + c.MemberID + " (" + c.How + ")"
		}
	}
	return string(res.Kind) + " match: " + strings.Join(parts, ", ")
}
