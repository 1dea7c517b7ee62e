package workflows

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
)

// The Sales Receiver's workflow: a sales entry about a HubSpot object
// referflow does not know yet is matched (direct, fuzzy, matching rules) by
// activities, and what cannot be decided waits in review for an admin's
// workflow update.

// SalesEntryWorkflowType is the registered name of SalesEntryWorkflow, for
// processes that start it without importing its function.
const SalesEntryWorkflowType = "SalesEntryWorkflow"

// SalesEntryWorkflowID is the ID of the workflow matching sales entry id:
// starting it twice for one entry is harmless.
func SalesEntryWorkflowID(salesEntryID int64) string {
	return "sales-entry/" + strconv.FormatInt(salesEntryID, 10)
}

// SalesEntryInput starts a sales entry's workflow.
type SalesEntryInput struct {
	SalesEntryID int64
	// HubSpotTaskQueue is where HubSpot activities run (default
	// HubSpotTaskQueue; tests use their own).
	HubSpotTaskQueue string `json:",omitempty"`
}

// Names other processes use to talk to a sales entry's workflow.
const (
	// QuerySalesEntryState returns SalesEntryState.
	QuerySalesEntryState = "state"
	// UpdateSalesEntryDecision is an admin's decision on a sales entry
	// waiting in review (SalesEntryDecision → SalesEntryState). Its
	// validator rejects impossible decisions with the reason.
	UpdateSalesEntryDecision = "decide"
)

// What an admin may decide about a sales entry in review.
const (
	// DecisionEdit replaces the entry's matching data (Data) and runs
	// matching again; the entry may leave review or stay with a new reason.
	DecisionEdit = "edit"
	// DecisionAttachReferral links the entry's HubSpot object to ReferralID
	// and forwards the change to that referral's workflow.
	DecisionAttachReferral = "attach_referral"
	// DecisionAttachMember adds a referral of MemberID for the entry's
	// object (a referral "from HubSpot") and starts its workflow.
	DecisionAttachMember = "attach_member"
	// DecisionApprove accepts the single match the review proposes.
	DecisionApprove = "approve"
	// DecisionDismiss closes the entry with Reason; nothing is changed.
	DecisionDismiss = "dismiss"
)

// SalesEntryDecision is an admin's decision on a sales entry in review.
type SalesEntryDecision struct {
	Action     string
	Data       map[string]string `json:",omitempty"`
	ReferralID string            `json:",omitempty"`
	MemberID   string            `json:",omitempty"`
	Reason     string            `json:",omitempty"`
	// Actor identifies the admin for the audit trail, e.g. "admin:<id>".
	Actor string
}

// SalesEntryState is what a sales entry's workflow knows: the state query
// returns it, every decision answers with it, and the workflow returns it.
type SalesEntryState struct {
	SalesEntryID int64
	// Status is the entry's: matching, then processed, review, ignored or
	// failed.
	Status     string
	ObjectType string `json:",omitempty"`
	ObjectID   int64  `json:",omitempty"`
	// Match is what the entry was matched to, once it is processed.
	Match *SalesEntryMatch `json:",omitempty"`
	// ReviewEntryID and ReviewReason are set while (and after) the entry
	// is in review.
	ReviewEntryID string `json:",omitempty"`
	ReviewReason  string `json:",omitempty"`
	// Proposal is the single referral or member the review proposes (what
	// approve accepts); Candidates are every one matching found.
	Proposal   *activities.MatchCandidate  `json:",omitempty"`
	Candidates []activities.MatchCandidate `json:",omitempty"`
	// Reason says why the entry is ignored, failed or in review.
	Reason string `json:",omitempty"`
	// Edited is the admin's matching data, replacing what HubSpot gave.
	Edited    map[string]string `json:",omitempty"`
	Decisions []DecisionRecord  `json:",omitempty"`
}

