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

// list is a HubSpot list (v3 lists API): MANUAL and SNAPSHOT lists keep
// members; DYNAMIC lists are re-evaluated on every read.
type list struct {
	id             int64
	name           string
	objectType     string // contacts, companies, deals
	processingType string
	filterBranch   *filterBranch
	rawFilter      json.RawMessage
	members        map[int64]time.Time
	created        time.Time
	updated        time.Time
	version        int
}

// filterBranch is the subset of HubSpot's list filter language the
// simulator evaluates: an OR root of AND branches of PROPERTY filters.
type filterBranch struct {
	FilterBranchType string          `json:"filterBranchType"`
	FilterBranches   []*filterBranch `json:"filterBranches"`
	Filters          []listFilter    `json:"filters"`
}

type listFilter struct {
	FilterType string `json:"filterType"`
	Property   string `json:"property"`
	Operation  struct {
		OperationType                string   `json:"operationType"`
		Operator                     string   `json:"operator"`
		Value                        *string  `json:"value"`
		Values                       []string `json:"values"`
		IncludeObjectsWithNoValueSet bool     `json:"includeObjectsWithNoValueSet"`
	} `json:"operation"`
}

var listOperators = map[string]bool{
	"IS_EQUAL_TO": true, "IS_NOT_EQUAL_TO": true, "IS_ANY_OF": true, "IS_NONE_OF": true,
	"CONTAINS": true, "DOES_NOT_CONTAIN": true, "STARTS_WITH": true, "ENDS_WITH": true,
	"IS_KNOWN": true, "IS_UNKNOWN": true,
	"IS_GREATER_THAN": true, "IS_GREATER_THAN_OR_EQUAL_TO": true, "IS_LESS_THAN": true, "IS_LESS_THAN_OR_EQUAL_TO": true,
}

func (p *Portal) checkBranch(t string, b *filterBranch, depth int) *apiError {
	want := "OR"
	if depth == 1 {
		want = "AND"
	}
	if b.FilterBranchType != want {
		return validationErr(fmt.Sprintf("filterBranch at depth %d must be of type %s (the root is OR, its branches AND), got %q", depth, want, b.FilterBranchType))
	}
	if depth == 0 && len(b.Filters) > 0 {
		return validationErr("the root OR filterBranch cannot have filters; put them in AND branches")
	}
	if depth > 1 {
		return validationErr("the simulator evaluates only OR → AND filter branches")
	}
	for _, f := range b.Filters {
		if f.FilterType != "PROPERTY" {
			return validationErr(fmt.Sprintf("filterType %q is not supported by the simulator (PROPERTY only)", f.FilterType))
		}
		if p.propertyDef(t, f.Property) == nil {
			return validationErr(fmt.Sprintf("property %s does not exist on %s", f.Property, singular[t]))
		}
		if !listOperators[f.Operation.Operator] {
			return validationErr(fmt.Sprintf("operator %q is not supported", f.Operation.Operator))
		}
	}
	for _, sub := range b.FilterBranches {
		if e := p.checkBranch(t, sub, depth+1); e != nil {
			return e
		}
	}
	return nil
}

func (b *filterBranch) match(p *Portal, t string, props map[string]string) bool {
	switch b.FilterBranchType {
	case "OR":
		for _, sub := range b.FilterBranches {
			if sub.match(p, t, props) {
				return true
			}
		}
		return false
	default:
		for _, f := range b.Filters {
			if !f.match(p, t, props) {
				return false
			}
		}
		for _, sub := range b.FilterBranches {
			if !sub.match(p, t, props) {
				return false
			}
		}
		return true
	}
}

