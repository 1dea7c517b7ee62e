package referral

// EventKind is what an entry of a referral's audit trail records
// (referral_events.kind). The trail is append-only: a kind, once written,
// keeps its meaning.
type EventKind string

// The referral's life.
const (
	// EventAdded: the referral was added, through one of the Sources.
	EventAdded           EventKind = "added"
	EventWorkflowStarted EventKind = "workflow_started"
	EventStatusChanged   EventKind = "status_changed"
	EventLeadSent        EventKind = "lead_sent_to_hubspot"
	// EventLeadNotSent: the lead was not sent to HubSpot, with why; while
	// the step waits (details.waiting) it is sent once the cause goes away.
	EventLeadNotSent    EventKind = "lead_not_sent"
	EventReviewRejected EventKind = "review_rejected"
	// EventReviewAccepted: an admin let through a referral the fraud checks
	// held in review (details: the signals).
	EventReviewAccepted EventKind = "review_accepted"
	// EventFraudSignal: a fraud check fired (details: reason, detail,
	// action); one event per signal.
	EventFraudSignal EventKind = "fraud_signal"
	// EventFraudCheckNotRun: a fraud check that reads HubSpot could not
	// (details: reason, error); the referral goes on without it.
	EventFraudCheckNotRun EventKind = "fraud_check_not_run"
	EventRewardWaiting    EventKind = "reward_waiting"
	EventMemberWritten    EventKind = "member_written_to_hubspot"
	EventMemberNotWritten EventKind = "member_not_written_to_hubspot"
	// EventReferredByLabelled: the lead's contact (or deal) was associated
	// with the member's contact under referflow's HubSpot association
	// labels (details: reason, associated).
	EventReferredByLabelled EventKind = "referred_by_labelled"
	// EventReferredByNotLabelled: it could not be yet, with why (details:
	// skipped); a member without a HubSpot contact has their referrals
	// labelled when they get one.
	EventReferredByNotLabelled EventKind = "referred_by_not_labelled"
)

// What HubSpot reported about the referral's records.
const (
	// EventHubSpotChange: a property change, with what became of it.
	EventHubSpotChange            EventKind = "hubspot_change"
	EventHubSpotObjectLinked      EventKind = "hubspot_object_linked"
	EventHubSpotObjectDeleted     EventKind = "hubspot_object_deleted"
	EventHubSpotObjectMerged      EventKind = "hubspot_object_merged"
	EventHubSpotObjectAssociated  EventKind = "hubspot_object_associated"
	EventHubSpotObjectDissociated EventKind = "hubspot_object_dissociated"
)

// The referral's rewards.
const (
	EventRewardCreated          EventKind = "reward_created"
	EventRewardIssued           EventKind = "reward_issued"
	EventRewardWebhookDelivered EventKind = "reward_webhook_delivered"
	EventRewardCancelled        EventKind = "reward_cancelled"
	EventRewardPaid             EventKind = "reward_paid"
	// EventRewardNotIssued: issuing a reward (or announcing it to the
	// fulfilment endpoint) failed and waits, with why.
	EventRewardNotIssued EventKind = "reward_not_issued"
	// EventRewardFailed: an admin gave up issuing a reward.
	EventRewardFailed EventKind = "reward_failed"
)

// HubSpot workflows waiting for the referral's decision (the "Wait for
// referral decision" workflow action).
const (
	// EventDecisionCallbacksCompleted: HubSpot workflows waiting for the
	// referral's decision were told it (details: decision, completed,
	// expired); EventDecisionCallbacksNotCompleted: they could not be told
	// yet, with why (while waiting), or an admin gave up.
	EventDecisionCallbacksCompleted    EventKind = "decision_callbacks_completed"
	EventDecisionCallbacksNotCompleted EventKind = "decision_callbacks_not_completed"
)

// Source is the way a referral came in, recorded with its EventAdded event.
type Source string

// The ways in.
const (
	// SourceAdminAPI: POST /api/v1/campaigns/{id}/referrals.
	SourceAdminAPI Source = "admin_api"
	// SourceHubSpotMatchingRule: a HubSpot record whose property a
	// campaign's matching rule reads named the member.
	SourceHubSpotMatchingRule Source = "hubspot_matching_rule"
	// SourceHubSpotReview: an admin attached a HubSpot record in the review
	// queue to a member (or approved the member matching proposed).
	SourceHubSpotReview Source = "hubspot_review"
	// SourceTrackingScript: the tracking script on the customer's own
	// landing page (POST /api/public/v1/conversions).
	SourceTrackingScript Source = "tracking_script"
	// SourceHostedForm: referflow's hosted lead form (/c/{slug}/refer),
	// reached through a referral link.
	SourceHostedForm Source = "hosted_form"
	// SourceMemberPortal: a member referred someone from their portal
	// (/m/{token}).
	SourceMemberPortal Source = "member_portal"
	// SourceCSVImport: a row of a referrals CSV import.
	SourceCSVImport Source = "csv_import"
	// SourceHubSpotWorkflowAction: the "Add referral" action of a HubSpot
	// workflow, for the contact the workflow enrolled.
	SourceHubSpotWorkflowAction Source = "hubspot_workflow_action"
)

// Sources lists every way in.
var Sources = []Source{SourceAdminAPI, SourceHubSpotMatchingRule, SourceHubSpotReview,
	SourceTrackingScript, SourceHostedForm, SourceMemberPortal, SourceCSVImport, SourceHubSpotWorkflowAction}

// Column is the source as the referrals table stores it and the admin API
// shows it (referrals.source), coarser than Source and older than it:
// SourceColumnAPI for a referral added through the admin API,
// SourceColumnHubSpot for one whose lead came from HubSpot — whose workflow
// therefore sends nothing to HubSpot — and one value per public way in.
func (s Source) Column() string {
	switch s {
	case SourceHubSpotMatchingRule, SourceHubSpotReview, SourceHubSpotWorkflowAction:
		return SourceColumnHubSpot
	case SourceTrackingScript:
		return SourceColumnTrackingScript
	case SourceHostedForm:
		return SourceColumnForm
	case SourceMemberPortal:
		return SourceColumnMemberPortal
	case SourceCSVImport:
		return SourceColumnCSV
	}
	return SourceColumnAPI
}

// Values of referrals.source (its CHECK constraint lists them, with two
// older values no code writes: link and admin).
const (
	SourceColumnAPI            = "api"
	SourceColumnHubSpot        = "hubspot"
	SourceColumnTrackingScript = "tracking_script"
	SourceColumnForm           = "form"
	SourceColumnMemberPortal   = "member_portal"
	SourceColumnCSV            = "csv"
)

// SourceColumns lists the values of referrals.source the code writes.
var SourceColumns = []string{SourceColumnAPI, SourceColumnHubSpot, SourceColumnTrackingScript,
	SourceColumnForm, SourceColumnMemberPortal, SourceColumnCSV}
