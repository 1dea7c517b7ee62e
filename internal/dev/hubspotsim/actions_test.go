package hubspotsim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/hubspot/signature"
)

// Contract tests of custom workflow actions (automation actions v4): the
// definitions API, executions as a HubSpot workflow sends them, and the
// callback completion API.

// actionReceiver is an action's URL: it checks each execution's v2 and v3
// signatures and answers what answer says for the n-th request (from 1).
type actionReceiver struct {
	t      *testing.T
	secret string
	answer func(n int, body map[string]any) (int, string, time.Duration)
	mu     sync.Mutex
	bodies []map[string]any
	url    string
}

func newActionReceiver(t *testing.T, secret string, answer func(n int, body map[string]any) (int, string, time.Duration)) *actionReceiver {
	rc := &actionReceiver{t: t, secret: secret, answer: answer}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	rc.url = srv.URL + "/hubspot/actions/wait"
	return rc
}

func (rc *actionReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	v := signature.Verifier{Secret: rc.secret}
	// v3 when present; the same request checked v2 alone.
	if err := v.Verify(r, raw); err != nil {
		rc.t.Errorf("v3 signature: %v", err)
	}
	r2 := r.Clone(r.Context())
	r2.Header.Del(signature.HeaderV3)
	if r.Header.Get(signature.HeaderVersion) != "v2" {
		rc.t.Errorf("signature version %q, want v2", r.Header.Get(signature.HeaderVersion))
	}
	if err := v.Verify(r2, raw); err != nil {
		rc.t.Errorf("v2 signature: %v", err)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		rc.t.Errorf("execution body: %v", err)
	}
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, body)
	n := len(rc.bodies)
	rc.mu.Unlock()
	status, answer, delay := rc.answer(n, body)
	time.Sleep(delay)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

func definitionJSON(actionURL string) string {
	return `{"actionUrl":"` + actionURL + `","published":true,"objectTypes":["CONTACT"],
		"objectRequestOptions":{"properties":["email"]},
		"inputFields":[{"typeDefinition":{"name":"campaign_id","type":"string","fieldType":"text"},"supportedValueTypes":["STATIC_VALUE"]}],
		"outputFields":[{"typeDefinition":{"name":"decision","type":"string","fieldType":"text"}}],
		"labels":{"en":{"actionName":"Wait"}}}`
}

func TestActionDefinitionsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	base := "/automation/v4/actions/1"
	key := "?hapikey=" + DefaultDeveloperAPIKey
	// The developer API key authenticates; a portal's token does not.
	e.hubspotError(e.do("POST", base, "", definitionJSON("https://x.example/a")), 401, "INVALID_AUTHENTICATION")
	e.hubspotError(e.do("POST", "/automation/v4/actions/2"+key, "-", definitionJSON("https://x.example/a")), 404, "OBJECT_NOT_FOUND")
	e.hubspotError(e.do("POST", base+key, "-", `{"objectTypes":["CONTACT"],"labels":{"en":{"actionName":"A"}}}`), 400, "VALIDATION_ERROR")
	d := e.must(e.do("POST", base+key, "-", definitionJSON("https://x.example/a")), 200)
	id := d.str("id")
	if id == "" || d.str("revisionId") != "1" || d.str("actionUrl") != "https://x.example/a" {
		t.Fatalf("created definition: %s", d)
	}
	// The 2026-03 path with the key as a bearer token reads the same.
	g := e.must(e.do("GET", "/automation/actions/2026-03/1/"+id, DefaultDeveloperAPIKey, nil), 200)
	if g.str("id") != id {
		t.Fatalf("get: %s", g)
	}
	if l := e.must(e.do("GET", base+key, "-", nil), 200); len(l.get("results").([]any)) != 1 {
		t.Fatalf("list: %s", l)
	}
	e.must(e.do("DELETE", base+"/"+id+key, "-", nil), 204)
	if l := e.must(e.do("GET", base+key, "-", nil), 200); len(l.get("results").([]any)) != 0 {
		t.Fatalf("an archived definition is listed: %s", l)
	}
	if l := e.must(e.do("GET", base+key+"&archived=true", "-", nil), 200); len(l.get("results").([]any)) != 1 {
		t.Fatalf("archived list: %s", l)
	}
	e.hubspotError(e.do("GET", base+"/999"+key, "-", nil), 404, "OBJECT_NOT_FOUND")
}

