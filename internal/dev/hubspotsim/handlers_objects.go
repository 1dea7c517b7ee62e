package hubspotsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// objType resolves the {objectType} path value.
func (c *reqCtx) objType() (string, *apiError) {
	raw := c.r.PathValue("objectType")
	t, ok := canonicalType(raw)
	if !ok {
		return "", unknownTypeErr(raw)
	}
	return t, nil
}

func (c *reqCtx) readOpts() readOpts {
	props, explicit := listParam(c.r, "properties")
	assocs, _ := listParam(c.r, "associations")
	return readOpts{props: props, explicit: explicit && len(props) > 0, associations: assocs}
}

// allProps is a readOpts returning every set property (write responses).
func allProps(o *object) readOpts {
	names := make([]string, 0, len(o.props))
	for k := range o.props {
		names = append(names, k)
	}
	sort.Strings(names)
	return readOpts{props: names, explicit: true}
}

// propsFromJSON turns {"name": value} into strings as HubSpot does: strings
// as given, numbers and booleans in their JSON spelling, null as empty.
func propsFromJSON(in map[string]json.RawMessage) (map[string]string, *apiError) {
	out := make(map[string]string, len(in))
	for k, raw := range in {
		raw = bytes.TrimSpace(raw)
		switch {
		case len(raw) == 0 || string(raw) == "null":
			out[k] = ""
		case raw[0] == '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, invalidJSONErr(err)
			}
			out[k] = s
		case raw[0] == '{' || raw[0] == '[':
			return nil, validationErr(fmt.Sprintf("Property %q must be a string, number or boolean", k))
		default:
			out[k] = string(raw)
		}
	}
	return out, nil
}

type objectInput struct {
	ID           string                     `json:"id"`
	IDProperty   string                     `json:"idProperty"`
	Properties   map[string]json.RawMessage `json:"properties"`
	Associations []assocInput               `json:"associations"`
}

func objNotFound(objType, id string) *apiError {
	e := notFoundErr(fmt.Sprintf("No %s with ID %s exists", singular[objType], id))
	e.Context = map[string][]string{"id": {id}}
	return e
}

// GET .../{objectType}?limit&after&properties&associations&archived
func hObjectList(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if e := c.requireObjectScope(t, false); e != nil {
		return errResult(e)
	}
	limit, e := c.limitParam(10, 100)
	if e != nil {
		return errResult(e)
	}
	q := c.r.URL.Query()
	after := int64(0)
	if a := q.Get("after"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return errResult(validationErr(fmt.Sprintf("after must be a paging cursor from paging.next.after, got %q", a)))
		}
		after = n
	}
	archived := q.Get("archived") == "true"
	ro := c.readOpts()
	st := c.p.objects[t]
	var results []objectJSON
	next := ""
	for _, id := range sortedKeys(st.byID) {
		o := st.byID[id]
		if id < after || o.archived != archived || o.mergedInto != 0 {
			continue
		}
		if len(results) == limit {
			next = idString(id)
			break
		}
		results = append(results, c.p.view(t, o, ro))
	}
	body := map[string]any{"results": nonNil(results)}
	if next != "" {
		body["paging"] = pagingNext(c, next)
	}
	return http.StatusOK, body
}

// GET .../{objectType}/{objectId}?properties&associations&idProperty&archived
func hObjectGet(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if e := c.requireObjectScope(t, false); e != nil {
		return errResult(e)
	}
	id := c.r.PathValue("objectId")
	var o *object
	if c.r.URL.Query().Get("archived") == "true" {
		o = c.p.lookupArchived(t, id)
	} else {
		o = c.p.lookup(t, id, c.r.URL.Query().Get("idProperty"))
	}
	if o == nil {
		return errResult(objNotFound(t, id))
	}
	return http.StatusOK, c.p.view(t, o, c.readOpts())
}

// POST .../{objectType} {"properties":{...},"associations":[...]}
func hObjectCreate(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if e := c.requireObjectScope(t, true); e != nil {
		return errResult(e)
	}
	var in objectInput
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	props, e := propsFromJSON(in.Properties)
	if e != nil {
		return errResult(e)
	}
	o, e := c.s.createObject(c.p, t, props, in.Associations, c.w)
	if e != nil {
		return errResult(e)
	}
	return http.StatusCreated, c.p.view(t, o, allProps(o))
}

