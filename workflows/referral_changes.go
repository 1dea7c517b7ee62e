package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/salesentry"
)

// changeStep is what a HubSpot change does to the referral.
type changeStep int

const (
	// changeDropped: a redelivery, dropped without a trace.
	changeDropped changeStep = iota
	// changeObjectEvent: a deletion, merge or association of one of the
	// referral's records (applyObjectEvent).
	changeObjectEvent
	// changeStale: older than the change to the same property already
	// applied; recorded as ignored.
	changeStale
	// changeCancelHeld: the referral's object leaves the state that earned
	// the rewards still in their hold; they are cancelled.
	changeCancelHeld
	// changeRecorded: the status does not move; the trail says why (or
	// what became of the property update).
	changeRecorded
	// changeConversion: the reward status matched again; a new conversion.
	changeConversion
	// changeMove: the status rules move the referral to To.
	changeMove
	// changeReview: a denied referral would move to To; held for review.
	changeReview
)

// changeDecision is what a HubSpot change does to the referral, decided from
// the workflow's state without changing it (decideChange): applyChange
// executes it, the preview-change query reports it.
type changeDecision struct {
	Step changeStep
	// Change is the change decided on, its DedupeKey filled in.
	Change HubSpotChange
	// Key is the change's object.property.
	Key string
	// Copy is the campaign's property update the change fills, if any.
	Copy *campaign.PropertyUpdate
	// To is the status of a changeMove or changeReview.
	To referral.Status
	// Outcome is what becomes of the change, as the audit trail words it.
	Outcome string
}

// applyChange applies one HubSpot change: a redelivery is dropped, a change
// older than the last one applied to the same property is recorded as
// ignored, and a change matching a status rule moves the referral. Every
// change that is not a redelivery is written to the audit trail with what
// became of it. It executes what decideChange decides.
func (w *referralWorkflow) applyChange(ctx workflow.Context, c HubSpotChange) error {
	d := w.decideChange(c)
	c = d.Change
	if d.Step == changeDropped {
		return nil
	}
	w.seen.addNew(c.DedupeKey)
	if d.Step == changeObjectEvent {
		return w.applyObjectEvent(ctx, c)
	}
	cause := map[string]any{
		"object_type": c.ObjectType, "object_id": c.ObjectID, "property": c.Property,
		"value": c.Value, "occurred_at": c.OccurredAt, "dedupe_key": c.DedupeKey,
	}
	if c.SalesEntryID != 0 {
		cause["sales_entry_id"] = c.SalesEntryID
	}
	if d.Step == changeStale {
		return w.recordChange(ctx, c, cause, d.Outcome)
	}
	w.lastApplied[d.Key] = c.OccurredAt

	if d.Step == changeCancelHeld {
		return w.cancelHeldRewards(ctx, c, cause)
	}
	if d.Copy != nil {
		copied, err := w.copyProperty(ctx, *d.Copy, c)
		if err != nil {
			return err
		}
		// The status rules decide on what the copy actually did (it may
		// have failed, or made a conversion due).
		w.decideStatus(&d, copied, w.conversionDue)
	}

	switch d.Step {
	case changeConversion:
		w.conversionDue = true
		w.conversionObject = c.ObjectID
		return w.recordChange(ctx, c, cause, d.Outcome)
	case changeReview:
		return w.holdForReview(ctx, c, d.To, cause, d.Outcome)
	case changeMove:
	default:
		return w.recordChange(ctx, c, cause, d.Outcome)
	}
	reason := ""
	if d.To == referral.Denied {
		reason = fmt.Sprintf("HubSpot: %s %d %s = %s", c.ObjectType, c.ObjectID, c.Property, c.Value)
	}
	cause["outcome"] = d.Outcome
	_, err := w.apply(ctx, SetStatusRequest{Status: d.To, Reason: reason, Actor: "hubspot"}, "hubspot:"+c.DedupeKey, cause)
	var appErr *temporal.ApplicationError
	if err != nil && asApplicationError(err, &appErr) && appErr.NonRetryable() {
		// The move cannot be made (the referral changed under it): the
		// trail says so, and the referral's life goes on.
		workflow.GetLogger(ctx).Error("HubSpot change not applied", "referral_id", w.state.ReferralID, "sales_entry_id", c.SalesEntryID, "error_type", appErr.Type())
		return w.recordChange(ctx, c, cause, "not applied: "+appErr.Message())
	}
	return err
}