func TestExecuteActionAndCallbacks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Actions: ActionOptions{RetryBase: time.Millisecond, Timeout: 300 * time.Millisecond}})
	// First a 503, then a timeout, then BLOCK: HubSpot retries both.
	rc := newActionReceiver(t, DefaultClientSecret, func(n int, body map[string]any) (int, string, time.Duration) {
		switch n {
		case 1:
			return 503, `{"message":"down"}`, 0
		case 2:
			return 200, `{"outputFields":{"hs_execution_state":"BLOCK"}}`, time.Second
		}
		return 200, `{"outputFields":{"hs_execution_state":"BLOCK","hs_expiration_duration":"P1D"}}`, 0
	})
	d := e.must(e.do("POST", "/automation/v4/actions/1?hapikey="+DefaultDeveloperAPIKey, "-", definitionJSON(rc.url)), 200)
	ada := e.createContact("ada@example.org", nil)
	ctx := context.Background()
	if _, err := e.sim.ExecuteAction(ctx, ActionRun{DefinitionID: d.str("id"), PortalID: e.p.ID, ObjectType: "DEAL", ObjectID: ada}); err == nil {
		t.Fatal("an action ran on an object type its definition does not name")
	}
	ex, err := e.sim.ExecuteAction(ctx, ActionRun{DefinitionID: d.str("id"), PortalID: e.p.ID, ObjectType: "CONTACT", ObjectID: ada,
		InputFields: map[string]any{"campaign_id": "c1"}, WorkflowID: 77})
	if err != nil {
		t.Fatal(err)
	}
	if ex.State != ExecutionBlocked || ex.Attempts != 3 || ex.OutputFields["hs_expiration_duration"] != "P1D" {
		t.Fatalf("execution: %+v", ex)
	}
	// HubSpot's body: callbackId, origin, context, object with the
	// properties asked for, inputFields — the same callbackId on retries.
	rc.mu.Lock()
	first, last := rc.bodies[0], rc.bodies[2]
	rc.mu.Unlock()
	if first["callbackId"] != ex.CallbackID || last["callbackId"] != ex.CallbackID {
		t.Fatalf("callbackId not kept across retries: %v / %v", first["callbackId"], last["callbackId"])
	}
	origin := first["origin"].(map[string]any)
	object := first["object"].(map[string]any)
	if origin["portalId"] != float64(e.p.ID) || origin["actionDefinitionId"] == nil ||
		first["context"].(map[string]any)["workflowId"] != float64(77) ||
		object["objectType"] != "CONTACT" || strconv.FormatFloat(object["objectId"].(float64), 'f', -1, 64) != ada ||
		object["properties"].(map[string]any)["email"] != "ada@example.org" ||
		first["inputFields"].(map[string]any)["campaign_id"] != "c1" {
		t.Fatalf("execution body: %v", first)
	}

	// Completing: OAuth with the automation scope, 204; then it is done.
	limited, _ := e.sim.IssueTokens(e.p.ID, "oauth", "crm.objects.contacts.read")
	e.hubspotError(e.do("POST", "/automation/v4/actions/callbacks/"+ex.CallbackID+"/complete", limited, `{"outputFields":{"decision":"approved"}}`), 403, "")
	e.hubspotError(e.do("POST", "/automation/v4/actions/callbacks/"+ex.CallbackID+"/complete", "-", `{"outputFields":{}}`), 401, "")
	e.hubspotError(e.do("POST", "/automation/actions/callbacks/2026-03/ap-unknown/complete", "", `{"outputFields":{"decision":"approved"}}`), 404, "OBJECT_NOT_FOUND")
	e.must(e.do("POST", "/automation/actions/callbacks/2026-03/"+ex.CallbackID+"/complete", "", `{"outputFields":{"decision":"approved"}}`), 204)
	got, ok := e.sim.Execution(ex.CallbackID)
	if !ok || got.State != ExecutionCompleted || got.OutputFields["decision"] != "approved" || got.Blocked["hs_execution_state"] != "BLOCK" {
		t.Fatalf("completed execution: %+v", got)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if w, err := e.sim.WaitForExecution(wctx, ex.CallbackID); err != nil || w.State != ExecutionCompleted {
		t.Fatalf("wait: %+v %v", w, err)
	}
	// Completing again is refused: it is not blocked any more.
	r := e.hubspotError(e.do("POST", "/automation/v4/actions/callbacks/"+ex.CallbackID+"/complete", "", `{"outputFields":{"decision":"denied"}}`), 400, "VALIDATION_ERROR")
	if !contains([]string{"Callback " + ex.CallbackID + " has already been completed"}, r.str("message")) {
		t.Fatalf("already completed: %s", r)
	}
	// Another portal's token does not know the callback.
	other := e.sim.CreatePortal("Other")
	e.hubspotError(e.do("POST", "/automation/v4/actions/callbacks/"+ex.CallbackID+"/complete", other.PrivateAppToken, `{"outputFields":{}}`), 404, "OBJECT_NOT_FOUND")

	// Batch, v4 and 2026-03: one input that cannot be completed refuses the
	// batch and names it; a good batch completes all, 204.
	var blocked []string
	for i := 0; i < 2; i++ {
		ex, err := e.sim.ExecuteAction(ctx, ActionRun{DefinitionID: d.str("id"), PortalID: e.p.ID, ObjectType: "CONTACT", ObjectID: ada})
		if err != nil || ex.State != ExecutionBlocked {
			t.Fatalf("execution %d: %+v %v", i, ex, err)
		}
		blocked = append(blocked, ex.CallbackID)
	}
	r = e.hubspotError(e.do("POST", "/automation/v4/actions/callbacks/complete", "", map[string]any{"inputs": []map[string]any{
		{"callbackId": blocked[0], "outputFields": map[string]string{"decision": "approved"}},
		{"callbackId": ex.CallbackID, "outputFields": map[string]string{"decision": "approved"}},
	}}), 400, "VALIDATION_ERROR")
	if r.str("errors.0.code") != "ALREADY_COMPLETED" {
		t.Fatalf("batch refusal: %s", r)
	}
	if got, _ := e.sim.Execution(blocked[0]); got.State != ExecutionBlocked {
		t.Fatalf("a refused batch completed %s", blocked[0])
	}
	e.must(e.do("POST", "/automation/actions/callbacks/2026-03/complete", "", map[string]any{"inputs": []map[string]any{
		{"callbackId": blocked[0], "outputFields": map[string]string{"decision": "denied"}},
		{"callbackId": blocked[1], "outputFields": map[string]string{"decision": "denied"}},
	}}), 204)
	for _, id := range blocked {
		if got, _ := e.sim.Execution(id); got.State != ExecutionCompleted || got.OutputFields["decision"] != "denied" {
			t.Fatalf("batch-completed %s: %+v", id, got)
		}
	}
}

