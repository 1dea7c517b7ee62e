package workflows

import (
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/review"
)

// fraudSignalsChange versions acting on every fraud signal (one audit event
// each, the campaign's deny or review action) instead of a denial only.
const fraudSignalsChange = "fraud-signals-deny-or-review"

// sameHubSpotCompanyChange versions running the same_hubspot_company check
// (it reads HubSpot) after the database checks.
const sameHubSpotCompanyChange = "fraud-same-hubspot-company"

// checkSameHubSpotCompany runs the same_hubspot_company check when the
// database checks say it is on and can run, and adds its signal to the
// verdict. It reads HubSpot, on the HubSpot task queue; when it cannot (not
// connected, HubSpot failing past the activity's retries) the referral goes
// on without it and its audit trail says why: a fraud check never holds a
// referral on HubSpot's account.
func (w *referralWorkflow) checkSameHubSpotCompany(ctx workflow.Context, verdict *activities.FraudVerdict) error {
	action := verdict.SameHubSpotCompany
	if action != campaign.FraudDeny && action != campaign.FraudReview {
		return nil
	}
	if workflow.GetVersion(ctx, sameHubSpotCompanyChange, workflow.DefaultVersion, 1) != 1 {
		return nil
	}
	opts := referralHubSpotActivityOptions
	opts.TaskQueue = w.hubSpotTaskQueue
	var out activities.SameCompanyResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), hubspotActs.CheckSameHubSpotCompany, w.state.ReferralID).Get(ctx, &out)
	if err != nil {
		if temporal.IsCanceledError(err) {
			return err
		}
		_, reason := waitCause(err)
		ev := activities.ReferralEvent{
			ReferralID: w.state.ReferralID, Kind: referral.EventFraudCheckNotRun, Actor: "system",
			Details:        map[string]any{"reason": string(referral.FraudSameHubSpotCompany), "error": reason},
			IdempotencyKey: "fraud_check_not_run:" + string(referral.FraudSameHubSpotCompany) + ":" + w.state.ReferralID,
		}
		actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
		return workflow.ExecuteLocalActivity(actx, acts.RecordReferralEvent, ev).Get(ctx, nil)
	}
	if out.Fired {
		verdict.Add(activities.FraudSignal{Reason: referral.FraudSameHubSpotCompany, Detail: out.Detail, Action: action})
	}
	return nil
}

// actOnFraudVerdict records each signal that fired in the audit trail, then
// applies the strictest action: deny denies the referral for good; review
// holds it in the review queue with the reasons, its lead not sent until an
// admin approves it. Without a signal (or when an admin decided while the
// checks ran) the lead goes to HubSpot unless the referral is denied.
func (w *referralWorkflow) actOnFraudVerdict(ctx workflow.Context, verdict activities.FraudVerdict) (ReferralState, error) {
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	for _, s := range verdict.Signals {
		ev := activities.ReferralEvent{
			ReferralID: w.state.ReferralID,
			Kind:       referral.EventFraudSignal,
			Actor:      "system",
			Details:    map[string]any{"reason": string(s.Reason), "detail": s.Detail, "action": string(s.Action)},
			// One event per reason and referral, whatever retries.
			IdempotencyKey: "fraud_signal:" + string(s.Reason) + ":" + w.state.ReferralID,
		}
		if err := workflow.ExecuteLocalActivity(actx, acts.RecordReferralEvent, ev).Get(ctx, nil); err != nil {
			return w.state, err
		}
	}
	cause := map[string]any{"fraud_signals": signalData(verdict.Signals)}
	switch {
	case verdict.Action == campaign.FraudDeny || verdict.Deny:
		if _, err := w.apply(ctx, SetStatusRequest{Status: referral.Denied, Reason: verdict.Reason, Actor: "system"}, "fraud_check:"+w.state.ReferralID, cause); err != nil {
			return w.state, err
		}
		w.state.FinalDenial = true
		return w.listen(ctx)
	case verdict.Action == campaign.FraudReview && w.state.Status == referral.Pending:
		cause["outcome"] = "held for review: the fraud checks found " + fraudReasons(verdict.Signals)
		w.state.PendingReview = &PendingReview{Cause: cause, Fraud: verdict.Signals}
		open := activities.ReferralReview{
			ReferralID: w.state.ReferralID, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID,
			Reason: review.FraudCheck, Data: map[string]any{"signals": signalData(verdict.Signals)},
		}
		if err := workflow.ExecuteLocalActivity(actx, acts.OpenReferralReview, open).Get(ctx, &w.state.PendingReview.ReviewEntryID); err != nil {
			return w.state, err
		}
		if err := w.publish(ctx); err != nil {
			return w.state, err
		}
		return w.listen(ctx)
	}
	w.leadDue = w.state.Status != referral.Denied
	return w.listen(ctx)
}

// fraudHeld tells whether the fraud checks hold the referral for review.
func (w *referralWorkflow) fraudHeld() bool {
	return w.state.PendingReview != nil && len(w.state.PendingReview.Fraud) > 0
}

// resolveFraudReview applies an admin's decision on a referral the fraud
// checks held: approved, it goes on (its lead is sent, HubSpot changes that
// waited are applied); rejected, it is denied for good with the reasons.
func (w *referralWorkflow) resolveFraudReview(ctx workflow.Context, held *PendingReview, d ReviewDecision, key string) (ReferralState, error) {
	actx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	if !d.Accept {
		reason := fraudDenial(held.Fraud)
		if _, err := w.apply(ctx, SetStatusRequest{Status: referral.Denied, Reason: reason, Actor: d.Actor}, key, held.Cause); err != nil {
			return w.state, err
		}
		w.state.FinalDenial = true
		return w.state, nil
	}
	ev := activities.ReferralEvent{ReferralID: w.state.ReferralID, Kind: referral.EventReviewAccepted, Actor: d.Actor, Details: held.Cause, IdempotencyKey: key}
	if err := workflow.ExecuteLocalActivity(actx, acts.RecordReferralEvent, ev).Get(ctx, nil); err != nil {
		return w.state, err
	}
	w.leadDue = w.state.Status != referral.Denied
	w.fraudCleared = true
	return w.state, w.publish(ctx)
}

// fraudDenial is the denied reason of a referral an admin rejected in the
// fraud review.
func fraudDenial(signals []activities.FraudSignal) string {
	parts := make([]string, len(signals))
	for i, s := range signals {
		parts[i] = s.String()
	}
	return "rejected in review: " + strings.Join(parts, "; ")
}

// fraudReasons lists the signals' reason codes, comma-separated.
func fraudReasons(signals []activities.FraudSignal) string {
	codes := make([]string, len(signals))
	for i, s := range signals {
		codes[i] = string(s.Reason)
	}
	return strings.Join(codes, ", ")
}

// signalData is the signals as the review entry and the audit trail show
// them (lowercase keys, like the rest of the admin API).
func signalData(signals []activities.FraudSignal) []map[string]any {
	out := make([]map[string]any, len(signals))
	for i, s := range signals {
		out[i] = map[string]any{"reason": string(s.Reason), "detail": s.Detail, "action": string(s.Action)}
	}
	return out
}
