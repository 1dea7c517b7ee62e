package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/contactsync"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/privacy"
	"github.com/referflow/referflow/internal/reports"
)

// openAPIDoc is the part of an OpenAPI 3.0 document the tests read.
type openAPIDoc struct {
	OpenAPI    string                     `json:"openapi"`
	Servers    []struct{ URL string }     `json:"servers"`
	Paths      map[string]openAPIPathItem `json:"paths"`
	Components struct {
		Schemas   map[string]openAPISchema `json:"schemas"`
		Responses map[string]any           `json:"responses"`
	} `json:"components"`
}

// openAPIPathItem is a path's operations by method, and the servers it is
// served at when not the document's (the public endpoints: /api/public/v1).
type openAPIPathItem struct {
	Servers    []struct{ URL string }
	Operations map[string]openAPIOperation
}

func (p *openAPIPathItem) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	p.Operations = map[string]openAPIOperation{}
	for k, v := range raw {
		if k == "servers" {
			if err := json.Unmarshal(v, &p.Servers); err != nil {
				return err
			}
			continue
		}
		var o openAPIOperation
		if err := json.Unmarshal(v, &o); err != nil {
			return err
		}
		p.Operations[k] = o
	}
	return nil
}

// server is where the path is served.
func (p openAPIPathItem) server(doc openAPIDoc) string {
	if len(p.Servers) > 0 {
		return p.Servers[0].URL
	}
	return doc.Servers[0].URL
}

type openAPIOperation struct {
	OperationID string `json:"operationId"`
	// Security is the operation's own: an empty list marks a public one.
	Security   *[]any `json:"security"`
	Parameters []struct {
		Name     string `json:"name"`
		In       string `json:"in"`
		Required bool   `json:"required"`
	} `json:"parameters"`
	RequestBody map[string]any            `json:"requestBody"`
	Responses   map[string]map[string]any `json:"responses"`
}

type openAPISchema struct {
	Type       string                     `json:"type"`
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
}

func loadOpenAPI(t *testing.T, raw []byte) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") || len(doc.Servers) != 1 || doc.Servers[0].URL != "/api/v1" {
		t.Fatalf("openapi = %q, servers %+v; want 3.0.x served at /api/v1", doc.OpenAPI, doc.Servers)
	}
	return doc
}

var echoParam = regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_]*)`)

// TestOpenAPIDocumentMatchesRoutes walks the routes the server registers
// and the document's paths: each /api/v1 route must be described, with its
// path parameters, an answer and the JSON error of an unauthenticated call,
// and each described operation must exist. The document is served at
// /api/v1/openapi.json to admins.
func TestOpenAPIDocumentMatchesRoutes(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	fx := d.SeedReferral(t)
	_, key, err := adminauth.CreateAdmin(context.Background(), d.Queries, fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	api := adminClient{t: t, h: srv.Handler(), key: key}
	rec := api.call("GET", "/api/v1/openapi.json", "")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") || !bytes.Equal(rec.Body.Bytes(), openAPIDocument) {
		t.Fatalf("GET /api/v1/openapi.json = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec := do(t, srv.Handler(), "GET", "/api/v1/openapi.json", nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("the document without an API key = %d, want 401 like every admin route", rec.Code)
	}
	doc := loadOpenAPI(t, rec.Body.Bytes())

	registered := map[string]bool{}
	for _, r := range srv.Handler().(*echo.Echo).Routes() {
		api := strings.HasPrefix(r.Path, "/api/v1/") || strings.HasPrefix(r.Path, "/api/public/v1/")
		if !api || !slices.Contains(append(httpMethods, http.MethodOptions), r.Method) || strings.HasSuffix(r.Path, "*") {
			continue // not the API, or Echo's not-found catch-alls of the group
		}
		registered[r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	if len(registered) < 20 {
		t.Fatalf("found only %d /api/v1 routes: %v", len(registered), registered)
	}
	described := map[string]bool{}
	operationIDs := map[string]string{}
	for path, item := range doc.Paths {
		for method, o := range item.Operations {
			route := strings.ToUpper(method) + " " + item.server(doc) + path
			described[route] = true
			if prev, dup := operationIDs[o.OperationID]; dup || o.OperationID == "" {
				t.Errorf("%s: operationId %q is empty or also used by %s", route, o.OperationID, prev)
			}
			operationIDs[o.OperationID] = route
			checkOperation(t, doc, route, path, o)
		}
	}
	for _, route := range sortedKeys(registered) {
		if !described[route] {
			t.Errorf("route %s is not in api/openapi.json: describe it there", route)
		}
	}
	for _, route := range sortedKeys(described) {
		if !registered[route] {
			t.Errorf("api/openapi.json describes %s, which the server does not have", route)
		}
	}
}

var httpMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// checkOperation checks one operation: its path parameters are declared,
// every $ref it uses resolves, it has a success answer, and errors (401
// at least: every route needs an admin, but the public ones, which say
// "security": [] and are served at /api/public/v1) use the JSON error
// shape.
func checkOperation(t *testing.T, doc openAPIDoc, route, path string, o openAPIOperation) {
	t.Helper()
	var declared []string
	for _, p := range o.Parameters {
		if p.In == "path" {
			if !p.Required {
				t.Errorf("%s: path parameter %s must be required", route, p.Name)
			}
			declared = append(declared, p.Name)
		}
	}
	var inPath []string
	for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
		inPath = append(inPath, m[1])
	}
	slices.Sort(declared)
	slices.Sort(inPath)
	if !slices.Equal(declared, inPath) {
		t.Errorf("%s: path parameters declared %v, in the path %v", route, declared, inPath)
	}
	success := false
	for code, r := range o.Responses {
		if strings.HasPrefix(code, "2") {
			success = true
		}
		if code >= "400" {
			if ref, _ := r["$ref"].(string); !strings.HasPrefix(ref, "#/components/responses/") {
				t.Errorf("%s: answer %s does not use a shared error response", route, code)
			}
		}
	}
	public := o.Security != nil && len(*o.Security) == 0
	if public != strings.Contains(route, " /api/public/v1/") {
		t.Errorf("%s: public (\"security\": []) if and only if served at /api/public/v1", route)
	}
	if !success || (o.Responses["401"] == nil && !public) {
		t.Errorf("%s: needs a 2xx answer and the 401 of an unauthenticated call", route)
	}
	raw, _ := json.Marshal(o)
	for _, m := range regexp.MustCompile(`"#/components/(schemas|responses)/([^"]+)"`).FindAllStringSubmatch(string(raw), -1) {
		_, okSchema := doc.Components.Schemas[m[2]]
		_, okResp := doc.Components.Responses[m[2]]
		if (m[1] == "schemas" && !okSchema) || (m[1] == "responses" && !okResp) {
			t.Errorf("%s: $ref %s/%s does not resolve", route, m[1], m[2])
		}
	}
}