// PATCH .../{objectType}/{objectId}[?idProperty=email] {"properties":{...}}
func hObjectUpdate(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if e := c.requireObjectScope(t, true); e != nil {
		return errResult(e)
	}
	var in objectInput
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	props, e := propsFromJSON(in.Properties)
	if e != nil {
		return errResult(e)
	}
	id := c.r.PathValue("objectId")
	o := c.p.lookup(t, id, c.r.URL.Query().Get("idProperty"))
	if o == nil {
		return errResult(objNotFound(t, id))
	}
	if e := c.s.updateObject(c.p, t, o, props, c.w); e != nil {
		return errResult(e)
	}
	return http.StatusOK, c.p.view(t, o, allProps(o))
}

// DELETE .../{objectType}/{objectId}: 204 whether or not it existed.
func hObjectArchive(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if e := c.requireObjectScope(t, true); e != nil {
		return errResult(e)
	}
	if o := c.p.lookup(t, c.r.PathValue("objectId"), ""); o != nil {
		c.s.archiveObject(c.p, t, o, c.w)
	}
	return http.StatusNoContent, nil
}

// POST .../{objectType}/merge {"primaryObjectId","objectIdToMerge"}
func hObjectMerge(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if e := c.requireObjectScope(t, true); e != nil {
		return errResult(e)
	}
	var in struct {
		PrimaryObjectID string `json:"primaryObjectId"`
		ObjectIDToMerge string `json:"objectIdToMerge"`
	}
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	winner := c.p.lookup(t, in.PrimaryObjectID, "")
	loser := c.p.lookup(t, in.ObjectIDToMerge, "")
	switch {
	case winner == nil:
		return errResult(validationErr(fmt.Sprintf("No %s with ID %s exists", singular[t], in.PrimaryObjectID)))
	case loser == nil:
		return errResult(validationErr(fmt.Sprintf("No %s with ID %s exists", singular[t], in.ObjectIDToMerge)))
	case winner == loser:
		return errResult(validationErr("Cannot merge a record into itself"))
	}
	c.s.mergeObjects(c.p, t, winner, loser, c.w)
	return http.StatusOK, c.p.view(t, winner, allProps(winner))
}

