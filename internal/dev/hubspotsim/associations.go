package hubspotsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// assocEdge is one direction of an association between two records.
type assocEdge struct {
	fromType string
	fromID   int64
	toType   string
	toID     int64
}

type assocType struct {
	id       int
	from, to string
	name     string // v3 "type", e.g. deal_to_contact; a label's internal name
	label    string // v4 label ("Primary" or none)
	inverse  int
	// category is USER_DEFINED for a portal's own labels
	// (association_labels.go), HUBSPOT_DEFINED (empty) otherwise.
	category string
}

// Category is the type's association category as HubSpot spells it.
func (t assocType) Category() string { return firstNonEmpty(t.category, hubspotDefined) }

// Association categories.
const (
	hubspotDefined = "HUBSPOT_DEFINED"
	userDefined    = "USER_DEFINED"
)

// HubSpot-defined association types between contacts, companies and deals
// (v4 semantics: deal→contact 3, contact→deal 4, contact→company 279...).
var assocTypeByID = map[int]assocType{}

// defaultAssocType[from][to] is the unlabeled type PUT .../default creates.
var defaultAssocType = map[string]map[string]int{
	"contacts":  {"companies": 279, "deals": 4, "contacts": 449},
	"companies": {"contacts": 280, "deals": 342},
	"deals":     {"contacts": 3, "companies": 341},
}

func init() {
	for _, t := range []assocType{
		{1, "contacts", "companies", "contact_to_company", "Primary", 2, ""},
		{2, "companies", "contacts", "company_to_contact", "Primary", 1, ""},
		{279, "contacts", "companies", "contact_to_company_unlabeled", "", 280, ""},
		{280, "companies", "contacts", "company_to_contact_unlabeled", "", 279, ""},
		{3, "deals", "contacts", "deal_to_contact", "", 4, ""},
		{4, "contacts", "deals", "contact_to_deal", "", 3, ""},
		{5, "deals", "companies", "deal_to_company", "Primary", 6, ""},
		{6, "companies", "deals", "company_to_deal", "Primary", 5, ""},
		{341, "deals", "companies", "deal_to_company_unlabeled", "", 342, ""},
		{342, "companies", "deals", "company_to_deal_unlabeled", "", 341, ""},
		{449, "contacts", "contacts", "contact_to_contact", "", 449, ""},
	} {
		assocTypeByID[t.id] = t
	}
}

func sortedTypeIDs(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	sort.Ints(out)
	return out
}

// edgesFrom lists the edges from one record to records of a type, by target ID.
func (p *Portal) edgesFrom(fromType string, fromID int64, toType string) []assocEdge {
	var out []assocEdge
	for e := range p.assocs {
		if e.fromType == fromType && e.fromID == fromID && e.toType == toType {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].toID < out[j].toID })
	return out
}

// associate adds typeID (and, for a labeled type, the unlabeled default) in
// both directions, recording an associationChange per new direction and
// type. The caller holds s.mu.
func (s *Simulator) associate(p *Portal, fromType string, fromID int64, toType string, toID int64, typeID int, w writer, now time.Time) {
	types := []int{typeID}
	if def := defaultAssocType[fromType][toType]; def != typeID {
		types = append(types, def)
	}
	for _, t := range types {
		at, _ := p.assocType(t)
		s.addEdge(p, assocEdge{fromType, fromID, toType, toID}, t, w, now)
		s.addEdge(p, assocEdge{toType, toID, fromType, fromID}, at.inverse, w, now)
	}
}

func (s *Simulator) addEdge(p *Portal, e assocEdge, typeID int, w writer, now time.Time) {
	if p.assocs[e] == nil {
		p.assocs[e] = map[int]bool{}
	}
	if p.assocs[e][typeID] {
		return
	}
	p.assocs[e][typeID] = true
	s.recordAssoc(p, e, typeID, false, w, now)
}

func (s *Simulator) recordAssoc(p *Portal, e assocEdge, typeID int, removed bool, w writer, now time.Time) {
	s.record(Change{
		PortalID: p.ID, ObjectType: singular[e.fromType], ObjectTypeID: objectTypeIDs[e.fromType],
		Kind: ChangeAssociationChange, ObjectID: e.fromID, OccurredAt: now, ChangeSource: w.source, SourceAppID: w.appID,
		AssociationType:   strings.ToUpper(singular[e.fromType] + "_TO_" + singular[e.toType]),
		AssociationTypeID: typeID, FromObjectID: e.fromID, ToObjectID: e.toID, ToObjectType: singular[e.toType],
		AssociationRemoved: removed,
	})
}

