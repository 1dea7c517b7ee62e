package hubspotsim

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// The object types the simulator keeps, by their plural path names.
var objectTypes = []string{"contacts", "companies", "deals"}

var objectTypeIDs = map[string]string{"contacts": "0-1", "companies": "0-2", "deals": "0-3"}

var singular = map[string]string{"contacts": "contact", "companies": "company", "deals": "deal"}

// canonicalType maps every name HubSpot accepts for a type (plural,
// singular, object type ID) to the plural path name.
func canonicalType(name string) (string, bool) {
	switch strings.ToLower(name) {
	case "contacts", "contact", "0-1":
		return "contacts", true
	case "companies", "company", "0-2":
		return "companies", true
	case "deals", "deal", "0-3":
		return "deals", true
	}
	return "", false
}

func unknownTypeErr(name string) *apiError {
	return validationErr("Unable to infer object type from: " + name)
}

// property is a property definition.
type property struct {
	Name             string   `json:"name"`
	Label            string   `json:"label"`
	Type             string   `json:"type"`
	FieldType        string   `json:"fieldType"`
	Description      string   `json:"description"`
	GroupName        string   `json:"groupName"`
	Options          []option `json:"options"`
	DisplayOrder     int      `json:"displayOrder"`
	Calculated       bool     `json:"calculated"`
	ExternalOptions  bool     `json:"externalOptions"`
	HasUniqueValue   bool     `json:"hasUniqueValue"`
	Hidden           bool     `json:"hidden"`
	HubspotDefined   bool     `json:"hubspotDefined,omitempty"`
	FormField        bool     `json:"formField"`
	DataSensitivity  string   `json:"dataSensitivity"`
	Modification     modMeta  `json:"modificationMetadata"`
	CreatedAt        string   `json:"createdAt"`
	UpdatedAt        string   `json:"updatedAt"`
	Archived         bool     `json:"archived"`
	created, updated time.Time
}