// POST .../{objectType}/batch/{read|create|update|upsert|archive}
func hObjectBatch(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	action := c.r.PathValue("action")
	if e := c.requireObjectScope(t, action != "read"); e != nil {
		return errResult(e)
	}
	var in struct {
		Inputs     []objectInput `json:"inputs"`
		Properties []string      `json:"properties"`
		IDProperty string        `json:"idProperty"`
	}
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	if in.Inputs == nil {
		return errResult(validationErr("inputs is required"))
	}
	if e := batchSizeErr(len(in.Inputs), 100); e != nil {
		return errResult(e)
	}
	ts := hsTime(c.s.now())
	batch := func(status int, results []objectJSON, errs []*apiError) (int, any) {
		body := map[string]any{"status": "COMPLETE", "results": nonNil(results), "requestedAt": ts, "startedAt": ts, "completedAt": ts}
		if len(errs) > 0 {
			for _, e := range errs {
				e.CorrelationID = ""
			}
			body["errors"], body["numErrors"] = errs, len(errs)
			status = http.StatusMultiStatus
		}
		return status, body
	}
	notFound := func(ids []string) *apiError {
		e := &apiError{Status: "error", Category: "OBJECT_NOT_FOUND",
			Message: fmt.Sprintf("Could not get some %s objects, they may be deleted or not exist. Check that ids are valid.", strings.ToUpper(singular[t])),
			Context: map[string][]string{"ids": ids}}
		return e
	}
	switch action {
	case "read":
		ro := readOpts{props: in.Properties, explicit: len(in.Properties) > 0}
		var results []objectJSON
		var missing []string
		seen := map[int64]bool{}
		for _, inp := range in.Inputs {
			o := c.p.lookup(t, inp.ID, in.IDProperty)
			if c.r.URL.Query().Get("archived") == "true" {
				o = c.p.lookupArchived(t, inp.ID)
			}
			if o == nil {
				missing = append(missing, inp.ID)
				continue
			}
			if !seen[o.id] {
				seen[o.id] = true
				results = append(results, c.p.view(t, o, ro))
			}
		}
		var errs []*apiError
		if len(missing) > 0 {
			errs = append(errs, notFound(missing))
		}
		return batch(http.StatusOK, results, errs)
	case "create":
		type prepared struct {
			props  map[string]string
			assocs []assocInput
		}
		var all []prepared
		emails := map[string]bool{}
		for i, inp := range in.Inputs {
			props, e := propsFromJSON(inp.Properties)
			if e == nil {
				_, e = c.s.validateProps(c.p, t, props, nil)
			}
			if e == nil {
				_, e = c.p.resolveAssocs(t, inp.Associations)
			}
			if e != nil {
				e.Context = map[string][]string{"inputIndex": {strconv.Itoa(i)}}
				return errResult(e)
			}
			if t == "contacts" && props["email"] != "" {
				em := strings.ToLower(props["email"])
				if emails[em] {
					return errResult(validationErr("Duplicate email values found in batch input: " + em))
				}
				emails[em] = true
			}
			all = append(all, prepared{props, inp.Associations})
		}
		var results []objectJSON
		for _, pr := range all {
			o, e := c.s.createObject(c.p, t, pr.props, pr.assocs, c.w)
			if e != nil {
				return errResult(e) // cannot happen: validated above
			}
			results = append(results, c.p.view(t, o, allProps(o)))
		}
		return batch(http.StatusCreated, results, nil)
	case "update", "upsert":
		ids := map[string]bool{}
		var dups []string
		for _, inp := range in.Inputs {
			if ids[inp.ID] {
				dups = append(dups, inp.ID)
			}
			ids[inp.ID] = true
		}
		if len(dups) > 0 {
			return errResult(validationErr("Duplicate IDs found in batch input: [" + strings.Join(dups, ", ") + "]"))
		}
		type prepared struct {
			o     *object
			id    string
			props map[string]string
		}
		var all []prepared
		var missing []string
		for i, inp := range in.Inputs {
			idProp := firstNonEmpty(inp.IDProperty, in.IDProperty)
			if action == "upsert" {
				if idProp == "" || idProp == "hs_object_id" {
					return errResult(validationErr("idProperty is required for upsert and must be a unique-value property"))
				}
				def := c.p.propertyDef(t, idProp)
				if def == nil || !(def.HasUniqueValue || (t == "contacts" && idProp == "email")) {
					return errResult(validationErr(fmt.Sprintf("%s is not a unique identifier property of %s", idProp, singular[t])))
				}
			}
			props, e := propsFromJSON(inp.Properties)
			if e != nil {
				return errResult(e)
			}
			o := c.p.lookup(t, inp.ID, idProp)
			if o == nil && action == "update" {
				missing = append(missing, inp.ID)
				continue
			}
			if o == nil {
				props = copyProps(props)
				props[idProp] = inp.ID
			}
			if _, e := c.s.validateProps(c.p, t, props, o); e != nil {
				e.Context = map[string][]string{"inputIndex": {strconv.Itoa(i)}}
				return errResult(e)
			}
			all = append(all, prepared{o, inp.ID, props})
		}
		var results []objectJSON
		for _, pr := range all {
			isNew := pr.o == nil
			o := pr.o
			if isNew {
				var e *apiError
				if o, e = c.s.createObject(c.p, t, pr.props, nil, c.w); e != nil {
					return errResult(e)
				}
			} else if e := c.s.updateObject(c.p, t, o, pr.props, c.w); e != nil {
				return errResult(e)
			}
			v := c.p.view(t, o, allProps(o))
			if action == "upsert" {
				v.New = &isNew
			}
			results = append(results, v)
		}
		var errs []*apiError
		if len(missing) > 0 {
			errs = append(errs, notFound(missing))
		}
		return batch(http.StatusOK, results, errs)
	case "archive":
		for _, inp := range in.Inputs {
			if o := c.p.lookup(t, inp.ID, ""); o != nil {
				c.s.archiveObject(c.p, t, o, c.w)
			}
		}
		return http.StatusNoContent, nil
	}
	return errResult(notFoundErr("Unknown batch action " + action))
}