// A 4xx answer is not retried: the action fails in the workflow.
func TestExecuteActionDoesNotRetryA4xx(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Actions: ActionOptions{RetryBase: time.Millisecond}})
	rc := newActionReceiver(t, DefaultClientSecret, func(n int, body map[string]any) (int, string, time.Duration) {
		return 401, `{"status":"error","message":"bad signature"}`, 0
	})
	d := e.must(e.do("POST", "/automation/v4/actions/1?hapikey="+DefaultDeveloperAPIKey, "-", definitionJSON(rc.url)), 200)
	ex, err := e.sim.ExecuteAction(context.Background(), ActionRun{DefinitionID: d.str("id"), PortalID: e.p.ID, ObjectType: "CONTACT", ObjectID: e.createContact("bo@example.org", nil)})
	if err != nil {
		t.Fatal(err)
	}
	if ex.State != ExecutionFailed || ex.Attempts != 1 || ex.LastStatus != 401 {
		t.Fatalf("execution: %+v", ex)
	}
}

// The control API runs an action and reads its execution over HTTP, for a
// test that runs the simulator as a process.
func TestActionControlAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	rc := newActionReceiver(t, DefaultClientSecret, func(n int, body map[string]any) (int, string, time.Duration) {
		return 200, `{"outputFields":{"hs_execution_state":"SUCCESS","member_id":"m1"}}`, 0
	})
	d := e.must(e.do("POST", "/automation/v4/actions/1?hapikey="+DefaultDeveloperAPIKey, "-", definitionJSON(rc.url)), 200)
	ada := e.createContact("ada@example.org", nil)
	path := "/portals/" + strconv.FormatInt(e.p.ID, 10) + "/actions/" + d.str("id") + "/execute"
	r := e.must(e.do("POST", path, "-", map[string]any{"objectType": "CONTACT", "objectId": ada, "workflowId": 5}), 200)
	if r.str("state") != ExecutionAnswered || r.str("outputFields.member_id") != "m1" {
		t.Fatalf("execute: %s", r)
	}
	if g := e.must(e.do("GET", "/actions/executions/"+r.str("callbackId"), "-", nil), 200); g.str("outputFields.hs_execution_state") != "SUCCESS" {
		t.Fatalf("read: %s", g)
	}
	e.hubspotError(e.do("GET", "/actions/executions/nope", "-", nil), 404, "OBJECT_NOT_FOUND")
	e.hubspotError(e.do("POST", path, "-", map[string]any{"objectType": "DEAL", "objectId": ada}), 400, "VALIDATION_ERROR")
}

