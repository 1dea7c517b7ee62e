package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
)

// The admin UI's campaigns: the list, creating one, and a setup page per
// settings section. Every save goes through the JSON API's functions
// (newCampaign, saveCampaignSettings, updateCampaignDetails), so the same
// validation refuses the same input; its problems, keyed by the settings
// path ("settings.leads.field_mapping[0].property"), are shown next to the
// form field of that path. The dropdowns list the connected portal's
// properties, options, pipelines and stages (portalProperties,
// portalPipelines: what GET /api/v1/hubspot/properties and /pipelines
// serve), read again with "Refresh from HubSpot".

func (s *Server) routeAdminCampaigns(g *echo.Group) {
	g.GET("/campaigns", s.adminCampaigns)
	g.POST("/campaigns", s.adminCreateCampaign)
	g.GET("/campaigns/:id", s.adminCampaignOverview)
	g.POST("/campaigns/:id/details", s.adminCampaignDetails)
	g.POST("/campaigns/:id/test-event", s.adminCampaignTestEvent)
	g.GET("/campaigns/:id/:section", s.adminCampaignSection)
	g.POST("/campaigns/:id/:section", s.adminSaveCampaignSection)
}

// ---------------------------------------------------------------- list

type campaignsPage struct {
	AdminPage
	Campaigns []campaignRow
	NameField adminField
}

type campaignRow struct {
	ID, Name, Status string
	SetupRequired    int
}

func (s *Server) adminCampaigns(c echo.Context) error {
	return s.renderAdminCampaigns(c, http.StatusOK, s.newAdminPage(c, "Campaigns", navCampaigns), "")
}

func (s *Server) renderAdminCampaigns(c echo.Context, status int, page AdminPage, name string) error {
	rows, err := s.queries().CampaignListByWorkspace(c.Request().Context(), adminFrom(c).WorkspaceID)
	if err != nil {
		return err
	}
	p := campaignsPage{AdminPage: page, NameField: adminField{Name: "name", Label: "Name", Type: "text", Value: name, Required: true, MaxLength: 200,
		Hint: "Admins see it; it is unique in the workspace.", Error: page.FieldError("name")}}
	for _, r := range rows {
		settings, err := activities.CampaignSettings(r)
		if err != nil {
			return err
		}
		p.Campaigns = append(p.Campaigns, campaignRow{ID: r.ID.String(), Name: r.Name, Status: r.Status, SetupRequired: len(settings.SetupRequired())})
	}
	return renderAdmin(c, status, "admin_campaigns", p)
}

func (s *Server) adminCreateCampaign(c echo.Context) error {
	name := adminFormValue(c, "name")
	defaults := campaign.Defaults()
	row, err := s.newCampaign(c.Request().Context(), adminFrom(c).WorkspaceID, CampaignInput{Name: &name, Settings: &defaults})
	if err != nil {
		page := s.newAdminPage(c, "Campaigns", navCampaigns)
		if !page.SetProblems(err) {
			return err
		}
		return s.renderAdminCampaigns(c, http.StatusUnprocessableEntity, page, name)
	}
	return s.redirectWithFlash(c, "/admin/campaigns/"+row.ID.String(), fmt.Sprintf("Campaign %q created as a draft. Set it up section by section, then activate it.", row.Name))
}

// ---------------------------------------------------------------- sections

// campaignSection is one setup page of a campaign.
type campaignSection struct {
	Slug, Label string
	// Intro says what the section decides.
	Intro string
}

var campaignSections = []campaignSection{
	{"overview", "Overview", ""},
	{"leads", "Leads", "What referflow creates in HubSpot for each referred lead, and which HubSpot properties get which values."},
	{"referrers", "Referrers", "What referflow creates in HubSpot for each member who refers (a referrer), and which properties get which values."},
	{"status-rules", "Status rules", "Which HubSpot change moves a referral to qualified, approved or denied. Choose a property and save: its values can then be picked."},
	{"property-updates", "Property updates", "HubSpot properties whose changes referflow copies onto the referral."},
	{"process-rules", "Process rules", "What referflow does on its own and what waits in the review queue, and how HubSpot records are matched to members."},
	{"rewards", "Rewards", "What members and their friends earn, and when."},
	{"public", "Public settings", "The join page, the hosted form and referral links: the public slug, where links land, and attribution."},
}

func sectionBySlug(slug string) (campaignSection, bool) {
	for _, s := range campaignSections {
		if s.Slug == slug && slug != "overview" {
			return s, true
		}
	}
	return campaignSection{}, false
}

