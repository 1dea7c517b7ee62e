package workflows

import (
	"strconv"
	"time"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/personaldata"
	"github.com/referflow/referflow/internal/review"
	"github.com/referflow/referflow/internal/salesentry"
)

// The Sales Receiver's workflow: a sales entry about a HubSpot object
// referflow does not know yet is matched (direct, fuzzy, matching rules) by
// activities, and what cannot be decided waits in review for an admin's
// workflow update.
//
// This file is its contract: everything another process needs to start a
// sales entry's workflow and talk to it. SalesEntryWorkflow itself and its
// code are in sales_entry_workflow.go and the other sales_entry_*.go files.

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

// SalesEntryState is what a sales entry's workflow knows: the state query
// returns it, every decision answers with it, and the workflow returns it.
type SalesEntryState struct {
	SalesEntryID int64
	// Status is the entry's: matching, then processed, review, ignored or
	// failed.
	Status     salesentry.Status
	ObjectType hubspotobject.Type `json:",omitempty"`
	ObjectID   int64              `json:",omitempty"`
	// Match is what the entry was matched to, once it is processed.
	Match *SalesEntryMatch `json:",omitempty"`
	// ReviewEntryID and ReviewReason are set while (and after) the entry
	// is in review.
	ReviewEntryID string        `json:",omitempty"`
	ReviewReason  review.Reason `json:",omitempty"`
	// Proposal is the single referral or member the review proposes (what
	// approve accepts); Candidates are every one matching found.
	Proposal   *activities.MatchCandidate  `json:",omitempty"`
	Candidates []activities.MatchCandidate `json:",omitempty"`
	// Reason says why the entry is ignored, failed or in review.
	Reason string `json:",omitempty"`
	// Edited is the admin's matching data, replacing what HubSpot gave.
	Edited    map[string]string `json:",omitempty" personal:""`
	Decisions []DecisionRecord  `json:",omitempty"`
}

// MarshalJSON seals the admin's edits under the person's key in Temporal's
// histories (internal/personaldata).
func (s SalesEntryState) MarshalJSON() ([]byte, error) {
	type plain SalesEntryState
	return personaldata.MarshalFields(plain(s), s.Edited[review.EditEmail])
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *SalesEntryState) UnmarshalJSON(b []byte) error {
	type plain SalesEntryState
	_, err := personaldata.UnmarshalFields(b, (*plain)(s))
	return err
}

// SalesEntryMatch says what an entry was matched to, and how.
type SalesEntryMatch struct {
	// Kind is direct, fuzzy, member (a matching rule or an edit named the
	// member) or admin (an admin attached it).
	Kind       salesentry.MatchKind
	How        string
	ReferralID string
	MemberID   string `json:",omitempty"`
	CampaignID string `json:",omitempty"`
	// ReferralAdded is set when the referral was added from HubSpot.
	ReferralAdded bool `json:",omitempty"`
	// Forwarded says what became of the entry's change: sent to the
	// referral's workflow, or why not.
	Forwarded string `json:",omitempty"`
}

// DecisionRecord is one admin decision the workflow applied (or that failed).
type DecisionRecord struct {
	UpdateID string
	Action   review.Action
	Actor    string
	At       time.Time
	Outcome  string
	Failed   bool `json:",omitempty"`
}

// QuerySalesEntryState is the state query (state → SalesEntryState).
const QuerySalesEntryState = "state"

// UpdateSalesEntryDecision is an admin's decision on a sales entry
// waiting in review (decide: SalesEntryDecision → SalesEntryState). Its
// validator rejects impossible decisions with the reason.
const UpdateSalesEntryDecision = "decide"

// SalesEntryDecision is an admin's decision on a sales entry in review: one
// of review.SalesEntryActions, with what it needs (Data for an edit, with
// review.EditKeys; ReferralID or MemberID to attach; Reason to dismiss).
type SalesEntryDecision struct {
	Action     review.Action
	Data       map[string]string `json:",omitempty"`
	ReferralID string            `json:",omitempty"`
	MemberID   string            `json:",omitempty"`
	Reason     string            `json:",omitempty"`
	// Actor identifies the admin for the audit trail, e.g. "admin:<id>".
	Actor string
}
