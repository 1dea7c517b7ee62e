package hubspotsim

import (
	"fmt"
	"net/http"
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"time"
)

// object is one CRM record. props holds only set (non-empty) values.
type object struct {
	id         int64
	props      map[string]string
	created    time.Time
	updated    time.Time
	archived   bool
	archivedAt time.Time
	mergedInto int64

	// What search sees: indexed is the searchable version; pending becomes it
	// at visibleAt (Options.SearchLag after the write).
	indexed *snapshot
	pending *snapshot
}

type snapshot struct {
	props     map[string]string
	created   time.Time
	updated   time.Time
	archived  bool
	visibleAt time.Time
}

type objectStore struct {
	byID   map[int64]*object
	nextID int64
	// byEmail lists, per email, every contact that was ever given it (a
	// superset: each is checked against its current email), so the email
	// uniqueness check does not scan a portal of 100,000 contacts on every
	// create.
	byEmail map[string][]int64
}

// indexEmail notes that contact id was given email.
func (st *objectStore) indexEmail(email string, id int64) {
	if email == "" {
		return
	}
	if st.byEmail == nil {
		st.byEmail = map[string][]int64{}
	}
	st.byEmail[email] = append(st.byEmail[email], id)
}

func copyProps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// reindex schedules the object's current version for search.
func (o *object) reindex(now time.Time, lag time.Duration) {
	o.searchView(now)
	o.pending = &snapshot{props: copyProps(o.props), created: o.created, updated: o.updated, archived: o.archived, visibleAt: now.Add(lag)}
	o.searchView(now)
}

// searchView is the version search sees now (nil: not searchable yet).
func (o *object) searchView(now time.Time) *snapshot {
	if o.pending != nil && !o.pending.visibleAt.After(now) {
		o.indexed, o.pending = o.pending, nil
	}
	return o.indexed
}

func modifiedProp(objType string) string {
	if objType == "contacts" {
		return "lastmodifieddate"
	}
	return "hs_lastmodifieddate"
}

// defaultReadProps are the properties HubSpot returns when a read names none.
var defaultReadProps = map[string][]string{
	"contacts":  {"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"},
	"companies": {"createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"},
	"deals":     {"amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id", "pipeline"},
}

// lookup finds a live object by ID (following merges), or by the value of
// idProperty when it is set.
func (p *Portal) lookup(objType, id, idProperty string) *object {
	st := p.objects[objType]
	if idProperty != "" && idProperty != "hs_object_id" {
		want := id
		if idProperty == "email" {
			want = strings.ToLower(id)
		}
		if idProperty == "email" && objType == "contacts" {
			for _, oid := range st.byEmail[want] {
				if o := st.byID[oid]; o != nil && !o.archived && o.props["email"] == want {
					return o
				}
			}
			return nil
		}
		for _, oid := range sortedKeys(st.byID) {
			o := st.byID[oid]
			if !o.archived && o.props[idProperty] == want {
				return o
			}
		}
		return nil
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil
	}
	o := st.byID[n]
	for hops := 0; o != nil && o.mergedInto != 0 && hops < 10; hops++ {
		o = st.byID[o.mergedInto]
	}
	if o == nil || o.archived {
		return nil
	}
	return o
}

func (p *Portal) lookupArchived(objType, id string) *object {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil
	}
	if o := p.objects[objType].byID[n]; o != nil && o.archived && o.mergedInto == 0 {
		return o
	}
	return nil
}

