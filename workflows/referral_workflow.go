package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
)

// ReferralWorkflow is the durable life of one referral. It loads the
// referral and publishes it (search attributes and current details, for the
// Web UI), records in the audit trail that its workflow started, and runs
// the campaign's fraud checks (referral_fraud.go): each signal that fires is
// recorded, and the strictest action wins — deny denies the referral for
// good, review holds it in the review queue until an admin decides. Unless
// the referral is denied or held, the lead then goes to HubSpot per the
// campaign's leads settings, except when the referral was added from
// HubSpot or the leads action is none; when HubSpot or the database is
// unavailable it waits, says why, and retries (referral_waiting.go).
//
// Then it listens. HubSpot changes arrive on the hubspot-change signal and
// move the status per the campaign's status rules (a denied referral they
// would move to qualified or approved may be held for review instead) and
// fill the campaign's property updates; retry-waiting wakes a wait early.
// Admin decisions arrive as validated updates: set-status, resolve-review,
// cancel-reward, mark-reward-paid, retry-now and give-up; the state query
// answers what it holds. Reaching the campaign's reward status creates the
// rewards, issued when their optional hold ends; a pending referral is
// denied when the campaign's expiry passes; and the workflow continues as
// new when the server suggests it. It ends when the referral is approved
// with its rewards issued and paid (or the campaign has none; a campaign
// rewarding every conversion keeps listening), or denied for good by the
// fraud checks. Its contract (ID, input, state, every signal, update and
// query with its payload) is referral.go.
func ReferralWorkflow(ctx workflow.Context, in ReferralInput) (ReferralState, error) {
	w := &referralWorkflow{}
	if err := w.setup(ctx, in); err != nil {
		return ReferralState{}, err
	}
	return w.run(ctx)
}

type referralWorkflow struct {
	state ReferralState
	// lock serialises decisions: each runs activities, and two interleaved
	// ones would otherwise both start from the same status.
	lock workflow.Mutex
	// changes is where HubSpot changes arrive (SignalHubSpotChange).
	changes workflow.ReceiveChannel
	// seen and lastApplied carry over continue-as-new (see CarriedState).
	seen        dedupeSet
	lastApplied map[string]time.Time
	// rules is the referral as loaded, with its campaign's status rules.
	rules            activities.Referral
	carried          bool
	hubSpotTaskQueue string
	// conversionDue asks the main loop to create rewards for a conversion of
	// conversionObject (the HubSpot object that converted, 0 for an admin's
	// decision).
	conversionDue    bool
	conversionObject int64
	// leadDue: the lead still has to go to HubSpot (first attempt, or
	// waiting after a failure; see referral_waiting.go).
	leadDue bool
	// retryNow asks the waiting step to run again at once (retry-waiting
	// signal, retry-now update); giveUp is an admin's give-up, until the
	// step has acted on it.
	retryNow bool
	giveUp   *GiveUpDecision
	// givenUp counts the give-ups acted on (the update answers after its own).
	givenUp int
	// fraudCleared wakes the main loop when an admin let through a
	// referral the fraud checks held for review (its lead is now due).
	fraudCleared bool
	// published are the search attributes last upserted.
	published [3]string
}

