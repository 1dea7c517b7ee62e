package salesreceiver

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

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
