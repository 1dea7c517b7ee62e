package hubspotsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
)

func (c *reqCtx) requireSchemaScope(objType string, write bool) *apiError {
	if write {
		return c.requireScope("crm.schemas." + objType + ".write")
	}
	return c.requireScope("crm.objects."+objType+".read", "crm.schemas."+objType+".read", "crm.schemas."+objType+".write")
}

// GET .../properties/{objectType}[?archived=true]
func hPropertyList(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if e := c.requireSchemaScope(t, false); e != nil {
		return errResult(e)
	}
	archived := c.r.URL.Query().Get("archived") == "true"
	names := make([]string, 0, len(c.p.props[t]))
	for n, pr := range c.p.props[t] {
		if pr.Archived == archived {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	results := make([]property, 0, len(names))
	for _, n := range names {
		results = append(results, c.p.propertyView(t, c.p.props[t][n]))
	}
	return http.StatusOK, map[string]any{"results": results}
}

func propertyNotFound(t, name string) *apiError {
	return notFoundErr(fmt.Sprintf("Unable to find property %s for object type %s", name, objectTypeIDs[t]))
}

// GET .../properties/{objectType}/{propertyName}
func hPropertyGet(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if e := c.requireSchemaScope(t, false); e != nil {
		return errResult(e)
	}
	pr := c.p.propertyDef(t, c.r.PathValue("propertyName"))
	if pr == nil {
		return errResult(propertyNotFound(t, c.r.PathValue("propertyName")))
	}
	return http.StatusOK, c.p.propertyView(t, pr)
}

type propertyInput struct {
	Name           string   `json:"name"`
	Label          string   `json:"label"`
	Type           string   `json:"type"`
	FieldType      string   `json:"fieldType"`
	GroupName      string   `json:"groupName"`
	Description    string   `json:"description"`
	Options        []option `json:"options"`
	DisplayOrder   *int     `json:"displayOrder"`
	HasUniqueValue bool     `json:"hasUniqueValue"`
	Hidden         bool     `json:"hidden"`
	FormField      *bool    `json:"formField"`
}

// createProperty validates and adds a custom property. The caller holds s.mu.
func (s *Simulator) createProperty(p *Portal, t string, in propertyInput) (*property, *apiError) {
	var missing []string
	for _, f := range []struct{ name, v string }{{"name", in.Name}, {"label", in.Label}, {"type", in.Type}, {"fieldType", in.FieldType}, {"groupName", in.GroupName}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		e := validationErr(fmt.Sprintf("Missing required fields: %v", missing))
		for _, m := range missing {
			e.Errors = append(e.Errors, errorDetail{Message: m + " is required", Code: "REQUIRED_FIELD", Context: map[string][]string{"field": {m}}})
		}
		return nil, e
	}
	if !propertyNameRE.MatchString(in.Name) {
		return nil, validationErr(fmt.Sprintf("Property name %q is invalid: use lowercase letters, digits and underscores, starting with a letter", in.Name))
	}
	fts, ok := fieldTypesByType[in.Type]
	if !ok {
		return nil, validationErr(fmt.Sprintf("Unknown property type %q", in.Type))
	}
	if !slices.Contains(fts, in.FieldType) {
		return nil, validationErr(fmt.Sprintf("fieldType %q is not valid for type %q (valid: %v)", in.FieldType, in.Type, fts))
	}
	if !slices.ContainsFunc(p.groups[t], func(g *propertyGroup) bool { return g.Name == in.GroupName && !g.Archived }) {
		return nil, validationErr(fmt.Sprintf("Property group %s does not exist for object type %s", in.GroupName, objectTypeIDs[t]))
	}
	seen := map[string]bool{}
	for i, o := range in.Options {
		if o.Value == "" || o.Label == "" {
			return nil, validationErr(fmt.Sprintf("Option %d needs a label and a value", i))
		}
		if seen[o.Value] {
			return nil, validationErr(fmt.Sprintf("Duplicate option value %q", o.Value))
		}
		seen[o.Value] = true
	}
	if in.Type != "enumeration" && in.Type != "bool" && len(in.Options) > 0 {
		return nil, validationErr("options are only allowed on enumeration and bool properties")
	}
	if existing := p.props[t][in.Name]; existing != nil {
		e := newErr(http.StatusConflict, "OBJECT_ALREADY_EXISTS", fmt.Sprintf("Property named '%s' already exists.", in.Name))
		e.Context = map[string][]string{"name": {in.Name}}
		return nil, e
	}
	now := s.now()
	order := -1
	if in.DisplayOrder != nil {
		order = *in.DisplayOrder
	}
	formField := true
	if in.FormField != nil {
		formField = *in.FormField
	}
	opts := append([]option{}, in.Options...)
	if in.Type == "bool" && len(opts) == 0 {
		opts = options([]string{"true", "false"}, []string{"Yes", "No"})
	}
	pr := &property{
		Name: in.Name, Label: in.Label, Type: in.Type, FieldType: in.FieldType, GroupName: in.GroupName,
		Description: in.Description, Options: opts, DisplayOrder: order, HasUniqueValue: in.HasUniqueValue,
		Hidden: in.Hidden, FormField: formField, DataSensitivity: "non_sensitive",
		Modification: modMeta{Archivable: true}, created: now, updated: now,
	}
	p.props[t][in.Name] = pr
	return pr, nil
}

// POST .../properties/{objectType}
func hPropertyCreate(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if e := c.requireSchemaScope(t, true); e != nil {
		return errResult(e)
	}
	var in propertyInput
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	pr, e := c.s.createProperty(c.p, t, in)
	if e != nil {
		return errResult(e)
	}
	return http.StatusCreated, c.p.propertyView(t, pr)
}

// PATCH .../properties/{objectType}/{propertyName}
func hPropertyUpdate(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if e := c.requireSchemaScope(t, true); e != nil {
		return errResult(e)
	}
	pr := c.p.propertyDef(t, c.r.PathValue("propertyName"))
	if pr == nil {
		return errResult(propertyNotFound(t, c.r.PathValue("propertyName")))
	}
	if pr.HubspotDefined {
		return errResult(validationErr(fmt.Sprintf("%s is a HubSpot-defined property; its definition cannot be changed", pr.Name)))
	}
	var in struct {
		Label        *string   `json:"label"`
		Description  *string   `json:"description"`
		GroupName    *string   `json:"groupName"`
		Options      *[]option `json:"options"`
		DisplayOrder *int      `json:"displayOrder"`
		Hidden       *bool     `json:"hidden"`
		FormField    *bool     `json:"formField"`
	}
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	if in.GroupName != nil && !slices.ContainsFunc(c.p.groups[t], func(g *propertyGroup) bool { return g.Name == *in.GroupName }) {
		return errResult(validationErr(fmt.Sprintf("Property group %s does not exist for object type %s", *in.GroupName, objectTypeIDs[t])))
	}
	if in.Label != nil {
		pr.Label = *in.Label
	}
	if in.Description != nil {
		pr.Description = *in.Description
	}
	if in.GroupName != nil {
		pr.GroupName = *in.GroupName
	}
	if in.Options != nil {
		pr.Options = *in.Options
	}
	if in.DisplayOrder != nil {
		pr.DisplayOrder = *in.DisplayOrder
	}
	if in.Hidden != nil {
		pr.Hidden = *in.Hidden
	}
	if in.FormField != nil {
		pr.FormField = *in.FormField
	}
	pr.updated = c.s.now()
	return http.StatusOK, c.p.propertyView(t, pr)
}

// DELETE .../properties/{objectType}/{propertyName}
func hPropertyArchive(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if e := c.requireSchemaScope(t, true); e != nil {
		return errResult(e)
	}
	pr := c.p.propertyDef(t, c.r.PathValue("propertyName"))
	if pr == nil {
		return errResult(propertyNotFound(t, c.r.PathValue("propertyName")))
	}
	if pr.HubspotDefined {
		return errResult(validationErr(fmt.Sprintf("%s is a HubSpot-defined property and cannot be archived", pr.Name)))
	}
	pr.Archived = true
	return http.StatusNoContent, nil
}

// POST .../properties/{objectType}/batch/{create|read|archive}
func hPropertyBatch(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	action := c.r.PathValue("action")
	if e := c.requireSchemaScope(t, action != "read"); e != nil {
		return errResult(e)
	}
	var in struct {
		Inputs []json.RawMessage `json:"inputs"`
	}
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	if e := batchSizeErr(len(in.Inputs), 100); e != nil {
		return errResult(e)
	}
	ts := hsTime(c.s.now())
	results := []property{}
	var errs []*apiError
	for _, raw := range in.Inputs {
		var pi propertyInput
		if err := json.Unmarshal(raw, &pi); err != nil {
			return errResult(invalidJSONErr(err))
		}
		switch action {
		case "create":
			pr, e := c.s.createProperty(c.p, t, pi)
			if e != nil {
				e.CorrelationID = ""
				errs = append(errs, e)
				continue
			}
			results = append(results, c.p.propertyView(t, pr))
		case "read":
			pr := c.p.propertyDef(t, pi.Name)
			if pr == nil {
				e := propertyNotFound(t, pi.Name)
				errs = append(errs, e)
				continue
			}
			results = append(results, c.p.propertyView(t, pr))
		case "archive":
			if pr := c.p.propertyDef(t, pi.Name); pr != nil && !pr.HubspotDefined {
				pr.Archived = true
			}
		default:
			return errResult(notFoundErr("Unknown batch action " + action))
		}
	}
	if action == "archive" {
		return http.StatusNoContent, nil
	}
	body := map[string]any{"status": "COMPLETE", "results": results, "startedAt": ts, "completedAt": ts}
	status := http.StatusOK
	if action == "create" {
		status = http.StatusCreated
	}
	if len(errs) > 0 {
		body["errors"], body["numErrors"] = errs, len(errs)
		status = http.StatusMultiStatus
	}
	return status, body
}

// GET .../properties/{objectType}/groups
func hGroupList(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if e := c.requireSchemaScope(t, false); e != nil {
		return errResult(e)
	}
	results := []propertyGroup{}
	for _, g := range c.p.groups[t] {
		if !g.Archived {
			results = append(results, *g)
		}
	}
	return http.StatusOK, map[string]any{"results": results}
}

// GET .../properties/{objectType}/groups/{groupName}
func hGroupGet(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if e := c.requireSchemaScope(t, false); e != nil {
		return errResult(e)
	}
	for _, g := range c.p.groups[t] {
		if g.Name == c.r.PathValue("groupName") && !g.Archived {
			return http.StatusOK, g
		}
	}
	return errResult(notFoundErr(fmt.Sprintf("Unable to find property group %s for object type %s", c.r.PathValue("groupName"), objectTypeIDs[t])))
}

// POST .../properties/{objectType}/groups {"name","label","displayOrder"}
func hGroupCreate(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if e := c.requireSchemaScope(t, true); e != nil {
		return errResult(e)
	}
	var in struct {
		Name         string `json:"name"`
		Label        string `json:"label"`
		DisplayOrder *int   `json:"displayOrder"`
	}
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	if in.Name == "" || in.Label == "" {
		return errResult(validationErr("name and label are required"))
	}
	if !propertyNameRE.MatchString(in.Name) {
		return errResult(validationErr(fmt.Sprintf("Property group name %q is invalid: use lowercase letters, digits and underscores, starting with a letter", in.Name)))
	}
	for _, g := range c.p.groups[t] {
		if g.Name == in.Name {
			e := newErr(http.StatusConflict, "OBJECT_ALREADY_EXISTS", fmt.Sprintf("A property group named '%s' already exists.", in.Name))
			return errResult(e)
		}
	}
	g := &propertyGroup{Name: in.Name, Label: in.Label, DisplayOrder: -1}
	if in.DisplayOrder != nil {
		g.DisplayOrder = *in.DisplayOrder
	}
	c.p.groups[t] = append(c.p.groups[t], g)
	return http.StatusCreated, g
}

// Pipelines (deals only).

func (c *reqCtx) dealPipelines(write bool) *apiError {
	raw := c.r.PathValue("objectType")
	t, ok := canonicalType(raw)
	if !ok || t != "deals" {
		return validationErr(fmt.Sprintf("Pipelines of object type %s are not supported by the simulator (deals only)", raw))
	}
	if write {
		return c.requireScope("crm.schemas.deals.write", "crm.objects.deals.write")
	}
	return c.requireScope("crm.objects.deals.read", "crm.schemas.deals.read")
}

func (c *reqCtx) pipelineParam() (*pipeline, *apiError) {
	pl := c.p.pipeline(c.r.PathValue("pipelineId"))
	if pl == nil {
		return nil, notFoundErr(fmt.Sprintf("Unable to find pipeline %s", c.r.PathValue("pipelineId")))
	}
	return pl, nil
}

// GET .../pipelines/deals
func hPipelineList(c *reqCtx) (int, any) {
	if e := c.dealPipelines(false); e != nil {
		return errResult(e)
	}
	results := []pipeline{}
	for _, pl := range c.p.pipelines {
		if !pl.Archived {
			results = append(results, *pl)
		}
	}
	return http.StatusOK, map[string]any{"results": results}
}

// GET .../pipelines/deals/{pipelineId}
func hPipelineGet(c *reqCtx) (int, any) {
	if e := c.dealPipelines(false); e != nil {
		return errResult(e)
	}
	pl, e := c.pipelineParam()
	if e != nil {
		return errResult(e)
	}
	return http.StatusOK, pl
}

// GET .../pipelines/deals/{pipelineId}/stages
func hStageList(c *reqCtx) (int, any) {
	if e := c.dealPipelines(false); e != nil {
		return errResult(e)
	}
	pl, e := c.pipelineParam()
	if e != nil {
		return errResult(e)
	}
	return http.StatusOK, map[string]any{"results": pl.Stages}
}

// GET .../pipelines/deals/{pipelineId}/stages/{stageId}
func hStageGet(c *reqCtx) (int, any) {
	if e := c.dealPipelines(false); e != nil {
		return errResult(e)
	}
	pl, e := c.pipelineParam()
	if e != nil {
		return errResult(e)
	}
	st := pl.stage(c.r.PathValue("stageId"))
	if st == nil {
		return errResult(notFoundErr(fmt.Sprintf("Unable to find stage %s in pipeline %s", c.r.PathValue("stageId"), pl.ID)))
	}
	return http.StatusOK, st
}

// PipelineStageInput describes a stage of a pipeline made with
// AddDealPipeline or POST .../pipelines/deals.
type PipelineStageInput struct {
	Label        string            `json:"label"`
	DisplayOrder int               `json:"displayOrder"`
	Metadata     map[string]string `json:"metadata"`
}

// addPipeline validates and adds a deal pipeline with numeric IDs, as
// HubSpot gives custom pipelines. The caller holds s.mu.
func (s *Simulator) addPipeline(p *Portal, label string, displayOrder int, stages []PipelineStageInput) (*pipeline, *apiError) {
	if label == "" {
		return nil, validationErr("label is required")
	}
	if len(stages) == 0 {
		return nil, validationErr("a pipeline needs at least one stage")
	}
	for _, pl := range p.pipelines {
		if pl.Label == label && !pl.Archived {
			return nil, newErr(http.StatusConflict, "OBJECT_ALREADY_EXISTS", fmt.Sprintf("A pipeline with label '%s' already exists.", label))
		}
	}
	ts := hsTime(s.now())
	pl := &pipeline{ID: strconv.FormatInt(p.nextPipeID, 10), Label: label, DisplayOrder: displayOrder, CreatedAt: ts, UpdatedAt: ts}
	p.nextPipeID++
	for i, st := range stages {
		prob, ok := st.Metadata["probability"]
		if f, err := strconv.ParseFloat(prob, 64); !ok || err != nil || f < 0 || f > 1 {
			return nil, validationErr(fmt.Sprintf("stage %d (%s): metadata.probability must be a number between 0.0 and 1.0", i, st.Label))
		}
		if st.Label == "" {
			return nil, validationErr(fmt.Sprintf("stage %d: label is required", i))
		}
		md := map[string]string{"probability": prob, "isClosed": "false"}
		if v := st.Metadata["isClosed"]; v != "" {
			md["isClosed"] = v
		} else if prob == "1.0" || prob == "0.0" || prob == "1" || prob == "0" {
			md["isClosed"] = "true"
		}
		pl.Stages = append(pl.Stages, pipelineStage{
			ID: strconv.FormatInt(p.nextPipeID, 10), Label: st.Label, DisplayOrder: st.DisplayOrder,
			Metadata: md, CreatedAt: ts, UpdatedAt: ts, WritePermissions: "CRM_PERMISSIONS_ENFORCEMENT",
		})
		p.nextPipeID++
	}
	p.pipelines = append(p.pipelines, pl)
	return pl, nil
}

// POST .../pipelines/deals {"label","displayOrder","stages":[{"label","displayOrder","metadata":{"probability"}}]}
func hPipelineCreate(c *reqCtx) (int, any) {
	if e := c.dealPipelines(true); e != nil {
		return errResult(e)
	}
	var in struct {
		Label        string               `json:"label"`
		DisplayOrder int                  `json:"displayOrder"`
		Stages       []PipelineStageInput `json:"stages"`
	}
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	pl, e := c.s.addPipeline(c.p, in.Label, in.DisplayOrder, in.Stages)
	if e != nil {
		return errResult(e)
	}
	return http.StatusCreated, pl
}