// campaignPageBase is what every page of one campaign shows: its name, the
// section tabs and the "setup required" banner.
type campaignPageBase struct {
	AdminPage
	Campaign db.Campaign
	// Part is the section shown (AdminPage.Section is the nav's).
	Part          campaignSection
	Sections      []campaignSection
	SetupRequired []setupItem
	ReadOnly      bool
}

// setupItem is one missing piece of setup and the section that fixes it.
type setupItem struct{ Text, Section string }

func (s *Server) campaignPageBase(c echo.Context, row db.Campaign, section campaignSection, settings campaign.Settings) campaignPageBase {
	b := campaignPageBase{AdminPage: s.newAdminPage(c, row.Name, navCampaigns), Campaign: row, Part: section, Sections: campaignSections,
		ReadOnly: !campaign.Status(row.Status).Editable()}
	if section.Slug != "overview" {
		b.Title = section.Label + " · " + row.Name
	}
	for _, m := range settings.LeadsSetupRequired() {
		b.SetupRequired = append(b.SetupRequired, setupItem{Text: m, Section: "leads"})
	}
	for _, m := range settings.ReferrersSetupRequired() {
		b.SetupRequired = append(b.SetupRequired, setupItem{Text: m, Section: "referrers"})
	}
	return b
}

type campaignOverviewPage struct {
	campaignPageBase
	View        CampaignView
	StatusField adminField
	FulfilField adminField
}

func (s *Server) adminCampaignOverview(c echo.Context) error {
	row, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	page := s.newAdminPage(c, row.Name, navCampaigns)
	return s.renderCampaignOverview(c, http.StatusOK, row, page)
}

func (s *Server) renderCampaignOverview(c echo.Context, status int, row db.Campaign, page AdminPage) error {
	view, err := campaignView(row)
	if err != nil {
		return err
	}
	p := campaignOverviewPage{campaignPageBase: s.campaignPageBase(c, row, campaignSections[0], view.Settings), View: view}
	p.AdminPage.Flash, p.AdminPage.Error, p.AdminPage.Fields = page.Flash, page.Error, page.Fields
	opts := []adminOption{{Value: row.Status, Label: row.Status + " (now)", Selected: true}}
	for _, st := range view.AllowedTransitions {
		opts = append(opts, adminOption{Value: st, Label: st})
	}
	p.StatusField = adminField{Name: "status", Label: "Status", Type: "select", Options: opts, Required: true, Error: page.FieldError("status"),
		Hint: "A draft takes members and referrals but sends nothing to HubSpot; active runs; paused takes nothing new; archived is read-only."}
	p.FulfilField = adminField{Name: "fulfilment_webhook_url", Label: "Fulfilment webhook URL", Type: "url", Value: view.FulfilmentWebhookURL, MaxLength: 2048,
		Error: page.FieldError("fulfilment_webhook_url"), Hint: "Where referflow announces rewards (https)."}
	return renderAdmin(c, status, "admin_campaign", p)
}

// adminCampaignDetails changes the campaign's status and fulfilment URL
// (PATCH /api/v1/campaigns/{id}'s updateCampaignDetails).
func (s *Server) adminCampaignDetails(c echo.Context) error {
	row, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	in := CampaignInput{}
	if st := adminFormValue(c, "status"); st != "" && st != row.Status {
		in.Status = &st
	}
	url := adminFormValue(c, "fulfilment_webhook_url")
	old := ""
	if row.FulfilmentWebhookUrl != nil {
		old = *row.FulfilmentWebhookUrl
	}
	if url != old {
		in.FulfilmentWebhookURL = &url
	}
	if in.Status == nil && in.FulfilmentWebhookURL == nil {
		return s.redirectWithFlash(c, "/admin/campaigns/"+row.ID.String(), "Nothing changed.")
	}
	updated, err := s.updateCampaignDetails(c.Request().Context(), row, in)
	if errors.Is(err, errCampaignChangedMeanwhile) {
		err = s.campaignChangedMeanwhile(c)
	}
	if err != nil {
		page := s.newAdminPage(c, row.Name, navCampaigns)
		if !page.SetProblems(err) {
			return err
		}
		return s.renderCampaignOverview(c, http.StatusUnprocessableEntity, row, page)
	}
	return s.redirectWithFlash(c, "/admin/campaigns/"+row.ID.String(), fmt.Sprintf("Saved: the campaign is %s.", updated.Status))
}

// campaignSectionPage is a settings section's form.
type campaignSectionPage struct {
	campaignPageBase
	Groups []formGroup
	// PortalNotice says why the dropdowns are not filled from HubSpot.
	PortalNotice string
	// TestEvent is the status-rules page's "send a test event" form.
	TestEvent *testEventForm
}

