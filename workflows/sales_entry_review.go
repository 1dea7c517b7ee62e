package workflows

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/review"
	"github.com/referflow/referflow/internal/salesentry"
)

// review puts the entry in review (or changes why it is there);
// OpenSalesEntryReview also queues the webhook that notifies admins when the
// campaign asks for it.
func (w *salesEntryWorkflow) review(ctx workflow.Context, reason review.Reason, res activities.MatchResult, campaignID, why string) error {
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
		Action:     w.action(ctx, salesentry.StepReview, fmt.Sprintf("in review (%s): %s", reason, why), "system", map[string]any{"reason": reason}),
	}).Get(ctx, &id)
	if err != nil {
		return err
	}
	w.campaignID = campaignID
	w.state.Status = salesentry.InReview
	w.state.ReviewEntryID, w.state.ReviewReason, w.state.Reason = id, reason, why
	w.state.Proposal, w.state.Candidates = proposal, res.Candidates
	w.publish(ctx)
	// OpenSalesEntryReview queued the review.created webhook in its
	// transaction; runs from before the outbox sent it from here.
	if workflow.GetVersion(ctx, reviewNotifyOutboxChange, workflow.DefaultVersion, 1) == 1 {
		return nil
	}
	if campaignID != "" && res.Rules[campaignID].NotifyOnReview && w.notified != id {
		w.notified = id
		w.notify(ctx, id)
	}
	return nil
}

// reviewNotifyOutboxChange versions the move of the review.created webhook
// to the outbox: runs that notified through the NotifyReview activity
// replay as they ran (the activity now queues the event in the outbox).
const reviewNotifyOutboxChange = "review-notify-outbox"

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

// notify is how runs from before the outbox announced the review entry: in
// the background, through the NotifyReview activity (which now queues the
// event in the outbox and returns).
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
		_ = w.record(gctx, salesentry.StepReviewNotification, detail, "system", nil)
	})
}

func (w *salesEntryWorkflow) closeReview(ctx workflow.Context, status review.Status, decision, actor string) error {
	if w.state.ReviewEntryID == "" {
		return nil
	}
	dbctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	return workflow.ExecuteLocalActivity(dbctx, acts.CloseReviewEntry, activities.CloseReviewInput{
		ReviewEntryID: w.state.ReviewEntryID, Status: status, Decision: strings.TrimPrefix(decision, ": "), DecidedBy: actor,
	}).Get(ctx, nil)
}

// validateDecision rejects, with the reason, a decision that cannot be
// applied. It is deterministic and reads nothing: whether a referral or
// member exists is the handler's to find out.
func (w *salesEntryWorkflow) validateDecision(ctx workflow.Context, d SalesEntryDecision) error {
	if d.Actor == "" {
		return errors.New("a decision needs an actor (who decided)")
	}
	if w.state.Status != salesentry.InReview {
		return fmt.Errorf("sales entry %d is not in review (it is %s): there is nothing to decide", w.state.SalesEntryID, w.state.Status)
	}
	switch d.Action {
	case review.Edit:
		if len(d.Data) == 0 {
			return fmt.Errorf("an edit needs data: one or more of %s", strings.Join(review.EditKeys, ", "))
		}
		for _, k := range slices.Sorted(maps.Keys(d.Data)) {
			if !slices.Contains(review.EditKeys, k) {
				return fmt.Errorf("unknown data key %q: an edit may set %s", k, strings.Join(review.EditKeys, ", "))
			}
		}
		if v := strings.TrimSpace(d.Data[review.EditMemberID]); v != "" {
			if _, err := uuid.Parse(v); err != nil {
				return fmt.Errorf("data.member_id %q is not a member ID (a UUID)", v)
			}
		}
	case review.AttachReferral:
		if _, err := uuid.Parse(d.ReferralID); err != nil {
			return fmt.Errorf("attach_referral needs referral_id, a referral ID (a UUID), not %q", d.ReferralID)
		}
	case review.AttachMember:
		if _, err := uuid.Parse(d.MemberID); err != nil {
			return fmt.Errorf("attach_member needs member_id, a member ID (a UUID), not %q", d.MemberID)
		}
	case review.Approve:
		if w.state.Proposal == nil {
			return fmt.Errorf("approve needs exactly one proposal and this entry has %d (%s): attach it to a referral or member, or edit it",
				len(w.state.Candidates), w.state.ReviewReason)
		}
	case review.Dismiss:
		if strings.TrimSpace(d.Reason) == "" {
			return errors.New("dismiss needs a reason")
		}
	default:
		return fmt.Errorf("unknown action %q: one of %s", d.Action, joinActions(review.SalesEntryActions))
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
	if w.state.Status != salesentry.InReview {
		// An earlier decision took it out of review while this one waited.
		return w.state, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("sales entry %d is no longer in review (it is %s)", w.state.SalesEntryID, w.state.Status), "NotInReview", nil)
	}
	rec := DecisionRecord{UpdateID: workflow.GetCurrentUpdateInfo(ctx).ID, Action: d.Action, Actor: d.Actor, At: workflow.Now(ctx).UTC()}
	decision := string(d.Action) + " by " + d.Actor
	var err error
	switch d.Action {
	case review.Edit:
		err = w.edit(ctx, d)
	case review.AttachReferral:
		err = w.attachReferral(ctx, activities.MatchCandidate{ReferralID: d.ReferralID, How: "attached by " + d.Actor}, salesentry.MatchAdmin, d.Actor, decision)
	case review.AttachMember:
		err = w.addReferral(ctx, activities.MatchCandidate{MemberID: d.MemberID, How: "attached by " + d.Actor}, salesentry.MatchAdmin, d.Actor, decision)
	case review.Approve:
		p := *w.state.Proposal
		p.How += ", approved by " + d.Actor
		kind := w.lastMatch.Kind
		if p.MemberID != "" {
			err = w.addReferral(ctx, p, kind, d.Actor, decision)
		} else {
			err = w.attachReferral(ctx, p, kind, d.Actor, decision)
		}
	case review.Dismiss:
		err = w.dismiss(ctx, d)
	}
	if err != nil {
		rec.Outcome, rec.Failed = failureMessage(err), true
		w.state.Decisions = append(w.state.Decisions, rec)
		return w.state, decisionError(err)
	}
	rec.Outcome = string(w.state.Status)
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
	if err := w.record(ctx, salesentry.StepEdited, "matching data edited by "+d.Actor+"; matching again", d.Actor, data); err != nil {
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
	if err := w.closeReview(ctx, review.Dismissed, string(review.Dismiss)+": "+strings.TrimSpace(d.Reason), d.Actor); err != nil {
		return err
	}
	return w.ignore(ctx, reason)
}

func joinActions(actions []review.Action) string {
	words := make([]string, len(actions))
	for i, a := range actions {
		words[i] = string(a)
	}
	return strings.Join(words, ", ")
}