// validateProps checks property values against their definitions and
// returns them normalised as HubSpot stores them. existing is nil on create.
func (s *Simulator) validateProps(p *Portal, objType string, in map[string]string, existing *object) (map[string]string, *apiError) {
	names := make([]string, 0, len(in))
	for k := range in {
		names = append(names, k)
	}
	sort.Strings(names)
	out := map[string]string{}
	var errs []propertyError
	bad := func(name, code, msg string) {
		errs = append(errs, propertyError{IsValid: false, Message: msg, Error: code, Name: name})
	}
	for _, name := range names {
		v := in[name]
		def := p.propertyDef(objType, name)
		if def == nil {
			bad(name, "PROPERTY_DOESNT_EXIST", fmt.Sprintf("Property %q does not exist", name))
			continue
		}
		if def.Modification.ReadOnlyValue {
			bad(name, "READ_ONLY_VALUE", name+" is a read only property; its value cannot be set.")
			continue
		}
		if v == "" {
			out[name] = ""
			continue
		}
		norm, code, msg := normalizeValue(objType, def, v)
		if code != "" {
			bad(name, code, msg)
			continue
		}
		out[name] = norm
	}
	if len(errs) > 0 {
		return nil, propertyValuesErr(errs)
	}
	// Whole-object rules, on the values the object would have.
	final := map[string]string{}
	if existing != nil {
		final = copyProps(existing.props)
	}
	for k, v := range out {
		if v == "" {
			delete(final, k)
		} else {
			final[k] = v
		}
	}
	switch objType {
	case "deals":
		for _, req := range []string{"dealname", "pipeline", "dealstage"} {
			if final[req] == "" {
				_, touched := out[req]
				if existing == nil || touched {
					errs = append(errs, propertyError{Message: req + " is required", Error: "REQUIRED_PROPERTY", Name: req})
				}
			}
		}
		if len(errs) > 0 {
			return nil, propertyValuesErr(errs)
		}
		pl := p.pipeline(final["pipeline"])
		if pl == nil {
			vals := make([]string, 0, len(p.pipelines))
			for _, x := range p.pipelines {
				vals = append(vals, x.ID)
			}
			return nil, propertyValuesErr([]propertyError{{Error: "INVALID_OPTION", Name: "pipeline",
				Message: fmt.Sprintf("%s was not one of the allowed options: [%s]", final["pipeline"], strings.Join(vals, ", "))}})
		}
		if pl.stage(final["dealstage"]) == nil {
			vals := make([]string, 0, len(pl.Stages))
			for _, st := range pl.Stages {
				vals = append(vals, st.ID)
			}
			return nil, propertyValuesErr([]propertyError{{Error: "INVALID_OPTION", Name: "dealstage",
				Message: fmt.Sprintf("%s was not one of the allowed options for pipeline %s: [%s]", final["dealstage"], pl.ID, strings.Join(vals, ", "))}})
		}
	case "contacts":
		if email, ok := out["email"]; ok && email != "" {
			st := p.objects["contacts"]
			for _, oid := range st.byEmail[email] {
				o := st.byID[oid]
				if o == nil || o.archived || (existing != nil && o.id == existing.id) {
					continue
				}
				if o.props["email"] == email {
					e := newErr(http.StatusConflict, "CONFLICT", fmt.Sprintf("Contact already exists. Existing ID: %d", o.id))
					return nil, e
				}
			}
		}
	}
	return out, nil
}

// normalizeValue validates one non-empty value; code is set when invalid.
func normalizeValue(objType string, def *property, v string) (norm, code, msg string) {
	switch def.Type {
	case "enumeration":
		if def.ExternalOptions || (objType == "deals" && (def.Name == "pipeline" || def.Name == "dealstage")) {
			return v, "", ""
		}
		vals := []string{v}
		if def.FieldType == "checkbox" {
			vals = strings.Split(v, ";")
		}
		for _, x := range vals {
			found := false
			for _, o := range def.Options {
				if o.Value == x {
					found = true
					break
				}
			}
			if !found {
				return "", "INVALID_OPTION", notAllowedOptionMsg(x, def)
			}
		}
		return v, "", ""
	case "number":
		if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
			return "", "INVALID_DOUBLE", fmt.Sprintf("%s was not a valid number.", v)
		}
		return strings.TrimSpace(v), "", ""
	case "bool":
		switch strings.ToLower(v) {
		case "true", "false":
			return strings.ToLower(v), "", ""
		}
		return "", "INVALID_BOOLEAN", fmt.Sprintf("%s was not a valid boolean (true or false).", v)
	case "datetime":
		t, ok := parseHSTime(v)
		if !ok {
			return "", "INVALID_DATE", fmt.Sprintf("%s was not a valid datetime: use milliseconds since the epoch or ISO 8601.", v)
		}
		return hsTime(t), "", ""
	case "date":
		t, ok := parseHSTime(v)
		if !ok || !t.Equal(t.Truncate(24*time.Hour)) {
			return "", "INVALID_DATE", fmt.Sprintf("%s is not a valid date: it must be midnight UTC (milliseconds since the epoch or YYYY-MM-DD).", v)
		}
		return t.Format("2006-01-02"), "", ""
	}
	if def.Name == "email" && objType == "contacts" {
		v = strings.ToLower(strings.TrimSpace(v))
		if a, err := mail.ParseAddress(v); err != nil || a.Address != v || !strings.Contains(v[strings.LastIndex(v, "@")+1:], ".") {
			return "", "INVALID_EMAIL", fmt.Sprintf("Email address %s is invalid", v)
		}
	}
	return v, "", ""
}

