package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
)

// Names other processes use to talk to a running referral workflow.
const (
	// QueryReferralState returns ReferralState.
	QueryReferralState = "state"
	// UpdateSetStatus is an admin's decision to move the referral to a status
	// (SetStatusRequest → ReferralState).
	UpdateSetStatus = "set-status"
	// UpdateResolveReview accepts or rejects a change held for review
	// (ReviewDecision → ReferralState).
	UpdateResolveReview = "resolve-review"
)

// ReferralWorkflowID is the workflow ID of a referral's life: one workflow per
// referral, readable in the Web UI, and the key that makes starting it
// idempotent.
func ReferralWorkflowID(referralID string) string { return "referral/" + referralID }

// ReferralInput starts a referral's workflow. Carried is set only when the
// workflow continues as new: what it must not forget across runs.
type ReferralInput struct {
	ReferralID string
	// HubSpotTaskQueue is where HubSpot activities run (default
	// HubSpotTaskQueue; tests use their own).
	HubSpotTaskQueue string        `json:",omitempty"`
	Carried          *CarriedState `json:",omitempty"`
}

// ReferralState is what the workflow knows of its referral; the state query
// returns it and the workflow returns it when the referral's life ends.
type ReferralState struct {
	ReferralID   string
	CampaignID   string
	MemberCode   string
	LeadEmail    string
	Status       referral.Status
	DeniedReason string
	// Transitions counts status changes applied by this workflow.
	Transitions int
	// CannotQualify, when set, says why HubSpot changes can never qualify
	// this referral.
	CannotQualify string `json:",omitempty"`
	// FinalDenial is set when the referral was denied for good (fraud
	// checks): its workflow then ends.
	FinalDenial bool `json:",omitempty"`
	// PendingReview is a HubSpot change waiting for an admin's decision.
	PendingReview *PendingReview `json:",omitempty"`
	// Conversions counts conversions started (each gets its own rewards);
	// Rewards are every reward of this referral as the workflow last saw
	// them; HoldUntil is when held rewards are issued.
	Conversions      int                    `json:",omitempty"`
	Rewards          []activities.RewardRef `json:",omitempty"`
	HoldUntil        time.Time              `json:",omitempty"`
	ConvertedObjects []int64                `json:",omitempty"`
	// WaitingForSaleValue: a percentage reward could not be computed yet;
	// the next sale value from HubSpot creates it.
	WaitingForSaleValue bool `json:",omitempty"`
	// DeletedObjects are the referral's HubSpot records HubSpot reported
	// deleted ("contact 123").
	DeletedObjects []string `json:",omitempty"`
}

// SetStatusRequest is an admin's decision.
type SetStatusRequest struct {
	Status referral.Status
	Reason string
	// Actor identifies the admin for the audit trail, e.g. "admin:<id>".
	Actor string
}

// ReferralWorkflow is the durable life of one referral. This version loads
// the referral, makes it findable in the Web UI, records in the audit trail
// that its workflow started, denies it when the fraud checks say so
// (self-referral, the same lead twice), and applies admin status decisions
// (validated before they are accepted, so a rejected one leaves no trace in
// history) until the referral is approved or denied.
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
		Kind:           "workflow_started",
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
	case w.rules.Source == "hubspot":
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
		Kind:       "lead_sent_to_hubspot",
		Actor:      "system",
		Details: map[string]any{
			"skipped": res.Skipped, "cannot_qualify": res.CannotQualify, "contact_id": res.ContactID, "deal_id": res.DealID,
			"contact_created": res.ContactCreated, "contact_updated": res.ContactUpdated, "deal_created": res.DealCreated,
		},
		IdempotencyKey: "lead_sent:" + w.state.ReferralID,
	}
	if res.Skipped != "" {
		ev.Kind = "lead_not_sent"
	}
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	if err := workflow.ExecuteLocalActivity(actx, acts.RecordReferralEvent, ev).Get(ctx, nil); err != nil {
		return err
	}
	return w.publish(ctx)
}

// finished tells whether the referral's life is over: approved with its
// rewards issued and paid (a campaign rewarding every conversion keeps
// listening for the next), or denied for good by the fraud checks. A referral denied by a rule or an admin keeps
// listening: HubSpot may still move it, and the campaign may want a person to
// review that.
func (w *referralWorkflow) finished() bool {
	if w.state.FinalDenial {
		return true
	}
	if w.state.Status != referral.Approved || w.conversionDue || w.pendingRewards() > 0 {
		return false
	}
	if !w.hasRewardSettings() {
		return true
	}
	// Rewards all cancelled (the deal fell back during the hold): the next
	// win converts again, so keep listening. Issued rewards wait for an
	// admin to mark them paid.
	return w.anyIssued() && !w.anyUnpaid() && !w.rules.Rewards.EveryConversion
}

func (w *referralWorkflow) validateSetStatus(ctx workflow.Context, req SetStatusRequest) error {
	if w.state.Status == "" {
		return errors.New("referral is still loading; try again in a moment")
	}
	if w.state.FinalDenial {
		return errors.New("the fraud checks denied this referral for good: " + w.state.DeniedReason)
	}
	if req.Actor == "" {
		return errors.New("a decision needs an actor (who decided)")
	}
	return referral.CheckTransition(w.state.Status, req.Status, req.Reason)
}

func (w *referralWorkflow) setStatus(ctx workflow.Context, req SetStatusRequest) (ReferralState, error) {
	return w.apply(ctx, req, "update:"+workflow.GetCurrentUpdateInfo(ctx).ID, nil)
}

// apply moves the referral to a status, one change at a time, writing the
// change and its audit event under idempotencyKey.
func (w *referralWorkflow) apply(ctx workflow.Context, req SetStatusRequest, idempotencyKey string, cause map[string]any) (ReferralState, error) {
	if err := w.lock.Lock(ctx); err != nil {
		return w.state, err
	}
	defer w.lock.Unlock()
	// An earlier decision may have changed the status while this one waited.
	if err := referral.CheckTransition(w.state.Status, req.Status, req.Reason); err != nil {
		return w.state, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidDecision", nil)
	}

	change := activities.StatusChange{
		ReferralID:     w.state.ReferralID,
		From:           w.state.Status,
		To:             req.Status,
		Reason:         req.Reason,
		Actor:          req.Actor,
		IdempotencyKey: idempotencyKey,
		Cause:          cause,
	}
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	if err := workflow.ExecuteLocalActivity(actx, acts.ChangeReferralStatus, change).Get(ctx, nil); err != nil {
		return w.state, err
	}
	w.state.Status = req.Status
	if req.Status == referral.Denied {
		w.state.DeniedReason = req.Reason
	} else {
		w.state.DeniedReason = ""
	}
	w.state.Transitions++
	if string(req.Status) == w.rewardStatus() {
		w.conversionDue = true
		if c, ok := cause["object_id"].(int64); ok {
			w.conversionObject = c
		}
	}
	return w.state, w.publish(ctx)
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
