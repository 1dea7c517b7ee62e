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