// formGroup is a fieldset of a section's form.
type formGroup struct {
	Legend, Hint string
	Fields       []adminField
}

func (s *Server) adminCampaignSection(c echo.Context) error {
	row, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	section, ok := sectionBySlug(c.Param("section"))
	if !ok {
		return NewError(http.StatusNotFound, "not_found", "There is no such setup page for a campaign.")
	}
	settings, err := activities.CampaignSettings(row)
	if err != nil {
		return err
	}
	return s.renderCampaignSection(c, http.StatusOK, row, section, settings, s.newAdminPage(c, row.Name, navCampaigns), c.QueryParam("refresh") != "")
}

func (s *Server) renderCampaignSection(c echo.Context, status int, row db.Campaign, section campaignSection, settings campaign.Settings, page AdminPage, refresh bool) error {
	return s.renderCampaignSectionWith(c, status, row, section, settings, page, refresh, nil)
}

// renderCampaignSectionWith renders a section; the status-rules page shows
// testEvent (its "send a test event" form, blank when nil).
func (s *Server) renderCampaignSectionWith(c echo.Context, status int, row db.Campaign, section campaignSection, settings campaign.Settings, page AdminPage, refresh bool, testEvent *testEventForm) error {
	p := campaignSectionPage{campaignPageBase: s.campaignPageBase(c, row, section, settings)}
	if section.Slug == "status-rules" {
		if testEvent == nil {
			testEvent = newTestEventForm(settings, "", "", "", nil)
		}
		p.TestEvent = testEvent
	}
	p.AdminPage.Flash, p.AdminPage.Error, p.AdminPage.Fields = page.Flash, page.Error, page.Fields
	portal := s.loadPortalChoices(c.Request().Context(), row, refresh)
	p.PortalNotice = portal.notice
	f := sectionForm{portal: portal, errs: page.Fields}
	switch section.Slug {
	case "leads":
		p.Groups = f.crm("leads", settings.Leads)
	case "referrers":
		p.Groups = f.crm("referrers", settings.Referrers)
	case "status-rules":
		p.Groups = f.statusRules(settings)
	case "property-updates":
		p.Groups = f.propertyUpdates(settings.PropertyUpdates)
	case "process-rules":
		p.Groups = f.processRules(settings)
	case "rewards":
		p.Groups = f.rewards(settings.Rewards)
	case "public":
		p.Groups = f.public(settings.Public)
	}
	if refresh && portal.notice == "" {
		p.Flash = "The dropdowns were read again from HubSpot."
	}
	return renderAdmin(c, status, "admin_campaign_section", p)
}

func (s *Server) adminSaveCampaignSection(c echo.Context) error {
	row, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	section, ok := sectionBySlug(c.Param("section"))
	if !ok {
		return NewError(http.StatusNotFound, "not_found", "There is no such setup page for a campaign.")
	}
	settings, err := activities.CampaignSettings(row)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return NewError(http.StatusBadRequest, "bad_request", "The form could not be read.")
	}
	parseSection(section.Slug, form, &settings)
	_, err = s.saveCampaignSettings(c.Request().Context(), row, settings)
	if errors.Is(err, errCampaignChangedMeanwhile) {
		err = s.campaignChangedMeanwhile(c)
	}
	if err != nil {
		page := s.newAdminPage(c, row.Name, navCampaigns)
		if !page.SetProblems(err) {
			return err
		}
		page.Fields = settingsFieldErrors(page.Fields)
		return s.renderCampaignSection(c, http.StatusUnprocessableEntity, row, section, settings, page, false)
	}
	return s.redirectWithFlash(c, "/admin/campaigns/"+row.ID.String()+"/"+section.Slug, section.Label+" saved.")
}

// settingsFieldErrors keys the settings' problems by the form's input names:
// the settings path without "settings.".
func settingsFieldErrors(fields map[string]string) map[string]string {
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		out[strings.TrimPrefix(k, "settings.")] = v
	}
	return out
}

// ---------------------------------------------------------------- portal

// portalChoices is what the dropdowns offer from the connected portal.
type portalChoices struct {
	properties map[hubspotobject.Type][]hubspot.Property
	pipelines  []hubspot.Pipeline
	// notice says why there is nothing to choose from ("" when there is).
	notice string
}

