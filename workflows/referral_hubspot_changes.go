package workflows

import (
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/referral"
)

// SignalHubSpotChange delivers a HubSpotChange to a referral's workflow.
const SignalHubSpotChange = "hubspot-change"

// HubSpotChange is one change HubSpot reported about an object of the
// referral (its contact, deal or company).
type HubSpotChange struct {
	// Kind is what happened: ChangeProperty (the default when empty),
	// ChangeDeletion, ChangeMerge or ChangeAssociation.
	Kind       string `json:",omitempty"`
	ObjectType string // contact, deal or company
	ObjectID   int64
	Property   string
	Value      string
	OccurredAt time.Time
	// DedupeKey identifies the change across HubSpot's redeliveries (HubSpot
	// does not promise single delivery, and eventId alone is not unique).
	DedupeKey string
	// SalesEntryID is the sales entry the change was recorded as (0 when it
	// did not come through the webhook), for the audit trail.
	SalesEntryID int64 `json:",omitempty"`

	// Merge: ObjectID was merged into SurvivingObjectID (HubSpot's
	// newObjectId, else primaryObjectId); MergedObjectIDs are all the
	// records that were merged.
	SurvivingObjectID int64   `json:",omitempty"`
	MergedObjectIDs   []int64 `json:",omitempty"`

	// Association: ObjectID was associated with (or, when
	// AssociationRemoved, dissociated from) ToObjectType ToObjectID.
	ToObjectType       string `json:",omitempty"`
	ToObjectID         int64  `json:",omitempty"`
	AssociationRemoved bool   `json:",omitempty"`
}

// Kinds of HubSpotChange.
const (
	ChangeProperty    = "property_change"
	ChangeDeletion    = "deletion"
	ChangeMerge       = "merge"
	ChangeAssociation = "association"
)

// CarriedState is what a referral's workflow hands to its next run when it
// continues as new, so no change is applied twice and no stale one wins.
type CarriedState struct {
	State       ReferralState
	SeenKeys    []string
	LastApplied map[string]time.Time
}

// maxSeenKeys bounds the dedupe memory. HubSpot redelivers within about a
// day; a referral sees few changes a day, so the last 2,000 cover it.
const maxSeenKeys = 2000

// dedupeSet remembers the last dedupe keys in arrival order.
type dedupeSet struct {
	Keys  []string
	index map[string]bool
}

func (d *dedupeSet) addNew(key string) bool {
	if d.index == nil {
		d.index = make(map[string]bool, len(d.Keys))
		for _, k := range d.Keys {
			d.index[k] = true
		}
	}
	if d.index[key] {
		return false
	}
	d.index[key] = true
	d.Keys = append(d.Keys, key)
	if len(d.Keys) > maxSeenKeys {
		delete(d.index, d.Keys[0])
		d.Keys = d.Keys[1:]
	}
	return true
}

