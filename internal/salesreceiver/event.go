package salesreceiver

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/workflows"
)

// What a subscription type's suffix ("deal.<kind>") says happened.
const (
	kindCreation    = "creation"
	kindProperty    = "propertyChange"
	kindDeletion    = "deletion"
	kindMerge       = "merge"
	kindAssociation = "associationChange"
)

// objectRef names a HubSpot object of a workspace's portal.
type objectRef struct {
	Type string // contact, deal or company
	ID   int64
}

func (o objectRef) String() string { return fmt.Sprintf("%s %d", o.Type, o.ID) }

// event is what routing needs from a sales entry: its row plus the merge and
// association fields only the stored payload carries.
type event struct {
	row  db.SalesEntry
	kind string
	// Merge: the records merged and the one that survives.
	merged    []int64
	surviving int64
	// Association: from is the entry's object, to the other end.
	from, to objectRef
	removed  bool
}

// payload is the part of HubSpot's event that is not in the row's columns.
type payload struct {
	PrimaryObjectID    int64   `json:"primaryObjectId"`
	MergedObjectIDs    []int64 `json:"mergedObjectIds"`
	NewObjectID        int64   `json:"newObjectId"`
	AssociationType    string  `json:"associationType"`
	FromObjectID       int64   `json:"fromObjectId"`
	ToObjectID         int64   `json:"toObjectId"`
	AssociationRemoved bool    `json:"associationRemoved"`
}

// parseEvent reads an entry. An error means the entry can never be routed
// (its stored payload is unreadable or lacks what its kind needs): it is
// marked failed with the error as the reason.
func parseEvent(row db.SalesEntry) (event, error) {
	e := event{row: row, kind: subscriptionKind(row.SubscriptionType)}
	if e.kind == kindProperty && row.PropertyName == nil {
		return e, fmt.Errorf("%s event without a propertyName", row.SubscriptionType)
	}
	if e.kind != kindMerge && e.kind != kindAssociation {
		return e, nil
	}
	var p payload
	if err := json.Unmarshal(row.Payload, &p); err != nil {
		return e, fmt.Errorf("stored payload of a %s event is not readable: %v", row.SubscriptionType, err)
	}
	switch e.kind {
	case kindMerge:
		e.surviving = p.NewObjectID
		if e.surviving == 0 {
			e.surviving = p.PrimaryObjectID
		}
		if e.surviving == 0 {
			e.surviving = row.ObjectID
		}
		// The records that no longer exist: those merged, and the primary
		// record too when the merge made a new ID (contacts); a referral
		// holding any of them must move to the survivor.
		for _, id := range append(p.MergedObjectIDs, p.PrimaryObjectID) {
			if id != 0 && id != e.surviving && !contains(e.merged, id) {
				e.merged = append(e.merged, id)
			}
		}
		if len(e.merged) == 0 {
			return e, fmt.Errorf("%s event names no record merged into %d (mergedObjectIds)", row.SubscriptionType, e.surviving)
		}
	case kindAssociation:
		fromType, toType := associationEnds(p.AssociationType)
		if fromType == "" {
			fromType = row.ObjectType
		}
		from := p.FromObjectID
		if from == 0 {
			from = row.ObjectID
		}
		if p.ToObjectID == 0 {
			return e, fmt.Errorf("%s event without toObjectId", row.SubscriptionType)
		}
		e.from = objectRef{fromType, from}
		e.to = objectRef{toType, p.ToObjectID}
		e.removed = p.AssociationRemoved
	}
	return e, nil
}

// subscriptionKind is the part after the last dot: "deal.propertyChange" and
// the generic "object.propertyChange" are both property changes. HubSpot's
// privacy deletion (GDPR) is a deletion for the referral.
func subscriptionKind(subscriptionType string) string {
	kind := subscriptionType[strings.LastIndex(subscriptionType, ".")+1:]
	if kind == "privacyDeletion" {
		return kindDeletion
	}
	return kind
}

// associationEnds reads the object types of an association type such as
// CONTACT_TO_DEAL or DEAL_TO_CONTACT. Each side's last word names the
// object (CHILD_TO_PARENT_COMPANY: an unnamed side, then company); a side
// that names none of contact, deal or company is returned as its lowercase
// word, or "" when it names no object at all.
func associationEnds(associationType string) (from, to string) {
	left, right, ok := strings.Cut(strings.ToUpper(associationType), "_TO_")
	if !ok {
		return "", ""
	}
	return associationSide(left), associationSide(right)
}

func associationSide(side string) string {
	word := strings.ToLower(side[strings.LastIndex(side, "_")+1:])
	switch word {
	case "child", "parent", "":
		return ""
	}
	return word
}

// knownObject tells whether referflow links referrals to objects of this
// type.
func knownObject(objectType string) bool {
	switch objectType {
	case "contact", "deal", "company":
		return true
	}
	return false
}

// lookups are the objects whose referrals the entry concerns: the object
// itself; for a merge every record merged away (a referral may hold any of
// them) and the survivor; for an association both ends.
func (e event) lookups() []objectRef {
	own := objectRef{e.row.ObjectType, e.row.ObjectID}
	switch e.kind {
	case kindMerge:
		refs := make([]objectRef, 0, len(e.merged)+1)
		for _, id := range e.merged {
			refs = append(refs, objectRef{e.row.ObjectType, id})
		}
		return append(refs, objectRef{e.row.ObjectType, e.surviving})
	case kindAssociation:
		refs := []objectRef{}
		if knownObject(e.from.Type) {
			refs = append(refs, e.from)
		}
		if knownObject(e.to.Type) && e.to != e.from {
			refs = append(refs, e.to)
		}
		return refs
	}
	return []objectRef{own}
}

// change is the signal for a referral found through the object it holds
// (held): for an association the referral's own object is the change's
// object and the other end its ToObject, whichever end HubSpot reported
// from.
func (e event) change(held objectRef) workflows.HubSpotChange {
	c := workflows.HubSpotChange{
		ObjectType:   e.row.ObjectType,
		ObjectID:     e.row.ObjectID,
		OccurredAt:   e.row.OccurredAt,
		DedupeKey:    e.row.DedupeKey,
		SalesEntryID: e.row.ID,
	}
	switch e.kind {
	case kindProperty:
		c.Kind = workflows.ChangeProperty
		c.Property = *e.row.PropertyName
		if e.row.PropertyValue != nil {
			c.Value = *e.row.PropertyValue
		}
	case kindDeletion:
		c.Kind = workflows.ChangeDeletion
	case kindMerge:
		c.Kind = workflows.ChangeMerge
		c.ObjectID = held.ID
		c.SurvivingObjectID = e.surviving
		c.MergedObjectIDs = e.merged
	case kindAssociation:
		c.Kind = workflows.ChangeAssociation
		c.AssociationRemoved = e.removed
		other := e.to
		if held == e.to && held != e.from {
			other = e.from
		}
		c.ObjectType, c.ObjectID = held.Type, held.ID
		c.ToObjectType, c.ToObjectID = other.Type, other.ID
	}
	return c
}

func contains(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