func (s *Server) loadPortalChoices(ctx context.Context, row db.Campaign, refresh bool) portalChoices {
	pc := portalChoices{properties: map[hubspotobject.Type][]hubspot.Property{}}
	if s.deps.HubSpot == nil {
		pc.notice = "HubSpot is not configured: type HubSpot internal property names and values."
		return pc
	}
	for _, object := range []hubspotobject.Type{hubspotobject.Contact, hubspotobject.Deal} {
		props, err := s.portalProperties(ctx, row.WorkspaceID, object, refresh)
		if err != nil {
			pc.notice = "The dropdowns cannot list HubSpot's properties (" + portalNotice(err) + "): type internal names meanwhile."
			return pc
		}
		sort.Slice(props, func(i, j int) bool { return strings.ToLower(props[i].Label) < strings.ToLower(props[j].Label) })
		pc.properties[object] = props
	}
	pipes, err := s.portalPipelines(ctx, row.WorkspaceID, refresh)
	if err != nil {
		pc.notice = "The dropdowns cannot list HubSpot's pipelines (" + portalNotice(err) + ")."
		return pc
	}
	pc.pipelines = pipes
	return pc
}

func portalNotice(err error) string {
	var apiErr *APIError
	if errors.As(portalError(err), &apiErr) {
		return apiErr.Message
	}
	return "HubSpot could not be read"
}

func (pc portalChoices) has() bool { return len(pc.properties) > 0 }

func (pc portalChoices) property(object hubspotobject.Type, name string) (hubspot.Property, bool) {
	for _, p := range pc.properties[object] {
		if p.Name == name {
			return p, true
		}
	}
	return hubspot.Property{}, false
}

// valueOptions are the values a rule on object.property can pick: the
// stages of every pipeline for dealstage, else the property's options.
func (pc portalChoices) valueOptions(object hubspotobject.Type, property string, selected []string) []adminOption {
	var opts []adminOption
	add := func(value, label string) {
		opts = append(opts, adminOption{Value: value, Label: label, Selected: slices.Contains(selected, value)})
	}
	if object == hubspotobject.Deal && property == "dealstage" {
		for _, p := range pc.pipelines {
			for _, st := range p.Stages {
				add(st.ID, p.Label+": "+st.Label)
			}
		}
	} else if prop, ok := pc.property(object, property); ok {
		for _, o := range prop.Options {
			add(o.Value, o.Label)
		}
	}
	// A value saved that the portal no longer lists stays visible.
	for _, v := range selected {
		if !slices.ContainsFunc(opts, func(o adminOption) bool { return o.Value == v }) {
			opts = append(opts, adminOption{Value: v, Label: v + " (not in HubSpot)", Selected: true})
		}
	}
	return opts
}

// ---------------------------------------------------------------- forms

// sectionForm builds a section's fields from its settings; the input names
// are the settings' JSON paths, so validation problems land next to them.
type sectionForm struct {
	portal portalChoices
	errs   map[string]string
}

func (f sectionForm) err(keys ...string) string {
	var out []string
	for _, k := range keys {
		if e := f.errs[k]; e != "" {
			out = append(out, e)
		}
	}
	return strings.Join(out, "; ")
}

var idUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

func fieldID(name string) string { return strings.Trim(idUnsafe.ReplaceAllString(name, "-"), "-") }

func (f sectionForm) field(name, label, typ, value, hint string) adminField {
	return adminField{Name: name, ID: fieldID(name), Label: label, Type: typ, Value: value, Hint: hint, Error: f.err(name)}
}

func (f sectionForm) checkbox(name, label string, checked bool, hint string) adminField {
	a := f.field(name, label, "checkbox", "true", hint)
	a.Checked = checked
	return a
}

func (f sectionForm) choice(name, label, value, hint string, choices ...string) adminField {
	a := f.field(name, label, "select", value, hint)
	for i := 0; i+1 < len(choices); i += 2 {
		a.Options = append(a.Options, adminOption{Value: choices[i], Label: choices[i+1], Selected: choices[i] == value})
	}
	return a
}

// target is a select of object.property from the portal's properties of the
// objects (a text input "object.property" without a portal); errors of the
// row's .object and .property show on it.
func (f sectionForm) target(at, label string, object hubspotobject.Type, property, hint string, objects ...hubspotobject.Type) adminField {
	value := ""
	if property != "" {
		value = string(object) + "." + property
	}
	a := f.field(at+".target", label, "text", value, hint)
	a.Error = f.err(at+".object", at+".property", at)
	if !f.portal.has() {
		a.Hint = strings.TrimSpace(hint + " Type object.property, e.g. deal.dealstage.")
		return a
	}
	a.Type = "select"
	a.Options = []adminOption{{Value: "", Label: "(none)"}}
	found := value == ""
	for _, o := range objects {
		g := adminOptionGroup{Label: strings.ToUpper(string(o)[:1]) + string(o)[1:] + " properties"}
		for _, p := range f.portal.properties[o] {
			v := string(o) + "." + p.Name
			g.Options = append(g.Options, adminOption{Value: v, Label: p.Label + " (" + p.Name + ")", Selected: v == value})
			found = found || v == value
		}
		a.Groups = append(a.Groups, g)
	}
	if !found {
		a.Options = append(a.Options, adminOption{Value: value, Label: value + " (not in HubSpot)", Selected: true})
	}
	return a
}