// SalesEntryMatch says what an entry was matched to, and how.
type SalesEntryMatch struct {
	// Kind is direct, fuzzy, member (a matching rule or an edit named the
	// member) or admin (an admin attached it).
	Kind       string
	How        string
	ReferralID string
	MemberID   string `json:",omitempty"`
	CampaignID string `json:",omitempty"`
	// ReferralAdded is set when the referral was added from HubSpot.
	ReferralAdded bool `json:",omitempty"`
	// Forwarded says what became of the entry's change: sent to the
	// referral's workflow, or why not.
	Forwarded string `json:",omitempty"`
}

// DecisionRecord is one admin decision the workflow applied (or that failed).
type DecisionRecord struct {
	UpdateID string
	Action   string
	Actor    string
	At       time.Time
	Outcome  string
	Failed   bool `json:",omitempty"`
}

// Kind of a match an admin made by attaching the entry.
const MatchAdmin = "admin"

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
}

func (w *salesEntryWorkflow) setup(ctx workflow.Context, in SalesEntryInput) error {
	if in.SalesEntryID <= 0 {
		return temporal.NewNonRetryableApplicationError("sales entry workflow started without a sales entry ID", "InvalidInput", nil)
	}
	if in.HubSpotTaskQueue == "" {
		in.HubSpotTaskQueue = HubSpotTaskQueue
	}
	w.in = in
	w.state = SalesEntryState{SalesEntryID: in.SalesEntryID, Status: activities.SalesEntryMatching}
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
	case activities.SalesEntryProcessed, activities.SalesEntryIgnored, activities.SalesEntryFailed:
		// Decided by an earlier run: nothing to do again.
		w.state.Status = w.entry.Status
		return w.state, nil
	}
	w.publish(ctx)
	if w.entry.WorkspaceID == "" {
		return w.state, w.ignore(ctx, fmt.Sprintf("no workspace is connected to HubSpot portal %d", w.entry.PortalID))
	}

	opts := hubSpotActivityOptions
	opts.TaskQueue = w.in.HubSpotTaskQueue
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), hubspotActs.ReadSalesEntryObject, activities.ReadObjectInput{
		WorkspaceID: w.entry.WorkspaceID, ObjectType: w.entry.ObjectType, ObjectID: w.entry.ObjectID, Properties: w.entry.ReadProperties,
	}).Get(ctx, &w.object)
	if err != nil {
		// Only an error no retry can fix gets here (a broken connection, a
		// missing scope): the entry says so.
		return w.state, w.fail(ctx, "reading the object from HubSpot failed: "+failureMessage(err))
	}
	if w.object.Missing {
		return w.state, w.ignore(ctx, fmt.Sprintf("HubSpot no longer has %s %d", w.entry.ObjectType, w.entry.ObjectID))
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
	if err := workflow.Await(ctx, func() bool { return w.state.Status != activities.SalesEntryReview }); err != nil {
		return w.state, err
	}
	if w.stopNotify != nil {
		w.stopNotify()
	}
	return w.state, workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
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
	if err := w.record(ctx, "matched", describeMatch(res), actor, map[string]any{"kind": res.Kind, "candidates": res.Candidates}); err != nil {
		return err
	}
	switch res.Kind {
	case activities.MatchDirect, activities.MatchFuzzy:
		if len(res.Candidates) > 1 {
			return w.review(ctx, activities.ReviewAmbiguousMatch, res, "", fmt.Sprintf("%d referrals match (%s)", len(res.Candidates), res.Kind))
		}
		c := res.Candidates[0]
		rules := res.Rules[c.CampaignID]
		if (res.Kind == activities.MatchDirect && !rules.AutoProcessDirectMatches) || (res.Kind == activities.MatchFuzzy && !rules.AutoProcessFuzzyMatches) {
			return w.review(ctx, activities.ReviewUnconfirmedMatch, res, c.CampaignID,
				fmt.Sprintf("a %s match (%s) that campaign %s does not process automatically", res.Kind, c.How, c.CampaignID))
		}
		return w.attachReferral(ctx, c, res.Kind, actor, "")
	case activities.MatchMember:
		if len(res.Candidates) > 1 {
			return w.review(ctx, activities.ReviewAmbiguousMatch, res, "", fmt.Sprintf("%d members match", len(res.Candidates)))
		}
		c := res.Candidates[0]
		err := w.addReferral(ctx, c, activities.MatchMember, actor, "")
		var appErr *temporal.ApplicationError
		if err != nil && asApplicationError(err, &appErr) &&
			(appErr.Type() == activities.ErrTypeNoLeadEmail || appErr.Type() == activities.ErrTypeDuplicateLead) {
			return w.review(ctx, activities.ReviewManual, res, c.CampaignID, "member "+c.MemberID+" matches, but "+appErr.Message())
		}
		return err
	}
	for _, h := range res.Hints {
		if res.Rules[h.CampaignID].ReviewWhenNoMemberMatches {
			return w.review(ctx, activities.ReviewNoMemberMatch, res, h.CampaignID, h.Why)
		}
	}
	if afterEdit {
		return w.review(ctx, activities.ReviewNoMemberMatch, res, w.campaignID, "the edited data matches no referral or member")
	}
	return w.ignore(ctx, "no referral or member matches")
}

