package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// maxOptionsNamed bounds how many of a property's options a problem lists.
const maxOptionsNamed = 15

// portalNames is what a campaign's settings name in HubSpot, each with the
// settings field that names it.
type portalNames struct {
	properties []namedProperty
	// stages are fixed dealstage values written with a fixed pipeline: the
	// stage must be one of that pipeline's.
	stages []namedStage
	// lists are HubSpot list IDs whose additions enrol members: each must
	// be a list of contacts in the portal.
	lists []namedValue
}

type namedProperty struct {
	field    string // settings field naming the property, e.g. settings.status_rules.qualified.property
	object   hubspotobject.Type
	property string
	// values are option values named, each with its field.
	values []namedValue
}

type namedValue struct{ field, value string }

type namedStage struct{ field, pipeline, stage string }

// portalNamesOf lists every HubSpot property, option value, pipeline and
// stage the settings name.
func portalNamesOf(s campaign.Settings) portalNames {
	var out portalNames
	prop := func(field string, object hubspotobject.Type, property string, values ...namedValue) {
		if object == "" || property == "" {
			return
		}
		out.properties = append(out.properties, namedProperty{field: field, object: object, property: property, values: values})
	}
	for _, crm := range []struct {
		at string
		c  campaign.CRMSettings
	}{{"settings.leads", s.Leads}, {"settings.referrers", s.Referrers}} {
		pipeline := map[hubspotobject.Type]string{}
		for _, row := range crm.c.FieldMapping {
			if row.Property == "pipeline" && row.Value != "" {
				pipeline[row.Object] = row.Value
			}
		}
		for i, row := range crm.c.FieldMapping {
			f := fmt.Sprintf("%s.field_mapping[%d]", crm.at, i)
			if row.Value == "" {
				prop(f+".property", row.Object, row.Property)
				continue
			}
			prop(f+".property", row.Object, row.Property, namedValue{f + ".value", row.Value})
			if row.Object == hubspotobject.Deal && row.Property == "dealstage" && pipeline[row.Object] != "" {
				out.stages = append(out.stages, namedStage{field: f + ".value", pipeline: pipeline[row.Object], stage: row.Value})
			}
		}
	}
	for _, rule := range []struct {
		name string
		r    *campaign.StatusRule
	}{{"qualified", s.StatusRules.Qualified}, {"approved", s.StatusRules.Approved}, {"denied", s.StatusRules.Denied}} {
		if rule.r == nil {
			continue
		}
		at := "settings.status_rules." + rule.name
		var values []namedValue
		for i, v := range rule.r.Values {
			values = append(values, namedValue{fmt.Sprintf("%s.values[%d]", at, i), v})
		}
		prop(at+".property", rule.r.Object, rule.r.Property, values...)
	}
	created := campaign.CreatedObject(s.Leads.Action)
	if in := s.StatusRules.Initial; in != nil {
		prop("settings.status_rules.initial.property", created, in.Property, namedValue{"settings.status_rules.initial.value", in.Value})
	}
	for i, m := range s.PropertyUpdates.Mappings {
		prop(fmt.Sprintf("settings.property_updates.mappings[%d].property", i), m.Object, m.Property)
	}
	if p := s.ProcessRules.ExternalIDProperty; p != "" {
		prop("settings.process_rules.external_id_property", created, p)
	}
	for i, r := range s.ProcessRules.MatchingRules {
		prop(fmt.Sprintf("settings.process_rules.matching_rules[%d].property", i), r.Object, r.Property)
	}
	if e := s.ProcessRules.EnrolMembers; e != nil && len(e.OnLifecycleStages) > 0 {
		at := "settings.process_rules.enrol_members.on_lifecycle_stages"
		var values []namedValue
		for i, v := range e.OnLifecycleStages {
			values = append(values, namedValue{fmt.Sprintf("%s[%d]", at, i), v})
		}
		prop(at, hubspotobject.Contact, campaign.LifecycleStageProperty, values...)
	}
	if e := s.ProcessRules.EnrolMembers; e != nil {
		for i, id := range e.OnListIDs {
			out.lists = append(out.lists, namedValue{fmt.Sprintf("settings.process_rules.enrol_members.on_list_ids[%d]", i), id})
		}
	}
	return out
}

// ownProperty tells whether referflow creates the property itself when a
// portal is connected (it may still be being set up).
func ownProperty(object hubspotobject.Type, name string) bool {
	if !slices.Contains(hubspotobject.PropertyTypes, object) {
		return false
	}
	return slices.ContainsFunc(hubspotconn.Properties(), func(p hubspot.Property) bool { return p.Name == name })
}