func splitTarget(v string) (hubspotobject.Type, string) {
	o, p, ok := strings.Cut(strings.TrimSpace(v), ".")
	if !ok {
		return "", strings.TrimSpace(v)
	}
	return hubspotobject.Type(o), p
}

// mappingRowsShown is how many empty rows a list of rows offers.
const mappingRowsShown = 3

var sourceChoices = func() []string {
	out := []string{"", "(a fixed value)"}
	for _, s := range campaign.Sources {
		out = append(out, s, strings.ReplaceAll(s, "_", " "))
	}
	return out
}()

func (f sectionForm) crm(at string, c campaign.CRMSettings) []formGroup {
	what := "lead"
	if at == "referrers" {
		what = "referrer"
	}
	groups := []formGroup{{Legend: "What to create", Fields: []adminField{
		f.choice(at+".action", "For each "+what, c.Action, "", campaign.ActionNone, "send nothing to HubSpot", campaign.ActionCreateContact, "create a contact", campaign.ActionCreateDeal, "create a deal"),
		f.checkbox(at+".associate_contact", "Also create (or find) a contact and associate it with the deal", c.AssociateContact, ""),
		f.choice(at+".duplicate_handling", "When HubSpot already has the record", c.DuplicateHandling, "", campaign.DuplicateDoNothing, "leave it as it is", campaign.DuplicateUpdateExisting, "update it with the mapped values"),
	}}}
	objects := []hubspotobject.Type{hubspotobject.Contact, hubspotobject.Deal}
	var datalist []adminOption
	for _, p := range f.portal.pipelines {
		datalist = append(datalist, adminOption{Value: p.ID, Label: "pipeline " + p.Label})
		for _, st := range p.Stages {
			datalist = append(datalist, adminOption{Value: st.ID, Label: p.Label + ": " + st.Label})
		}
	}
	rows := append(slices.Clone(c.FieldMapping), make([]campaign.FieldMapping, mappingRowsShown)...)
	for i, r := range rows {
		rat := fmt.Sprintf("%s.field_mapping[%d]", at, i)
		g := formGroup{Legend: fmt.Sprintf("Field mapping row %d", i+1)}
		if i >= len(c.FieldMapping) {
			g.Hint = "An empty row is left out."
		}
		src := f.choice(rat+".source", "Copy this referflow value", r.Source, "", sourceChoices...)
		val := f.field(rat+".value", "Or write this fixed value", "text", r.Value, "For a deal's pipeline and stage, their IDs (suggested as you type).")
		if len(datalist) > 0 {
			val.List, val.ListOptions = fieldID(rat+".value")+"-choices", datalist
		}
		val.MaxLength = campaign.MaxValueLength
		g.Fields = []adminField{f.target(rat, "Into the HubSpot property", r.Object, r.Property, "", objects...), src, val}
		if e := f.err(rat); e != "" {
			g.Fields[0].Error = strings.Trim(g.Fields[0].Error+"; "+e, "; ")
		}
		groups = append(groups, g)
	}
	return groups
}

