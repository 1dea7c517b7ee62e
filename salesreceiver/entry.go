package salesreceiver

import (
	"fmt"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/salesentry"
)

// event is a claimed sales entry on its way through routing: its row, and
// the entry as routing and the referral's workflow need it.
type event struct {
	row   db.SalesEntry
	entry salesentry.Entry
}

// readEvent reads a claimed entry: its columns, and for a merge or an
// association the records the event names, read from the stored event by
// the intake's own parser (storedEvent). An error means the entry can never
// be routed (its stored event is unreadable or lacks what its kind needs):
// it is marked failed with the error as the reason.
func readEvent(row db.SalesEntry) (event, error) {
	e := activities.SalesEntryOf(row)
	ev := event{row: row, entry: e}
	kind := e.Kind()
	if kind == salesentry.PropertyChange && row.PropertyName == nil {
		return ev, fmt.Errorf("%s event without a propertyName", row.SubscriptionType)
	}
	if kind != salesentry.Merge && kind != salesentry.AssociationChange {
		return ev, nil
	}
	stored, err := storedEvent(row)
	if err != nil {
		return ev, fmt.Errorf("stored payload of a %s event is not readable: %v", row.SubscriptionType, err)
	}
	switch kind {
	case salesentry.Merge:
		ev.entry.SurvivingObjectID = stored.Survivor()
		ev.entry.MergedObjectIDs = stored.MergedAway()
		if len(ev.entry.MergedObjectIDs) == 0 {
			return ev, fmt.Errorf("%s event names no record merged into %d (mergedObjectIds)", row.SubscriptionType, ev.entry.SurvivingObjectID)
		}
	case salesentry.AssociationChange:
		from, to := stored.AssociationEnds()
		if to.ID == 0 {
			return ev, fmt.Errorf("%s event without toObjectId", row.SubscriptionType)
		}
		ev.entry.AssociationFrom, ev.entry.AssociationTo = from, to
		ev.entry.AssociationRemoved = stored.AssociationRemoved != nil && *stored.AssociationRemoved
	}
	return ev, nil
}

// lookups are the records whose referrals the entry concerns: its own
// record; for a merge every record merged away (a referral may hold any of
// them) and the survivor; for an association both ends.
func (e event) lookups() []hubspotobject.Ref {
	switch e.entry.Kind() {
	case salesentry.Merge:
		return append(e.merged(), e.survivor())
	case salesentry.AssociationChange:
		from, to := e.entry.AssociationFrom, e.entry.AssociationTo
		refs := []hubspotobject.Ref{}
		if from.Type.Known() {
			refs = append(refs, from)
		}
		if to.Type.Known() && to != from {
			refs = append(refs, to)
		}
		return refs
	}
	return []hubspotobject.Ref{e.entry.Object()}
}

// merged are the records a merge entry names as gone.
func (e event) merged() []hubspotobject.Ref {
	refs := make([]hubspotobject.Ref, 0, len(e.entry.MergedObjectIDs))
	for _, id := range e.entry.MergedObjectIDs {
		refs = append(refs, hubspotobject.Ref{Type: e.entry.ObjectType, ID: id})
	}
	return refs
}

// survivor is the record a merge entry kept.
func (e event) survivor() hubspotobject.Ref {
	return hubspotobject.Ref{Type: e.entry.ObjectType, ID: e.entry.SurvivingObjectID}
}