// listen applies HubSpot changes until the referral's life is over,
// continuing as new when the history grows long.
func (w *referralWorkflow) listen(ctx workflow.Context) (ReferralState, error) {
	for {
		if err := w.settleRewards(ctx); err != nil {
			return w.state, err
		}
		wake := func() bool {
			return w.changes.Len() > 0 || w.conversionDue ||
				(w.finished() && workflow.AllHandlersFinished(ctx)) ||
				workflow.GetInfo(ctx).GetContinueAsNewSuggested()
		}
		if deadline, ok := w.nextDeadline(); ok {
			if _, err := workflow.AwaitWithTimeout(ctx, deadline.Sub(workflow.Now(ctx)), wake); err != nil {
				return w.state, err
			}
		} else if err := workflow.Await(ctx, wake); err != nil {
			return w.state, err
		}
		if w.expiring() && !workflow.Now(ctx).Before(w.rules.ExpiresAt) {
			reason := fmt.Sprintf("expired: still pending %s after it was added", w.rules.ExpiresAt.Format("2006-01-02"))
			if _, err := w.apply(ctx, SetStatusRequest{Status: referral.Denied, Reason: reason, Actor: "system"}, "expired:"+w.state.ReferralID, nil); err != nil {
				return w.state, err
			}
		}
		if err := w.applyPending(ctx); err != nil {
			return w.state, err
		}
		if w.finished() && workflow.AllHandlersFinished(ctx) && w.changes.Len() == 0 && !w.conversionDue {
			return w.state, nil
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() && !w.conversionDue {
			return w.continueAsNew(ctx)
		}
	}
}

// nextDeadline is the next time the workflow must wake without a signal: the
// expiry of a pending referral, or the end of a reward hold.
func (w *referralWorkflow) nextDeadline() (time.Time, bool) {
	var next time.Time
	if w.expiring() {
		next = w.rules.ExpiresAt
	}
	if w.holding() && (next.IsZero() || w.state.HoldUntil.Before(next)) {
		next = w.state.HoldUntil
	}
	return next, !next.IsZero()
}

// applyPending drains the signal channel and applies what arrived in
// occurredAt order: signals that came in together are sorted first, since
// HubSpot does not deliver in order.
func (w *referralWorkflow) applyPending(ctx workflow.Context) error {
	var batch []HubSpotChange
	for {
		var c HubSpotChange
		if !w.changes.ReceiveAsync(&c) {
			break
		}
		batch = append(batch, c)
	}
	sort.SliceStable(batch, func(i, j int) bool { return batch[i].OccurredAt.Before(batch[j].OccurredAt) })
	for _, c := range batch {
		if err := w.applyChange(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// continueAsNew hands the state to a fresh run once no signal is waiting and
// no handler is running, so nothing is lost between the two runs.
func (w *referralWorkflow) continueAsNew(ctx workflow.Context) (ReferralState, error) {
	for {
		if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
			return w.state, err
		}
		if err := w.applyPending(ctx); err != nil {
			return w.state, err
		}
		if err := w.settleRewards(ctx); err != nil {
			return w.state, err
		}
		if w.changes.Len() == 0 && workflow.AllHandlersFinished(ctx) {
			break
		}
	}
	carried := &CarriedState{State: w.state, SeenKeys: w.seen.Keys, LastApplied: w.lastApplied}
	return w.state, workflow.NewContinueAsNewError(ctx, ReferralWorkflow, ReferralInput{ReferralID: w.state.ReferralID, HubSpotTaskQueue: w.hubSpotTaskQueue, Carried: carried})
}

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
	if c.Kind != "" && c.Kind != ChangeProperty {
		return w.applyObjectEvent(ctx, c)
	}
	cause := map[string]any{
		"object_type": c.ObjectType, "object_id": c.ObjectID, "property": c.Property,
		"value": c.Value, "occurred_at": c.OccurredAt, "dedupe_key": c.DedupeKey,
	}
	key := c.ObjectType + "." + c.Property
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
	target, ok := w.rules.StatusRules.Match(c.ObjectType, c.Property, c.Value)
	to := referral.Status(target)
	if ok && to == w.state.Status && string(to) == w.rewardStatus() && w.newConversion(c) {
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
	return err
}

// recordChange writes a change that moved nothing to the audit trail, with
// what became of it.
func (w *referralWorkflow) recordChange(ctx workflow.Context, c HubSpotChange, cause map[string]any, outcome string) error {
	cause["outcome"] = outcome
	ev := activities.ReferralEvent{
		ReferralID:     w.state.ReferralID,
		Kind:           "hubspot_change",
		Actor:          "hubspot",
		Details:        cause,
		IdempotencyKey: "hubspot:" + c.DedupeKey,
	}
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	return workflow.ExecuteLocalActivity(actx, acts.RecordReferralEvent, ev).Get(ctx, nil)
}

// PendingReview is a change the campaign wants a person to decide: a denied
// referral that HubSpot would move to qualified or approved.
type PendingReview struct {
	To    referral.Status
	Cause map[string]any
	// ReviewEntryID is the review queue's entry for it.
	ReviewEntryID string `json:",omitempty"`
}

// ReviewDecision is an admin's answer to a PendingReview (UpdateResolveReview).
type ReviewDecision struct {
	Accept bool
	Actor  string
}

// holdForReview puts the referral in review instead of moving it.
func (w *referralWorkflow) holdForReview(ctx workflow.Context, c HubSpotChange, to referral.Status, cause map[string]any) error {
	cause["outcome"] = "held for review: a denied referral would move to " + string(to)
	w.state.PendingReview = &PendingReview{To: to, Cause: cause}
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	review := activities.ReferralReview{
		ReferralID: w.state.ReferralID, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		Reason: "denied_to_approved", Data: map[string]any{"to": string(to), "change": cause},
	}
	if err := workflow.ExecuteLocalActivity(actx, acts.OpenReferralReview, review).Get(ctx, &w.state.PendingReview.ReviewEntryID); err != nil {
		return err
	}
	return w.recordChange(ctx, c, cause, cause["outcome"].(string))
}

func (w *referralWorkflow) validateResolveReview(ctx workflow.Context, d ReviewDecision) error {
	if w.state.PendingReview == nil {
		return fmt.Errorf("nothing is waiting for review on this referral")
	}
	if d.Actor == "" {
		return fmt.Errorf("a decision needs an actor (who decided)")
	}
	return nil
}

// resolveReview applies (accept) or drops (reject) the change held for
// review, and takes the referral out of review.
func (w *referralWorkflow) resolveReview(ctx workflow.Context, d ReviewDecision) (ReferralState, error) {
	review := w.state.PendingReview
	if review == nil { // resolved by a concurrent decision
		return w.state, nil
	}
	w.state.PendingReview = nil
	key := "review:" + workflow.GetCurrentUpdateInfo(ctx).ID
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	decision := "rejected"
	if d.Accept {
		decision = "accepted"
	}
	if err := workflow.ExecuteLocalActivity(actx, acts.CloseReferralReview, w.state.ReferralID, decision, d.Actor).Get(ctx, nil); err != nil {
		return w.state, err
	}
	if !d.Accept {
		ev := activities.ReferralEvent{ReferralID: w.state.ReferralID, Kind: "review_rejected", Actor: d.Actor, Details: review.Cause, IdempotencyKey: key}
		return w.state, workflow.ExecuteLocalActivity(actx, acts.RecordReferralEvent, ev).Get(ctx, nil)
	}
	return w.apply(ctx, SetStatusRequest{Status: review.To, Actor: d.Actor}, key, review.Cause)
}

// expiring tells whether an expiry timer applies: the campaign expires
// referrals and this one is still pending.
func (w *referralWorkflow) expiring() bool {
	return !w.rules.ExpiresAt.IsZero() && w.state.Status == referral.Pending
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
	if c.Kind == ChangeDeletion {
		w.state.DeletedObjects = append(w.state.DeletedObjects, fmt.Sprintf("%s %d", c.ObjectType, c.ObjectID))
	}
	return nil
}