// parseHSTime reads epoch milliseconds, RFC 3339 or YYYY-MM-DD.
func parseHSTime(v string) (time.Time, bool) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// setProps applies validated values to o and records a propertyChange per
// changed value. The caller holds s.mu.
func (s *Simulator) setProps(p *Portal, objType string, o *object, vals map[string]string, w writer, now time.Time) {
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	if objType == "deals" {
		if _, ok := vals["dealstage"]; ok {
			if pl := p.pipeline(firstNonEmpty(vals["pipeline"], o.props["pipeline"])); pl != nil {
				if st := pl.stage(vals["dealstage"]); st != nil {
					closed := st.Metadata["isClosed"] == "true"
					prob, _ := strconv.ParseFloat(st.Metadata["probability"], 64)
					calc := map[string]string{
						"hs_is_closed":              strconv.FormatBool(closed),
						"hs_is_closed_won":          strconv.FormatBool(closed && prob >= 1),
						"hs_deal_stage_probability": st.Metadata["probability"],
					}
					if closed && o.props["closedate"] == "" && vals["closedate"] == "" {
						calc["closedate"] = hsTime(now)
					}
					for k, v := range calc {
						if _, set := vals[k]; !set {
							vals[k] = v
							names = append(names, k)
						}
					}
				}
			}
		}
	}
	sort.Strings(names)
	changed := false
	for _, name := range names {
		v, old := vals[name], o.props[name]
		if v == old {
			continue
		}
		if v == "" {
			delete(o.props, name)
		} else {
			o.props[name] = v
		}
		if objType == "contacts" && name == "email" {
			p.objects[objType].indexEmail(v, o.id)
		}
		changed = true
		s.record(Change{
			PortalID: p.ID, ObjectType: singular[objType], ObjectTypeID: objectTypeIDs[objType],
			Kind: ChangePropertyChange, ObjectID: o.id, OccurredAt: now, ChangeSource: w.source, SourceAppID: w.appID,
			PropertyName: name, PropertyValue: v, OldValue: old,
		})
	}
	if changed {
		o.updated = now
		o.props[modifiedProp(objType)] = hsTime(now)
	}
}

func firstNonEmpty(v ...string) string {
	for _, x := range v {
		if x != "" {
			return x
		}
	}
	return ""
}

// assocInput is an association given on create:
// {"to":{"id"},"types":[{"associationCategory","associationTypeId"}]}.
type assocInput struct {
	To struct {
		ID string `json:"id"`
	} `json:"to"`
	Types []assocSpec `json:"types"`
}

type assocSpec struct {
	Category string `json:"associationCategory"`
	TypeID   int    `json:"associationTypeId"`
}

type resolvedAssoc struct {
	toType string
	toID   int64
	typeID int
}