func (w *referralWorkflow) setup(ctx workflow.Context, in ReferralInput) error {
	if in.ReferralID == "" {
		return temporal.NewNonRetryableApplicationError("referral workflow started without a referral ID", "InvalidInput", nil)
	}
	w.state.ReferralID = in.ReferralID
	w.hubSpotTaskQueue = in.HubSpotTaskQueue
	if w.hubSpotTaskQueue == "" {
		w.hubSpotTaskQueue = HubSpotTaskQueue
	}
	w.lock = workflow.NewMutex(ctx)
	w.changes = workflow.GetSignalChannel(ctx, SignalHubSpotChange)
	w.lastApplied = map[string]time.Time{}
	if c := in.Carried; c != nil {
		w.carried = true
		w.state = c.State
		w.seen = dedupeSet{Keys: c.SeenKeys}
		for k, v := range c.LastApplied {
			w.lastApplied[k] = v
		}
		w.leadDue = w.waitingOn(referral.WaitSendLead)
	}
	workflow.Go(ctx, w.receiveRetries)
	if err := workflow.SetQueryHandler(ctx, QueryReferralState, func() (ReferralState, error) {
		return w.state, nil
	}); err != nil {
		return fmt.Errorf("register state query: %w", err)
	}
	if err := workflow.SetQueryHandler(ctx, QueryPreviewChange, w.previewChange); err != nil {
		return fmt.Errorf("register preview-change query: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateCancelReward, w.cancelReward, workflow.UpdateHandlerOptions{
		Validator: w.validateCancelReward,
	}); err != nil {
		return fmt.Errorf("register cancel-reward update: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateMarkRewardPaid, w.markRewardPaid, workflow.UpdateHandlerOptions{
		Validator: w.validateMarkRewardPaid,
	}); err != nil {
		return fmt.Errorf("register mark-reward-paid update: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateResolveReview, w.resolveReview, workflow.UpdateHandlerOptions{
		Validator: w.validateResolveReview,
	}); err != nil {
		return fmt.Errorf("register review update: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateRetryNow, w.retryWaitingNow, workflow.UpdateHandlerOptions{
		Validator: w.validateRetryNow,
	}); err != nil {
		return fmt.Errorf("register retry-now update: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateGiveUp, w.giveUpWaiting, workflow.UpdateHandlerOptions{
		Validator: w.validateGiveUp,
	}); err != nil {
		return fmt.Errorf("register give-up update: %w", err)
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateSetStatus, w.setStatus, workflow.UpdateHandlerOptions{
		Validator: w.validateSetStatus,
	})
}

func (w *referralWorkflow) run(ctx workflow.Context) (ReferralState, error) {
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)

	var loaded activities.Referral
	if err := workflow.ExecuteLocalActivity(actx, acts.LoadReferral, w.state.ReferralID).Get(ctx, &loaded); err != nil {
		return w.state, err
	}
	w.rules = loaded
	w.state.CampaignID = loaded.CampaignID
	w.state.MemberCode = loaded.MemberCode
	w.state.LeadEmail = loaded.LeadEmail
	w.state.Status = loaded.Status
	w.state.DeniedReason = loaded.DeniedReason
	w.state.CannotQualify = loaded.CannotQualifyReason
	if !w.carried {
		w.resumeRewards(loaded)
	}
	if err := w.publish(ctx); err != nil {
		return w.state, err
	}
	if w.carried {
		return w.listen(ctx)
	}

	started := activities.ReferralEvent{
		ReferralID:     w.state.ReferralID,
		Kind:           referral.EventWorkflowStarted,
		Actor:          "system",
		IdempotencyKey: "workflow_started:" + w.state.ReferralID,
	}
	if err := workflow.ExecuteLocalActivity(actx, acts.RecordReferralEvent, started).Get(ctx, nil); err != nil {
		return w.state, err
	}

	// Fraud checks come first: a denied lead never reaches HubSpot, nor does
	// one held for review until an admin lets it through.
	if w.state.Status == referral.Pending {
		signals := workflow.GetVersion(ctx, fraudSignalsChange, workflow.DefaultVersion, 1) == 1
		var verdict activities.FraudVerdict
		if err := workflow.ExecuteLocalActivity(actx, acts.CheckReferralFraud, w.state.ReferralID).Get(ctx, &verdict); err != nil {
			return w.state, err
		}
		if signals {
			if err := w.checkSameHubSpotCompany(ctx, &verdict); err != nil {
				return w.state, err
			}
			return w.actOnFraudVerdict(ctx, verdict)
		}
		// Runs that started before the signals were recorded one by one
		// (and before the review action) replay as they ran.
		if verdict.Deny {
			if _, err := w.apply(ctx, SetStatusRequest{Status: referral.Denied, Reason: verdict.Reason, Actor: "system"}, "fraud_check:"+w.state.ReferralID, nil); err != nil {
				return w.state, err
			}
			w.state.FinalDenial = true
			return w.listen(ctx)
		}
	}
	// An admin may already have decided while the checks ran: the lead still
	// goes to HubSpot unless the referral was denied. It is sent first thing
	// in listen, which retries it while it cannot be sent.
	w.leadDue = w.state.Status != referral.Denied
	return w.listen(ctx)
}