func (f listFilter) match(p *Portal, t string, props map[string]string) bool {
	v := props[f.Property]
	op := f.Operation
	if v == "" {
		switch op.Operator {
		case "IS_UNKNOWN":
			return true
		case "IS_NOT_EQUAL_TO", "IS_NONE_OF", "DOES_NOT_CONTAIN":
			return op.IncludeObjectsWithNoValueSet
		}
		return false
	}
	def := p.propertyDef(t, f.Property)
	values := op.Values
	if op.Value != nil {
		values = append(values, *op.Value)
	}
	anyOf := func(pred func(string) bool) bool {
		for _, x := range values {
			if pred(x) {
				return true
			}
		}
		return false
	}
	lv := strings.ToLower(v)
	switch op.Operator {
	case "IS_KNOWN":
		return true
	case "IS_UNKNOWN":
		return false
	case "IS_EQUAL_TO", "IS_ANY_OF":
		return anyOf(func(x string) bool { return compareValues(def, v, x) == 0 })
	case "IS_NOT_EQUAL_TO", "IS_NONE_OF":
		return !anyOf(func(x string) bool { return compareValues(def, v, x) == 0 })
	case "CONTAINS":
		return anyOf(func(x string) bool { return strings.Contains(lv, strings.ToLower(x)) })
	case "DOES_NOT_CONTAIN":
		return !anyOf(func(x string) bool { return strings.Contains(lv, strings.ToLower(x)) })
	case "STARTS_WITH":
		return anyOf(func(x string) bool { return strings.HasPrefix(lv, strings.ToLower(x)) })
	case "ENDS_WITH":
		return anyOf(func(x string) bool { return strings.HasSuffix(lv, strings.ToLower(x)) })
	case "IS_GREATER_THAN":
		return anyOf(func(x string) bool { return compareValues(def, v, x) > 0 })
	case "IS_GREATER_THAN_OR_EQUAL_TO":
		return anyOf(func(x string) bool { return compareValues(def, v, x) >= 0 })
	case "IS_LESS_THAN":
		return anyOf(func(x string) bool { return compareValues(def, v, x) < 0 })
	case "IS_LESS_THAN_OR_EQUAL_TO":
		return anyOf(func(x string) bool { return compareValues(def, v, x) <= 0 })
	}
	return false
}