func describeMatch(res activities.MatchResult) string {
	if res.Kind == activities.MatchNone {
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
	return res.Kind + " match: " + strings.Join(parts, ", ")
}

// attachReferral links the object to a referral, forwards the change to its
// workflow and marks the entry processed (resolving its review entry).
func (w *salesEntryWorkflow) attachReferral(ctx workflow.Context, c activities.MatchCandidate, kind, actor, decision string) error {
	dbctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	var linked activities.LinkedReferral
	if err := workflow.ExecuteLocalActivity(dbctx, acts.LinkHubSpotObject, activities.LinkObjectInput{
		SalesEntryID: w.entry.ID, WorkspaceID: w.entry.WorkspaceID, ReferralID: c.ReferralID,
		ObjectType: w.entry.ObjectType, ObjectID: w.entry.ObjectID, How: kind + ": " + c.How, Actor: actor,
	}).Get(ctx, &linked); err != nil {
		return err
	}
	m := &SalesEntryMatch{Kind: kind, How: c.How, ReferralID: linked.ReferralID, MemberID: linked.MemberID, CampaignID: linked.CampaignID}
	m.Forwarded = w.forward(ctx, linked.ReferralID)
	detail := fmt.Sprintf("linked %s %d to referral %s (%s match: %s); %s", w.entry.ObjectType, w.entry.ObjectID, linked.ReferralID, kind, c.How, m.Forwarded)
	if !linked.Linked {
		detail += fmt.Sprintf("; the referral keeps the %s it already had", w.entry.ObjectType)
	}
	return w.processed(ctx, m, actor, decision, detail)
}

// addReferral adds a referral of the member from HubSpot, starts its
// workflow, forwards the change and marks the entry processed.
func (w *salesEntryWorkflow) addReferral(ctx workflow.Context, c activities.MatchCandidate, kind, actor, decision string) error {
	dbctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	var added activities.AddedReferral
	if err := workflow.ExecuteLocalActivity(dbctx, acts.AddReferralFromHubSpot, activities.AddFromHubSpotInput{
		SalesEntryID: w.entry.ID, WorkspaceID: w.entry.WorkspaceID, MemberID: c.MemberID,
		ObjectType: w.entry.ObjectType, ObjectID: w.entry.ObjectID, Lead: w.lastMatch.Lead, How: kind + ": " + c.How, Actor: actor,
	}).Get(ctx, &added); err != nil {
		return err
	}
	if err := w.startReferral(ctx, added.ReferralID); err != nil {
		return err
	}
	m := &SalesEntryMatch{Kind: kind, How: c.How, ReferralID: added.ReferralID, MemberID: added.MemberID, CampaignID: added.CampaignID, ReferralAdded: true}
	m.Forwarded = w.forward(ctx, added.ReferralID)
	detail := fmt.Sprintf("added referral %s of member %s from %s %d (%s); its workflow started; %s",
		added.ReferralID, added.MemberID, w.entry.ObjectType, w.entry.ObjectID, c.How, m.Forwarded)
	return w.processed(ctx, m, actor, decision, detail)
}

// startReferral starts the referral's workflow as a child that outlives
// this one (ParentClosePolicy ABANDON). A workflow already running or run
// for the referral is left alone: the ID is the referral's.
func (w *salesEntryWorkflow) startReferral(ctx workflow.Context, referralID string) error {
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            ReferralWorkflowID(referralID),
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:         "Referral " + referralID + " (added from HubSpot)",
	})
	err := workflow.ExecuteChildWorkflow(cctx, ReferralWorkflow, ReferralInput{ReferralID: referralID, HubSpotTaskQueue: w.in.HubSpotTaskQueue}).
		GetChildWorkflowExecution().Get(ctx, nil)
	var started *temporal.ChildWorkflowExecutionAlreadyStartedError
	if err != nil && !errors.As(err, &started) {
		return fmt.Errorf("start the workflow of referral %s: %w", referralID, err)
	}
	return nil
}