// checkSettingsInPortal checks that every property, option value, pipeline
// and stage the settings name exists in the workspace's connected portal,
// and returns a problem per field that names one that does not. The check
// is skipped (no problems) when no portal is connected, the connection is
// broken, or HubSpot cannot be read right now: saving does not wait on
// HubSpot, and what is named wrongly then shows when referflow writes.
// The portal's answers come from the cache; a name not found there is
// looked up once more in a fresh read before it is refused (if that read
// fails, the cached answer stands).
func (s *Server) checkSettingsInPortal(ctx context.Context, ws uuid.UUID, settings campaign.Settings) (map[string]string, error) {
	names := portalNamesOf(settings)
	if s.deps.HubSpot == nil || (len(names.properties) == 0 && len(names.stages) == 0 && len(names.lists) == 0) {
		return nil, nil
	}
	problems, err := s.settingsProblems(ctx, ws, names, false)
	if err == nil && len(problems) > 0 {
		// HubSpot failing now leaves the verdict of the cached read.
		if fresh, ferr := s.settingsProblems(ctx, ws, names, true); ferr == nil || errors.Is(ferr, context.Canceled) {
			problems, err = fresh, ferr
		}
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		if apiErr.Status != http.StatusConflict { // not connected or broken: nothing to check against
			s.deps.Logger.WarnContext(ctx, "campaign settings saved without checking them in HubSpot", "workspace_id", ws.String(), "error", apiErr.Message)
		}
		return nil, nil
	}
	return problems, err
}

func (s *Server) settingsProblems(ctx context.Context, ws uuid.UUID, names portalNames, refresh bool) (map[string]string, error) {
	problems := map[string]string{}
	props := map[hubspotobject.Type]map[string]hubspot.Property{}
	for _, n := range names.properties {
		have, ok := props[n.object]
		if !ok {
			list, err := s.portalProperties(ctx, ws, n.object, refresh)
			if err != nil {
				return nil, err
			}
			have = make(map[string]hubspot.Property, len(list))
			for _, p := range list {
				have[p.Name] = p
			}
			props[n.object] = have
		}
		p, ok := have[n.property]
		if !ok {
			if !ownProperty(n.object, n.property) {
				problems[n.field] = fmt.Sprintf("the connected HubSpot portal has no %s property %q (names are internal names; GET /api/v1/hubspot/properties?object=%s lists them)", n.object, n.property, n.object)
			}
			continue
		}
		if len(p.Options) == 0 || (p.Type != hubspot.TypeEnumeration && p.Type != hubspot.TypeBool) {
			continue
		}
		for _, v := range n.values {
			values := []string{v.value}
			if p.FieldType == hubspot.FieldCheckbox { // several choices, separated by ;
				values = strings.Split(v.value, ";")
			}
			for _, one := range values {
				if !slices.ContainsFunc(p.Options, func(o hubspot.PropertyOption) bool { return o.Value == one }) {
					problems[v.field] = noOption(p, one)
					break
				}
			}
		}
	}
	if len(names.stages) > 0 {
		pipes, err := s.portalPipelines(ctx, ws, refresh)
		if err != nil {
			return nil, err
		}
		for _, n := range names.stages {
			i := slices.IndexFunc(pipes, func(p hubspot.Pipeline) bool { return p.ID == n.pipeline })
			if i < 0 {
				continue // the pipeline value itself is refused as an option of pipeline
			}
			if _, ok := pipes[i].Stage(n.stage); !ok && problems[n.field] == "" {
				var stages []string
				for _, st := range pipes[i].Stages {
					stages = append(stages, fmt.Sprintf("%s (%s)", st.ID, st.Label))
				}
				problems[n.field] = fmt.Sprintf("pipeline %s (%s) has no stage %q; its stages are %s", pipes[i].ID, pipes[i].Label, n.stage, strings.Join(stages, ", "))
			}
		}
	}
	if len(names.lists) > 0 {
		lists, err := s.portalLists(ctx, ws, refresh)
		if err != nil {
			return nil, err
		}
		for _, n := range names.lists {
			i := slices.IndexFunc(lists, func(l hubspot.List) bool { return l.ListID == n.value })
			switch {
			case i < 0:
				problems[n.field] = fmt.Sprintf("the connected HubSpot portal has no list %s (GET /api/v1/hubspot/lists lists them)", n.value)
			case hubspotobject.FromTypeID(lists[i].ObjectTypeID) != hubspotobject.Contact:
				problems[n.field] = fmt.Sprintf("list %s (%s) is not a list of contacts (objectTypeId %s): only contacts become members", n.value, lists[i].Name, lists[i].ObjectTypeID)
			}
		}
	}
	return problems, nil
}

// noOption says that property p has no option value, naming the options it
// has (internal value and label).
func noOption(p hubspot.Property, value string) string {
	var opts []string
	for i, o := range p.Options {
		if i == maxOptionsNamed {
			opts = append(opts, fmt.Sprintf("and %d more", len(p.Options)-maxOptionsNamed))
			break
		}
		opts = append(opts, fmt.Sprintf("%s (%s)", o.Value, o.Label))
	}
	return fmt.Sprintf("%s has no option %q; its options are %s (rules match the internal value, not the label)", p.Name, value, strings.Join(opts, ", "))
}