// decideChange decides what a HubSpot change does to the referral now,
// reading the state, the campaign's rules and the changes already seen and
// applied, and changing none of them (the preview-change query calls it). A
// property update is taken to be copied as it would be.
func (w *referralWorkflow) decideChange(c HubSpotChange) changeDecision {
	if c.DedupeKey == "" {
		c.DedupeKey = fmt.Sprintf("%s:%d:%s:%s:%d", c.ObjectType, c.ObjectID, c.Property, c.Value, c.OccurredAt.UnixMilli())
	}
	d := changeDecision{Change: c}
	switch {
	case w.seen.has(c.DedupeKey):
		d.Step, d.Outcome = changeDropped, "dropped: the same change was received before (a redelivery)"
		return d
	case c.Kind != "" && c.Kind != salesentry.ChangeProperty:
		d.Step, d.Outcome = changeObjectEvent, "the referral's HubSpot records follow the "+string(c.Kind)
		return d
	}
	d.Key = string(c.ObjectType) + "." + c.Property
	if last, ok := w.lastApplied[d.Key]; ok && c.OccurredAt.Before(last) {
		d.Step = changeStale
		d.Outcome = fmt.Sprintf("ignored: older than the change to %s already applied (%s)", d.Key, last.UTC().Format(time.RFC3339Nano))
		return d
	}
	if w.holding() && w.leavesRewardedState(c) {
		d.Step, d.Outcome = changeCancelHeld, "cancelled the rewards held: "+heldRewardsCancelReason(c)
		return d
	}
	copied, conversionDue := "", w.conversionDue
	if u, ok := w.rules.PropertyUpdates.UpdateFor(c.ObjectType, c.Property); ok {
		d.Copy = &u
		copied = copiedOutcome(u)
		conversionDue = conversionDue || w.saleValueAwaited(u)
	}
	w.decideStatus(&d, copied, conversionDue)
	return d
}

// decideStatus decides what the campaign's status rules make of a property
// change once its property update, if any, is copied: copied says what
// became of the copy ("" when none), conversionDue whether a conversion is
// due after it.
func (w *referralWorkflow) decideStatus(d *changeDecision, copied string, conversionDue bool) {
	c := d.Change
	d.To = ""
	to, ok := w.rules.StatusRules.Match(c.ObjectType, c.Property, c.Value)
	if ok && to == w.state.Status && to == w.rewardStatus() && w.newConversion(c, conversionDue) {
		d.Step, d.Outcome = changeConversion, "a new conversion"
		return
	}
	d.Step = changeRecorded
	switch {
	case !ok:
		d.Outcome = "no status rule matches this value"
		switch {
		case copied != "":
			d.Outcome = copied
		case !w.rules.StatusRules.Uses(c.ObjectType, c.Property):
			d.Outcome = "ignored: no status rule uses " + d.Key
		}
	case to == w.state.Status:
		d.Outcome = "already " + string(to)
	case w.state.FinalDenial:
		d.Outcome = "ignored: denied for good by the fraud checks"
	case to != referral.Denied && w.state.CannotQualify != "":
		d.Outcome = "ignored: this referral cannot qualify (" + w.state.CannotQualify + ")"
	case w.state.Status == referral.Approved:
		d.Outcome = "ignored: the referral is already approved"
	case w.state.Status == referral.Denied && w.rules.ReviewDeniedToQualified:
		d.Step, d.To, d.Outcome = changeReview, to, "held for review: a denied referral would move to "+string(to)
	default:
		d.Step, d.To, d.Outcome = changeMove, to, "moved to "+string(to)
	}
}

// previewChange answers the preview-change query: what the change would do
// now. It changes nothing.
func (w *referralWorkflow) previewChange(c HubSpotChange) (ChangePreview, error) {
	if w.state.CampaignID == "" {
		return ChangePreview{}, fmt.Errorf("referral %s's workflow has not loaded its referral yet", w.state.ReferralID)
	}
	d := w.decideChange(c)
	p := ChangePreview{Status: w.state.Status, Outcome: d.Outcome, Redelivery: d.Step == changeDropped}
	switch d.Step {
	case changeMove:
		p.MovesTo = d.To
	case changeReview:
		p.HeldForReview, p.MovesTo = true, d.To
	}
	if d.Copy != nil {
		p.CopiesTo = d.Copy.Field
	}
	return p, nil
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

// copyProperty applies the campaign's property update u to a change (the
// deal's amount becomes the sale value), and says what became of it. A sale
// value a reward was waiting for creates that reward.
func (w *referralWorkflow) copyProperty(ctx workflow.Context, u campaign.PropertyUpdate, c HubSpotChange) (string, error) {
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
	if w.saleValueAwaited(u) {
		w.state.WaitingForSaleValue = false
		w.conversionDue = true
	}
	return copiedOutcome(u), nil
}

// copiedOutcome is the trail's word for a property update copied.
func copiedOutcome(u campaign.PropertyUpdate) string { return "copied to the referral's " + u.Field }

// saleValueAwaited tells whether copying u gives a reward the sale value it
// waits for (a percentage reward), which then makes the conversion due.
func (w *referralWorkflow) saleValueAwaited(u campaign.PropertyUpdate) bool {
	return u.Field == "sale_value" && w.state.WaitingForSaleValue
}

// has tells whether key was seen, changing nothing (queries call it).
func (d *dedupeSet) has(key string) bool {
	if d.index != nil {
		return d.index[key]
	}
	return slices.Contains(d.Keys, key)
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
