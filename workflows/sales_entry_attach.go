package workflows

import (
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/review"
	"github.com/referflow/referflow/internal/salesentry"
)

// attachReferral links the object to a referral, forwards the change to its
// workflow and marks the entry processed (resolving its review entry).
func (w *salesEntryWorkflow) attachReferral(ctx workflow.Context, c activities.MatchCandidate, kind salesentry.MatchKind, actor, decision string) error {
	dbctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	var linked activities.LinkedReferral
	if err := workflow.ExecuteLocalActivity(dbctx, acts.LinkHubSpotObject, activities.LinkObjectInput{
		SalesEntryID: w.entry.ID, WorkspaceID: w.entry.WorkspaceID, ReferralID: c.ReferralID,
		ObjectType: w.entry.ObjectType, ObjectID: w.entry.ObjectID, How: string(kind) + ": " + c.How, Actor: actor,
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
// workflow, forwards the change and marks the entry processed. Its source is
// the campaign's matching rule, or the review queue when an admin decided.
func (w *salesEntryWorkflow) addReferral(ctx workflow.Context, c activities.MatchCandidate, kind salesentry.MatchKind, actor, decision string) error {
	source := referral.SourceHubSpotMatchingRule
	if actorOrSystem(actor) != "system" {
		source = referral.SourceHubSpotReview
	}
	dbctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	var added activities.AddedReferral
	if err := workflow.ExecuteLocalActivity(dbctx, acts.AddReferralFromHubSpot, activities.AddFromHubSpotInput{
		SalesEntryID: w.entry.ID, WorkspaceID: w.entry.WorkspaceID, MemberID: c.MemberID,
		ObjectType: w.entry.ObjectType, ObjectID: w.entry.ObjectID, Lead: w.lastMatch.Lead, How: string(kind) + ": " + c.How, Actor: actor,
		Source: source,
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
	change, ok := w.entry.ChangeFor(w.entry.Object())
	if !ok {
		return "a creation: nothing to forward"
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
		Status: salesentry.Processed, CampaignID: m.CampaignID, ReferralID: m.ReferralID, MemberID: m.MemberID,
	}, salesentry.StepProcessed, detail, actor, map[string]any{"kind": m.Kind, "how": m.How, "referral_id": m.ReferralID, "referral_added": m.ReferralAdded})
	if err != nil {
		return err
	}
	if err := w.closeReview(ctx, review.Resolved, decision+": "+detail, actor); err != nil {
		return err
	}
	w.state.Match = m
	w.state.Status = salesentry.Processed
	w.state.Reason = ""
	w.publish(ctx)
	return nil
}
