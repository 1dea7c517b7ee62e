// Package salesentry holds the sales entry's vocabulary, shared by the Sales
// Receiver (which records and routes entries), the sales-entry workflow and
// its activities (which match them), and the admin API (which lists them): a
// sales entry is one inbound HubSpot event as received, kept forever with
// what was matched and done with it (Referral Rock's Sales Receiver log).
//
// It defines the entry's statuses, the kinds of event, the steps recorded in
// its actions, what routing and matching know of an entry (Entry), and the
// one way an entry becomes the hubspot-change signal a referral's workflow
// receives (Entry.ChangeFor).
package salesentry

import (
	"strings"
	"time"

	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/personaldata"
)

// Status is where a sales entry stands (sales_entries.status).
type Status string

// The statuses: received, then processed, ignored or failed at once, or
// matching (a sales-entry workflow matches it) and then processed, review,
// ignored or failed.
const (
	Received  Status = "received"
	Matching  Status = "matching"
	Processed Status = "processed"
	InReview  Status = "review"
	Ignored   Status = "ignored"
	Failed    Status = "failed"
)

// Statuses lists them in lifecycle order.
var Statuses = []Status{Received, Matching, Processed, InReview, Ignored, Failed}

// Decided tells whether an entry in this status needs nothing more done.
func (s Status) Decided() bool { return s == Processed || s == Ignored || s == Failed }

// Kind is what a HubSpot event says happened: the part of its subscription
// type after the dot ("deal.propertyChange", "object.propertyChange").
type Kind string

// The kinds referflow acts on.
const (
	Creation          Kind = "creation"
	PropertyChange    Kind = "propertyChange"
	Deletion          Kind = "deletion"
	Merge             Kind = "merge"
	AssociationChange Kind = "associationChange"
	// AddedToList and RemovedFromList are a record added to or removed
	// from a HubSpot list, as the webhooks journal reports it
	// (LIST_MEMBERSHIP: ADDED_TO_LIST, REMOVED_FROM_LIST). Their sales
	// entries are "contact.addedToList" and "contact.removedFromList", the
	// list's ID in the property value (Entry.ListID).
	AddedToList     Kind = "addedToList"
	RemovedFromList Kind = "removedFromList"
	// PrivacyDeletion is HubSpot's GDPR deletion of a contact
	// (contact.privacyDeletion): the person is erased from referflow
	// (internal/privacy). HubSpot sends a contact.deletion with it, in no
	// fixed order, which reaches the referrals as any deletion does.
	PrivacyDeletion Kind = "privacyDeletion"
)

// PrivacyDeletionSubscription is the subscription type of HubSpot's GDPR
// deletions, which every workspace needs (classic webhooks only).
const PrivacyDeletionSubscription = "contact.privacyDeletion"

// ListKind tells whether a kind is a list-membership event.
func (k Kind) ListKind() bool { return k == AddedToList || k == RemovedFromList }

// KindOf reads the kind of a subscription type.
func KindOf(subscriptionType string) Kind {
	return Kind(subscriptionType[strings.LastIndex(subscriptionType, ".")+1:])
}

// Step is one kind of thing done with an entry, as recorded in its actions.
type Step string

// The dispatcher's steps.
const (
	StepIgnored         Step = "ignored"
	StepFailed          Step = "failed"
	StepAlreadyLinked   Step = "already_linked"
	StepSignalled       Step = "signalled"
	StepWorkflowEnded   Step = "workflow_ended"
	StepMatchingStarted Step = "matching_started"
	// StepErasureRequested: a privacy deletion asked for the erasure of a
	// person the contact is (its Data names the erasure, never the email).
	StepErasureRequested Step = "erasure_requested"
)

// The sales-entry workflow's steps (besides StepIgnored and StepFailed).
const (
	StepMatched            Step = "matched"
	StepProcessed          Step = "processed"
	StepReview             Step = "review"
	StepEdited             Step = "edited"
	StepReviewNotification Step = "review_notification"
	// StepWaiting: HubSpot could not be read (not connected, a broken
	// connection, a revoked token); the entry waits and reads again.
	StepWaiting Step = "waiting"
	// StepEnrolled: the contact became a member of campaigns whose
	// process_rules.enrol_members the event meets.
	StepEnrolled Step = "enrolled"
)

// MatchKind says how an entry was matched to a referral or member.
type MatchKind string

// The kinds of match, in the order matching tries them.
const (
	// MatchDirect: the record carries referflow's referral ID or a
	// campaign's external ID, already belongs to a referral, or is
	// associated with a referral's contact.
	MatchDirect MatchKind = "direct"
	// MatchFuzzy: the lead's email, else name and company domain.
	MatchFuzzy MatchKind = "fuzzy"
	// MatchMember: a matching rule (or an admin's edit) names a member: a
	// referral is to be added from HubSpot.
	MatchMember MatchKind = "member"
	// MatchNone: nothing matches.
	MatchNone MatchKind = "none"
	// MatchAdmin: an admin attached the entry to a referral or member.
	MatchAdmin MatchKind = "admin"
)