func (f sectionForm) statusRules(s campaign.Settings) []formGroup {
	var groups []formGroup
	objects := []hubspotobject.Type{hubspotobject.Deal, hubspotobject.Contact}
	for _, r := range []struct {
		key, label string
		rule       *campaign.StatusRule
	}{{"qualified", "Qualified", s.StatusRules.Qualified}, {"approved", "Approved", s.StatusRules.Approved}, {"denied", "Denied", s.StatusRules.Denied}} {
		at := "status_rules." + r.key
		rule := campaign.StatusRule{}
		if r.rule != nil {
			rule = *r.rule
		}
		g := formGroup{Legend: r.label + " when", Fields: []adminField{f.target(at, "This HubSpot property", rule.Object, rule.Property, "Leave it at (none) for no rule.", objects...)}}
		values := f.field(at+".values", "Changes to one of these values", "text", strings.Join(rule.Values, ", "), "Internal values, separated by commas.")
		values.Error = f.err(at + ".values")
		if opts := f.portal.valueOptions(rule.Object, rule.Property, rule.Values); f.portal.has() && rule.Property != "" && len(opts) > 0 {
			values.Type, values.Multiple, values.Options, values.Hint = "select", true, opts, "Pick one or more (Ctrl or ⌘ with a click, or Shift with the arrow keys)."
		}
		for i := range rule.Values {
			if e := f.err(fmt.Sprintf("%s.values[%d]", at, i)); e != "" {
				values.Error = strings.Trim(values.Error+"; "+e, "; ")
			}
		}
		g.Fields = append(g.Fields, values)
		groups = append(groups, g)
	}
	initial := campaign.PropertyValue{}
	if s.StatusRules.Initial != nil {
		initial = *s.StatusRules.Initial
	}
	created := campaign.CreatedObject(s.Leads.Action)
	ig := formGroup{Legend: "When the lead is created", Hint: "A property set on the record referflow creates (e.g. lifecyclestage = lead)."}
	prop := f.field("status_rules.initial.property", "Set this property", "text", initial.Property, "")
	if f.portal.has() && created != "" {
		prop.Type = "select"
		prop.Options = []adminOption{{Value: "", Label: "(none)"}}
		for _, p := range f.portal.properties[created] {
			prop.Options = append(prop.Options, adminOption{Value: p.Name, Label: p.Label + " (" + p.Name + ")", Selected: p.Name == initial.Property})
		}
	}
	ig.Fields = []adminField{prop, f.field("status_rules.initial.value", "To this value", "text", initial.Value, "")}
	return append(groups, ig)
}

func (f sectionForm) propertyUpdates(p campaign.PropertyUpdates) []formGroup {
	groups := []formGroup{{Legend: "Contact details", Fields: []adminField{
		f.checkbox("property_updates.allow_contact_detail_updates", "Let HubSpot change the referral's name and email", p.AllowContactDetailUpdates, ""),
	}}}
	fields := []string{"", "(none)"}
	for _, rf := range campaign.ReferralFields {
		fields = append(fields, rf, strings.ReplaceAll(rf, "_", " "))
	}
	rows := append(slices.Clone(p.Mappings), make([]campaign.PropertyUpdate, mappingRowsShown)...)
	for i, r := range rows {
		at := fmt.Sprintf("property_updates.mappings[%d]", i)
		groups = append(groups, formGroup{Legend: fmt.Sprintf("Update %d", i+1), Fields: []adminField{
			f.target(at, "When this HubSpot property changes", r.Object, r.Property, "", hubspotobject.Deal, hubspotobject.Contact),
			f.choice(at+".field", "Copy it into the referral's", r.Field, "", fields...),
			f.field(at+".currency", "Currency (for a sale value)", "text", r.Currency, "An ISO 4217 code, e.g. USD."),
		}})
	}
	return groups
}

func (f sectionForm) processRules(s campaign.Settings) []formGroup {
	p := s.ProcessRules
	groups := []formGroup{{Legend: "Automatic or reviewed", Fields: []adminField{
		f.checkbox("process_rules.auto_process_direct_matches", "Process direct matches automatically", p.AutoProcessDirectMatches, "A HubSpot record linked to a referral, or holding a referral code."),
		f.checkbox("process_rules.auto_process_fuzzy_matches", "Process fuzzy matches automatically", p.AutoProcessFuzzyMatches, "Matched by email or name and company domain; otherwise they wait for review."),
		f.checkbox("process_rules.review_when_no_member_matches", "Send changes no member matches to the review queue", p.ReviewWhenNoMemberMatches, ""),
		f.checkbox("process_rules.review_denied_to_qualified", "Review a denied referral that would become qualified", p.ReviewDeniedToQualified, ""),
		f.checkbox("process_rules.notify_on_review", "Notify admins when an entry waits for review", p.NotifyOnReview, ""),
		f.checkbox("process_rules.notify_on_status_change", "Notify members when their referral's status changes", p.NotifyOnStatusChange, ""),
	}}}
	ext := f.field("process_rules.external_id_property", "External ID property", "text", p.ExternalIDProperty, "The property of the created record holding your own ID for the lead.")
	if created := campaign.CreatedObject(s.Leads.Action); f.portal.has() && created != "" {
		ext.Type = "select"
		ext.Options = []adminOption{{Value: "", Label: "(none)"}}
		for _, pr := range f.portal.properties[created] {
			ext.Options = append(ext.Options, adminOption{Value: pr.Name, Label: pr.Label + " (" + pr.Name + ")", Selected: pr.Name == p.ExternalIDProperty})
		}
	}
	groups = append(groups, formGroup{Legend: "Matching", Fields: []adminField{ext}})
	holds := []string{"", "(none)"}
	for _, h := range campaign.MatchingHolds {
		holds = append(holds, h, strings.ReplaceAll(h, "_", " "))
	}
	rows := append(slices.Clone(p.MatchingRules), make([]campaign.MatchingRule, mappingRowsShown)...)
	for i, r := range rows {
		at := fmt.Sprintf("process_rules.matching_rules[%d]", i)
		groups = append(groups, formGroup{Legend: fmt.Sprintf("Matching rule %d", i+1), Fields: []adminField{
			f.target(at, "This HubSpot property", r.Object, r.Property, "", hubspotobject.Deal, hubspotobject.Contact),
			f.choice(at+".holds", "Holds the member's", r.Holds, "", holds...),
		}})
	}
	return groups
}

