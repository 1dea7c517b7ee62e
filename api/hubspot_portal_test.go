package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
)

// getJSON opens target in the admin's browser and decodes a 200 answer into
// out; it returns the status and, for an error answer, its detail.
func getJSON(t *testing.T, browser *http.Client, target string, out any) (int, ErrorDetail) {
	t.Helper()
	code, body := open(t, browser, target)
	if code != http.StatusOK {
		var e ErrorBody
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("GET %s: %d with a body that is not JSON: %s", target, code, body)
		}
		return code, e.Error
	}
	if err := json.Unmarshal([]byte(body), out); err != nil {
		t.Fatalf("GET %s: %v\n%s", target, err, body)
	}
	return code, ErrorDetail{}
}

// portalCalls counts the CRM calls the portal saw to paths holding part.
func (h *hubspotAPI) portalCalls(part string) int {
	n := 0
	for _, c := range h.sim.Calls(h.portal.ID) {
		if strings.Contains(c.Path, part) {
			n++
		}
	}
	return n
}

func findProperty(list PortalPropertyList, name string) (PortalPropertyView, bool) {
	for _, p := range list.Data {
		if p.Name == name {
			return p, true
		}
	}
	return PortalPropertyView{}, false
}

// The admin picks properties, option values, pipelines, stages and lists
// from what the connected portal has, as HubSpot answers them: read once,
// kept a minute, read again on refresh.
func TestPortalSetupIsReadFromTheConnectedPortal(t *testing.T) {
	t.Parallel()
	h := newHubSpotAPI(t, hubspotsim.DefaultClientID)
	ws := h.workspace(t, "Acme")
	_, browser, key := h.admin(t, ws, "ops@acme.test")
	api := h.url + "/api/v1/hubspot"

	// Not connected: 409 saying so, for each read.
	for _, path := range []string{"/properties?object=deal", "/pipelines", "/lists"} {
		var v any
		code, e := getJSON(t, browser, api+path, &v)
		if code != http.StatusConflict || e.Code != "not_connected" || !strings.Contains(e.Message, "not connected") {
			t.Fatalf("%s before connecting: %d %+v", path, code, e)
		}
	}
	if code, _ := open(t, browser, h.startConnect(t, browser, "allow")); code != http.StatusOK {
		t.Fatalf("connect: %d", code)
	}

	// A bad parameter is 400 naming it.
	var v any
	if code, e := getJSON(t, browser, api+"/properties?object=ticket", &v); code != http.StatusBadRequest || e.Fields["object"] == "" {
		t.Fatalf("unknown object: %d %+v", code, e)
	}
	if code, e := getJSON(t, browser, api+"/properties", &v); code != http.StatusBadRequest || e.Fields["object"] == "" {
		t.Fatalf("no object: %d %+v", code, e)
	}
	if code, e := getJSON(t, browser, api+"/lists?refresh=soon", &v); code != http.StatusBadRequest || e.Fields["refresh"] == "" {
		t.Fatalf("bad refresh: %d %+v", code, e)
	}

	// Properties: internal names, labels, types and options.
	var deals PortalPropertyList
	if code, e := getJSON(t, browser, api+"/properties?object=deal", &deals); code != http.StatusOK {
		t.Fatalf("deal properties: %d %+v", code, e)
	}
	stage, ok := findProperty(deals, "dealstage")
	if deals.Object != "deal" || !ok || stage.Type != "enumeration" || stage.FieldType == "" || stage.Label == "" {
		t.Fatalf("dealstage: %+v (found %v)", stage, ok)
	}
	var won bool
	for _, o := range stage.Options {
		won = won || (o.Value == "closedwon" && o.Label != "" && o.Label != o.Value)
	}
	if !won {
		t.Fatalf("dealstage options lack closedwon with its label: %+v", stage.Options)
	}
	if _, ok := findProperty(deals, "referflow_referral_status"); !ok {
		t.Fatal("referflow's own deal property is not listed")
	}
	var contacts PortalPropertyList
	if code, _ := getJSON(t, browser, api+"/properties?object=contact", &contacts); code != http.StatusOK {
		t.Fatalf("contact properties: %d", code)
	}
	if p, ok := findProperty(contacts, "email"); !ok || p.Type != "string" || len(p.Options) != 0 {
		t.Fatalf("contact email: %+v %v", p, ok)
	}
	var companies PortalPropertyList
	if code, _ := getJSON(t, browser, api+"/properties?object=company", &companies); code != http.StatusOK || companies.Object != "company" || len(companies.Data) == 0 {
		t.Fatalf("company properties: %d %+v", code, companies)
	}

	// Cached: a property added in HubSpot shows after a refresh, and the
	// second read cost HubSpot no call.
	if err := h.sim.CreateProperty(h.portal.ID, "contacts", map[string]any{
		"name": "partner_tier", "label": "Partner tier", "type": "enumeration", "fieldType": "select", "groupName": "contactinformation",
		"options": []map[string]any{{"label": "Gold", "value": "gold"}, {"label": "Silver", "value": "silver"}},
	}); err != nil {
		t.Fatal(err)
	}
	before := h.portalCalls("/properties/")
	if code, _ := getJSON(t, browser, api+"/properties?object=contact", &contacts); code != http.StatusOK {
		t.Fatal(code)
	}
	if _, ok := findProperty(contacts, "partner_tier"); ok || h.portalCalls("/properties/") != before {
		t.Fatalf("a second read within the minute asked HubSpot again (calls %d -> %d)", before, h.portalCalls("/properties/"))
	}
	if code, _ := getJSON(t, browser, api+"/properties?object=contact&refresh=true", &contacts); code != http.StatusOK {
		t.Fatal(code)
	}
	tier, ok := findProperty(contacts, "partner_tier")
	if !ok || len(tier.Options) != 2 || tier.Options[0] != (PortalPropertyOptionView{Value: "gold", Label: "Gold"}) {
		t.Fatalf("after refresh: %+v %v", tier, ok)
	}

	// Pipelines: won and lost from the stage metadata, for the default
	// pipeline and a custom one whose stage IDs are numbers.
	pid, sids, err := h.sim.AddDealPipeline(h.portal.ID, "Partners", []hubspotsim.PipelineStageInput{
		{Label: "Introduced", DisplayOrder: 0, Metadata: map[string]string{"probability": "0.1"}},
		{Label: "Signed", DisplayOrder: 1, Metadata: map[string]string{"probability": "1.0"}},
		{Label: "Dropped", DisplayOrder: 2, Metadata: map[string]string{"probability": "0.0"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var pipes PortalPipelineList
	if code, e := getJSON(t, browser, api+"/pipelines", &pipes); code != http.StatusOK {
		t.Fatalf("pipelines: %d %+v", code, e)
	}
	stages := map[string]PortalStageView{}
	for _, p := range pipes.Data {
		for _, s := range p.Stages {
			stages[p.ID+"/"+s.ID] = s
		}
	}
	for key, want := range map[string][2]bool{
		"default/closedwon": {true, false}, "default/closedlost": {false, true}, "default/contractsent": {false, false},
		pid + "/" + sids[0]: {false, false}, pid + "/" + sids[1]: {true, false}, pid + "/" + sids[2]: {false, true},
	} {
		s, ok := stages[key]
		if !ok || s.Won != want[0] || s.Lost != want[1] || s.Probability == nil || s.Closed != (want[0] || want[1]) || s.Label == "" {
			t.Errorf("stage %s: %+v (found %v), want won %v lost %v", key, s, ok, want[0], want[1])
		}
	}

	// Lists: static and dynamic.
	if _, err := h.sim.CreateList(h.portal.ID, "Partners to invite", "contacts", "MANUAL", nil); err != nil {
		t.Fatal(err)
	}
	filter := json.RawMessage(`{"filterBranchType":"OR","filters":[],"filterBranches":[{"filterBranchType":"AND","filterBranches":[],"filters":[{"filterType":"PROPERTY","property":"lifecyclestage","operation":{"operationType":"ENUMERATION","operator":"IS_ANY_OF","values":["customer"]}}]}]}`)
	dynID, err := h.sim.CreateList(h.portal.ID, "Customers", "contacts", "DYNAMIC", filter)
	if err != nil {
		t.Fatal(err)
	}
	var lists PortalListList
	if code, e := getJSON(t, browser, api+"/lists", &lists); code != http.StatusOK {
		t.Fatalf("lists: %d %+v", code, e)
	}
	found := map[string]PortalListView{}
	for _, l := range lists.Data {
		found[l.Name] = l
	}
	if l := found["Partners to invite"]; l.ID == "" || l.Dynamic || l.ProcessingType != "MANUAL" || l.Object != "contact" {
		t.Errorf("static list: %+v", l)
	}
	if l := found["Customers"]; l.ID != dynID || !l.Dynamic || l.ProcessingType != "DYNAMIC" || l.Object != "contact" {
		t.Errorf("dynamic list: %+v", l)
	}

	// HubSpot failing is 503 with a clear message, never 500; what was read
	// before is still answered from the cache.
	if _, err := h.sim.SetMode(h.portal.ID, hubspotsim.Mode{Kind: hubspotsim.ModeServerErrors}); err != nil {
		t.Fatal(err)
	}
	if code, e := getJSON(t, browser, api+"/lists?refresh=true", &v); code != http.StatusServiceUnavailable || !strings.Contains(e.Message, "HubSpot") {
		t.Fatalf("HubSpot failing: %d %+v", code, e)
	}
	if code, _ := getJSON(t, browser, api+"/pipelines", &pipes); code != http.StatusOK {
		t.Fatalf("cached pipelines while HubSpot fails: %d", code)
	}
	h.sim.ClearMode(h.portal.ID, hubspotsim.ModeServerErrors)
	if _, err := h.sim.SetMode(h.portal.ID, hubspotsim.Mode{Kind: hubspotsim.ModeRateLimit}); err != nil {
		t.Fatal(err)
	}
	if code, e := getJSON(t, browser, api+"/properties?object=deal&refresh=true", &v); code != http.StatusServiceUnavailable || !strings.Contains(e.Message, "rate limit") {
		t.Fatalf("HubSpot rate limiting: %d %+v", code, e)
	}
	h.sim.ClearMode(h.portal.ID, hubspotsim.ModeRateLimit)

	// Disconnected: 409 again, not the cached answer.
	req, _ := http.NewRequest(http.MethodPost, api+"/disconnect", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("disconnect: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if code, e := getJSON(t, browser, api+"/pipelines", &v); code != http.StatusConflict || e.Code != "not_connected" {
		t.Fatalf("pipelines after disconnect: %d %+v", code, e)
	}
}

// send makes an admin API call with the admin's key and returns the status
// and the error detail of an error answer.
func send(t *testing.T, method, target, key string, body any) (int, ErrorDetail) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, target, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e ErrorBody
	if resp.StatusCode >= 300 {
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatalf("%s %s: %d with a body that is not JSON", method, target, resp.StatusCode)
		}
	}
	return resp.StatusCode, e.Error
}

// Saving campaign settings checks every property, option value, pipeline
// and stage they name against the connected portal, and says which is not
// there; with no portal connected they are saved unchecked.
func TestCampaignSettingsAreCheckedInTheConnectedPortal(t *testing.T) {
	t.Parallel()
	h := newHubSpotAPI(t, hubspotsim.DefaultClientID)
	ws := h.workspace(t, "Acme")
	_, browser, key := h.admin(t, ws, "ops@acme.test")
	example := ExampleCampaign()
	example.Status = nil
	wrong := *example.Settings
	wrong.StatusRules.Approved = &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closed_won"}}

	// Not connected: saved without a check.
	name := "Unchecked"
	if code, e := send(t, http.MethodPost, h.url+"/api/v1/campaigns", key, CampaignInput{Name: &name, Settings: &wrong}); code != http.StatusCreated {
		t.Fatalf("create without a portal: %d %+v", code, e)
	}

	if code, _ := open(t, browser, h.startConnect(t, browser, "allow")); code != http.StatusOK {
		t.Fatalf("connect: %d", code)
	}
	// The example campaign names only what every portal has.
	var created CampaignView
	raw, _ := json.Marshal(example)
	resp, err := http.DefaultClient.Do(func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/api/v1/campaigns", bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		return req
	}())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create the example campaign: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	settingsURL := h.url + "/api/v1/campaigns/" + created.ID + "/settings"

	// A label instead of the internal value: 422 naming the field, the
	// value and the options there are.
	code, e := send(t, http.MethodPut, settingsURL, key, wrong)
	if msg := e.Fields["settings.status_rules.approved.values[0]"]; code != http.StatusUnprocessableEntity ||
		!strings.Contains(msg, `dealstage has no option "closed_won"`) || !strings.Contains(msg, "closedwon (Closed Won)") {
		t.Fatalf("a stage that does not exist: %d %+v", code, e)
	}
	// A creation with it is refused too.
	name = "Checked"
	if code, e := send(t, http.MethodPost, h.url+"/api/v1/campaigns", key, CampaignInput{Name: &name, Settings: &wrong}); code != http.StatusUnprocessableEntity || e.Fields["settings.status_rules.approved.values[0]"] == "" {
		t.Fatalf("create with a stage that does not exist: %d %+v", code, e)
	}

	// A property that does not exist, and one added in HubSpot a moment
	// ago (after the properties were cached): the first is refused, the
	// second found by a fresh read.
	s := *example.Settings
	s.PropertyUpdates.Mappings = []campaign.PropertyUpdate{{Object: "deal", Property: "amount_paid", Field: "sale_value", Currency: "USD"}}
	s.ProcessRules.MatchingRules = []campaign.MatchingRule{{Object: "contact", Property: "partner_code", Holds: "referral_code"}}
	code, e = send(t, http.MethodPut, settingsURL, key, s)
	if code != http.StatusUnprocessableEntity || !strings.Contains(e.Fields["settings.property_updates.mappings[0].property"], `no deal property "amount_paid"`) ||
		!strings.Contains(e.Fields["settings.process_rules.matching_rules[0].property"], `no contact property "partner_code"`) {
		t.Fatalf("properties that do not exist: %d %+v", code, e)
	}
	if err := h.sim.CreateProperty(h.portal.ID, "contacts", map[string]any{"name": "partner_code", "label": "Partner code", "type": "string", "fieldType": "text", "groupName": "contactinformation"}); err != nil {
		t.Fatal(err)
	}
	s.PropertyUpdates.Mappings[0].Property = "amount"
	if code, e := send(t, http.MethodPut, settingsURL, key, s); code != http.StatusOK {
		t.Fatalf("properties that exist: %d %+v", code, e)
	}

	// A custom pipeline: its stages are numbers, and a fixed stage must be
	// one of the fixed pipeline's.
	pid, sids, err := h.sim.AddDealPipeline(h.portal.ID, "Partners", []hubspotsim.PipelineStageInput{
		{Label: "Introduced", Metadata: map[string]string{"probability": "0.1"}},
		{Label: "Signed", DisplayOrder: 1, Metadata: map[string]string{"probability": "1.0"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s = *example.Settings
	s.Leads.FieldMapping = slices.Clone(s.Leads.FieldMapping)
	s.Leads.FieldMapping[0].Value = pid // pipeline
	s.Leads.FieldMapping[1].Value = "appointmentscheduled"
	s.StatusRules = campaign.StatusRules{Approved: &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{sids[1]}}}
	code, e = send(t, http.MethodPut, settingsURL, key, s)
	if msg := e.Fields["settings.leads.field_mapping[1].value"]; code != http.StatusUnprocessableEntity ||
		!strings.Contains(msg, `has no stage "appointmentscheduled"`) || !strings.Contains(msg, sids[0]+" (Introduced)") {
		t.Fatalf("a stage of another pipeline: %d %+v", code, e)
	}
	s.Leads.FieldMapping[1].Value = sids[0]
	if code, e := send(t, http.MethodPut, settingsURL, key, s); code != http.StatusOK {
		t.Fatalf("the custom pipeline's stages: %d %+v", code, e)
	}

	// Enrolling members on a lifecycle stage: its internal value, not
	// its label.
	s = *example.Settings
	s.ProcessRules.EnrolMembers = &campaign.EnrolMembers{OnLifecycleStages: []string{"Customer"}}
	code, e = send(t, http.MethodPut, settingsURL, key, s)
	if msg := e.Fields["settings.process_rules.enrol_members.on_lifecycle_stages[0]"]; code != http.StatusUnprocessableEntity || !strings.Contains(msg, `lifecyclestage has no option "Customer"`) {
		t.Fatalf("a lifecycle stage by its label: %d %+v", code, e)
	}
	s.ProcessRules.EnrolMembers.OnLifecycleStages = []string{"customer"}
	if code, e := send(t, http.MethodPut, settingsURL, key, s); code != http.StatusOK {
		t.Fatalf("a lifecycle stage by its internal value: %d %+v", code, e)
	}

	// Enrolling contacts added to lists: each must be a list of contacts
	// in the portal.
	contactList, err := h.sim.CreateList(h.portal.ID, "Advocates", "contacts", "MANUAL", nil)
	if err != nil {
		t.Fatal(err)
	}
	dealList, err := h.sim.CreateList(h.portal.ID, "Big deals", "deals", "MANUAL", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.ProcessRules.EnrolMembers.OnListIDs = []string{contactList, "987654", dealList}
	code, e = send(t, http.MethodPut, settingsURL, key, s)
	if code != http.StatusUnprocessableEntity || !strings.Contains(e.Fields["settings.process_rules.enrol_members.on_list_ids[1]"], "has no list 987654") ||
		!strings.Contains(e.Fields["settings.process_rules.enrol_members.on_list_ids[2]"], "not a list of contacts") || e.Fields["settings.process_rules.enrol_members.on_list_ids[0]"] != "" {
		t.Fatalf("lists: %d %+v", code, e)
	}
	s.ProcessRules.EnrolMembers.OnListIDs = []string{"abc"}
	if code, e := send(t, http.MethodPut, settingsURL, key, s); code != http.StatusUnprocessableEntity || !strings.Contains(e.Fields["settings.process_rules.enrol_members.on_list_ids[0]"], "must be a HubSpot list ID") {
		t.Fatalf("a list ID that is no number: %d %+v", code, e)
	}
	s.ProcessRules.EnrolMembers.OnListIDs = []string{contactList}
	if code, e := send(t, http.MethodPut, settingsURL, key, s); code != http.StatusOK {
		t.Fatalf("a list of contacts: %d %+v", code, e)
	}

	// HubSpot failing does not stop a save: the check is skipped.
	if _, err := h.sim.SetMode(h.portal.ID, hubspotsim.Mode{Kind: hubspotsim.ModeServerErrors}); err != nil {
		t.Fatal(err)
	}
	if code, e := send(t, http.MethodPut, settingsURL, key, wrong); code != http.StatusUnprocessableEntity || e.Fields["settings.status_rules.approved.values[0]"] == "" {
		t.Fatalf("the cached answer stands while HubSpot fails: %d %+v", code, e)
	}
	s = *example.Settings
	s.ProcessRules.MatchingRules = []campaign.MatchingRule{{Object: "company", Property: "partner_code", Holds: "referral_code"}}
	if code, e := send(t, http.MethodPut, settingsURL, key, s); code != http.StatusOK {
		t.Fatalf("save while HubSpot fails, company properties never read: %d %+v", code, e)
	}
	h.sim.ClearMode(h.portal.ID, hubspotsim.ModeServerErrors)
}