// Action is one step recorded in a sales entry's actions (an element of
// sales_entries.actions).
type Action struct {
	// Key makes the step idempotent: a retry with the same key appends
	// nothing.
	Key    string    `json:"key"`
	Step   Step      `json:"step"`
	Detail string    `json:"detail"`
	Actor  string    `json:"actor"`
	At     time.Time `json:"at"`
	// Data is what the step saw or decided (IDs, match kinds, edited data).
	Data map[string]any `json:"data,omitempty"`
}

// Entry is what routing and matching know of a sales entry: its columns, and
// for a merge or an association what the stored event says of the records
// involved (the dispatcher reads them from the event; the sales-entry
// workflow, which matches creations and property changes, has none).
type Entry struct {
	ID int64
	// WorkspaceID is "" when no workspace is connected to the portal.
	WorkspaceID      string
	PortalID         int64
	SubscriptionType string
	ObjectType       hubspotobject.Type
	ObjectID         int64
	// PropertyName and PropertyValue are set for a property change.
	PropertyName  string `json:",omitempty"`
	PropertyValue string `json:",omitempty"`
	OccurredAt    time.Time
	// DedupeKey identifies the event across HubSpot's redeliveries.
	DedupeKey string
	Status    Status

	// Merge: the records merged away (they no longer exist) and the one
	// that survives.
	MergedObjectIDs   []int64 `json:",omitempty"`
	SurvivingObjectID int64   `json:",omitempty"`
	// Association: the two ends (From is the entry's record) and whether
	// the association was removed.
	AssociationFrom    hubspotobject.Ref `json:",omitzero"`
	AssociationTo      hubspotobject.Ref `json:",omitzero"`
	AssociationRemoved bool              `json:",omitempty"`
	// ListID is the list of a list-membership entry (AddedToList,
	// RemovedFromList).
	ListID string `json:",omitempty"`
}

// Kind is what the entry's event says happened.
func (e Entry) Kind() Kind { return KindOf(e.SubscriptionType) }

// Object is the record the entry is about.
func (e Entry) Object() hubspotobject.Ref {
	return hubspotobject.Ref{Type: e.ObjectType, ID: e.ObjectID}
}

// Change is the payload of the hubspot-change signal: one change HubSpot
// reported about a record a referral holds (its contact, deal or company).
// Its field names are part of the referral workflow's history: keep them.
type Change struct {
	// Kind is what happened: ChangeProperty (the default when empty),
	// ChangeDeletion, ChangeMerge or ChangeAssociation.
	Kind       ChangeKind `json:",omitempty"`
	ObjectType hubspotobject.Type
	ObjectID   int64
	Property   string
	Value      string `personal:""`
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
	ToObjectType       hubspotobject.Type `json:",omitempty"`
	ToObjectID         int64              `json:",omitempty"`
	AssociationRemoved bool               `json:",omitempty"`
}

// MarshalJSON seals a changed email under its person's key in Temporal's
// histories (internal/personaldata). Other values stay readable: status
// rules decide on them, and a history must replay the same after an
// erasure.
func (c Change) MarshalJSON() ([]byte, error) {
	type plain Change
	person := ""
	if c.Property == "email" {
		person = c.Value
	}
	return personaldata.MarshalFields(plain(c), person)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (c *Change) UnmarshalJSON(b []byte) error {
	type plain Change
	_, err := personaldata.UnmarshalFields(b, (*plain)(c))
	return err
}

// ChangeKind is what a Change reports.
type ChangeKind string

// The kinds of Change.
const (
	ChangeProperty    ChangeKind = "property_change"
	ChangeDeletion    ChangeKind = "deletion"
	ChangeMerge       ChangeKind = "merge"
	ChangeAssociation ChangeKind = "association"
)

// ChangeFor is the change to send to the workflow of a referral that holds
// held, one of the entry's records: its own, a record merged away, or an end
// of the association (whose other end becomes the change's ToObject,
// whichever end HubSpot reported from). It reports false for an entry that
// changes nothing a referral holds: a creation, or a kind referflow does not
// act on.
func (e Entry) ChangeFor(held hubspotobject.Ref) (Change, bool) {
	c := Change{
		ObjectType: e.ObjectType, ObjectID: e.ObjectID, OccurredAt: e.OccurredAt,
		DedupeKey: e.DedupeKey, SalesEntryID: e.ID,
	}
	switch e.Kind() {
	case PropertyChange:
		c.Kind, c.Property, c.Value = ChangeProperty, e.PropertyName, e.PropertyValue
	case Deletion:
		c.Kind = ChangeDeletion
	case Merge:
		c.Kind = ChangeMerge
		c.ObjectID = held.ID
		c.SurvivingObjectID, c.MergedObjectIDs = e.SurvivingObjectID, e.MergedObjectIDs
	case AssociationChange:
		c.Kind, c.AssociationRemoved = ChangeAssociation, e.AssociationRemoved
		other := e.AssociationTo
		if held == e.AssociationTo && held != e.AssociationFrom {
			other = e.AssociationFrom
		}
		c.ObjectType, c.ObjectID = held.Type, held.ID
		c.ToObjectType, c.ToObjectID = other.Type, other.ID
	default:
		return Change{}, false
	}
	return c, true
}