// resolveAssocs checks associations given on create: the target type is
// inferred from the association type ID, as HubSpot does.
func (p *Portal) resolveAssocs(objType string, in []assocInput) ([]resolvedAssoc, *apiError) {
	var out []resolvedAssoc
	for _, a := range in {
		if len(a.Types) == 0 {
			return nil, validationErr("association to " + a.To.ID + " has no types")
		}
		for _, t := range a.Types {
			at, ok := p.assocType(t.TypeID)
			if !ok || at.from != objType || (t.Category != "" && t.Category != at.Category()) {
				return nil, validationErr(fmt.Sprintf("%s %d is not a valid association type from %s", firstNonEmpty(t.Category, hubspotDefined), t.TypeID, singular[objType]))
			}
			to := p.lookup(at.to, a.To.ID, "")
			if to == nil {
				e := validationErr(fmt.Sprintf("No %s with ID %s exists", singular[at.to], a.To.ID))
				e.Errors = []errorDetail{{Message: e.Message, Code: "INVALID_OBJECT_ID", Context: map[string][]string{"id": {a.To.ID}}}}
				return nil, e
			}
			out = append(out, resolvedAssoc{toType: at.to, toID: to.id, typeID: t.TypeID})
		}
	}
	return out, nil
}

// createObject validates everything first, then creates the object, its
// associations, and the change events. The caller holds s.mu.
func (s *Simulator) createObject(p *Portal, objType string, props map[string]string, assocs []assocInput, w writer) (*object, *apiError) {
	vals, e := s.validateProps(p, objType, props, nil)
	if e != nil {
		return nil, e
	}
	ras, e := p.resolveAssocs(objType, assocs)
	if e != nil {
		return nil, e
	}
	now := s.now()
	st := p.objects[objType]
	o := &object{id: st.nextID, props: map[string]string{}, created: now, updated: now}
	st.nextID++
	st.byID[o.id] = o
	if v := vals["createdate"]; v != "" {
		if t, ok := parseHSTime(v); ok {
			o.created = t
		}
	}
	o.props["hs_object_id"] = idString(o.id)
	o.props["createdate"] = hsTime(o.created)
	o.props[modifiedProp(objType)] = hsTime(now)
	delete(vals, "createdate")
	s.record(Change{
		PortalID: p.ID, ObjectType: singular[objType], ObjectTypeID: objectTypeIDs[objType],
		Kind: ChangeCreation, ObjectID: o.id, OccurredAt: now, ChangeSource: w.source, SourceAppID: w.appID,
	})
	s.setProps(p, objType, o, vals, w, now)
	for _, ra := range ras {
		s.associate(p, objType, o.id, ra.toType, ra.toID, ra.typeID, w, now)
	}
	o.reindex(now, s.opts.SearchLag)
	return o, nil
}

// updateObject validates and applies new values. The caller holds s.mu.
func (s *Simulator) updateObject(p *Portal, objType string, o *object, props map[string]string, w writer) *apiError {
	vals, e := s.validateProps(p, objType, props, o)
	if e != nil {
		return e
	}
	now := s.now()
	s.setProps(p, objType, o, vals, w, now)
	o.updated = now
	o.props[modifiedProp(objType)] = hsTime(now)
	o.reindex(now, s.opts.SearchLag)
	return nil
}

// archiveObject moves an object to the recycle bin and drops its
// associations. The caller holds s.mu.
func (s *Simulator) archiveObject(p *Portal, objType string, o *object, w writer) {
	now := s.now()
	o.archived, o.archivedAt, o.updated = true, now, now
	for e := range p.assocs {
		if (e.fromType == objType && e.fromID == o.id) || (e.toType == objType && e.toID == o.id) {
			delete(p.assocs, e)
		}
	}
	s.record(Change{
		PortalID: p.ID, ObjectType: singular[objType], ObjectTypeID: objectTypeIDs[objType],
		Kind: ChangeDeletion, ObjectID: o.id, OccurredAt: now, ChangeSource: w.source, SourceAppID: w.appID,
	})
	o.reindex(now, s.opts.SearchLag)
}