// forward sends the entry's property change to the referral's workflow and
// says what became of it. A creation carries no property: linking is all.
func (w *salesEntryWorkflow) forward(ctx workflow.Context, referralID string) string {
	if w.entry.PropertyName == "" {
		return "a creation: nothing to forward"
	}
	change := HubSpotChange{
		Kind: ChangeProperty, ObjectType: w.entry.ObjectType, ObjectID: w.entry.ObjectID,
		Property: w.entry.PropertyName, Value: w.entry.PropertyValue, OccurredAt: w.entry.OccurredAt,
		DedupeKey: w.entry.DedupeKey, SalesEntryID: w.entry.ID,
	}
	err := workflow.SignalExternalWorkflow(ctx, ReferralWorkflowID(referralID), "", SignalHubSpotChange, change).Get(ctx, nil)
	if err != nil {
		return fmt.Sprintf("the change to %s was not forwarded: referral %s's workflow is not running", w.entry.PropertyName, referralID)
	}
	return fmt.Sprintf("the change to %s was forwarded to referral %s's workflow", w.entry.PropertyName, referralID)
}

// processed records the outcome, and resolves the review entry if there is
// one.
func (w *salesEntryWorkflow) processed(ctx workflow.Context, m *SalesEntryMatch, actor, decision, detail string) error {
	w.campaignID = m.CampaignID
	err := w.recordStep(ctx, activities.SalesEntryStep{
		Status: activities.SalesEntryProcessed, CampaignID: m.CampaignID, ReferralID: m.ReferralID, MemberID: m.MemberID,
	}, "processed", detail, actor, map[string]any{"kind": m.Kind, "how": m.How, "referral_id": m.ReferralID, "referral_added": m.ReferralAdded})
	if err != nil {
		return err
	}
	if err := w.closeReview(ctx, "resolved", decision+": "+detail, actor); err != nil {
		return err
	}
	w.state.Match = m
	w.state.Status = activities.SalesEntryProcessed
	w.state.Reason = ""
	w.publish(ctx)
	return nil
}

func (w *salesEntryWorkflow) closeReview(ctx workflow.Context, status, decision, actor string) error {
	if w.state.ReviewEntryID == "" {
		return nil
	}
	dbctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	return workflow.ExecuteLocalActivity(dbctx, acts.CloseReviewEntry, activities.CloseReviewInput{
		ReviewEntryID: w.state.ReviewEntryID, Status: status, Decision: strings.TrimPrefix(decision, ": "), DecidedBy: actor,
	}).Get(ctx, nil)
}