// dissociate removes every association between two records, both ways.
func (s *Simulator) dissociate(p *Portal, fromType string, fromID int64, toType string, toID int64, w writer, now time.Time) {
	for _, e := range []assocEdge{{fromType, fromID, toType, toID}, {toType, toID, fromType, fromID}} {
		for _, t := range sortedTypeIDs(p.assocs[e]) {
			s.recordAssoc(p, e, t, true, w, now)
		}
		delete(p.assocs, e)
	}
}

// v4 shapes.

type v4AssocType struct {
	Category string  `json:"category"`
	TypeID   int     `json:"typeId"`
	Label    *string `json:"label"`
}

type v4Assoc struct {
	ToObjectID       int64         `json:"toObjectId"`
	AssociationTypes []v4AssocType `json:"associationTypes"`
}

func (p *Portal) v4Types(types map[int]bool) []v4AssocType {
	var out []v4AssocType
	for _, t := range sortedTypeIDs(types) {
		at, _ := p.assocType(t)
		out = append(out, v4TypeOf(at))
	}
	return out
}

// v4TypeOf is one association type as v4 answers show it: the unlabeled
// default has a null label.
func v4TypeOf(at assocType) v4AssocType {
	var label *string
	if at.label != "" {
		l := at.label
		label = &l
	}
	return v4AssocType{Category: at.Category(), TypeID: at.id, Label: label}
}

type objectIDRef struct {
	ID string `json:"id"`
}

// GET .../objects/{objectType}/{objectId}/associations/{toObjectType}?limit=&after=
func hAssocList(c *reqCtx) (int, any) {
	from, to, e := c.typePair("objectType", "toObjectType")
	if e != nil {
		return errResult(e)
	}
	if e := c.requireObjectScope(from, false); e != nil {
		return errResult(e)
	}
	o := c.p.lookup(from, c.r.PathValue("objectId"), "")
	if o == nil {
		return errResult(notFoundErr(fmt.Sprintf("No %s with ID %s exists", singular[from], c.r.PathValue("objectId"))))
	}
	limit, e := c.limitParam(500, 500)
	if e != nil {
		return errResult(e)
	}
	after, _ := strconv.ParseInt(c.r.URL.Query().Get("after"), 10, 64)
	var results []v4Assoc
	var next string
	for _, ed := range c.p.edgesFrom(from, o.id, to) {
		if ed.toID < after {
			continue
		}
		if len(results) == limit {
			next = idString(ed.toID)
			break
		}
		results = append(results, v4Assoc{ToObjectID: ed.toID, AssociationTypes: c.p.v4Types(c.p.assocs[ed])})
	}
	body := map[string]any{"results": nonNil(results)}
	if next != "" {
		body["paging"] = pagingNext(c, next)
	}
	return http.StatusOK, body
}

// PUT .../objects/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}
func hAssocDefault(c *reqCtx) (int, any) {
	from, to, e := c.typePair("fromObjectType", "toObjectType")
	if e != nil {
		return errResult(e)
	}
	if e := c.requireObjectScope(from, true); e != nil {
		return errResult(e)
	}
	fo, to2, e := c.pairObjects(from, c.r.PathValue("fromObjectId"), to, c.r.PathValue("toObjectId"))
	if e != nil {
		return errResult(e)
	}
	typeID, ok := defaultAssocType[from][to]
	if !ok {
		return errResult(validationErr(fmt.Sprintf("No default association type between %s and %s", singular[from], singular[to])))
	}
	now := c.s.now()
	c.s.associate(c.p, from, fo.id, to, to2.id, typeID, c.w, now)
	return http.StatusOK, defaultAssocResponse(from, fo.id, to, to2.id, typeID, now)
}