// resumeRewards takes over the rewards an earlier run of this referral
// recorded (a run started after one failed): they are not created again,
// and a referral that reached its reward status without them gets them now.
func (w *referralWorkflow) resumeRewards(loaded activities.Referral) {
	for _, r := range loaded.Recorded {
		if slices.Contains(loaded.PaidRewards, r.ID) {
			r.Status = rewardPaid
		}
		w.state.Rewards = append(w.state.Rewards, r)
		w.state.Conversions = max(w.state.Conversions, r.Conversion)
	}
	if len(w.state.Rewards) == 0 && w.state.Status == w.rewardStatus() && w.hasRewardSettings() {
		w.conversionDue = true
	}
}

// sendLeadIfDue sends the lead to HubSpot per the campaign's Leads settings
// when it is due, and records what was done; a lead HubSpot already had
// (with duplicate handling do_nothing) can never qualify. A lead that cannot
// be sent waits (referral_waiting.go); the wait ends when it is sent, when an
// admin gives up, or when the referral is approved or denied meanwhile.
func (w *referralWorkflow) sendLeadIfDue(ctx workflow.Context) error {
	if !w.leadDue {
		return nil
	}
	if w.waitingOn(referral.WaitSendLead) {
		if g := w.giveUp; g != nil {
			w.leadDue = false
			if err := w.recordWait(ctx, referral.EventLeadNotSent, g.Actor, map[string]any{"given_up": true, "reason": g.Reason}); err != nil {
				return err
			}
			defer w.gaveUp()
			return w.endWait(ctx)
		}
		if w.state.Status == referral.Approved || w.state.Status == referral.Denied {
			w.leadDue = false
			reason := fmt.Sprintf("the referral was %s before its lead could be sent", w.state.Status)
			if err := w.recordWait(ctx, referral.EventLeadNotSent, "system", map[string]any{"reason": reason}); err != nil {
				return err
			}
			return w.endWait(ctx)
		}
		if !w.stepDue(ctx, referral.WaitSendLead) {
			return nil
		}
	} else if w.state.Status == referral.Denied {
		w.leadDue = false
		return nil
	}
	w.retryNow = false

	var res activities.LeadResult
	switch {
	case w.rules.Source == referral.SourceColumnHubSpot:
		// Added from HubSpot (a matching rule or an admin attached a
		// record): the lead is already there.
		res.Skipped = "the lead came from HubSpot: nothing is sent to HubSpot"
	case w.rules.LeadsAction == "" || w.rules.LeadsAction == campaign.ActionNone:
		// Nothing to send: no need to queue behind HubSpot's rate limit.
		res.Skipped = "the campaign's leads action is none: nothing is sent to HubSpot"
	default:
		opts := referralHubSpotActivityOptions
		opts.TaskQueue = w.hubSpotTaskQueue
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), hubspotActs.SendLeadToHubSpot, w.state.ReferralID).Get(ctx, &res); err != nil {
			return w.wait(ctx, referral.WaitSendLead, "", err)
		}
	}
	if res.CannotQualify != "" {
		w.state.CannotQualify = res.CannotQualify
	}
	ev := activities.ReferralEvent{
		ReferralID: w.state.ReferralID,
		Kind:       referral.EventLeadSent,
		Actor:      "system",
		Details: map[string]any{
			"skipped": res.Skipped, "cannot_qualify": res.CannotQualify, "contact_id": res.ContactID, "deal_id": res.DealID,
			"contact_created": res.ContactCreated, "contact_updated": res.ContactUpdated, "deal_created": res.DealCreated,
		},
		IdempotencyKey: "lead_sent:" + w.state.ReferralID,
	}
	if res.Skipped != "" {
		ev.Kind = referral.EventLeadNotSent
	}
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	if err := workflow.ExecuteLocalActivity(actx, acts.RecordReferralEvent, ev).Get(ctx, nil); err != nil {
		return err
	}
	// Sent: now who referred whom, in HubSpot. Should that fail, the step
	// waits and runs again, sending nothing twice (the lead's records are
	// stored, its event keyed).
	if err := w.labelReferredBy(ctx, res); err != nil {
		return w.wait(ctx, referral.WaitSendLead, "", err)
	}
	w.leadDue = false
	if err := w.publish(ctx); err != nil {
		return err
	}
	return w.endWait(ctx)
}

