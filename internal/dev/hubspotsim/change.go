package hubspotsim

import (
	"fmt"
	"strconv"
	"time"
)

// ChangeKind is what happened to an object, named as in HubSpot's webhook
// subscription types ("contact.<kind>").
type ChangeKind string

// The kinds of change, as HubSpot's webhooks name them.
const (
	ChangeCreation          ChangeKind = "creation"
	ChangePropertyChange    ChangeKind = "propertyChange"
	ChangeDeletion          ChangeKind = "deletion"
	ChangeMerge             ChangeKind = "merge"
	ChangeAssociationChange ChangeKind = "associationChange"
	// ChangePrivacyDeletion is a contact's GDPR deletion (gdpr.go); a
	// ChangeDeletion comes with it.
	ChangePrivacyDeletion ChangeKind = "privacyDeletion"
)

// Change sources, as HubSpot reports them in webhook events' changeSource.
const (
	SourceIntegration = "INTEGRATION" // through the API with an OAuth or private-app token
	SourceCRMUI       = "CRM_UI"      // a person in HubSpot (the simulator's page, or Go helpers)
)

// Change is one change to a portal's CRM data, carrying what a HubSpot
// webhook event needs. Every write through the API or the Go helpers records
// one Change per fact: a creation, then one propertyChange per property set
// (HubSpot sends those for creations too); one propertyChange per property
// whose value changed on update (with the old value); a deletion on archive;
// a merge; an associationChange per direction of an association added or
// removed.
type Change struct {
	// Seq numbers changes across the simulator in the order they were made.
	Seq      int64
	PortalID int64
	// ObjectType is the singular name used in subscription types: "contact",
	// "deal" or "company".
	ObjectType string
	// ObjectTypeID is HubSpot's ID for the type: "0-1" contact, "0-2"
	// company, "0-3" deal (for generic object.* subscriptions).
	ObjectTypeID string
	Kind         ChangeKind
	ObjectID     int64
	OccurredAt   time.Time
	// ChangeSource is SourceIntegration or SourceCRMUI.
	ChangeSource string
	// SourceAppID is the app that made the change through an OAuth token (0
	// for private-app tokens and people).
	SourceAppID int64

	// Property changes.
	PropertyName  string
	PropertyValue string
	OldValue      string

	// Merges: the winner, the records merged into it, and the resulting ID.
	PrimaryObjectID int64
	MergedObjectIDs []int64
	NewObjectID     int64

	// Association changes: ObjectID is FromObjectID.
	AssociationType    string // e.g. "CONTACT_TO_DEAL"
	AssociationTypeID  int
	FromObjectID       int64
	ToObjectID         int64
	ToObjectType       string // singular, e.g. "deal"
	AssociationRemoved bool
}

// SubscriptionType is the change's HubSpot webhook subscription type, e.g.
// "deal.propertyChange".
func (c Change) SubscriptionType() string { return c.ObjectType + "." + string(c.Kind) }

// String is a short human-readable form for logs and test failures.
func (c Change) String() string {
	s := fmt.Sprintf("#%d portal %d %s %d", c.Seq, c.PortalID, c.SubscriptionType(), c.ObjectID)
	switch c.Kind {
	case ChangePropertyChange:
		s += fmt.Sprintf(" %s: %q -> %q", c.PropertyName, c.OldValue, c.PropertyValue)
	case ChangeAssociationChange:
		s += fmt.Sprintf(" %s %d->%d removed=%v", c.AssociationType, c.FromObjectID, c.ToObjectID, c.AssociationRemoved)
	case ChangeMerge:
		s += fmt.Sprintf(" primary %d merged %v new %d", c.PrimaryObjectID, c.MergedObjectIDs, c.NewObjectID)
	}
	return s
}

// OnChange subscribes fn to every change made from now on, in any portal. fn
// runs on the goroutine that made the change, after the simulator's lock is
// released (so fn may call the simulator), once per change in the order that
// request made them; changes of concurrent requests may interleave, as
// HubSpot's events may arrive out of order — order by Seq or OccurredAt. The
// returned func unsubscribes.
func (s *Simulator) OnChange(fn func(Change)) (unsubscribe func()) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	s.hookSeq++
	id := s.hookSeq
	s.hooks[id] = fn
	return func() {
		s.hookMu.Lock()
		defer s.hookMu.Unlock()
		delete(s.hooks, id)
	}
}

// Changes returns every change recorded for the portal, in order.
func (s *Simulator) Changes(portalID int64) []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Change
	for _, c := range s.changeLog {
		if c.PortalID == portalID {
			out = append(out, c)
		}
	}
	return out
}

// record adds a change; the caller holds s.mu.
func (s *Simulator) record(c Change) {
	s.changeSeq++
	c.Seq = s.changeSeq
	s.changeLog = append(s.changeLog, c)
	s.pending = append(s.pending, c)
}

func (s *Simulator) dispatch(changes []Change) {
	if len(changes) == 0 {
		return
	}
	s.hookMu.Lock()
	ids := make([]int, 0, len(s.hooks))
	for id := range s.hooks {
		ids = append(ids, id)
	}
	fns := make([]func(Change), 0, len(ids))
	for _, id := range sortInts(ids) {
		fns = append(fns, s.hooks[id])
	}
	s.hookMu.Unlock()
	for _, c := range changes {
		for _, fn := range fns {
			fn(c)
		}
	}
}

func sortInts(v []int) []int {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
	return v
}

// writer identifies who makes a change.
type writer struct {
	source string
	appID  int64
}

var uiWriter = writer{source: SourceCRMUI}

func idString(id int64) string { return strconv.FormatInt(id, 10) }