// mergeObjects merges loser into winner: empty properties of the winner take
// the loser's values, the loser's associations move over, and reads of the
// loser's ID answer the winner. The caller holds s.mu.
func (s *Simulator) mergeObjects(p *Portal, objType string, winner, loser *object, w writer) {
	now := s.now()
	fill := map[string]string{}
	for k, v := range loser.props {
		if winner.props[k] == "" && !isSystemProp(k) {
			fill[k] = v
		}
	}
	if objType == "contacts" {
		delete(fill, "email") // the winner keeps its own primary email
	}
	loser.archived, loser.archivedAt, loser.mergedInto = true, now, winner.id
	for e, types := range p.assocs {
		if e.fromType == objType && e.fromID == loser.id {
			delete(p.assocs, e)
			for t := range types {
				s.associate(p, objType, winner.id, e.toType, e.toID, t, w, now)
			}
		} else if e.toType == objType && e.toID == loser.id {
			delete(p.assocs, e)
		}
	}
	s.record(Change{
		PortalID: p.ID, ObjectType: singular[objType], ObjectTypeID: objectTypeIDs[objType],
		Kind: ChangeMerge, ObjectID: winner.id, OccurredAt: now, ChangeSource: w.source, SourceAppID: w.appID,
		PrimaryObjectID: winner.id, MergedObjectIDs: []int64{loser.id}, NewObjectID: winner.id,
	})
	s.setProps(p, objType, winner, fill, w, now)
	winner.updated = now
	winner.props[modifiedProp(objType)] = hsTime(now)
	winner.reindex(now, s.opts.SearchLag)
	loser.reindex(now, s.opts.SearchLag)
}

func isSystemProp(name string) bool {
	switch name {
	case "hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate":
		return true
	}
	return false
}

// objectJSON is HubSpot's SimplePublicObject(WithAssociations).
type objectJSON struct {
	ID           string                     `json:"id"`
	Properties   map[string]*string         `json:"properties"`
	CreatedAt    string                     `json:"createdAt"`
	UpdatedAt    string                     `json:"updatedAt"`
	Archived     bool                       `json:"archived"`
	ArchivedAt   string                     `json:"archivedAt,omitempty"`
	Associations map[string]assocCollection `json:"associations,omitempty"`
	New          *bool                      `json:"new,omitempty"`
}

type assocCollection struct {
	Results []assocRef `json:"results"`
}

type assocRef struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// readOpts are what a read asks for: ?properties=, ?associations=.
type readOpts struct {
	props        []string
	explicit     bool
	associations []string
}

func selectProps(objType string, props map[string]string, ro readOpts) map[string]*string {
	out := map[string]*string{}
	names := defaultReadProps[objType]
	if ro.explicit {
		names = append(append([]string{}, ro.props...), "createdate", "hs_object_id", modifiedProp(objType))
	}
	for _, n := range names {
		if v, ok := props[n]; ok {
			out[n] = &v
		} else {
			out[n] = nil
		}
	}
	return out
}

func (p *Portal) view(objType string, o *object, ro readOpts) objectJSON {
	v := objectJSON{
		ID:         idString(o.id),
		Properties: selectProps(objType, o.props, ro),
		CreatedAt:  hsTime(o.created),
		UpdatedAt:  hsTime(o.updated),
		Archived:   o.archived,
	}
	if o.archived {
		v.ArchivedAt = hsTime(o.archivedAt)
	}
	for _, a := range ro.associations {
		to, ok := canonicalType(a)
		if !ok {
			continue
		}
		var refs []assocRef
		for _, e := range p.edgesFrom(objType, o.id, to) {
			for _, t := range sortedTypeIDs(p.assocs[e]) {
				at, _ := p.assocType(t)
				refs = append(refs, assocRef{ID: idString(e.toID), Type: at.name})
			}
		}
		if len(refs) > 0 {
			if v.Associations == nil {
				v.Associations = map[string]assocCollection{}
			}
			v.Associations[to] = assocCollection{Results: refs}
		}
	}
	return v
}