// A blocked execution expires after its hs_expiration_duration: HubSpot
// forgets the callback (completing it is a 404) and the workflow goes on.
func TestBlockedExecutionsExpire(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	rc := newActionReceiver(t, DefaultClientSecret, func(n int, body map[string]any) (int, string, time.Duration) {
		if n == 1 {
			return 200, `{"outputFields":{"hs_execution_state":"BLOCK","hs_expiration_duration":"P1DT12H"}}`, 0
		}
		return 200, `{"outputFields":{"hs_execution_state":"BLOCK"}}`, 0
	})
	d := e.must(e.do("POST", "/automation/v4/actions/1?hapikey="+DefaultDeveloperAPIKey, "-", definitionJSON(rc.url)), 200)
	ada := e.createContact("ada@example.org", nil)
	run := ActionRun{DefinitionID: d.str("id"), PortalID: e.p.ID, ObjectType: "CONTACT", ObjectID: ada}
	short, err := e.sim.ExecuteAction(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	week, err := e.sim.ExecuteAction(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	if got := week.ExpiresAt.Sub(short.ExpiresAt); got != 7*24*time.Hour-36*time.Hour {
		t.Fatalf("expiries %v and %v: want 36 hours and HubSpot's default week", short.ExpiresAt, week.ExpiresAt)
	}
	e.clock.Advance(36 * time.Hour)
	e.hubspotError(e.do("POST", "/automation/v4/actions/callbacks/"+short.CallbackID+"/complete", "", `{"outputFields":{"decision":"approved"}}`), 404, "OBJECT_NOT_FOUND")
	if got, _ := e.sim.Execution(short.CallbackID); got.State != ExecutionExpired {
		t.Fatalf("expired execution: %+v", got)
	}
	e.must(e.do("POST", "/automation/v4/actions/callbacks/"+week.CallbackID+"/complete", "", `{"outputFields":{"decision":"approved"}}`), 204)
	for in, want := range map[string]time.Duration{"P1W": 7 * 24 * time.Hour, "PT1H30M": 90 * time.Minute, "P2DT3S": 48*time.Hour + 3*time.Second} {
		if got, ok := parseISODuration(in); !ok || got != want {
			t.Errorf("%s = %v %v, want %v", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "P", "1D", "PT", "P1H", "P1DT", "PXD"} {
		if _, ok := parseISODuration(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