type option struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	Description  string `json:"description,omitempty"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

type modMeta struct {
	Archivable         bool `json:"archivable"`
	ReadOnlyDefinition bool `json:"readOnlyDefinition"`
	ReadOnlyValue      bool `json:"readOnlyValue"`
}

type propertyGroup struct {
	Name         string `json:"name"`
	Label        string `json:"label"`
	DisplayOrder int    `json:"displayOrder"`
	Archived     bool   `json:"archived"`
}

// HubSpot's option values for the contact and company enumerations the
// product's rules match on.
var (
	lifecycleStages = []string{"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist", "other"}
	lifecycleLabels = []string{"Subscriber", "Lead", "Marketing Qualified Lead", "Sales Qualified Lead", "Opportunity", "Customer", "Evangelist", "Other"}
	leadStatuses    = []string{"NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING"}
	leadLabels      = []string{"New", "Open", "In Progress", "Open Deal", "Unqualified", "Attempted to Contact", "Connected", "Bad Timing"}
)

func options(values, labels []string) []option {
	out := make([]option, len(values))
	for i := range values {
		out[i] = option{Label: labels[i], Value: values[i], DisplayOrder: i}
	}
	return out
}

// defaultProperties builds HubSpot's default properties and groups for each
// object type (the ones referflow reads or writes, and the ones HubSpot
// always returns).
func defaultProperties(now time.Time) (map[string]map[string]*property, map[string][]*propertyGroup) {
	props := map[string]map[string]*property{}
	groups := map[string][]*propertyGroup{
		"contacts":  {{Name: "contactinformation", Label: "Contact information"}},
		"companies": {{Name: "companyinformation", Label: "Company information", DisplayOrder: 0}},
		"deals":     {{Name: "dealinformation", Label: "Deal information"}},
	}
	def := func(objType, name, label, typ, field, group string, opts []option, readOnly bool) {
		if props[objType] == nil {
			props[objType] = map[string]*property{}
		}
		props[objType][name] = &property{
			Name: name, Label: label, Type: typ, FieldType: field, GroupName: group, Options: opts,
			DisplayOrder: -1, HubspotDefined: true, FormField: !readOnly, DataSensitivity: "non_sensitive",
			Calculated:   readOnly && name != "createdate",
			Modification: modMeta{Archivable: false, ReadOnlyDefinition: true, ReadOnlyValue: readOnly},
			created:      now, updated: now,
		}
	}
	for _, t := range []struct{ obj, group, modified string }{
		{"contacts", "contactinformation", "lastmodifieddate"},
		{"companies", "companyinformation", "hs_lastmodifieddate"},
		{"deals", "dealinformation", "hs_lastmodifieddate"},
	} {
		def(t.obj, "hs_object_id", "Record ID", "number", "number", t.group, nil, true)
		def(t.obj, "createdate", "Create Date", "datetime", "date", t.group, nil, false)
		def(t.obj, t.modified, "Last Modified Date", "datetime", "date", t.group, nil, true)
		def(t.obj, "hubspot_owner_id", "Owner", "enumeration", "select", t.group, nil, false)
		props[t.obj]["hubspot_owner_id"].ExternalOptions = true
		def(t.obj, "hs_all_owner_ids", "All owner IDs", "enumeration", "checkbox", t.group, nil, true)
		props[t.obj]["hs_all_owner_ids"].ExternalOptions = true
	}
	c := "contactinformation"
	def("contacts", "email", "Email", "string", "text", c, nil, false)
	def("contacts", "firstname", "First Name", "string", "text", c, nil, false)
	def("contacts", "lastname", "Last Name", "string", "text", c, nil, false)
	def("contacts", "phone", "Phone Number", "string", "phonenumber", c, nil, false)
	def("contacts", "company", "Company Name", "string", "text", c, nil, false)
	def("contacts", "website", "Website URL", "string", "text", c, nil, false)
	def("contacts", "jobtitle", "Job Title", "string", "text", c, nil, false)
	def("contacts", "lifecyclestage", "Lifecycle Stage", "enumeration", "radio", c, options(lifecycleStages, lifecycleLabels), false)
	def("contacts", "hs_lead_status", "Lead Status", "enumeration", "radio", c, options(leadStatuses, leadLabels), false)
	co := "companyinformation"
	def("companies", "name", "Company name", "string", "text", co, nil, false)
	def("companies", "domain", "Company Domain Name", "string", "text", co, nil, false)
	def("companies", "phone", "Phone Number", "string", "phonenumber", co, nil, false)
	def("companies", "industry", "Industry", "string", "text", co, nil, false)
	def("companies", "lifecyclestage", "Lifecycle Stage", "enumeration", "radio", co, options(lifecycleStages, lifecycleLabels), false)
	def("companies", "hs_lead_status", "Lead Status", "enumeration", "radio", co, options(leadStatuses, leadLabels), false)
	d := "dealinformation"
	def("deals", "dealname", "Deal Name", "string", "text", d, nil, false)
	def("deals", "amount", "Amount", "number", "number", d, nil, false)
	def("deals", "closedate", "Close Date", "datetime", "date", d, nil, false)
	def("deals", "description", "Deal Description", "string", "textarea", d, nil, false)
	def("deals", "dealtype", "Deal Type", "enumeration", "radio", d,
		options([]string{"newbusiness", "existingbusiness"}, []string{"New Business", "Existing Business"}), false)
	// pipeline and dealstage options come from the portal's pipelines.
	def("deals", "pipeline", "Pipeline", "enumeration", "select", d, nil, false)
	def("deals", "dealstage", "Deal Stage", "enumeration", "radio", d, nil, false)
	def("deals", "hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox", d,
		options([]string{"true", "false"}, []string{"Yes", "No"}), true)
	def("deals", "hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox", d,
		options([]string{"true", "false"}, []string{"Yes", "No"}), true)
	def("deals", "hs_deal_stage_probability", "Deal Stage Probability", "number", "number", d, nil, true)
	return props, groups
}

// Valid type/fieldType pairs for property creation.
var fieldTypesByType = map[string][]string{
	"string":       {"text", "textarea", "phonenumber", "html", "file"},
	"number":       {"number"},
	"enumeration":  {"select", "radio", "checkbox", "booleancheckbox"},
	"bool":         {"booleancheckbox"},
	"date":         {"date"},
	"datetime":     {"date"},
	"phone_number": {"phonenumber"},
}

var propertyNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// pipeline is a deal pipeline with its stages.
type pipeline struct {
	ID           string          `json:"id"`
	Label        string          `json:"label"`
	DisplayOrder int             `json:"displayOrder"`
	Stages       []pipelineStage `json:"stages"`
	CreatedAt    string          `json:"createdAt"`
	UpdatedAt    string          `json:"updatedAt"`
	Archived     bool            `json:"archived"`
}

type pipelineStage struct {
	ID               string            `json:"id"`
	Label            string            `json:"label"`
	DisplayOrder     int               `json:"displayOrder"`
	Metadata         map[string]string `json:"metadata"`
	CreatedAt        string            `json:"createdAt"`
	UpdatedAt        string            `json:"updatedAt"`
	Archived         bool              `json:"archived"`
	WritePermissions string            `json:"writePermissions"`
}

// defaultDealPipeline is HubSpot's "Sales Pipeline" (ID default). HubSpot
// returns stage metadata values as strings.
func defaultDealPipeline(now time.Time) *pipeline {
	ts := hsTime(now)
	p := &pipeline{ID: "default", Label: "Sales Pipeline", CreatedAt: ts, UpdatedAt: ts}
	for i, st := range []struct{ id, label, prob, closed string }{
		{"appointmentscheduled", "Appointment Scheduled", "0.2", "false"},
		{"qualifiedtobuy", "Qualified To Buy", "0.4", "false"},
		{"presentationscheduled", "Presentation Scheduled", "0.6", "false"},
		{"decisionmakerboughtin", "Decision Maker Bought-In", "0.8", "false"},
		{"contractsent", "Contract Sent", "0.9", "false"},
		{"closedwon", "Closed Won", "1.0", "true"},
		{"closedlost", "Closed Lost", "0.0", "true"},
	} {
		p.Stages = append(p.Stages, pipelineStage{
			ID: st.id, Label: st.label, DisplayOrder: i,
			Metadata:  map[string]string{"isClosed": st.closed, "probability": st.prob},
			CreatedAt: ts, UpdatedAt: ts, WritePermissions: "CRM_PERMISSIONS_ENFORCEMENT",
		})
	}
	return p
}

func (p *Portal) pipeline(id string) *pipeline {
	for _, pl := range p.pipelines {
		if pl.ID == id && !pl.Archived {
			return pl
		}
	}
	return nil
}

func (pl *pipeline) stage(id string) *pipelineStage {
	for i := range pl.Stages {
		if pl.Stages[i].ID == id {
			return &pl.Stages[i]
		}
	}
	return nil
}

// propertyDef returns the definition of an object type's property, with
// the deal pipeline and stage options filled from the portal's pipelines.
func (p *Portal) propertyDef(objType, name string) *property {
	pr := p.props[objType][name]
	if pr == nil || pr.Archived {
		return nil
	}
	return pr
}

func (p *Portal) propertyView(objType string, pr *property) property {
	v := *pr
	v.CreatedAt, v.UpdatedAt = hsTime(pr.created), hsTime(pr.updated)
	if v.Options == nil {
		v.Options = []option{}
	}
	if objType == "deals" && (pr.Name == "pipeline" || pr.Name == "dealstage") {
		v.Options = nil
		for _, pl := range p.pipelines {
			if pl.Archived {
				continue
			}
			if pr.Name == "pipeline" {
				v.Options = append(v.Options, option{Label: pl.Label, Value: pl.ID, DisplayOrder: pl.DisplayOrder})
				continue
			}
			for _, st := range pl.Stages {
				v.Options = append(v.Options, option{Label: st.Label, Value: st.ID, DisplayOrder: st.DisplayOrder})
			}
		}
	}
	return v
}

func notAllowedOptionMsg(value string, pr *property) string {
	vals := make([]string, 0, len(pr.Options))
	for _, o := range pr.Options {
		vals = append(vals, o.Value)
	}
	return fmt.Sprintf("%s was not one of the allowed options: [%s]", value, strings.Join(vals, ", "))
}

// DealPipeline is a deal pipeline as campaign settings name it: its ID and
// its stages' IDs (internal values, e.g. closedwon), in order.
type DealPipeline struct {
	ID, Label string
	StageIDs  []string
}

// DealPipelines lists a portal's deal pipelines (none for an unknown portal),
// for `referflow dev` to print beside the simulator's address.
func (s *Simulator) DealPipelines(portalID int64) []DealPipeline {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.portals[portalID]
	if p == nil {
		return nil
	}
	var out []DealPipeline
	for _, pl := range p.pipelines {
		if pl.Archived {
			continue
		}
		d := DealPipeline{ID: pl.ID, Label: pl.Label}
		for _, st := range pl.Stages {
			d.StageIDs = append(d.StageIDs, st.ID)
		}
		out = append(out, d)
	}
	return out
}
