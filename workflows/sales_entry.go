package workflows

import "strconv"

// The Sales Receiver's workflow: a sales entry about a HubSpot object
// referflow does not know yet is matched (direct, fuzzy, matching rules) by
// activities, and what cannot be decided waits in review for an admin's
// workflow update.

// SalesEntryWorkflowType is the registered name of SalesEntryWorkflow, for
// processes that start it without importing its function.
const SalesEntryWorkflowType = "SalesEntryWorkflow"

// SalesEntryWorkflowID is the ID of the workflow matching sales entry id:
// starting it twice for one entry is harmless.
func SalesEntryWorkflowID(salesEntryID int64) string {
	return "sales-entry/" + strconv.FormatInt(salesEntryID, 10)
}

// SalesEntryInput starts a sales entry's workflow.
type SalesEntryInput struct {
	SalesEntryID int64
	// HubSpotTaskQueue is where HubSpot activities run (default
	// HubSpotTaskQueue; tests use their own).
	HubSpotTaskQueue string `json:",omitempty"`
}

// Names other processes use to talk to a sales entry's workflow.
const (
	// QuerySalesEntryState returns SalesEntryState.
	QuerySalesEntryState = "state"
	// UpdateSalesEntryDecision is an admin's decision on a sales entry
	// waiting in review (SalesEntryDecision → SalesEntryState). Its
	// validator rejects impossible decisions with the reason.
	UpdateSalesEntryDecision = "decide"
)

// What an admin may decide about a sales entry in review.
const (
	// DecisionEdit replaces the entry's matching data (Data) and runs
	// matching again; the entry may leave review or stay with a new reason.
	DecisionEdit = "edit"
	// DecisionAttachReferral links the entry's HubSpot object to ReferralID
	// and forwards the change to that referral's workflow.
	DecisionAttachReferral = "attach_referral"
	// DecisionAttachMember adds a referral of MemberID for the entry's
	// object (a referral "from HubSpot") and starts its workflow.
	DecisionAttachMember = "attach_member"
	// DecisionApprove accepts the single match the review proposes.
	DecisionApprove = "approve"
	// DecisionDismiss closes the entry with Reason; nothing is changed.
	DecisionDismiss = "dismiss"
)

// SalesEntryDecision is an admin's decision on a sales entry in review.
type SalesEntryDecision struct {
	Action     string
	Data       map[string]string `json:",omitempty"`
	ReferralID string            `json:",omitempty"`
	MemberID   string            `json:",omitempty"`
	Reason     string            `json:",omitempty"`
	// Actor identifies the admin for the audit trail, e.g. "admin:<id>".
	Actor string
}