func (f sectionForm) rewards(r campaign.Rewards) []formGroup {
	groups := []formGroup{{Legend: "When", Fields: []adminField{
		f.choice("rewards.on_status", "Reward when the referral is", string(r.OnStatus), "", string(referral.Approved), "approved", string(referral.Qualified), "qualified"),
		f.checkbox("rewards.every_conversion", "Reward every conversion (not only the first)", r.EveryConversion, ""),
		f.field("rewards.hold_days", "Hold for days", "number", intText(r.HoldDays), "Days a reward waits before it is issued (refund window); 0 for none."),
		f.field("rewards.expire_after_days", "Expire after days", "number", intText(r.ExpireAfterDays), "0: never."),
	}}}
	for _, who := range []struct {
		key, label string
		reward     *campaign.Reward
	}{{"member", "The member's reward", r.Member}, {"friend", "The friend's reward", r.Friend}} {
		rw := campaign.Reward{}
		if who.reward != nil {
			rw = *who.reward
		}
		at := "rewards." + who.key
		groups = append(groups, formGroup{Legend: who.label, Fields: []adminField{
			f.choice(at+".kind", "Kind", rw.Kind, "", "", "no reward", campaign.RewardFixed, "a fixed amount", campaign.RewardPercentage, "a percentage of the sale"),
			f.field(at+".amount", "Amount", "text", rw.Amount, "For a fixed amount, e.g. 50 or 49.99."),
			f.field(at+".currency", "Currency", "text", rw.Currency, "An ISO 4217 code, e.g. USD."),
			f.field(at+".percent", "Percent", "text", rw.Percent, "For a percentage, e.g. 10."),
		}})
	}
	return groups
}

func (f sectionForm) public(p campaign.Public) []formGroup {
	return []formGroup{{Legend: "Pages and links", Fields: []adminField{
		f.field("public.slug", "Public slug", "text", p.Slug, "The join page is /c/<slug>/join: lowercase letters, digits and hyphens."),
		f.field("public.landing_url", "Landing URL", "url", p.LandingURL, "Where referral links send visitors (https); empty: the hosted form."),
		f.field("public.allowed_origins", "Allowed origins", "textarea", strings.Join(p.AllowedOrigins, "\n"), "Sites whose pages may send conversions with the tracking script, one per line, e.g. https://www.example.com."),
	}}, {Legend: "Attribution", Fields: []adminField{
		f.field("public.attribution.window_days", "Window in days", "number", intText(p.Attribution.WindowDays), "How long a click on a referral link is remembered."),
		f.choice("public.attribution.model", "When a visitor clicked several links", p.Attribution.Model, "", campaign.LastTouch, "the last click wins", campaign.FirstTouch, "the first click wins"),
	}}}
}