// memberIDs returns the list's current members with when they joined.
func (p *Portal) memberIDs(l *list) map[int64]time.Time {
	if l.processingType != "DYNAMIC" {
		out := map[int64]time.Time{}
		for id, at := range l.members {
			if o := p.objects[l.objectType].byID[id]; o != nil && !o.archived {
				out[id] = at
			}
		}
		return out
	}
	out := map[int64]time.Time{}
	for id, o := range p.objects[l.objectType].byID {
		if !o.archived && l.filterBranch.match(p, l.objectType, o.props) {
			out[id] = maxTime(o.created, l.created)
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (p *Portal) listJSON(l *list, includeFilters bool) map[string]any {
	size := len(p.memberIDs(l))
	out := map[string]any{
		"listId": idString(l.id), "listVersion": l.version, "name": l.name,
		"objectTypeId": objectTypeIDs[l.objectType], "processingType": l.processingType,
		"processingStatus": "COMPLETE", "createdAt": hsTime(l.created), "updatedAt": hsTime(l.updated),
		"filtersUpdatedAt": hsTime(l.updated), "createdById": "1", "updatedById": "1", "size": size,
		"additionalProperties": map[string]string{"hs_list_size": strconv.Itoa(size)},
	}
	if includeFilters && l.rawFilter != nil {
		out["filterBranch"] = l.rawFilter
	}
	return out
}

func (c *reqCtx) listParam() (*list, *apiError) {
	id, err := strconv.ParseInt(c.r.PathValue("listId"), 10, 64)
	l := c.p.lists[id]
	if err != nil || l == nil {
		return nil, notFoundErr(fmt.Sprintf("List %s does not exist", c.r.PathValue("listId")))
	}
	return l, nil
}

// createList validates and adds a list. The caller holds s.mu.
func (s *Simulator) createList(p *Portal, name, objectTypeID, processingType string, rawFilter json.RawMessage) (*list, *apiError) {
	t, ok := canonicalType(objectTypeID)
	if !ok || objectTypeID != objectTypeIDs[t] {
		return nil, validationErr(fmt.Sprintf("objectTypeId must be 0-1, 0-2 or 0-3, got %q", objectTypeID))
	}
	if strings.TrimSpace(name) == "" {
		return nil, validationErr("name is required")
	}
	for _, l := range p.lists {
		if strings.EqualFold(l.name, name) {
			return nil, validationErr(fmt.Sprintf("A list named '%s' already exists (list %d)", name, l.id))
		}
	}
	now := s.now()
	l := &list{id: p.nextListID, name: name, objectType: t, processingType: processingType, members: map[int64]time.Time{}, created: now, updated: now, version: 1}
	switch processingType {
	case "MANUAL", "SNAPSHOT":
		if len(rawFilter) > 0 && string(rawFilter) != "null" && processingType == "MANUAL" {
			return nil, validationErr("MANUAL lists cannot have a filterBranch")
		}
	case "DYNAMIC":
		if len(rawFilter) == 0 || string(rawFilter) == "null" {
			return nil, validationErr("DYNAMIC lists need a filterBranch")
		}
	default:
		return nil, validationErr(fmt.Sprintf("processingType must be MANUAL, DYNAMIC or SNAPSHOT, got %q", processingType))
	}
	if len(rawFilter) > 0 && string(rawFilter) != "null" {
		var fb filterBranch
		if err := json.Unmarshal(rawFilter, &fb); err != nil {
			return nil, invalidJSONErr(err)
		}
		if e := p.checkBranch(t, &fb, 0); e != nil {
			return nil, e
		}
		l.filterBranch, l.rawFilter = &fb, rawFilter
		if processingType == "SNAPSHOT" {
			for id, o := range p.objects[t].byID {
				if !o.archived && fb.match(p, t, o.props) {
					l.members[id] = now
				}
			}
		}
	}
	p.nextListID++
	p.lists[l.id] = l
	return l, nil
}

// POST .../lists {"name","objectTypeId","processingType","filterBranch"}
func hListCreate(c *reqCtx) (int, any) {
	if e := c.requireScope("crm.lists.write"); e != nil {
		return errResult(e)
	}
	var in struct {
		Name           string          `json:"name"`
		ObjectTypeID   string          `json:"objectTypeId"`
		ProcessingType string          `json:"processingType"`
		FilterBranch   json.RawMessage `json:"filterBranch"`
	}
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	l, e := c.s.createList(c.p, in.Name, in.ObjectTypeID, in.ProcessingType, in.FilterBranch)
	if e != nil {
		return errResult(e)
	}
	return http.StatusOK, map[string]any{"list": c.p.listJSON(l, true)}
}

// GET .../lists/{listId}?includeFilters=true
func hListGet(c *reqCtx) (int, any) {
	if e := c.requireScope("crm.lists.read", "crm.lists.write"); e != nil {
		return errResult(e)
	}
	l, e := c.listParam()
	if e != nil {
		return errResult(e)
	}
	return http.StatusOK, map[string]any{"list": c.p.listJSON(l, c.r.URL.Query().Get("includeFilters") == "true")}
}

// GET .../lists?listIds=1&listIds=2
func hListGetMany(c *reqCtx) (int, any) {
	if e := c.requireScope("crm.lists.read", "crm.lists.write"); e != nil {
		return errResult(e)
	}
	ids, _ := listParam(c.r, "listIds")
	out := []map[string]any{}
	for _, raw := range ids {
		id, _ := strconv.ParseInt(raw, 10, 64)
		if l := c.p.lists[id]; l != nil {
			out = append(out, c.p.listJSON(l, c.r.URL.Query().Get("includeFilters") == "true"))
		}
	}
	return http.StatusOK, map[string]any{"lists": out}
}

// GET .../lists/object-type-id/{objectTypeId}/name/{listName}
func hListByName(c *reqCtx) (int, any) {
	if e := c.requireScope("crm.lists.read", "crm.lists.write"); e != nil {
		return errResult(e)
	}
	t, _ := canonicalType(c.r.PathValue("objectTypeId"))
	for _, id := range sortedKeys(c.p.lists) {
		l := c.p.lists[id]
		if l.objectType == t && strings.EqualFold(l.name, c.r.PathValue("listName")) {
			return http.StatusOK, map[string]any{"list": c.p.listJSON(l, c.r.URL.Query().Get("includeFilters") == "true")}
		}
	}
	return errResult(notFoundErr(fmt.Sprintf("List %s does not exist", c.r.PathValue("listName"))))
}

// DELETE .../lists/{listId}
func hListDelete(c *reqCtx) (int, any) {
	if e := c.requireScope("crm.lists.write"); e != nil {
		return errResult(e)
	}
	l, e := c.listParam()
	if e != nil {
		return errResult(e)
	}
	delete(c.p.lists, l.id)
	return http.StatusNoContent, nil
}

// POST .../lists/search {"query","processingTypes","listIds","offset","count"}
func hListSearch(c *reqCtx) (int, any) {
	if e := c.requireScope("crm.lists.read", "crm.lists.write"); e != nil {
		return errResult(e)
	}
	var in struct {
		Query           string   `json:"query"`
		ProcessingTypes []string `json:"processingTypes"`
		ListIDs         []string `json:"listIds"`
		Offset          int      `json:"offset"`
		Count           *int     `json:"count"`
	}
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	count := 20
	if in.Count != nil {
		count = *in.Count
	}
	if count < 1 || count > 500 {
		return errResult(validationErr(fmt.Sprintf("count must be between 1 and 500, got %d", count)))
	}
	var matched []*list
	for _, id := range sortedKeys(c.p.lists) {
		l := c.p.lists[id]
		if in.Query != "" && !strings.Contains(strings.ToLower(l.name), strings.ToLower(in.Query)) {
			continue
		}
		if len(in.ProcessingTypes) > 0 && !containsStr(in.ProcessingTypes, l.processingType) {
			continue
		}
		if len(in.ListIDs) > 0 && !containsStr(in.ListIDs, idString(l.id)) {
			continue
		}
		matched = append(matched, l)
	}
	out := []map[string]any{}
	end := min(in.Offset+count, len(matched))
	for i := in.Offset; i < end; i++ {
		v := c.p.listJSON(matched[i], false)
		delete(v, "size")
		out = append(out, v)
	}
	return http.StatusOK, map[string]any{"lists": out, "total": len(matched), "offset": end, "hasMore": end < len(matched)}
}

func containsStr(vs []string, s string) bool {
	for _, v := range vs {
		if v == s {
			return true
		}
	}
	return false
}

// GET .../lists/{listId}/memberships?after&limit (limit ≤ 250)
func hMemberships(c *reqCtx) (int, any) {
	if e := c.requireScope("crm.lists.read", "crm.lists.write"); e != nil {
		return errResult(e)
	}
	l, e := c.listParam()
	if e != nil {
		return errResult(e)
	}
	limit, e := c.limitParam(100, 250)
	if e != nil {
		return errResult(e)
	}
	after, _ := strconv.ParseInt(c.r.URL.Query().Get("after"), 10, 64)
	members := c.p.memberIDs(l)
	var results []map[string]string
	next := ""
	for _, id := range sortedKeys(members) {
		if id < after {
			continue
		}
		if len(results) == limit {
			next = idString(id)
			break
		}
		results = append(results, map[string]string{"recordId": idString(id), "membershipTimestamp": hsTime(members[id])})
	}
	body := map[string]any{"results": nonNil(results), "total": len(members)}
	if next != "" {
		body["paging"] = pagingNext(c, next)
	}
	return http.StatusOK, body
}

func (c *reqCtx) changeMembers(add bool) (int, any) {
	if e := c.requireScope("crm.lists.write"); e != nil {
		return errResult(e)
	}
	l, e := c.listParam()
	if e != nil {
		return errResult(e)
	}
	if l.processingType != "MANUAL" && l.processingType != "SNAPSHOT" {
		return errResult(validationErr(fmt.Sprintf("List %d is a %s list: its memberships cannot be changed by hand", l.id, l.processingType)))
	}
	var ids []string
	if e := c.decode(&ids); e != nil {
		return errResult(e)
	}
	done, missing := []string{}, []string{}
	now := c.s.now()
	for _, raw := range ids {
		o := c.p.lookup(l.objectType, raw, "")
		if o == nil {
			missing = append(missing, raw)
			continue
		}
		_, member := l.members[o.id]
		switch {
		case add && !member:
			l.members[o.id] = now
			done = append(done, idString(o.id))
		case !add && member:
			delete(l.members, o.id)
			done = append(done, idString(o.id))
		}
	}
	l.updated = now
	sort.Strings(done)
	if add {
		// The v3 schema spells it "recordsIdsAdded"; newer docs "recordIdsAdded".
		return http.StatusOK, map[string]any{"recordsIdsAdded": done, "recordIdsAdded": done, "recordIdsMissing": missing}
	}
	return http.StatusOK, map[string]any{"recordIdsRemoved": done, "recordIdsMissing": missing}
}

// PUT .../lists/{listId}/memberships/add ["id", ...]
func hMembershipsAdd(c *reqCtx) (int, any) { return c.changeMembers(true) }

// PUT .../lists/{listId}/memberships/remove ["id", ...]
func hMembershipsRemove(c *reqCtx) (int, any) { return c.changeMembers(false) }

// GET .../lists/records/{objectTypeId}/{recordId}/memberships
func hRecordMemberships(c *reqCtx) (int, any) {
	if e := c.requireScope("crm.lists.read", "crm.lists.write"); e != nil {
		return errResult(e)
	}
	t, ok := canonicalType(c.r.PathValue("objectTypeId"))
	if !ok {
		return errResult(unknownTypeErr(c.r.PathValue("objectTypeId")))
	}
	o := c.p.lookup(t, c.r.PathValue("recordId"), "")
	if o == nil {
		return errResult(objNotFound(t, c.r.PathValue("recordId")))
	}
	results := []map[string]any{}
	for _, id := range sortedKeys(c.p.lists) {
		l := c.p.lists[id]
		if l.objectType != t {
			continue
		}
		if at, ok := c.p.memberIDs(l)[o.id]; ok {
			results = append(results, map[string]any{"listId": idString(l.id), "listVersion": l.version, "firstAddedTimestamp": hsTime(at), "lastAddedTimestamp": hsTime(at)})
		}
	}
	return http.StatusOK, map[string]any{"results": results}
}