// review puts the entry in review (or changes why it is there), and
// notifies admins when the campaign asks for it.
func (w *salesEntryWorkflow) review(ctx workflow.Context, reason string, res activities.MatchResult, campaignID, why string) error {
	if campaignID == "" {
		campaignID = sharedCampaign(res.Candidates)
	}
	if campaignID == "" {
		campaignID = w.campaignID
	}
	var proposal *activities.MatchCandidate
	if len(res.Candidates) == 1 {
		c := res.Candidates[0]
		proposal = &c
	}
	data := map[string]any{
		"why": why, "object_type": w.entry.ObjectType, "object_id": w.entry.ObjectID,
		"match_kind": res.Kind, "seen": res.Seen, "candidates": res.Candidates,
	}
	if proposal != nil {
		data["proposal"] = proposal
	}
	if len(w.state.Edited) > 0 {
		data["edited"] = w.state.Edited
	}
	w.step++
	dbctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	var id string
	err := workflow.ExecuteLocalActivity(dbctx, acts.OpenSalesEntryReview, activities.OpenReviewInput{
		SalesEntryID: w.entry.ID, WorkspaceID: w.entry.WorkspaceID, CampaignID: campaignID, Reason: reason, Data: data,
		WorkflowID: SalesEntryWorkflowID(w.entry.ID),
		Action:     w.action(ctx, "review", fmt.Sprintf("in review (%s): %s", reason, why), "system", map[string]any{"reason": reason}),
	}).Get(ctx, &id)
	if err != nil {
		return err
	}
	w.campaignID = campaignID
	w.state.Status = activities.SalesEntryReview
	w.state.ReviewEntryID, w.state.ReviewReason, w.state.Reason = id, reason, why
	w.state.Proposal, w.state.Candidates = proposal, res.Candidates
	w.publish(ctx)
	if campaignID != "" && res.Rules[campaignID].NotifyOnReview && w.notified != id {
		w.notified = id
		w.notify(ctx, id)
	}
	return nil
}

func sharedCampaign(cs []activities.MatchCandidate) string {
	if len(cs) == 0 {
		return ""
	}
	for _, c := range cs[1:] {
		if c.CampaignID != cs[0].CampaignID {
			return ""
		}
	}
	return cs[0].CampaignID
}

// notify announces the review entry in the background: a receiver that is
// down is retried with backoff (as reward webhooks are) without holding up
// decisions, and the retries stop once the entry leaves review.
func (w *salesEntryWorkflow) notify(ctx workflow.Context, reviewEntryID string) {
	if w.stopNotify != nil {
		w.stopNotify()
	}
	nctx, cancel := workflow.WithCancel(ctx)
	w.stopNotify = cancel
	workflow.Go(nctx, func(gctx workflow.Context) {
		var n activities.ReviewNotification
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(gctx, reviewNotifyActivityOptions), acts.NotifyReview, reviewEntryID).Get(gctx, &n)
		if gctx.Err() != nil {
			return
		}
		detail := "admins notified: review.created webhook delivered (" + n.EventID + ")"
		switch {
		case err != nil:
			detail = "admins could not be notified: " + failureMessage(err)
		case !n.Sent:
			detail = "admins not notified: " + n.Skipped
		}
		_ = w.record(gctx, "review_notification", detail, "system", nil)
	})
}

// ignore marks the entry ignored with the reason.
func (w *salesEntryWorkflow) ignore(ctx workflow.Context, reason string) error {
	if err := w.recordStep(ctx, activities.SalesEntryStep{Status: activities.SalesEntryIgnored}, "ignored", reason, "system", nil); err != nil {
		return err
	}
	w.state.Status, w.state.Reason = activities.SalesEntryIgnored, reason
	w.publish(ctx)
	return nil
}

// fail marks the entry failed with the reason.
func (w *salesEntryWorkflow) fail(ctx workflow.Context, reason string) error {
	if err := w.recordStep(ctx, activities.SalesEntryStep{Status: activities.SalesEntryFailed, Error: reason}, "failed", reason, "system", nil); err != nil {
		return err
	}
	w.state.Status, w.state.Reason = activities.SalesEntryFailed, reason
	w.publish(ctx)
	return nil
}

// record appends an action to the entry without changing its status.
func (w *salesEntryWorkflow) record(ctx workflow.Context, step, detail, actor string, data map[string]any) error {
	return w.recordStep(ctx, activities.SalesEntryStep{}, step, detail, actor, data)
}

func (w *salesEntryWorkflow) recordStep(ctx workflow.Context, s activities.SalesEntryStep, step, detail, actor string, data map[string]any) error {
	w.step++
	s.SalesEntryID = w.entry.ID
	s.WorkflowID = SalesEntryWorkflowID(w.entry.ID)
	s.Action = w.action(ctx, step, detail, actor, data)
	dbctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	return workflow.ExecuteLocalActivity(dbctx, acts.RecordSalesEntryStep, s).Get(ctx, nil)
}

