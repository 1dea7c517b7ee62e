package workflows

import (
	"fmt"
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
// the fraud checks (self-referral, the same lead twice): a fraud denial is
// final. Unless the referral is denied, the lead then goes to HubSpot per the
// campaign's leads settings, except when the referral was added from HubSpot
// or the leads action is none.
//
// Then it listens. HubSpot changes arrive on the hubspot-change signal and
// move the status per the campaign's status rules (a denied referral they
// would move to qualified or approved may be held for review instead) and
// fill the campaign's property updates. Admin decisions arrive as validated
// updates: set-status, resolve-review, cancel-reward, mark-reward-paid.
// Reaching the campaign's reward status creates the rewards, issued when
// their optional hold ends; a pending referral is denied when the campaign's
// expiry passes; and the workflow continues as new when the server suggests
// it. It ends when the referral is approved with its rewards issued and paid
// (or the campaign has none; a campaign rewarding every conversion keeps
// listening), or denied for good by the fraud checks.
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
	}
	if err := workflow.SetQueryHandler(ctx, QueryReferralState, func() (ReferralState, error) {
		return w.state, nil
	}); err != nil {
		return fmt.Errorf("register state query: %w", err)
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

	// Fraud checks come first: a denied lead never reaches HubSpot.
	if w.state.Status == referral.Pending {
		var verdict activities.FraudVerdict
		if err := workflow.ExecuteLocalActivity(actx, acts.CheckReferralFraud, w.state.ReferralID).Get(ctx, &verdict); err != nil {
			return w.state, err
		}
		if verdict.Deny {
			if _, err := w.apply(ctx, SetStatusRequest{Status: referral.Denied, Reason: verdict.Reason, Actor: "system"}, "fraud_check:"+w.state.ReferralID, nil); err != nil {
				return w.state, err
			}
			w.state.FinalDenial = true
			return w.listen(ctx)
		}
	}
	// An admin may already have decided while the checks ran: the lead still
	// goes to HubSpot unless the referral was denied.
	if w.state.Status != referral.Denied {
		if err := w.sendLead(ctx); err != nil {
			return w.state, err
		}
	}
	return w.listen(ctx)
}

// sendLead creates the lead in HubSpot per the campaign's Leads settings and
// records what was done; a lead HubSpot already had (with duplicate handling
// do_nothing) can never qualify.
func (w *referralWorkflow) sendLead(ctx workflow.Context) error {
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
		opts := hubSpotActivityOptions
		opts.TaskQueue = w.hubSpotTaskQueue
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), hubspotActs.SendLeadToHubSpot, w.state.ReferralID).Get(ctx, &res); err != nil {
			return err
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
	return w.publish(ctx)
}

// publish makes the current state findable (search attributes) and readable
// at a glance (current details) in the Temporal Web UI.
func (w *referralWorkflow) publish(ctx workflow.Context) error {
	err := workflow.UpsertTypedSearchAttributes(ctx,
		CampaignIDKey.ValueSet(w.state.CampaignID),
		ReferralStatusKey.ValueSet(string(w.state.Status)),
		LeadEmailKey.ValueSet(w.state.LeadEmail),
		MemberCodeKey.ValueSet(w.state.MemberCode),
	)
	if err != nil {
		return fmt.Errorf("upsert search attributes: %w", err)
	}
	details := fmt.Sprintf("**Status:** %s  \n**Member code:** %s  \n**Campaign:** %s", w.state.Status, w.state.MemberCode, w.state.CampaignID)
	if w.state.DeniedReason != "" {
		details += "  \n**Denied because:** " + w.state.DeniedReason
	}
	workflow.SetCurrentDetails(ctx, details)
	return nil
}