// schemaTypes are the Go types whose JSON each schema describes. Answers
// built as maps in the handlers are listed in mapSchemas instead.
var schemaTypes = map[string]any{
	"Error": ErrorBody{}, "ErrorDetail": ErrorDetail{}, "Admin": AdminView{},
	"Waiting": WaitingView{}, "MemberWaiting": MemberWaitingView{}, "GiveUpInput": GiveUpInput{}, "HubSpotCause": HubSpotCauseView{},
	"HubSpotStatus": HubSpotStatusView{}, "Disconnect": DisconnectView{}, "PrivateAppTokenInput": PrivateAppTokenInput{},
	"WebhookSetup": WebhookSetupView{}, "JournalStatus": JournalStatusView{}, "WebhookSubscription": campaign.WebhookSubscription{},
	"Campaign": CampaignView{}, "CampaignInput": CampaignInput{}, "CampaignSettings": campaign.Settings{},
	"CRMSettings": campaign.CRMSettings{}, "FieldMapping": campaign.FieldMapping{}, "StatusRules": campaign.StatusRules{},
	"StatusRule": campaign.StatusRule{}, "PropertyValue": campaign.PropertyValue{}, "PropertyUpdates": campaign.PropertyUpdates{},
	"PropertyUpdate": campaign.PropertyUpdate{}, "ProcessRules": campaign.ProcessRules{}, "MatchingRule": campaign.MatchingRule{}, "EnrolMembers": campaign.EnrolMembers{},
	"Rewards": campaign.Rewards{}, "RewardRule": campaign.Reward{}, "PublicSettings": campaign.Public{}, "Attribution": campaign.Attribution{},
	"FraudChecks": campaign.FraudChecks{}, "FraudCheck": campaign.FraudCheck{}, "FraudVelocityCheck": campaign.VelocityCheck{}, "FraudSharedVisitorCheck": campaign.SharedVisitor{},
	"Member": MemberView{}, "MemberInput": MemberInput{},
	"AccessLink": AccessLinkView{}, "AccessLinkInput": AccessLinkInput{},
	"LeadInput": LeadInput{}, "ReferralInput": ReferralInput{}, "ReferralEvent": ReferralEventView{}, "Reward": RewardView{},
	"Referral": ReferralView{}, "ReferralList": ReferralList{}, "DecisionInput": DecisionInput{}, "ReviewInput": ReviewInput{},
	"RewardDecisionInput": RewardDecisionInput{},
	"Dispatch":            DispatchView{}, "SalesEntry": SalesEntryView{}, "SalesEntryList": SalesEntryList{}, "SalesEntryRerunInput": SalesEntryRerunInput{},
	"ReviewEntry": ReviewEntryView{}, "ReviewEntryList": ReviewEntryList{},
	"ReviewDecisionInput": ReviewDecisionInput{}, "ReviewDecisionResult": ReviewDecisionResult{},
	"WebhookDelivery": WebhookDeliveryView{}, "WebhookDeliveryAttempt": WebhookDeliveryAttemptView{},
	"WebhookDeliveryList": WebhookDeliveryList{}, "WebhookReplayResult": WebhookReplayResult{},
	"WebhookSigningSecret": WebhookSigningSecretView{}, "RotateSecretInput": RotateSecretInput{},
	"ConversionInput": ConversionInput{}, "Conversion": ConversionView{}, "PublicCampaign": PublicCampaignView{},
	"Import":             ImportView{},
	"PortalPropertyList": PortalPropertyList{}, "PortalProperty": PortalPropertyView{}, "PortalPropertyOption": PortalPropertyOptionView{},
	"PortalPipelineList": PortalPipelineList{}, "PortalPipeline": PortalPipelineView{}, "PortalStage": PortalStageView{},
	"PortalListList": PortalListList{}, "PortalList": PortalListView{},
	"EmailSettings": campaign.Emails{}, "EmailSetting": campaign.EmailSettings{}, "EmailStatus": EmailStatusView{},
	"Email": EmailView{}, "EmailList": EmailList{}, "InviteInput": InviteInput{}, "InviteResult": InviteResult{},
	"Sync": SyncView{}, "SyncInput": SyncInput{}, "SyncPatch": SyncPatch{}, "SyncRun": SyncRunView{},
	"ReportFunnel": reports.Funnel{}, "FunnelStep": reports.FunnelStep{}, "ReportApprovalTime": reports.ApprovalTime{},
	"ApprovalBucket": reports.ApprovalBucket{}, "ReportRewards": reports.Rewards{}, "CurrencyRewards": reports.CurrencyRewards{},
	"Money": reports.Money{}, "ReportLeaderboard": reports.Leaderboard{}, "LeaderboardMember": reports.LeaderboardMember{},
	"CurrencyAmount": reports.CurrencyAmount{},
	"SyncStats":      contactsync.Stats{}, "SyncFailure": SyncFailureView{}, "PausedSync": hubspotconn.PausedSync{},
	"WorkspaceAdmin": WorkspaceAdminView{}, "AdminAddInput": AdminAddInput{}, "AdminAdded": AdminAdded{},
	"APIKey": APIKeyView{}, "APIKeyCreateInput": APIKeyCreateInput{}, "APIKeyCreated": APIKeyCreated{},
	"RewardListItem": RewardListItem{}, "RewardList": RewardList{},
	"PrivacyPersonInput": PrivacyPersonInput{}, "PrivacyErasure": PrivacyErasureView{}, "PrivacyExport": privacy.Export{},
	"TestEventInput": TestEventInput{}, "TestEventResult": TestEventResult{}, "TestEventChange": TestEventChange{}, "TestEventReferral": TestEventReferral{},
}