// action is the next action; its key is the workflow's step number, the
// same on every retry of the step.
func (w *salesEntryWorkflow) action(ctx workflow.Context, step, detail, actor string, data map[string]any) activities.SalesEntryAction {
	return activities.SalesEntryAction{
		Key: fmt.Sprintf("%s#%d", SalesEntryWorkflowID(w.in.SalesEntryID), w.step), Step: step, Detail: detail,
		Actor: actorOrSystem(actor), At: workflow.Now(ctx).UTC(), Data: data,
	}
}

func actorOrSystem(actor string) string {
	if actor == "" {
		return "system"
	}
	return actor
}

// validateDecision rejects, with the reason, a decision that cannot be
// applied. It is deterministic and reads nothing: whether a referral or
// member exists is the handler's to find out.
func (w *salesEntryWorkflow) validateDecision(ctx workflow.Context, d SalesEntryDecision) error {
	if d.Actor == "" {
		return errors.New("a decision needs an actor (who decided)")
	}
	if w.state.Status != activities.SalesEntryReview {
		return fmt.Errorf("sales entry %d is not in review (it is %s): there is nothing to decide", w.state.SalesEntryID, w.state.Status)
	}
	switch d.Action {
	case DecisionEdit:
		if len(d.Data) == 0 {
			return fmt.Errorf("an edit needs data: one or more of %s", strings.Join(activities.EditKeys, ", "))
		}
		for _, k := range slices.Sorted(maps.Keys(d.Data)) {
			if !slices.Contains(activities.EditKeys, k) {
				return fmt.Errorf("unknown data key %q: an edit may set %s", k, strings.Join(activities.EditKeys, ", "))
			}
		}
		if v := strings.TrimSpace(d.Data[activities.EditMemberID]); v != "" {
			if _, err := uuid.Parse(v); err != nil {
				return fmt.Errorf("data.member_id %q is not a member ID (a UUID)", v)
			}
		}
	case DecisionAttachReferral:
		if _, err := uuid.Parse(d.ReferralID); err != nil {
			return fmt.Errorf("attach_referral needs referral_id, a referral ID (a UUID), not %q", d.ReferralID)
		}
	case DecisionAttachMember:
		if _, err := uuid.Parse(d.MemberID); err != nil {
			return fmt.Errorf("attach_member needs member_id, a member ID (a UUID), not %q", d.MemberID)
		}
	case DecisionApprove:
		if w.state.Proposal == nil {
			return fmt.Errorf("approve needs exactly one proposal and this entry has %d (%s): attach it to a referral or member, or edit it",
				len(w.state.Candidates), w.state.ReviewReason)
		}
	case DecisionDismiss:
		if strings.TrimSpace(d.Reason) == "" {
			return errors.New("dismiss needs a reason")
		}
	default:
		return fmt.Errorf("unknown action %q: one of %s, %s, %s, %s, %s", d.Action,
			DecisionEdit, DecisionAttachReferral, DecisionAttachMember, DecisionApprove, DecisionDismiss)
	}
	return nil
}

