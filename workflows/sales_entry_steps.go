package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/salesentry"
)

// ignore marks the entry ignored with the reason.
func (w *salesEntryWorkflow) ignore(ctx workflow.Context, reason string) error {
	if err := w.recordStep(ctx, activities.SalesEntryStep{Status: salesentry.Ignored}, salesentry.StepIgnored, reason, "system", nil); err != nil {
		return err
	}
	w.state.Status, w.state.Reason = salesentry.Ignored, reason
	w.publish(ctx)
	return nil
}

// fail marks the entry failed with the reason.
func (w *salesEntryWorkflow) fail(ctx workflow.Context, reason string) error {
	if err := w.recordStep(ctx, activities.SalesEntryStep{Status: salesentry.Failed, Error: reason}, salesentry.StepFailed, reason, "system", nil); err != nil {
		return err
	}
	w.state.Status, w.state.Reason = salesentry.Failed, reason
	w.publish(ctx)
	return nil
}

// record appends an action to the entry without changing its status.
func (w *salesEntryWorkflow) record(ctx workflow.Context, step salesentry.Step, detail, actor string, data map[string]any) error {
	return w.recordStep(ctx, activities.SalesEntryStep{}, step, detail, actor, data)
}

func (w *salesEntryWorkflow) recordStep(ctx workflow.Context, s activities.SalesEntryStep, step salesentry.Step, detail, actor string, data map[string]any) error {
	w.step++
	s.SalesEntryID = w.entry.ID
	s.WorkflowID = SalesEntryWorkflowID(w.entry.ID)
	s.Action = w.action(ctx, step, detail, actor, data)
	dbctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	return workflow.ExecuteLocalActivity(dbctx, acts.RecordSalesEntryStep, s).Get(ctx, nil)
}

// action is the next action; its key is the workflow's step number, the
// same on every retry of the step.
func (w *salesEntryWorkflow) action(ctx workflow.Context, step salesentry.Step, detail, actor string, data map[string]any) salesentry.Action {
	return salesentry.Action{
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

// publish makes the entry readable at a glance in the Temporal Web UI (IDs,
// never emails) and findable by campaign once one is known; the only search
// attribute set is the registered CampaignID.
func (w *salesEntryWorkflow) publish(ctx workflow.Context) {
	details := fmt.Sprintf("**Sales entry:** %d (%s %d)  \n**Status:** %s", w.state.SalesEntryID, w.state.ObjectType, w.state.ObjectID, w.state.Status)
	if w.state.ReviewEntryID != "" && w.state.Status == salesentry.InReview {
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