var mapSchemas = []string{"CampaignList", "MemberList", "DecisionResult", "ReviewResult", "RewardDecisionResult", "WaitingResult", "ImportList", "SyncList", "SyncMapping", "SyncReturnFields"}

// valueSchemas are schemas of one string, not objects; their enums are tied
// in openapi_enums_test.
var valueSchemas = []string{"Currency", "FraudAction", "FraudReason"}

// TestOpenAPISchemasMatchViews: each schema lists exactly the JSON fields
// of the Go type the handlers read or answer with, so the document cannot
// drift from the code.
func TestOpenAPISchemasMatchViews(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t, openAPIDocument)
	for name, schema := range doc.Components.Schemas {
		v, ok := schemaTypes[name]
		if slices.Contains(valueSchemas, name) {
			if schema.Type != "string" {
				t.Errorf("schema %s is a %s, want a string", name, schema.Type)
			}
			continue
		}
		if !ok {
			if !slices.Contains(mapSchemas, name) {
				t.Errorf("schema %s has no Go type in schemaTypes (or mapSchemas)", name)
			}
			continue
		}
		want := jsonFields(reflect.TypeOf(v))
		got := sortedKeys(schema.Properties)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has properties %v; %T has %v", name, got, v, want)
		}
		for _, r := range schema.Required {
			if !slices.Contains(want, r) {
				t.Errorf("schema %s requires %s, which %T does not have", name, r, v)
			}
		}
	}
	for name := range schemaTypes {
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("schemaTypes names %s, which is not in the document", name)
		}
	}
}

// jsonFields are the JSON names of a struct's fields, embedded structs'
// fields included, as encoding/json writes them.
func jsonFields(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
