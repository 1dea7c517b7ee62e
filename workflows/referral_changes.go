package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/salesentry"
)

// applyChange applies one HubSpot change: a redelivery is dropped, a change
// older than the last one applied to the same property is recorded as
// ignored, and a change matching a status rule moves the referral. Every
// change that is not a redelivery is written to the audit trail with what
// became of it.
func (w *referralWorkflow) applyChange(ctx workflow.Context, c HubSpotChange) error {
	if c.DedupeKey == "" {
		c.DedupeKey = fmt.Sprintf("%s:%d:%s:%s:%d", c.ObjectType, c.ObjectID, c.Property, c.Value, c.OccurredAt.UnixMilli())
	}
	if !w.seen.addNew(c.DedupeKey) {
		return nil
	}
	if c.Kind != "" && c.Kind != salesentry.ChangeProperty {
		return w.applyObjectEvent(ctx, c)
	}
	cause := map[string]any{
		"object_type": c.ObjectType, "object_id": c.ObjectID, "property": c.Property,
		"value": c.Value, "occurred_at": c.OccurredAt, "dedupe_key": c.DedupeKey,
	}
	if c.SalesEntryID != 0 {
		cause["sales_entry_id"] = c.SalesEntryID
	}
	key := string(c.ObjectType) + "." + c.Property
	if last, ok := w.lastApplied[key]; ok && c.OccurredAt.Before(last) {
		return w.recordChange(ctx, c, cause, fmt.Sprintf("ignored: older than the change to %s already applied (%s)", key, last.UTC().Format(time.RFC3339Nano)))
	}
	w.lastApplied[key] = c.OccurredAt

	if w.holding() && w.leavesRewardedState(c) {
		return w.cancelHeldRewards(ctx, c, cause)
	}
	copied, err := w.copyProperty(ctx, c)
	if err != nil {
		return err
	}
	to, ok := w.rules.StatusRules.Match(c.ObjectType, c.Property, c.Value)
	if ok && to == w.state.Status && to == w.rewardStatus() && w.newConversion(c) {
		w.conversionDue = true
		w.conversionObject = c.ObjectID
		return w.recordChange(ctx, c, cause, "a new conversion")
	}
	switch {
	case !ok:
		outcome := "no status rule matches this value"
		switch {
		case copied != "":
			outcome = copied
		case !w.rules.StatusRules.Uses(c.ObjectType, c.Property):
			outcome = "ignored: no status rule uses " + key
		}
		return w.recordChange(ctx, c, cause, outcome)
	case to == w.state.Status:
		return w.recordChange(ctx, c, cause, "already "+string(to))
	case w.state.FinalDenial:
		return w.recordChange(ctx, c, cause, "ignored: denied for good by the fraud checks")
	case to != referral.Denied && w.state.CannotQualify != "":
		return w.recordChange(ctx, c, cause, "ignored: this referral cannot qualify ("+w.state.CannotQualify+")")
	case w.state.Status == referral.Approved:
		return w.recordChange(ctx, c, cause, "ignored: the referral is already approved")
	case w.state.Status == referral.Denied && w.rules.ReviewDeniedToQualified:
		return w.holdForReview(ctx, c, to, cause)
	}
	reason := ""
	if to == referral.Denied {
		reason = fmt.Sprintf("HubSpot: %s %d %s = %s", c.ObjectType, c.ObjectID, c.Property, c.Value)
	}
	cause["outcome"] = "moved to " + string(to)
	_, err = w.apply(ctx, SetStatusRequest{Status: to, Reason: reason, Actor: "hubspot"}, "hubspot:"+c.DedupeKey, cause)
	var appErr *temporal.ApplicationError
	if err != nil && asApplicationError(err, &appErr) && appErr.NonRetryable() {
		// The move cannot be made (the referral changed under it): the
		// trail says so, and the referral's life goes on.
		workflow.GetLogger(ctx).Error("HubSpot change not applied", "referral_id", w.state.ReferralID, "sales_entry_id", c.SalesEntryID, "error_type", appErr.Type())
		return w.recordChange(ctx, c, cause, "not applied: "+appErr.Message())
	}
	return err
}

// recordChange writes a change that moved nothing to the audit trail, with
// what became of it.
func (w *referralWorkflow) recordChange(ctx workflow.Context, c HubSpotChange, cause map[string]any, outcome string) error {
	cause["outcome"] = outcome
	ev := activities.ReferralEvent{
		ReferralID:     w.state.ReferralID,
		Kind:           referral.EventHubSpotChange,
		Actor:          "hubspot",
		Details:        cause,
		IdempotencyKey: "hubspot:" + c.DedupeKey,
		SalesEntryID:   c.SalesEntryID,
	}
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	return workflow.ExecuteLocalActivity(actx, acts.RecordReferralEvent, ev).Get(ctx, nil)
}

// copyProperty applies the campaign's property update for a change, if one
// uses it (the deal's amount becomes the sale value), and says what became of
// it. A sale value a reward was waiting for creates that reward.
func (w *referralWorkflow) copyProperty(ctx workflow.Context, c HubSpotChange) (string, error) {
	u, ok := w.rules.PropertyUpdates.UpdateFor(c.ObjectType, c.Property)
	if !ok {
		return "", nil
	}
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	err := workflow.ExecuteLocalActivity(actx, acts.ApplyPropertyUpdate, activities.PropertyUpdateInput{
		ReferralID: w.state.ReferralID, Update: u, Value: c.Value,
	}).Get(ctx, nil)
	var appErr *temporal.ApplicationError
	switch {
	case err != nil && asApplicationError(err, &appErr) && appErr.NonRetryable():
		return "not copied to the referral's " + u.Field + ": " + appErr.Message(), nil
	case err != nil:
		return "", err
	}
	if u.Field == "sale_value" && w.state.WaitingForSaleValue {
		w.state.WaitingForSaleValue = false
		w.conversionDue = true
	}
	return "copied to the referral's " + u.Field, nil
}

// applyObjectEvent applies a deletion, merge or association of one of the
// referral's HubSpot records: the activity keeps the referral pointing at
// the records HubSpot has (a merge's survivor, a deal associated with its
// contact) and writes the event to the audit trail.
func (w *referralWorkflow) applyObjectEvent(ctx workflow.Context, c HubSpotChange) error {
	ev := activities.HubSpotObjectEvent{
		ReferralID: w.state.ReferralID, Kind: c.Kind, ObjectType: c.ObjectType, ObjectID: c.ObjectID,
		MergedObjectIDs: c.MergedObjectIDs, SurvivingObjectID: c.SurvivingObjectID,
		ToObjectType: c.ToObjectType, ToObjectID: c.ToObjectID, AssociationRemoved: c.AssociationRemoved,
		OccurredAt: c.OccurredAt, SalesEntryID: c.SalesEntryID, IdempotencyKey: "hubspot:" + c.DedupeKey,
	}
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	var outcome string
	if err := workflow.ExecuteLocalActivity(actx, acts.ApplyHubSpotObjectEvent, ev).Get(ctx, &outcome); err != nil {
		var appErr *temporal.ApplicationError
		if asApplicationError(err, &appErr) && appErr.NonRetryable() {
			workflow.GetLogger(ctx).Warn("HubSpot object event not applied", "kind", c.Kind, "error", appErr.Message())
			return nil
		}
		return err
	}
	if c.Kind == salesentry.ChangeDeletion {
		w.state.DeletedObjects = append(w.state.DeletedObjects, fmt.Sprintf("%s %d", c.ObjectType, c.ObjectID))
	}
	return nil
}
