package hubspot_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspot"
)

// A definition created with the developer API key, an execution blocked on
// it, and the client completing its callback: once (204), then HubSpot's
// refusal of a callback already completed (a ValidationError saying so),
// and a 404 NotFoundError for a callback HubSpot does not know. The
// developer key never shows in an error.
func TestWorkflowActionDefinitionsAndCallbacks(t *testing.T) {
	e := newEnv(t, unlimited())
	ctx := testContext(t)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"outputFields":{"hs_execution_state":"BLOCK"}}`)
	}))
	t.Cleanup(receiver.Close)
	def := json.RawMessage(`{"actionUrl":"` + receiver.URL + `/a","objectTypes":["CONTACT"],"labels":{"en":{"actionName":"Wait"}},"inputFields":[],"outputFields":[]}`)

	if _, err := hubspot.CreateActionDefinition(ctx, nil, e.url, e.sim.Options().AppID, "wrong-key", def); err == nil || strings.Contains(err.Error(), "wrong-key") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a wrong key: %v", err)
	}
	id, err := hubspot.CreateActionDefinition(ctx, nil, e.url, e.sim.Options().AppID, hubspotsim.DefaultDeveloperAPIKey, def)
	if err != nil || id == "" {
		t.Fatalf("create: %q %v", id, err)
	}
	contact, err := e.sim.CreateObject(e.portal.ID, "contacts", map[string]string{"email": "ada@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := e.sim.ExecuteAction(context.Background(), hubspotsim.ActionRun{DefinitionID: id, PortalID: e.portal.ID, ObjectType: "CONTACT", ObjectID: contact})
	if err != nil || ex.State != hubspotsim.ExecutionBlocked {
		t.Fatalf("execute: %+v %v", ex, err)
	}
	if err := e.client.CompleteCallback(ctx, ex.CallbackID, map[string]string{"decision": "approved"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.sim.Execution(ex.CallbackID); got.OutputFields["decision"] != "approved" {
		t.Fatalf("completed: %+v", got)
	}
	v := as[*hubspot.ValidationError](t, e.client.CompleteCallback(ctx, ex.CallbackID, map[string]string{"decision": "denied"}))
	if !strings.Contains(v.Message, "already been completed") {
		t.Fatalf("second completion: %v", v)
	}
	as[*hubspot.NotFoundError](t, e.client.CompleteCallback(ctx, "ap-unknown", map[string]string{"decision": "approved"}))
}
