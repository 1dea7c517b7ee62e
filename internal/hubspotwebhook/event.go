// Package hubspotwebhook reads HubSpot's webhook deliveries: it parses a
// delivery's JSON array of events, derives the key that recognises a
// redelivered event, and records a batch as sales entries in one transaction.
// The HTTP endpoint (api, POST /webhooks/hubspot) checks the signature and
// calls Parse and Record; the Sales Receiver's dispatcher
// (internal/salesreceiver) then routes the recorded entries, woken by a
// NOTIFY on NotifyChannel.
package hubspotwebhook

import (
	"encoding/json"
	"strings"
	"time"
)

// Object types referflow records sales entries for (sales_entries.object_type).
const (
	ObjectContact = "contact"
	ObjectDeal    = "deal"
	ObjectCompany = "company"
)

// objectTypeIDs maps the objectTypeId of HubSpot's generic object.* events to
// the object types referflow handles.
var objectTypeIDs = map[string]string{
	"0-1": ObjectContact,
	"0-2": ObjectCompany,
	"0-3": ObjectDeal,
}

// Event is one event of a HubSpot webhook delivery, as HubSpot sends it.
// Integer fields are zero when HubSpot did not send them (HubSpot's IDs start
// at 1); PropertyValue and AssociationRemoved are pointers because their zero
// value means something ("" is a cleared property, false an added
// association).
type Event struct {
	EventID          int64
	SubscriptionID   int64
	PortalID         int64
	AppID            int64
	OccurredAt       time.Time // UTC, from epoch milliseconds
	SubscriptionType string    // e.g. "deal.propertyChange", "object.creation"
	// ObjectTypeID is set on generic object.* events: "0-1" contact, "0-2"
	// company, "0-3" deal, others for objects referflow does not handle.
	ObjectTypeID  string
	AttemptNumber int64 // 0 on the first delivery, then 1, 2...
	// ObjectID is the object the event is about. Association changes carry
	// no objectId of their own: Parse fills in FromObjectID.
	ObjectID      int64
	PropertyName  string
	PropertyValue *string
	ChangeSource  string
	ChangeFlag    string
	SourceID      string

	// Merges.
	PrimaryObjectID int64
	MergedObjectIDs []int64
	NewObjectID     int64

	// Association changes.
	AssociationType    string
	FromObjectID       int64
	ToObjectID         int64
	AssociationRemoved *bool

	// Raw is the event's own JSON object exactly as received (stored as the
	// sales entry's payload, so HubSpot's fields referflow does not read are
	// kept too).
	Raw json.RawMessage
}

// ObjectType is the object the event is about — contact, deal or company —
// or "" for objects referflow does not handle (tickets, conversations,
// custom objects...).
func (e Event) ObjectType() string {
	prefix, _, _ := strings.Cut(e.SubscriptionType, ".")
	switch prefix {
	case ObjectContact, ObjectDeal, ObjectCompany:
		return prefix
	case "object":
		return objectTypeIDs[e.ObjectTypeID]
	}
	return ""
}

// Kind is what happened, the part of the subscription type after the dot:
// "creation", "propertyChange", "deletion", "merge", "associationChange",
// "restore", "privacyDeletion"...
func (e Event) Kind() string {
	_, kind, _ := strings.Cut(e.SubscriptionType, ".")
	return kind
}
