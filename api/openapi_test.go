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
)

// openAPIDoc is the part of an OpenAPI 3.0 document the tests read.
type openAPIDoc struct {
	OpenAPI    string                                 `json:"openapi"`
	Servers    []struct{ URL string }                 `json:"servers"`
	Paths      map[string]map[string]openAPIOperation `json:"paths"`
	Components struct {
		Schemas   map[string]openAPISchema `json:"schemas"`
		Responses map[string]any           `json:"responses"`
	} `json:"components"`
}

type openAPIOperation struct {
	OperationID string `json:"operationId"`
	Parameters  []struct {
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
		path, ok := strings.CutPrefix(r.Path, "/api/v1")
		if !ok || !slices.Contains(httpMethods, r.Method) || path == "" || strings.HasSuffix(path, "*") {
			continue // not the admin API, or Echo's not-found catch-alls of the group
		}
		registered[r.Method+" "+echoParam.ReplaceAllString(path, "{$1}")] = true
	}
	if len(registered) < 20 {
		t.Fatalf("found only %d /api/v1 routes: %v", len(registered), registered)
	}
	described := map[string]bool{}
	operationIDs := map[string]string{}
	for path, ops := range doc.Paths {
		for method, o := range ops {
			route := strings.ToUpper(method) + " " + path
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
// at least: every route needs an admin) use the JSON error shape.
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
	if !success || o.Responses["401"] == nil {
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
	"Waiting": WaitingView{}, "GiveUpInput": GiveUpInput{}, "HubSpotCause": HubSpotCauseView{},
	"HubSpotStatus": HubSpotStatusView{}, "Disconnect": DisconnectView{},
	"Campaign": CampaignView{}, "CampaignInput": CampaignInput{}, "CampaignSettings": campaign.Settings{},
	"CRMSettings": campaign.CRMSettings{}, "FieldMapping": campaign.FieldMapping{}, "StatusRules": campaign.StatusRules{},
	"StatusRule": campaign.StatusRule{}, "PropertyValue": campaign.PropertyValue{}, "PropertyUpdates": campaign.PropertyUpdates{},
	"PropertyUpdate": campaign.PropertyUpdate{}, "ProcessRules": campaign.ProcessRules{}, "MatchingRule": campaign.MatchingRule{},
	"Rewards": campaign.Rewards{}, "RewardRule": campaign.Reward{}, "PublicSettings": campaign.Public{}, "Attribution": campaign.Attribution{},
	"Member": MemberView{}, "MemberInput": MemberInput{},
	"LeadInput": LeadInput{}, "ReferralInput": ReferralInput{}, "ReferralEvent": ReferralEventView{}, "Reward": RewardView{},
	"Referral": ReferralView{}, "ReferralList": ReferralList{}, "DecisionInput": DecisionInput{}, "ReviewInput": ReviewInput{},
	"RewardDecisionInput": RewardDecisionInput{},
	"Dispatch":            DispatchView{}, "SalesEntry": SalesEntryView{}, "SalesEntryList": SalesEntryList{},
	"ReviewEntry": ReviewEntryView{}, "ReviewEntryList": ReviewEntryList{},
	"ReviewDecisionInput": ReviewDecisionInput{}, "ReviewDecisionResult": ReviewDecisionResult{},
	"WebhookDelivery": WebhookDeliveryView{}, "WebhookDeliveryAttempt": WebhookDeliveryAttemptView{},
	"WebhookDeliveryList": WebhookDeliveryList{}, "WebhookReplayResult": WebhookReplayResult{},
	"WebhookSigningSecret": WebhookSigningSecretView{}, "RotateSecretInput": RotateSecretInput{},
}

var mapSchemas = []string{"CampaignList", "MemberList", "DecisionResult", "ReviewResult", "RewardDecisionResult", "WaitingResult"}

// valueSchemas are schemas of one string, not objects; their enums are tied
// in openapi_enums_test.
var valueSchemas = []string{"Currency"}

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
