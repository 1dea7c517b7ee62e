package salesreceiver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/salesentry"
)

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

// ObjectType is the record the event is about — contact, deal or company —
// or "" for objects referflow does not handle (tickets, conversations,
// custom objects...).
func (e Event) ObjectType() hubspotobject.Type {
	prefix, _, _ := strings.Cut(e.SubscriptionType, ".")
	if prefix == "object" {
		return hubspotobject.FromTypeID(e.ObjectTypeID)
	}
	if t := hubspotobject.Type(prefix); t.Known() {
		return t
	}
	return ""
}

// Kind is what happened: "creation", "propertyChange", "deletion", "merge",
// "associationChange", "restore"... (privacyDeletion reads as a deletion).
func (e Event) Kind() salesentry.Kind { return salesentry.KindOf(e.SubscriptionType) }

// Survivor is the record a merge kept: HubSpot's newObjectId (merging
// contacts makes a new ID), else primaryObjectId, else the event's own
// record.
func (e Event) Survivor() int64 {
	switch {
	case e.NewObjectID != 0:
		return e.NewObjectID
	case e.PrimaryObjectID != 0:
		return e.PrimaryObjectID
	}
	return e.ObjectID
}

// MergedAway are the records a merge left behind: those merged, and the
// primary record too when the merge made a new ID. A referral holding any of
// them must move to the Survivor.
func (e Event) MergedAway() []int64 {
	survivor := e.Survivor()
	var gone []int64
	for _, id := range append(slices.Clone(e.MergedObjectIDs), e.PrimaryObjectID) {
		if id != 0 && id != survivor && !slices.Contains(gone, id) {
			gone = append(gone, id)
		}
	}
	return gone
}

// AssociationEnds are the records an association change is about: from, the
// event's own record (of the type the association type's first word names,
// else the event's type), and to, the other end (ID 0 when HubSpot named
// none). An end of an object referflow does not handle has that object's
// lowercase word as its type (ticket), which is not Known.
func (e Event) AssociationEnds() (from, to hubspotobject.Ref) {
	fromType, toType := associationEnds(e.AssociationType)
	if fromType == "" {
		fromType = e.ObjectType()
	}
	fromID := e.FromObjectID
	if fromID == 0 {
		fromID = e.ObjectID
	}
	return hubspotobject.Ref{Type: fromType, ID: fromID}, hubspotobject.Ref{Type: toType, ID: e.ToObjectID}
}

// associationEnds reads the object types of an association type such as
// CONTACT_TO_DEAL or DEAL_TO_CONTACT. Each side's last word names the
// object (CHILD_TO_PARENT_COMPANY: an unnamed side, then company); a side
// that names none of contact, deal or company is returned as its lowercase
// word, or "" when it names no object at all.
func associationEnds(associationType string) (from, to hubspotobject.Type) {
	left, right, ok := strings.Cut(strings.ToUpper(associationType), "_TO_")
	if !ok {
		return "", ""
	}
	return associationSide(left), associationSide(right)
}

func associationSide(side string) hubspotobject.Type {
	word := strings.ToLower(side[strings.LastIndex(side, "_")+1:])
	switch word {
	case "child", "parent", "":
		return ""
	}
	return hubspotobject.Type(word)
}

// dedupeVersion starts the canonical encoding, so a future change of what the
// key covers cannot collide with keys already stored.
const dedupeVersion = "hubspot-event/v1"

// DedupeKey identifies the event across HubSpot's redeliveries: hex SHA-256
// over a canonical encoding of what the event says happened — eventId,
// subscriptionType, objectTypeId, portalId, objectId, occurredAt,
// propertyName, propertyValue and the merge and association fields.
//
// HubSpot's eventId is "not guaranteed to be unique", so it cannot be the key
// on its own. attemptNumber is left out on purpose (a retry of the same event
// has a higher attemptNumber and must be recorded once), and so are
// subscriptionId and appId (they say who asked for the event, not what
// happened).
func (e Event) DedupeKey() string {
	b := make([]byte, 0, 256)
	b = append(b, dedupeVersion...)
	b = appendInt(b, e.EventID)
	b = appendString(b, e.SubscriptionType)
	b = appendString(b, e.ObjectTypeID)
	b = appendInt(b, e.PortalID)
	b = appendInt(b, e.ObjectID)
	b = appendInt(b, e.OccurredAt.UnixMilli())
	b = appendString(b, e.PropertyName)
	if e.PropertyValue == nil {
		b = append(b, "|-"...)
	} else {
		b = appendString(b, *e.PropertyValue)
	}
	b = appendInt(b, e.PrimaryObjectID)
	b = appendInt(b, int64(len(e.MergedObjectIDs)))
	for _, id := range e.MergedObjectIDs {
		b = appendInt(b, id)
	}
	b = appendInt(b, e.NewObjectID)
	b = appendString(b, e.AssociationType)
	b = appendInt(b, e.FromObjectID)
	b = appendInt(b, e.ToObjectID)
	switch {
	case e.AssociationRemoved == nil:
		b = append(b, "|-"...)
	case *e.AssociationRemoved:
		b = append(b, "|t"...)
	default:
		b = append(b, "|f"...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// appendInt writes "|i<decimal>"; appendString writes "|s<length>:<bytes>",
// so no value can run into the next one whatever characters it holds.
func appendInt(b []byte, v int64) []byte {
	b = append(b, "|i"...)
	return strconv.AppendInt(b, v, 10)
}

func appendString(b []byte, s string) []byte {
	b = append(b, "|s"...)
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}
