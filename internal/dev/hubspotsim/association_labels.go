package hubspotsim

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// A portal's own association labels (associations v4 "labels", the schema
// API under /crm/v4/associations/{from}/{to}/labels and its 2026-03 twin
// /crm/associations/2026-03/{from}/{to}/labels). Each label is an
// association type of category USER_DEFINED with its own type ID:
//
//   - a paired label (label and inverseLabel, e.g. "Manager"/"Employee")
//     makes two types, from→to with label and to→from with inverseLabel,
//     each the other's inverse;
//   - a single label between two object types makes the same label both
//     ways (two types); between records of one type it makes one type that
//     is its own inverse.
//
// Associating A→B under a type says what B is to A (HubSpot's reading:
// contact→company "Primary" is the contact's primary company), and HubSpot
// adds the inverse B→A, with the unlabeled default both ways.

// firstUserLabelID is where a portal's label type IDs start, clear of every
// HubSpot-defined type the simulator knows.
const firstUserLabelID = 1001

// labelNamePattern is what HubSpot accepts as a label's internal name.
var labelNamePattern = regexp.MustCompile(`^[a-z0-9_]+$`)

// assocType finds an association type: HubSpot's own, or one of the
// portal's labels.
func (p *Portal) assocType(id int) (assocType, bool) {
	if at, ok := assocTypeByID[id]; ok {
		return at, true
	}
	if at, ok := p.labels[id]; ok {
		return *at, true
	}
	return assocType{}, false
}

// checkAssocSpec refuses an association type that does not exist from one
// object type to the other, or whose category is not the type's: HubSpot's
// 400.
func (p *Portal) checkAssocSpec(sp assocSpec, from, to string) *apiError {
	at, ok := p.assocType(sp.TypeID)
	if !ok || at.from != from || at.to != to || (sp.Category != "" && sp.Category != at.Category()) {
		e := validationErr(fmt.Sprintf("%s %d is not a valid association type from %s to %s",
			firstNonEmpty(sp.Category, hubspotDefined), sp.TypeID, singular[from], singular[to]))
		e.Errors = []errorDetail{{
			Message: e.Message, Code: "INVALID_ASSOCIATION_TYPE",
			Context: map[string][]string{"associationTypeId": {strconv.Itoa(sp.TypeID)}, "associationCategory": {firstNonEmpty(sp.Category, hubspotDefined)}},
		}}
		return e
	}
	return nil
}

// typesBetween lists every association type from one object type to
// another, HubSpot's first, by type ID.
func (p *Portal) typesBetween(from, to string) []assocType {
	var out []assocType
	for _, at := range assocTypeByID {
		if at.from == from && at.to == to {
			out = append(out, at)
		}
	}
	for _, at := range p.labels {
		if at.from == from && at.to == to {
			out = append(out, *at)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].category == "") != (out[j].category == "") {
			return out[i].category == ""
		}
		return out[i].id < out[j].id
	})
	return out
}

// labelPair is the two directions of a label definition: from→to, and
// to→from (the same type for a single label between records of one type).
func (p *Portal) labelPair(id int) (*assocType, *assocType) {
	at := p.labels[id]
	if at == nil {
		return nil, nil
	}
	return at, p.labels[at.inverse]
}

// addLabel creates a label definition; the caller holds s.mu.
func (p *Portal) addLabel(from, to, name, label, inverseName, inverseLabel string) []assocType {
	if p.labels == nil {
		p.labels = map[int]*assocType{}
	}
	if p.nextLabelID < firstUserLabelID {
		p.nextLabelID = firstUserLabelID
	}
	next := func() int { id := p.nextLabelID; p.nextLabelID++; return id }
	fwd := &assocType{id: next(), from: from, to: to, name: name, label: label, category: userDefined}
	p.labels[fwd.id] = fwd
	if inverseLabel == "" && from == to {
		fwd.inverse = fwd.id
		return []assocType{*fwd}
	}
	inv := &assocType{id: next(), from: to, to: from, name: firstNonEmpty(inverseName, name), label: firstNonEmpty(inverseLabel, label), category: userDefined, inverse: fwd.id}
	fwd.inverse = inv.id
	p.labels[inv.id] = inv
	return []assocType{*fwd, *inv}
}

// GET .../associations/{fromObjectType}/{toObjectType}/labels
func hLabelList(c *reqCtx) (int, any) {
	from, to, e := c.typePair("fromObjectType", "toObjectType")
	if e != nil {
		return errResult(e)
	}
	if e := c.requireObjectScope(from, false); e != nil {
		return errResult(e)
	}
	results := []v4AssocType{}
	for _, at := range c.p.typesBetween(from, to) {
		results = append(results, v4TypeOf(at))
	}
	return http.StatusOK, map[string]any{"results": results}
}