func defaultAssocResponse(from string, fromID int64, to string, toID int64, typeID int, now time.Time) map[string]any {
	ts := hsTime(now)
	spec := func(t int) map[string]any {
		return map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": t}
	}
	return map[string]any{
		"status": "COMPLETE",
		"results": []map[string]any{
			{"from": objectIDRef{idString(fromID)}, "to": objectIDRef{idString(toID)}, "associationSpec": spec(typeID)},
			{"from": objectIDRef{idString(toID)}, "to": objectIDRef{idString(fromID)}, "associationSpec": spec(assocTypeByID[typeID].inverse)}, // default types only
		},
		"requestedAt": ts, "startedAt": ts, "completedAt": ts,
	}
}

// PUT .../objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}
// with [{"associationCategory","associationTypeId"}].
func hAssocLabeled(c *reqCtx) (int, any) {
	from, to, e := c.typePair("objectType", "toObjectType")
	if e != nil {
		return errResult(e)
	}
	if e := c.requireObjectScope(from, true); e != nil {
		return errResult(e)
	}
	var specs []assocSpec
	if e := c.decode(&specs); e != nil {
		return errResult(e)
	}
	if len(specs) == 0 {
		return errResult(validationErr("at least one association type is required"))
	}
	for _, sp := range specs {
		if e := c.p.checkAssocSpec(sp, from, to); e != nil {
			return errResult(e)
		}
	}
	fo, too, e := c.pairObjects(from, c.r.PathValue("objectId"), to, c.r.PathValue("toObjectId"))
	if e != nil {
		return errResult(e)
	}
	now := c.s.now()
	for _, sp := range specs {
		c.s.associate(c.p, from, fo.id, to, too.id, sp.TypeID, c.w, now)
	}
	labels := []string{}
	for _, t := range sortedTypeIDs(c.p.assocs[assocEdge{from, fo.id, to, too.id}]) {
		if at, _ := c.p.assocType(t); at.label != "" {
			labels = append(labels, at.label)
		}
	}
	return http.StatusCreated, map[string]any{
		"fromObjectTypeId": objectTypeIDs[from], "fromObjectId": fo.id,
		"toObjectTypeId": objectTypeIDs[to], "toObjectId": too.id, "labels": labels,
	}
}

// DELETE .../objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}
func hAssocDelete(c *reqCtx) (int, any) {
	from, to, e := c.typePair("objectType", "toObjectType")
	if e != nil {
		return errResult(e)
	}
	if e := c.requireObjectScope(from, true); e != nil {
		return errResult(e)
	}
	fo, too, e := c.pairObjects(from, c.r.PathValue("objectId"), to, c.r.PathValue("toObjectId"))
	if e != nil {
		return errResult(e)
	}
	c.s.dissociate(c.p, from, fo.id, to, too.id, c.w, c.s.now())
	return http.StatusNoContent, nil
}