func intText(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// ---------------------------------------------------------------- parsing

// formValues reads a section's form.
type formValues map[string][]string

func (v formValues) get(name string) string {
	if vs := v[name]; len(vs) > 0 {
		return strings.TrimSpace(vs[len(vs)-1])
	}
	return ""
}

func (v formValues) has(name string) bool { return v.get(name) != "" }

// number reads an integer field; what is not one is kept as -1 so that the
// validation refuses it rather than it silently becoming 0.
func (v formValues) number(name string) int {
	s := v.get(name)
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// list reads a multi-select, or a text of values separated by commas.
func (v formValues) list(name string) []string {
	var out []string
	for _, raw := range v[name] {
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// parseSection puts a section's form into the settings; the other sections
// stay as they are.
func parseSection(slug string, form map[string][]string, s *campaign.Settings) {
	v := formValues(form)
	switch slug {
	case "leads":
		s.Leads = parseCRM(v, "leads")
	case "referrers":
		s.Referrers = parseCRM(v, "referrers")
	case "status-rules":
		rule := func(key string) *campaign.StatusRule {
			at := "status_rules." + key
			o, p := splitTarget(v.get(at + ".target"))
			if p == "" {
				return nil
			}
			return &campaign.StatusRule{Object: o, Property: p, Values: v.list(at + ".values")}
		}
		s.StatusRules.Qualified, s.StatusRules.Approved, s.StatusRules.Denied = rule("qualified"), rule("approved"), rule("denied")
		s.StatusRules.Initial = nil
		if p := v.get("status_rules.initial.property"); p != "" || v.has("status_rules.initial.value") {
			s.StatusRules.Initial = &campaign.PropertyValue{Property: p, Value: v.get("status_rules.initial.value")}
		}
	case "property-updates":
		s.PropertyUpdates.AllowContactDetailUpdates = v.has("property_updates.allow_contact_detail_updates")
		s.PropertyUpdates.Mappings = []campaign.PropertyUpdate{}
		for i := 0; i < campaign.MaxPropertyUpdates+mappingRowsShown; i++ {
			at := fmt.Sprintf("property_updates.mappings[%d]", i)
			o, p := splitTarget(v.get(at + ".target"))
			field, cur := v.get(at+".field"), v.get(at+".currency")
			if p == "" && field == "" && cur == "" {
				continue
			}
			s.PropertyUpdates.Mappings = append(s.PropertyUpdates.Mappings, campaign.PropertyUpdate{Object: o, Property: p, Field: field, Currency: cur})
		}
	case "process-rules":
		pr := &s.ProcessRules
		pr.AutoProcessDirectMatches = v.has("process_rules.auto_process_direct_matches")
		pr.AutoProcessFuzzyMatches = v.has("process_rules.auto_process_fuzzy_matches")
		pr.ReviewWhenNoMemberMatches = v.has("process_rules.review_when_no_member_matches")
		pr.ReviewDeniedToQualified = v.has("process_rules.review_denied_to_qualified")
		pr.NotifyOnReview = v.has("process_rules.notify_on_review")
		pr.NotifyOnStatusChange = v.has("process_rules.notify_on_status_change")
		pr.ExternalIDProperty = v.get("process_rules.external_id_property")
		pr.MatchingRules = nil
		for i := 0; i < campaign.MaxMatchingRules+mappingRowsShown; i++ {
			at := fmt.Sprintf("process_rules.matching_rules[%d]", i)
			o, p := splitTarget(v.get(at + ".target"))
			holds := v.get(at + ".holds")
			if p == "" && holds == "" {
				continue
			}
			pr.MatchingRules = append(pr.MatchingRules, campaign.MatchingRule{Object: o, Property: p, Holds: holds})
		}
	case "rewards":
		r := &s.Rewards
		r.OnStatus = referral.Status(v.get("rewards.on_status"))
		r.EveryConversion = v.has("rewards.every_conversion")
		r.HoldDays, r.ExpireAfterDays = v.number("rewards.hold_days"), v.number("rewards.expire_after_days")
		reward := func(at string) *campaign.Reward {
			kind := v.get(at + ".kind")
			if kind == "" {
				return nil
			}
			return &campaign.Reward{Kind: kind, Amount: v.get(at + ".amount"), Currency: strings.ToUpper(v.get(at + ".currency")), Percent: v.get(at + ".percent")}
		}
		r.Member, r.Friend = reward("rewards.member"), reward("rewards.friend")
	case "public":
		p := &s.Public
		p.Slug, p.LandingURL = v.get("public.slug"), v.get("public.landing_url")
		p.AllowedOrigins = []string{}
		for _, line := range strings.Split(v.get("public.allowed_origins"), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				p.AllowedOrigins = append(p.AllowedOrigins, line)
			}
		}
		p.Attribution.WindowDays = v.number("public.attribution.window_days")
		p.Attribution.Model = v.get("public.attribution.model")
	}
}

func parseCRM(v formValues, at string) campaign.CRMSettings {
	c := campaign.CRMSettings{Action: v.get(at + ".action"), AssociateContact: v.has(at + ".associate_contact"),
		DuplicateHandling: v.get(at + ".duplicate_handling"), FieldMapping: []campaign.FieldMapping{}}
	for i := 0; i < campaign.MaxFieldMappingRows+mappingRowsShown; i++ {
		rat := fmt.Sprintf("%s.field_mapping[%d]", at, i)
		o, p := splitTarget(v.get(rat + ".target"))
		src, val := v.get(rat+".source"), v.get(rat+".value")
		if p == "" && src == "" && val == "" {
			continue
		}
		c.FieldMapping = append(c.FieldMapping, campaign.FieldMapping{Object: o, Property: p, Source: src, Value: val})
	}
	return c
}
