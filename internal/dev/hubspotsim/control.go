package hubspotsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Go helpers for tests and for the simulator's own page. Writes made through
// them are recorded with ChangeSource CRM_UI, as a person's edits in HubSpot
// would be, and are validated exactly like API writes; they do not count
// against rate limits.

// Object is a copy of a CRM record.
type Object struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"` // contacts, companies or deals
	Properties map[string]string `json:"properties"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
	Archived   bool              `json:"archived"`
}

// APIError is the error Go helpers return for what the API would refuse:
// the HTTP status and HubSpot's category and message.
type APIError struct {
	Status   int
	Category string
	Message  string
}

func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Category, e.Message) }

func goErr(e *apiError) error {
	if e == nil {
		return nil
	}
	return &APIError{Status: e.httpStatus, Category: e.Category, Message: e.Message}
}

var errNoPortal = errors.New("hubspotsim: no such portal")

func (s *Simulator) portalAndType(portalID int64, objectType string) (*Portal, string, error) {
	p := s.portals[portalID]
	if p == nil {
		return nil, "", errNoPortal
	}
	t, ok := canonicalType(objectType)
	if !ok {
		return nil, "", goErr(unknownTypeErr(objectType))
	}
	return p, t, nil
}

func objectCopy(t string, o *object) Object {
	return Object{ID: idString(o.id), Type: t, Properties: copyProps(o.props), CreatedAt: o.created, UpdatedAt: o.updated, Archived: o.archived}
}

// CreateObject creates a contact, company or deal (objectType: plural,
// singular or type ID) as a person in HubSpot would, and returns its ID.
func (s *Simulator) CreateObject(portalID int64, objectType string, props map[string]string) (string, error) {
	var id string
	var err error
	s.locked(func() {
		p, t, e := s.portalAndType(portalID, objectType)
		if e != nil {
			err = e
			return
		}
		o, ae := s.createObject(p, t, copyProps(props), nil, uiWriter)
		if ae != nil {
			err = goErr(ae)
			return
		}
		id = idString(o.id)
	})
	return id, err
}

// UpdateObject changes properties of a record as a person in HubSpot would
// (e.g. moving a deal to closedwon), recording one propertyChange per value
// that changed.
func (s *Simulator) UpdateObject(portalID int64, objectType, id string, props map[string]string) error {
	return s.onObject(portalID, objectType, id, func(p *Portal, t string, o *object) error {
		return goErr(s.updateObject(p, t, o, copyProps(props), uiWriter))
	})
}

// ArchiveObject deletes (archives) a record.
func (s *Simulator) ArchiveObject(portalID int64, objectType, id string) error {
	return s.onObject(portalID, objectType, id, func(p *Portal, t string, o *object) error {
		s.archiveObject(p, t, o, uiWriter)
		return nil
	})
}

// onObject runs fn on a live record (following merges) under the
// simulator's lock; an unknown portal, type or record is the error the API
// would answer.
func (s *Simulator) onObject(portalID int64, objectType, id string, fn func(p *Portal, t string, o *object) error) error {
	var err error
	s.locked(func() {
		p, t, e := s.portalAndType(portalID, objectType)
		if e != nil {
			err = e
			return
		}
		o := p.lookup(t, id, "")
		if o == nil {
			err = goErr(objNotFound(t, id))
			return
		}
		err = fn(p, t, o)
	})
	return err
}

// MergeObjects merges the record mergedID into primaryID.
func (s *Simulator) MergeObjects(portalID int64, objectType, primaryID, mergedID string) error {
	var err error
	s.locked(func() {
		p, t, e := s.portalAndType(portalID, objectType)
		if e != nil {
			err = e
			return
		}
		w, l := p.lookup(t, primaryID, ""), p.lookup(t, mergedID, "")
		if w == nil || l == nil || w == l {
			err = goErr(validationErr("both records must exist and differ"))
			return
		}
		s.mergeObjects(p, t, w, l, uiWriter)
	})
	return err
}

// GetObject returns a copy of a live record (following merges).
func (s *Simulator) GetObject(portalID int64, objectType, id string) (Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, t, err := s.portalAndType(portalID, objectType)
	if err != nil {
		return Object{}, false
	}
	o := p.lookup(t, id, "")
	if o == nil {
		return Object{}, false
	}
	return objectCopy(t, o), true
}

// FindContactByEmail returns the live contact with that email.
func (s *Simulator) FindContactByEmail(portalID int64, email string) (Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.portals[portalID]
	if p == nil {
		return Object{}, false
	}
	o := p.lookup("contacts", email, "email")
	if o == nil {
		return Object{}, false
	}
	return objectCopy("contacts", o), true
}

// Objects returns copies of the portal's live records of a type, by ID.
func (s *Simulator) Objects(portalID int64, objectType string) []Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, t, err := s.portalAndType(portalID, objectType)
	if err != nil {
		return nil
	}
	var out []Object
	for _, id := range sortedKeys(p.objects[t].byID) {
		if o := p.objects[t].byID[id]; !o.archived {
			out = append(out, objectCopy(t, o))
		}
	}
	return out
}

// Associate adds the default (unlabeled) association between two records,
// in both directions.
func (s *Simulator) Associate(portalID int64, fromType, fromID, toType, toID string) error {
	var err error
	s.locked(func() {
		p, from, e := s.portalAndType(portalID, fromType)
		if e != nil {
			err = e
			return
		}
		_, to, e := s.portalAndType(portalID, toType)
		if e != nil {
			err = e
			return
		}
		fo, too := p.lookup(from, fromID, ""), p.lookup(to, toID, "")
		if fo == nil || too == nil {
			err = goErr(notFoundErr("both records must exist"))
			return
		}
		s.associate(p, from, fo.id, to, too.id, defaultAssocType[from][to], uiWriter, s.now())
	})
	return err
}

// Associations returns the IDs of the records of toType associated with a
// record, ascending.
func (s *Simulator) Associations(portalID int64, fromType, fromID, toType string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, from, err := s.portalAndType(portalID, fromType)
	if err != nil {
		return nil
	}
	to, ok := canonicalType(toType)
	o := p.lookup(from, fromID, "")
	if !ok || o == nil {
		return nil
	}
	var out []string
	for _, e := range p.edgesFrom(from, o.id, to) {
		out = append(out, idString(e.toID))
	}
	return out
}

// CreateProperty adds a custom property, as POST .../properties/{objectType}
// would. def holds the request fields: name, label, type, fieldType,
// groupName and optionally description, options, hasUniqueValue.
func (s *Simulator) CreateProperty(portalID int64, objectType string, def map[string]any) error {
	var err error
	s.locked(func() {
		p, t, e := s.portalAndType(portalID, objectType)
		if e != nil {
			err = e
			return
		}
		b, _ := json.Marshal(def)
		var in propertyInput
		if e := json.Unmarshal(b, &in); e != nil {
			err = e
			return
		}
		_, ae := s.createProperty(p, t, in)
		err = goErr(ae)
	})
	return err
}

// AddDealPipeline adds a custom deal pipeline; HubSpot gives custom
// pipelines and their stages numeric IDs. Each stage needs
// metadata["probability"] ("0.0" to "1.0"); metadata["isClosed"] defaults to
// "true" for probability 0.0 and 1.0. It returns the pipeline ID and the
// stage IDs in order.
func (s *Simulator) AddDealPipeline(portalID int64, label string, stages []PipelineStageInput) (string, []string, error) {
	var pid string
	var sids []string
	var err error
	s.locked(func() {
		p := s.portals[portalID]
		if p == nil {
			err = errNoPortal
			return
		}
		pl, ae := s.addPipeline(p, label, len(p.pipelines), stages)
		if ae != nil {
			err = goErr(ae)
			return
		}
		pid = pl.ID
		for _, st := range pl.Stages {
			sids = append(sids, st.ID)
		}
	})
	return pid, sids, err
}

// CreateList adds a list (processingType MANUAL, SNAPSHOT or DYNAMIC;
// filterBranch is HubSpot's JSON filter tree, required for DYNAMIC) with
// the given members (MANUAL/SNAPSHOT), and returns its ID.
func (s *Simulator) CreateList(portalID int64, name, objectType, processingType string, filterBranch json.RawMessage, memberIDs ...string) (string, error) {
	var id string
	var err error
	s.locked(func() {
		p, t, e := s.portalAndType(portalID, objectType)
		if e != nil {
			err = e
			return
		}
		l, ae := s.createList(p, name, objectTypeIDs[t], processingType, filterBranch)
		if ae != nil {
			err = goErr(ae)
			return
		}
		for _, m := range memberIDs {
			n, _ := strconv.ParseInt(m, 10, 64)
			if o := p.objects[t].byID[n]; o != nil && !o.archived {
				l.members[n] = s.now()
			}
		}
		id = idString(l.id)
	})
	return id, err
}

// AddToList adds records to a MANUAL or SNAPSHOT list, as an admin adding
// contacts to a static list in HubSpot would (the list's records that are
// already members stay as they were).
func (s *Simulator) AddToList(portalID int64, listID string, memberIDs ...string) error {
	var err error
	s.locked(func() {
		p := s.portals[portalID]
		if p == nil {
			err = fmt.Errorf("hubspotsim: no portal %d", portalID)
			return
		}
		n, _ := strconv.ParseInt(listID, 10, 64)
		l := p.lists[n]
		if l == nil {
			err = fmt.Errorf("hubspotsim: portal %d has no list %s", portalID, listID)
			return
		}
		if l.processingType == "DYNAMIC" {
			err = fmt.Errorf("hubspotsim: list %s is DYNAMIC: its members follow its filters", listID)
			return
		}
		now := s.now()
		for _, m := range memberIDs {
			id, _ := strconv.ParseInt(m, 10, 64)
			if o := p.objects[l.objectType].byID[id]; o != nil && !o.archived {
				if _, ok := l.members[id]; !ok {
					l.members[id] = now
				}
			}
		}
		l.updated = now
	})
	return err
}

// RemoveFromList removes records from a MANUAL or SNAPSHOT list, as an
// admin removing contacts from a static list in HubSpot would.
func (s *Simulator) RemoveFromList(portalID int64, listID string, memberIDs ...string) error {
	var err error
	s.locked(func() {
		p := s.portals[portalID]
		if p == nil {
			err = fmt.Errorf("hubspotsim: no portal %d", portalID)
			return
		}
		n, _ := strconv.ParseInt(listID, 10, 64)
		l := p.lists[n]
		if l == nil {
			err = fmt.Errorf("hubspotsim: portal %d has no list %s", portalID, listID)
			return
		}
		if l.processingType == "DYNAMIC" {
			err = fmt.Errorf("hubspotsim: list %s is DYNAMIC: its members follow its filters", listID)
			return
		}
		for _, m := range memberIDs {
			id, _ := strconv.ParseInt(m, 10, 64)
			delete(l.members, id)
		}
		l.updated = s.now()
	})
	return err
}

// ForgetProperty removes a custom property from a portal as if it had never
// been created: a portal set up by an older referflow, which lacked it.
func (s *Simulator) ForgetProperty(portalID int64, objectType, name string) error {
	var err error
	s.locked(func() {
		p, t, e := s.portalAndType(portalID, objectType)
		if e != nil {
			err = e
			return
		}
		delete(p.props[t], name)
	})
	return err
}