// publish makes the current state findable (search attributes) and readable
// at a glance (current details) in the Temporal Web UI.
// Search attributes are upserted only when they change (the server writes
// each upsert to its history and its visibility store: during a burst of
// conversions, repeated ones cost more than anything else). Runs that
// upserted on every publish replay as they ran. The lead's email is not one
// of them: search attributes are stored as they are, out of reach of the
// personal-data codec, so an erased lead's email would stay readable there.
func (w *referralWorkflow) publish(ctx workflow.Context) error {
	attrs := [3]string{w.state.CampaignID, string(w.state.Status), w.state.MemberCode}
	onChange := workflow.GetVersion(ctx, publishOnChangeChange, workflow.DefaultVersion, 1) == 1
	if !onChange || attrs != w.published {
		err := workflow.UpsertTypedSearchAttributes(ctx,
			CampaignIDKey.ValueSet(w.state.CampaignID),
			ReferralStatusKey.ValueSet(string(w.state.Status)),
			MemberCodeKey.ValueSet(w.state.MemberCode),
		)
		if err != nil {
			return fmt.Errorf("upsert search attributes: %w", err)
		}
		w.published = attrs
	}
	details := fmt.Sprintf("**Status:** %s  \n**Member code:** %s  \n**Campaign:** %s", w.state.Status, w.state.MemberCode, w.state.CampaignID)
	if w.state.DeniedReason != "" {
		details += "  \n**Denied because:** " + w.state.DeniedReason
	}
	if w.fraudHeld() {
		details += "  \n**In review (fraud checks):** " + fraudReasons(w.state.PendingReview.Fraud)
	}
	if wt := w.state.Waiting; wt != nil {
		details += fmt.Sprintf("  \n**Waiting:** %s (%s), attempt %d, next at %s", wt.Step, wt.Cause, wt.Attempts, wt.NextAttempt.UTC().Format(time.RFC3339))
	}
	workflow.SetCurrentDetails(ctx, details)
	return nil
}

// referredByLabelsChange versions labelling who referred whom in HubSpot
// once the lead is there (labelReferredBy).
const referredByLabelsChange = "referred-by-association-labels"

// labelReferredBy associates the lead's HubSpot records (sent just now, or
// the ones it came from) with the member's contact under referflow's
// association labels, and records what it did. A lead HubSpot already had
// (cannot qualify) is not labelled, nor one with no records. Its error makes
// the lead step wait and run again (both halves are idempotent); a member
// without a contact yet is no error: the event says the referral is
// labelled when the member gets one.
func (w *referralWorkflow) labelReferredBy(ctx workflow.Context, res activities.LeadResult) error {
	fromHubSpot := w.rules.Source == referral.SourceColumnHubSpot
	if res.CannotQualify != "" || (res.ContactID == "" && res.DealID == "" && !fromHubSpot) {
		return nil
	}
	if workflow.GetVersion(ctx, referredByLabelsChange, workflow.DefaultVersion, 1) != 1 {
		return nil
	}
	opts := referralHubSpotActivityOptions
	opts.TaskQueue = w.hubSpotTaskQueue
	var out activities.ReferredByResult
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), hubspotActs.AssociateReferredByInHubSpot, w.state.ReferralID).Get(ctx, &out); err != nil {
		return err
	}
	if out.Skipped != "" && fromHubSpot && len(out.Associated) == 0 && !out.MemberWaits {
		return nil // came from HubSpot without records of its own: nothing to say
	}
	ev := activities.ReferralEvent{
		ReferralID: w.state.ReferralID, Kind: referral.EventReferredByLabelled, Actor: "system",
		Details:        map[string]any{"reason": strings.Join(out.Associated, "; "), "associated": out.Associated, "member_contact_id": out.MemberContactID},
		IdempotencyKey: "referred_by:" + w.state.ReferralID,
	}
	if out.Skipped != "" {
		ev.Kind, ev.Details = referral.EventReferredByNotLabelled, map[string]any{"skipped": out.Skipped, "member_waits": out.MemberWaits}
	}
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	return workflow.ExecuteLocalActivity(actx, acts.RecordReferralEvent, ev).Get(ctx, nil)
}

// publishOnChangeChange versions upserting search attributes only when they
// change (publish).
const publishOnChangeChange = "publish-search-attributes-on-change"