type labelInput struct {
	Label        *string `json:"label"`
	Name         *string `json:"name"`
	InverseLabel *string `json:"inverseLabel"`
	InverseName  *string `json:"inverseName"`
	TypeID       *int    `json:"associationTypeId"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

// POST .../associations/{fromObjectType}/{toObjectType}/labels with
// {"label","name"[,"inverseLabel"]}: the created types, from→to first.
func hLabelCreate(c *reqCtx) (int, any) {
	from, to, e := c.typePair("fromObjectType", "toObjectType")
	if e != nil {
		return errResult(e)
	}
	if e := c.requireObjectScope(from, true); e != nil {
		return errResult(e)
	}
	var in labelInput
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	label, name, inverseLabel, inverseName := str(in.Label), str(in.Name), str(in.InverseLabel), str(in.InverseName)
	var missing []string
	if label == "" {
		missing = append(missing, "label")
	}
	if name == "" {
		missing = append(missing, "name")
	}
	if len(missing) > 0 {
		return errResult(fieldErr(fmt.Sprintf("Missing required field(s): %s", strings.Join(missing, ", ")), missing...))
	}
	for _, n := range []string{name, inverseName} {
		if n != "" && !labelNamePattern.MatchString(n) {
			return errResult(fieldErr(fmt.Sprintf("Invalid name %q: a label's name may hold only lowercase letters, digits and underscores", n), "name"))
		}
	}
	if len(label) > 50 || len(inverseLabel) > 50 {
		return errResult(fieldErr("A label may be at most 50 characters long", "label"))
	}
	for _, at := range c.p.labels {
		same := (at.from == from && at.to == to) || (at.from == to && at.to == from)
		if !same {
			continue
		}
		if at.name == name || (inverseName != "" && at.name == inverseName) {
			return errResult(newErr(http.StatusConflict, "OBJECT_ALREADY_EXISTS",
				fmt.Sprintf("An association label named '%s' already exists between %s and %s.", at.name, singular[from], singular[to])))
		}
		if at.from == from && at.to == to && strings.EqualFold(at.label, label) {
			return errResult(newErr(http.StatusConflict, "OBJECT_ALREADY_EXISTS",
				fmt.Sprintf("An association label '%s' already exists from %s to %s.", at.label, singular[from], singular[to])))
		}
	}
	created := c.p.addLabel(from, to, name, label, inverseName, inverseLabel)
	results := make([]v4AssocType, len(created))
	for i, at := range created {
		results[i] = v4TypeOf(at)
	}
	return http.StatusOK, map[string]any{"results": results}
}

// PUT .../associations/{fromObjectType}/{toObjectType}/labels with
// {"associationTypeId","label"[,"inverseLabel"]}: renames a label (its name
// and type IDs stay).
func hLabelUpdate(c *reqCtx) (int, any) {
	from, to, e := c.typePair("fromObjectType", "toObjectType")
	if e != nil {
		return errResult(e)
	}
	if e := c.requireObjectScope(from, true); e != nil {
		return errResult(e)
	}
	var in labelInput
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	label := str(in.Label)
	if in.TypeID == nil || label == "" {
		return errResult(fieldErr("Missing required field(s): associationTypeId, label", "associationTypeId", "label"))
	}
	fwd, inv := c.p.labelPair(*in.TypeID)
	if fwd == nil || fwd.from != from || fwd.to != to {
		return errResult(labelNotFound(*in.TypeID, from, to))
	}
	fwd.label = label
	if il := str(in.InverseLabel); il != "" && inv != fwd {
		inv.label = il
	}
	return http.StatusNoContent, nil
}

// DELETE .../associations/{fromObjectType}/{toObjectType}/labels/{associationTypeId}:
// the label (both directions) goes, and the records it joined keep their
// unlabeled association.
func hLabelDelete(c *reqCtx) (int, any) {
	from, to, e := c.typePair("fromObjectType", "toObjectType")
	if e != nil {
		return errResult(e)
	}
	if e := c.requireObjectScope(from, true); e != nil {
		return errResult(e)
	}
	raw := c.r.PathValue("associationTypeId")
	id, err := strconv.Atoi(raw)
	if err != nil {
		return errResult(validationErr(fmt.Sprintf("Invalid associationTypeId %q: an integer is expected", raw)))
	}
	fwd, inv := c.p.labelPair(id)
	if fwd == nil || fwd.from != from || fwd.to != to {
		return errResult(labelNotFound(id, from, to))
	}
	now := c.s.now()
	for ed, types := range c.p.assocs {
		for _, t := range []int{fwd.id, inv.id} {
			if types[t] {
				delete(types, t)
				c.s.recordAssoc(c.p, ed, t, true, c.w, now)
			}
		}
	}
	delete(c.p.labels, fwd.id)
	delete(c.p.labels, inv.id)
	return http.StatusNoContent, nil
}

func labelNotFound(id int, from, to string) *apiError {
	return notFoundErr(fmt.Sprintf("No association label with type ID %d exists from %s to %s", id, singular[from], singular[to]))
}

// fieldErr is a 400 naming the fields at fault.
func fieldErr(msg string, fields ...string) *apiError {
	e := validationErr(msg)
	for _, f := range fields {
		e.Errors = append(e.Errors, errorDetail{Message: msg, Code: "INVALID_FIELD", In: f})
	}
	return e
}

// labelState is a portal label as the state file keeps it.
type labelState struct {
	ID, Inverse int
	From, To    string
	Name, Label string
}

func (p *Portal) labelStates() []labelState {
	var out []labelState
	for _, at := range p.labels {
		out = append(out, labelState{ID: at.id, Inverse: at.inverse, From: at.from, To: at.to, Name: at.name, Label: at.label})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (p *Portal) loadLabels(states []labelState, next int) {
	p.labels = map[int]*assocType{}
	for _, l := range states {
		p.labels[l.ID] = &assocType{id: l.ID, inverse: l.Inverse, from: l.From, to: l.To, name: l.Name, label: l.Label, category: userDefined}
	}
	p.nextLabelID = next
}