// POST .../associations/{fromObjectType}/{toObjectType}/batch/{action}
func hAssocBatch(c *reqCtx) (int, any) {
	from, to, e := c.typePair("fromObjectType", "toObjectType")
	if e != nil {
		return errResult(e)
	}
	action := c.r.PathValue("action")
	if action == "associate" {
		action = "associate/default"
	}
	if e := c.requireObjectScope(from, action != "read"); e != nil {
		return errResult(e)
	}
	var body struct {
		Inputs []json.RawMessage `json:"inputs"`
	}
	if e := c.decode(&body); e != nil {
		return errResult(e)
	}
	if e := batchSizeErr(len(body.Inputs), 1000); e != nil {
		return errResult(e)
	}
	now := c.s.now()
	ts := hsTime(now)
	var results []map[string]any
	var errs []map[string]any
	missing := func(id string) {
		errs = append(errs, map[string]any{
			"status": "error", "category": "OBJECT_NOT_FOUND", "message": fmt.Sprintf("No %s with ID %s exists", singular[from], id),
			"context": map[string][]string{"fromObjectId": {id}},
		})
	}
	switch action {
	case "read":
		for _, raw := range body.Inputs {
			var in struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(raw, &in); err != nil {
				return errResult(invalidJSONErr(err))
			}
			o := c.p.lookup(from, in.ID, "")
			if o == nil {
				missing(in.ID)
				continue
			}
			edges := c.p.edgesFrom(from, o.id, to)
			if len(edges) == 0 {
				errs = append(errs, map[string]any{
					"status": "error", "category": "OBJECT_NOT_FOUND",
					"message": fmt.Sprintf("No %s is associated with %s %s.", singular[to], singular[from], in.ID),
					"context": map[string][]string{"fromObjectId": {in.ID}},
				})
				continue
			}
			var tos []v4Assoc
			for _, ed := range edges {
				tos = append(tos, v4Assoc{ToObjectID: ed.toID, AssociationTypes: c.p.v4Types(c.p.assocs[ed])})
			}
			results = append(results, map[string]any{"from": objectIDRef{idString(o.id)}, "to": tos})
		}
	case "associate/default", "create", "archive":
		type pair struct {
			fo, to *object
			types  []int
		}
		var pairs []pair
		for _, raw := range body.Inputs {
			var in struct {
				From  objectIDRef     `json:"from"`
				To    json.RawMessage `json:"to"`
				Types []assocSpec     `json:"types"`
			}
			if err := json.Unmarshal(raw, &in); err != nil {
				return errResult(invalidJSONErr(err))
			}
			var tos []objectIDRef
			if len(in.To) > 0 && in.To[0] == '[' {
				_ = json.Unmarshal(in.To, &tos)
			} else {
				var one objectIDRef
				_ = json.Unmarshal(in.To, &one)
				tos = []objectIDRef{one}
			}
			for _, t := range tos {
				fo, too, e := c.pairObjects(from, in.From.ID, to, t.ID)
				if e != nil {
					return errResult(e)
				}
				var types []int
				switch action {
				case "associate/default":
					types = []int{defaultAssocType[from][to]}
				case "create":
					for _, sp := range in.Types {
						if e := c.p.checkAssocSpec(sp, from, to); e != nil {
							return errResult(e)
						}
						types = append(types, sp.TypeID)
					}
					if len(types) == 0 {
						return errResult(validationErr("types is required"))
					}
				}
				pairs = append(pairs, pair{fo, too, types})
			}
		}
		for _, pr := range pairs {
			if action == "archive" {
				c.s.dissociate(c.p, from, pr.fo.id, to, pr.to.id, c.w, now)
				continue
			}
			for _, t := range pr.types {
				c.s.associate(c.p, from, pr.fo.id, to, pr.to.id, t, c.w, now)
			}
			if action == "associate/default" {
				results = append(results, defaultAssocResponse(from, pr.fo.id, to, pr.to.id, pr.types[0], now)["results"].([]map[string]any)...)
			} else {
				results = append(results, map[string]any{
					"fromObjectTypeId": objectTypeIDs[from], "fromObjectId": pr.fo.id,
					"toObjectTypeId": objectTypeIDs[to], "toObjectId": pr.to.id, "labels": []string{},
				})
			}
		}
		if action == "archive" {
			return http.StatusNoContent, nil
		}
	default:
		return errResult(notFoundErr("Unknown batch action " + action))
	}
	body2 := map[string]any{"status": "COMPLETE", "results": nonNil(results), "requestedAt": ts, "startedAt": ts, "completedAt": ts}
	status := http.StatusOK
	if action != "read" {
		status = http.StatusCreated
	}
	if len(errs) > 0 {
		body2["errors"], body2["numErrors"] = errs, len(errs)
		status = http.StatusMultiStatus
	}
	return status, body2
}

// pairObjects resolves both ends of an association path.
func (c *reqCtx) pairObjects(from, fromID, to, toID string) (*object, *object, *apiError) {
	fo := c.p.lookup(from, fromID, "")
	if fo == nil {
		return nil, nil, notFoundErr(fmt.Sprintf("No %s with ID %s exists", singular[from], fromID))
	}
	too := c.p.lookup(to, toID, "")
	if too == nil {
		return nil, nil, notFoundErr(fmt.Sprintf("No %s with ID %s exists", singular[to], toID))
	}
	return fo, too, nil
}

func (c *reqCtx) typePair(fromKey, toKey string) (string, string, *apiError) {
	from, ok := canonicalType(c.r.PathValue(fromKey))
	if !ok {
		return "", "", unknownTypeErr(c.r.PathValue(fromKey))
	}
	to, ok := canonicalType(c.r.PathValue(toKey))
	if !ok {
		return "", "", unknownTypeErr(c.r.PathValue(toKey))
	}
	return from, to, nil
}
