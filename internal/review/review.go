// Package review holds the review queue's vocabulary, shared by the
// workflows that hold entries in review, their activities and the admin API:
// a review entry's statuses, the reasons an entry is queued, and what an
// admin may decide about a sales entry in review.
package review

// Status is where a review entry stands (review_entries.status).
type Status string

// The statuses.
const (
	// Open: waiting for an admin.
	Open Status = "open"
	// Resolved: an admin's decision was applied.
	Resolved Status = "resolved"
	// Dismissed: an admin closed it without changing anything.
	Dismissed Status = "dismissed"
)

// Statuses lists them in the review queue's order.
var Statuses = []Status{Open, Resolved, Dismissed}

// Reason is why an entry waits for a person (review_entries.reason).
type Reason string

// The reasons.
const (
	// NoMemberMatch: a sales entry that looks like a referral (a matching
	// rule's property held a value, or a status rule's property changed)
	// matches no referral or member.
	NoMemberMatch Reason = "no_member_match"
	// AmbiguousMatch: several referrals or members match.
	AmbiguousMatch Reason = "ambiguous_match"
	// UnconfirmedMatch: one match, of a kind the campaign does not process
	// automatically.
	UnconfirmedMatch Reason = "unconfirmed_match"
	// Manual: a member matches but a referral cannot be added as is (no
	// lead email, or the lead is already another referral's).
	Manual Reason = "manual"
	// DeniedToApproved: HubSpot would move a denied referral to qualified
	// or approved, and the campaign wants a person to decide.
	DeniedToApproved Reason = "denied_to_approved"
	// FraudCheck: fraud checks set to review fired on a new referral
	// (data.signals: each reason and why); approving lets the referral go
	// on, rejecting denies it for good.
	FraudCheck Reason = "fraud_check"
)

// Reasons lists them.
var Reasons = []Reason{NoMemberMatch, AmbiguousMatch, UnconfirmedMatch, Manual, DeniedToApproved, FraudCheck}

// Action is what an admin decides about an entry in review: a sales entry
// (the sales-entry workflow's decide update) or a referral's held change
// (the referral workflow's resolve-review update).
type Action string

// The actions.
const (
	// Edit replaces the entry's matching data and runs matching again; the
	// entry may leave review or stay with a new reason.
	Edit Action = "edit"
	// AttachReferral links the entry's HubSpot record to a referral and
	// forwards the change to that referral's workflow.
	AttachReferral Action = "attach_referral"
	// AttachMember adds a referral of a member for the entry's record (a
	// referral from HubSpot) and starts its workflow.
	AttachMember Action = "attach_member"
	// Approve accepts the single match a sales entry's review proposes, or
	// applies a referral's held change.
	Approve Action = "approve"
	// Dismiss closes a sales entry's review with a reason; nothing is
	// changed.
	Dismiss Action = "dismiss"
	// Reject drops a referral's held change.
	Reject Action = "reject"
)

// Actions lists them all; which apply depends on what is in review.
var Actions = []Action{Edit, AttachReferral, AttachMember, Approve, Dismiss, Reject}

// SalesEntryActions are those a sales entry in review accepts.
var SalesEntryActions = []Action{Edit, AttachReferral, AttachMember, Approve, Dismiss}

// HeldChangeActions are those a referral's held change accepts.
var HeldChangeActions = []Action{Approve, Reject}

// Keys of an Edit's data: the matching data an admin may set on a sales
// entry, replacing what HubSpot gave (email, names, company domain) or
// naming the member directly (the rest, which share their names with what a
// campaign's matching rule may hold).
const (
	EditEmail            = "email"
	EditFirstName        = "first_name"
	EditLastName         = "last_name"
	EditCompanyDomain    = "company_domain"
	EditReferralCode     = "referral_code"
	EditMemberEmail      = "member_email"
	EditMemberExternalID = "member_external_id"
	EditMemberID         = "member_id"
)

// EditKeys lists the keys of an edit, in the order they are documented.
var EditKeys = []string{
	EditEmail, EditFirstName, EditLastName, EditCompanyDomain,
	EditReferralCode, EditMemberEmail, EditMemberExternalID, EditMemberID,
}