// decide applies an admin's decision. A referral or member that does not
// exist (or is another workspace's) fails the update with the reason, and
// the entry stays in review.
func (w *salesEntryWorkflow) decide(ctx workflow.Context, d SalesEntryDecision) (SalesEntryState, error) {
	if err := w.lock.Lock(ctx); err != nil {
		return w.state, err
	}
	defer w.lock.Unlock()
	if w.state.Status != activities.SalesEntryReview {
		// An earlier decision took it out of review while this one waited.
		return w.state, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("sales entry %d is no longer in review (it is %s)", w.state.SalesEntryID, w.state.Status), "NotInReview", nil)
	}
	rec := DecisionRecord{UpdateID: workflow.GetCurrentUpdateInfo(ctx).ID, Action: d.Action, Actor: d.Actor, At: workflow.Now(ctx).UTC()}
	decision := d.Action + " by " + d.Actor
	var err error
	switch d.Action {
	case DecisionEdit:
		err = w.edit(ctx, d)
	case DecisionAttachReferral:
		err = w.attachReferral(ctx, activities.MatchCandidate{ReferralID: d.ReferralID, How: "attached by " + d.Actor}, MatchAdmin, d.Actor, decision)
	case DecisionAttachMember:
		err = w.addReferral(ctx, activities.MatchCandidate{MemberID: d.MemberID, How: "attached by " + d.Actor}, MatchAdmin, d.Actor, decision)
	case DecisionApprove:
		p := *w.state.Proposal
		p.How += ", approved by " + d.Actor
		kind := w.lastMatch.Kind
		if p.MemberID != "" {
			err = w.addReferral(ctx, p, kind, d.Actor, decision)
		} else {
			err = w.attachReferral(ctx, p, kind, d.Actor, decision)
		}
	case DecisionDismiss:
		err = w.dismiss(ctx, d)
	}
	if err != nil {
		rec.Outcome, rec.Failed = failureMessage(err), true
		w.state.Decisions = append(w.state.Decisions, rec)
		return w.state, decisionError(err)
	}
	rec.Outcome = w.state.Status
	if w.state.Reason != "" {
		rec.Outcome += ": " + w.state.Reason
	} else if w.state.Match != nil {
		rec.Outcome += ": referral " + w.state.Match.ReferralID
	}
	w.state.Decisions = append(w.state.Decisions, rec)
	return w.state, nil
}

// decisionError is what the admin sees of a failed decision: the
// activity's own reason, as a non-retryable application error.
func decisionError(err error) error {
	var appErr *temporal.ApplicationError
	if asApplicationError(err, &appErr) {
		return temporal.NewNonRetryableApplicationError(appErr.Message(), appErr.Type(), nil)
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), "DecisionFailed", nil)
}

// edit keeps the admin's data (on top of earlier edits) and runs matching
// again on it.
func (w *salesEntryWorkflow) edit(ctx workflow.Context, d SalesEntryDecision) error {
	edited := maps.Clone(w.state.Edited)
	if edited == nil {
		edited = map[string]string{}
	}
	for k, v := range d.Data {
		edited[k] = strings.TrimSpace(v)
	}
	data := map[string]any{}
	for k, v := range edited {
		data[k] = v
	}
	w.state.Edited = edited
	if err := w.record(ctx, "edited", "matching data edited by "+d.Actor+"; matching again", d.Actor, data); err != nil {
		return err
	}
	res, err := w.match(ctx)
	if err != nil {
		return err
	}
	return w.apply(ctx, res, d.Actor, true)
}

// dismiss closes the review entry and ignores the sales entry.
func (w *salesEntryWorkflow) dismiss(ctx workflow.Context, d SalesEntryDecision) error {
	reason := fmt.Sprintf("dismissed by %s: %s", d.Actor, strings.TrimSpace(d.Reason))
	if err := w.closeReview(ctx, "dismissed", "dismiss: "+strings.TrimSpace(d.Reason), d.Actor); err != nil {
		return err
	}
	return w.ignore(ctx, reason)
}

// publish makes the entry readable at a glance in the Temporal Web UI (IDs,
// never emails) and findable by campaign once one is known; the only search
// attribute set is the registered CampaignID.
func (w *salesEntryWorkflow) publish(ctx workflow.Context) {
	details := fmt.Sprintf("**Sales entry:** %d (%s %d)  \n**Status:** %s", w.state.SalesEntryID, w.state.ObjectType, w.state.ObjectID, w.state.Status)
	if w.state.ReviewEntryID != "" && w.state.Status == activities.SalesEntryReview {
		details += fmt.Sprintf("  \n**Review:** %s (%s)", w.state.ReviewEntryID, w.state.ReviewReason)
	}
	if m := w.state.Match; m != nil {
		details += fmt.Sprintf("  \n**Referral:** %s (%s match)", m.ReferralID, m.Kind)
	}
	if w.campaignID != "" {
		details += "  \n**Campaign:** " + w.campaignID
		if w.campaignID != w.publishedCampaign {
			w.publishedCampaign = w.campaignID
			_ = workflow.UpsertTypedSearchAttributes(ctx, CampaignIDKey.ValueSet(w.campaignID))
		}
	}
	workflow.SetCurrentDetails(ctx, details)
}
