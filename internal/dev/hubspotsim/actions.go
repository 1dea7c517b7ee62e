package hubspotsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/referflow/referflow/internal/hubspot/signature"
)

// Custom workflow actions (HubSpot's automation actions v4), as HubSpot
// serves them:
//
//   - the definitions API of the app, authenticated with the developer API
//     key (?hapikey= or bearer): POST/GET /automation/v4/actions/{appId},
//     GET/DELETE (archive) /automation/v4/actions/{appId}/{definitionId},
//     and the same under /automation/actions/2026-03/{appId};
//   - executions: ExecuteAction runs a definition on a record as a HubSpot
//     workflow does, POSTing HubSpot's execution body to the actionUrl signed
//     v2 (and v3) with the app's client secret, retrying a 5xx or a timeout,
//     and recording the answer; an answer with hs_execution_state BLOCK
//     waits for the callback;
//   - the callback API, authenticated like the CRM APIs (OAuth, scope
//     automation), rate limited and subject to the portal's misbehaviour
//     modes: POST /automation/v4/actions/callbacks/{callbackId}/complete,
//     POST /automation/v4/actions/callbacks/complete (batch) and the
//     2026-03 paths /automation/actions/callbacks/2026-03/... An unknown
//     callbackId (or one of another portal) is 404; completing one that is
//     not blocked any more (completed, or answered at once) is a 400
//     VALIDATION_ERROR saying it was already completed; one whose
//     hs_expiration_duration (default a week) passed is forgotten: 404.
//     HubSpot answers a completion 204 with no body.

// ActionOptions configure executions of workflow actions.
type ActionOptions struct {
	// Timeout is how long an execution request may take before it counts
	// as failed and is retried (HubSpot: about 20 s). Default 20 s.
	Timeout time.Duration
	// MaxRetries is how many times a failed execution (5xx, 429, timeout,
	// connection refused) is retried after the first attempt. Default 5;
	// negative: never retried.
	MaxRetries int
	// RetryBase is the wait before the first retry, doubling after each
	// (HubSpot spreads its retries over days). Default 1 s; tests set less.
	RetryBase time.Duration
}

func (o *ActionOptions) fill() {
	if o.Timeout == 0 {
		o.Timeout = 20 * time.Second
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 5
	}
	if o.RetryBase == 0 {
		o.RetryBase = time.Second
	}
}

// actionDefinition is a stored definition: what was posted, plus id,
// revisionId and archival.
type actionDefinition struct {
	ID       int64
	Revision int64
	Body     map[string]any
	Archived bool
}

func (d *actionDefinition) view() map[string]any {
	out := map[string]any{}
	for k, v := range d.Body {
		out[k] = v
	}
	out["id"] = strconv.FormatInt(d.ID, 10)
	out["revisionId"] = strconv.FormatInt(d.Revision, 10)
	if d.Archived {
		out["archived"] = true
	}
	return out
}

// actionURL, objectTypes and requested properties of a definition.
func (d *actionDefinition) actionURL() string {
	s, _ := d.Body["actionUrl"].(string)
	return s
}

func (d *actionDefinition) objectTypes() []string {
	var out []string
	if list, ok := d.Body["objectTypes"].([]any); ok {
		for _, v := range list {
			if s, ok := v.(string); ok {
				out = append(out, strings.ToUpper(s))
			}
		}
	}
	return out
}

func (d *actionDefinition) requestedProperties() []string {
	var out []string
	if o, ok := d.Body["objectRequestOptions"].(map[string]any); ok {
		if list, ok := o["properties"].([]any); ok {
			for _, v := range list {
				if s, ok := v.(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// Execution states of ActionExecution.
const (
	// ExecutionAnswered: the action answered with its outputs (SUCCESS,
	// FAIL_CONTINUE...) and the workflow went on.
	ExecutionAnswered = "answered"
	// ExecutionBlocked: the action answered BLOCK; the workflow waits for
	// the callback.
	ExecutionBlocked = "blocked"
	// ExecutionCompleted: a blocked execution was completed through the
	// callback API, with its output fields.
	ExecutionCompleted = "completed"
	// ExecutionFailed: every attempt failed (or was refused with a 4xx):
	// the action failed in the workflow.
	ExecutionFailed = "failed"
	// ExecutionExpired: a blocked execution's hs_expiration_duration
	// passed before its callback was completed; HubSpot forgot the callback
	// and the workflow went on without its outputs.
	ExecutionExpired = "expired"
)

// defaultBlockFor is how long HubSpot waits for a blocked execution's
// callback when the answer names no (or no readable) hs_expiration_duration.
const defaultBlockFor = 7 * 24 * time.Hour

// ActionExecution is one execution of a workflow action, as the simulator
// recorded it.
type ActionExecution struct {
	CallbackID   string `json:"callbackId"`
	PortalID     int64  `json:"portalId"`
	DefinitionID string `json:"definitionId"`
	State        string `json:"state"`
	// Attempts are the requests sent; LastStatus the last answer's HTTP
	// status (0: no answer, a timeout or a refused connection).
	Attempts   int    `json:"attempts"`
	LastStatus int    `json:"lastStatus"`
	LastError  string `json:"lastError,omitempty"`
	// OutputFields are the answer's (for a blocked execution, until it is
	// completed: then the callback's).
	OutputFields map[string]string `json:"outputFields"`
	// Blocked is the BLOCK answer's output fields, kept after completion.
	Blocked     map[string]string `json:"blocked,omitempty"`
	CompletedAt time.Time         `json:"completedAt,omitzero"`
	// ExpiresAt is when a blocked execution expires (the simulator's clock).
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// actionsState is the simulator's definitions and executions, guarded by
// the Simulator's mu.
type actionsState struct {
	defs       map[int64]*actionDefinition
	nextDefID  int64
	executions map[string]*ActionExecution
	order      []string
	seq        int64
	changed    chan struct{} // closed and replaced when an execution changes
}

func newActionsState() *actionsState {
	return &actionsState{defs: map[int64]*actionDefinition{}, nextDefID: 9000001, executions: map[string]*ActionExecution{}, changed: make(chan struct{})}
}

func (a *actionsState) notifyLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

func (s *Simulator) actionRoutes(mux *http.ServeMux) {
	for _, base := range []string{"/automation/v4/actions/{appId}", "/automation/actions/" + apiVersion + "/{appId}"} {
		mux.HandleFunc("POST "+base, s.webhookAPI(hActionDefinitionCreate))
		mux.HandleFunc("GET "+base, s.webhookAPI(hActionDefinitionList))
		mux.HandleFunc("GET "+base+"/{definitionId}", s.webhookAPI(hActionDefinitionGet))
		mux.HandleFunc("DELETE "+base+"/{definitionId}", s.webhookAPI(hActionDefinitionArchive))
	}
	// The control API (no token; HubSpot has none such): run an action on a
	// record as a workflow does, and read an execution.
	mux.HandleFunc("POST /portals/{portalId}/actions/{definitionId}/execute", s.control(hControlExecuteAction))
	mux.HandleFunc("GET /actions/executions/{callbackId}", s.control(hControlExecution))
	for _, base := range []string{"/automation/v4/actions/callbacks", "/automation/actions/callbacks/" + apiVersion} {
		mux.HandleFunc("POST "+base+"/{callbackId}/complete", s.crmEndpoint(false, hCallbackComplete))
		mux.HandleFunc("POST "+base+"/complete", s.crmEndpoint(false, hCallbackCompleteBatch))
	}
}

func hActionDefinitionCreate(c *webhookReq) (int, any) {
	var body map[string]any
	if e := c.decode(&body); e != nil {
		return e.httpStatus, e
	}
	var problems []string
	if u, _ := body["actionUrl"].(string); !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		problems = append(problems, "actionUrl is required and must be an http(s) URL")
	}
	if list, ok := body["objectTypes"].([]any); !ok || len(list) == 0 {
		problems = append(problems, "objectTypes must list at least one object type")
	}
	if labels, ok := body["labels"].(map[string]any); !ok || labels["en"] == nil {
		problems = append(problems, "labels must define at least the en locale")
	} else if en, _ := labels["en"].(map[string]any); en["actionName"] == nil {
		problems = append(problems, "labels.en.actionName is required")
	}
	for _, key := range []string{"inputFields", "outputFields"} {
		list, _ := body[key].([]any)
		for i, f := range list {
			fm, _ := f.(map[string]any)
			td, _ := fm["typeDefinition"].(map[string]any)
			if name, _ := td["name"].(string); name == "" {
				problems = append(problems, fmt.Sprintf("%s[%d].typeDefinition.name is required", key, i))
			}
		}
	}
	if len(problems) > 0 {
		return errResult(validationErr("Invalid action definition: " + strings.Join(problems, "; ")))
	}
	var out map[string]any
	c.s.locked(func() {
		a := c.s.act
		d := &actionDefinition{ID: a.nextDefID, Revision: 1, Body: body}
		a.nextDefID++
		a.defs[d.ID] = d
		out = d.view()
	})
	return http.StatusOK, out
}

func hActionDefinitionList(c *webhookReq) (int, any) {
	archived := c.r.URL.Query().Get("archived") == "true"
	var results []map[string]any
	c.s.locked(func() {
		ids := make([]int64, 0, len(c.s.act.defs))
		for id := range c.s.act.defs {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			if d := c.s.act.defs[id]; d.Archived == archived {
				results = append(results, d.view())
			}
		}
	})
	if results == nil {
		results = []map[string]any{}
	}
	return http.StatusOK, map[string]any{"results": results}
}

func (c *webhookReq) definition() (*actionDefinition, *apiError) {
	id, err := strconv.ParseInt(c.r.PathValue("definitionId"), 10, 64)
	d := c.s.act.defs[id]
	if err != nil || d == nil {
		return nil, notFoundErr(fmt.Sprintf("No action definition with ID %s exists for app %s", c.r.PathValue("definitionId"), c.r.PathValue("appId")))
	}
	return d, nil
}

func hActionDefinitionGet(c *webhookReq) (int, any) {
	var out map[string]any
	var e *apiError
	c.s.locked(func() {
		d, err := c.definition()
		if err != nil {
			e = err
			return
		}
		out = d.view()
	})
	if e != nil {
		return errResult(e)
	}
	return http.StatusOK, out
}

func hActionDefinitionArchive(c *webhookReq) (int, any) {
	var e *apiError
	c.s.locked(func() {
		d, err := c.definition()
		if err != nil {
			e = err
			return
		}
		d.Archived = true
	})
	if e != nil {
		return errResult(e)
	}
	return http.StatusNoContent, nil
}

// ActionDefinitions are the app's definitions that are not archived, as
// the definitions API shows them.
func (s *Simulator) ActionDefinitions() []map[string]any {
	var out []map[string]any
	s.locked(func() {
		ids := make([]int64, 0, len(s.act.defs))
		for id := range s.act.defs {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			if d := s.act.defs[id]; !d.Archived {
				out = append(out, d.view())
			}
		}
	})
	return out
}

// ActionRun is a workflow action to run on a record: the definition, the
// portal and record (objectType CONTACT, DEAL...), the input fields the
// workflow's author set, and the workflow it runs in.
type ActionRun struct {
	DefinitionID string
	PortalID     int64
	ObjectType   string
	ObjectID     string
	InputFields  map[string]any
	WorkflowID   int64
	// CallbackID, when set, is the execution's callbackId (a test running
	// the same execution again, as HubSpot does when it retries); empty
	// makes a fresh one.
	CallbackID string
}

// ExecuteAction runs a workflow action on a record as a HubSpot workflow
// does: it POSTs HubSpot's execution body (callbackId, origin, context,
// object with the properties the definition asks for, inputFields) to the
// definition's actionUrl, signed v2 and v3 with the app's client secret,
// retries a 5xx, a 429 or a timeout with a doubling backoff, and records
// the answer. It returns the execution when it is answered (or failed for
// good); a BLOCK answer leaves it blocked until the callback API completes
// it (WaitForExecution).
func (s *Simulator) ExecuteAction(ctx context.Context, run ActionRun) (ActionExecution, error) {
	defID, err := strconv.ParseInt(run.DefinitionID, 10, 64)
	if err != nil {
		return ActionExecution{}, fmt.Errorf("definition ID %q is not a number", run.DefinitionID)
	}
	var (
		body   []byte
		target string
		callID string
		bErr   error
	)
	s.locked(func() {
		d := s.act.defs[defID]
		if d == nil || d.Archived {
			bErr = fmt.Errorf("no action definition %d (or it is archived)", defID)
			return
		}
		objType := strings.ToUpper(run.ObjectType)
		if !contains(d.objectTypes(), objType) {
			bErr = fmt.Errorf("action definition %d does not act on %s (its objectTypes: %v)", defID, objType, d.objectTypes())
			return
		}
		p := s.portals[run.PortalID]
		if p == nil {
			bErr = fmt.Errorf("no portal %d", run.PortalID)
			return
		}
		objID, err := strconv.ParseInt(run.ObjectID, 10, 64)
		if err != nil {
			bErr = fmt.Errorf("object ID %q is not a number", run.ObjectID)
			return
		}
		obj := map[string]any{"objectId": objID, "objectType": objType}
		if props := d.requestedProperties(); len(props) > 0 {
			store := p.objects[strings.ToLower(objType)+"s"]
			var o *object
			if store != nil {
				o = store.byID[objID]
			}
			if o == nil || o.archived {
				bErr = fmt.Errorf("no %s %d in portal %d", objType, objID, run.PortalID)
				return
			}
			values := map[string]string{}
			for _, name := range props {
				values[name] = o.props[name]
			}
			obj["properties"] = values
		}
		callID = run.CallbackID
		if callID == "" {
			s.act.seq++
			callID = fmt.Sprintf("ap-%d-%d-%d-%d", run.PortalID, defID, run.WorkflowID, s.act.seq)
		}
		inputs := run.InputFields
		if inputs == nil {
			inputs = map[string]any{}
		}
		body, bErr = json.Marshal(map[string]any{
			"callbackId":  callID,
			"origin":      map[string]any{"portalId": run.PortalID, "actionDefinitionId": defID, "actionDefinitionVersion": d.Revision},
			"context":     map[string]any{"source": "WORKFLOWS", "workflowId": run.WorkflowID},
			"object":      obj,
			"inputFields": inputs,
		})
		target = d.actionURL()
		if _, ok := s.act.executions[callID]; !ok {
			s.act.executions[callID] = &ActionExecution{CallbackID: callID, PortalID: run.PortalID, DefinitionID: run.DefinitionID}
			s.act.order = append(s.act.order, callID)
		}
	})
	if bErr != nil {
		return ActionExecution{}, bErr
	}
	opts := s.opts.Actions
	client := &http.Client{Timeout: opts.Timeout}
	for attempt := 0; ; attempt++ {
		status, answer, errText := s.postExecution(ctx, client, target, body)
		retry := status == 0 || status == http.StatusTooManyRequests || status >= 500
		var outputs map[string]string
		if status >= 200 && status <= 299 {
			var a struct {
				OutputFields map[string]any `json:"outputFields"`
			}
			if err := json.Unmarshal(answer, &a); err != nil {
				errText = "the answer is not HubSpot's {\"outputFields\":{...}}: " + err.Error()
			} else {
				outputs = map[string]string{}
				for k, v := range a.OutputFields {
					outputs[k] = fmt.Sprint(v)
				}
			}
		} else if errText == "" {
			errText = strings.TrimSpace(string(answer))
		}
		var done bool
		var out ActionExecution
		s.locked(func() {
			ex := s.act.executions[callID]
			ex.Attempts++
			ex.LastStatus, ex.LastError = status, errText
			switch {
			case outputs != nil && ex.State != ExecutionCompleted:
				ex.OutputFields = outputs
				ex.State = ExecutionAnswered
				if outputs["hs_execution_state"] == "BLOCK" {
					ex.State = ExecutionBlocked
					ex.Blocked = outputs
					d, ok := parseISODuration(outputs["hs_expiration_duration"])
					if !ok {
						d = defaultBlockFor
					}
					ex.ExpiresAt = s.now().Add(d)
				}
				done = true
			case outputs != nil:
				done = true // completed meanwhile through the callback API
			case !retry || attempt >= opts.MaxRetries:
				if ex.State == "" {
					ex.State = ExecutionFailed
				}
				done = true
			}
			s.act.notifyLocked()
			out = copyExecution(ex)
		})
		if done {
			return out, nil
		}
		wait := opts.RetryBase * time.Duration(int64(1)<<min(attempt, 20))
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// postExecution sends one signed execution request; status 0 is no answer
// (a timeout, a refused connection).
func (s *Simulator) postExecution(ctx context.Context, client *http.Client, target string, body []byte) (int, []byte, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err.Error()
	}
	secret := s.opts.ClientSecret
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "HubSpot Connect 2.0 (hubspotsim)")
	req.Header.Set(signature.HeaderV1V2, signature.V2(secret, http.MethodPost, target, body))
	req.Header.Set(signature.HeaderVersion, "v2")
	req.Header.Set(signature.HeaderV3, signature.V3(secret, http.MethodPost, target, body, ts))
	req.Header.Set(signature.HeaderTimestamp, ts)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, err.Error()
	}
	return resp.StatusCode, data, ""
}

// expireLocked ends a blocked execution whose expiry has passed.
func (s *Simulator) expireLocked(ex *ActionExecution) {
	if ex.State == ExecutionBlocked && !ex.ExpiresAt.IsZero() && !s.now().Before(ex.ExpiresAt) {
		ex.State = ExecutionExpired
		s.act.notifyLocked()
	}
}

// parseISODuration reads the ISO 8601 durations HubSpot takes for
// hs_expiration_duration: PnW, or PnD with an optional TnHnMnS part.
func parseISODuration(v string) (time.Duration, bool) {
	rest, ok := strings.CutPrefix(strings.ToUpper(strings.TrimSpace(v)), "P")
	if !ok || rest == "" || strings.HasSuffix(rest, "T") {
		return 0, false
	}
	var total time.Duration
	inTime := false
	units := map[bool]map[byte]time.Duration{
		false: {'W': 7 * 24 * time.Hour, 'D': 24 * time.Hour},
		true:  {'H': time.Hour, 'M': time.Minute, 'S': time.Second},
	}
	num := ""
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c == 'T' && !inTime && num == "":
			inTime = true
		case c >= '0' && c <= '9':
			num += string(c)
		default:
			unit, ok := units[inTime][c]
			n, err := strconv.Atoi(num)
			if !ok || err != nil {
				return 0, false
			}
			total += time.Duration(n) * unit
			num = ""
		}
	}
	return total, num == "" && total > 0
}

func copyExecution(ex *ActionExecution) ActionExecution {
	out := *ex
	out.OutputFields = copyStrings(ex.OutputFields)
	out.Blocked = copyStrings(ex.Blocked)
	return out
}

func copyStrings(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Execution is the execution of callbackID as recorded (false when there is
// none): a blocked one's outcome is read here once completed.
func (s *Simulator) Execution(callbackID string) (ActionExecution, bool) {
	var out ActionExecution
	var ok bool
	s.locked(func() {
		if ex := s.act.executions[callbackID]; ex != nil {
			s.expireLocked(ex)
			out, ok = copyExecution(ex), true
		}
	})
	return out, ok
}

// ErrStillBlocked: WaitForExecution's wait ended with the execution still
// blocked.
var ErrStillBlocked = errors.New("the execution is still blocked: its callback was not completed")

// WaitForExecution waits until the execution callbackID is no longer
// blocked (completed through the callback API), or ctx ends.
func (s *Simulator) WaitForExecution(ctx context.Context, callbackID string) (ActionExecution, error) {
	for {
		var out ActionExecution
		var ok bool
		var changed chan struct{}
		s.locked(func() {
			if ex := s.act.executions[callbackID]; ex != nil {
				s.expireLocked(ex)
				out, ok = copyExecution(ex), true
			}
			changed = s.act.changed
		})
		if !ok {
			return out, fmt.Errorf("no execution %q", callbackID)
		}
		if out.State != ExecutionBlocked && out.State != "" {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return out, ErrStillBlocked
		case <-changed:
		}
	}
}

// callbackCompletion is one completion: a callback and its output fields.
type callbackCompletion struct {
	CallbackID   string         `json:"callbackId"`
	OutputFields map[string]any `json:"outputFields"`
}

// completeLocked completes a blocked execution of the caller's portal, or
// says why not (404 unknown, 400 not blocked).
func (c *reqCtx) completeLocked(cb callbackCompletion) *apiError {
	ex := c.s.act.executions[cb.CallbackID]
	if ex != nil {
		c.s.expireLocked(ex)
	}
	if ex == nil || ex.PortalID != c.p.ID || ex.State == ExecutionExpired {
		// An expired callback is one HubSpot no longer knows.
		return notFoundErr(fmt.Sprintf("No callback with ID %s exists", cb.CallbackID))
	}
	if ex.State != ExecutionBlocked {
		e := validationErr(fmt.Sprintf("Callback %s has already been completed", cb.CallbackID))
		return e
	}
	if cb.OutputFields == nil {
		return validationErr("outputFields is required")
	}
	out := map[string]string{}
	for k, v := range cb.OutputFields {
		out[k] = fmt.Sprint(v)
	}
	ex.OutputFields = out
	ex.State = ExecutionCompleted
	ex.CompletedAt = c.s.now()
	c.s.act.notifyLocked()
	return nil
}

func (c *reqCtx) requireAutomation() *apiError {
	return c.requireScope("automation")
}

// POST .../callbacks/{callbackId}/complete {"outputFields":{...}} → 204.
func hCallbackComplete(c *reqCtx) (int, any) {
	if e := c.requireAutomation(); e != nil {
		return errResult(e)
	}
	var cb callbackCompletion
	if e := c.decode(&cb); e != nil {
		return errResult(e)
	}
	cb.CallbackID = c.r.PathValue("callbackId")
	if e := c.completeLocked(cb); e != nil {
		return errResult(e)
	}
	return http.StatusNoContent, nil
}

// POST .../callbacks/complete {"inputs":[{"callbackId","outputFields"}]} →
// 204. Every input is checked before any is completed: one that cannot be
// completed refuses the batch (400, errors[] naming each).
func hCallbackCompleteBatch(c *reqCtx) (int, any) {
	if e := c.requireAutomation(); e != nil {
		return errResult(e)
	}
	var in struct {
		Inputs []callbackCompletion `json:"inputs"`
	}
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	if len(in.Inputs) == 0 || len(in.Inputs) > 100 {
		return errResult(validationErr(fmt.Sprintf("inputs must hold 1 to 100 callbacks, got %d", len(in.Inputs))))
	}
	var details []errorDetail
	seen := map[string]bool{}
	for _, cb := range in.Inputs {
		ex := c.s.act.executions[cb.CallbackID]
		if ex != nil {
			c.s.expireLocked(ex)
		}
		switch {
		case seen[cb.CallbackID]:
			details = append(details, errorDetail{Message: "callback " + cb.CallbackID + " is listed twice", Code: "DUPLICATE_INPUT"})
		case ex == nil || ex.PortalID != c.p.ID || ex.State == ExecutionExpired:
			details = append(details, errorDetail{Message: "No callback with ID " + cb.CallbackID + " exists", Code: "OBJECT_NOT_FOUND"})
		case ex.State != ExecutionBlocked:
			details = append(details, errorDetail{Message: "Callback " + cb.CallbackID + " has already been completed", Code: "ALREADY_COMPLETED"})
		case cb.OutputFields == nil:
			details = append(details, errorDetail{Message: "outputFields is required for callback " + cb.CallbackID, Code: "INVALID_INPUT"})
		}
		seen[cb.CallbackID] = true
	}
	if len(details) > 0 {
		e := validationErr(fmt.Sprintf("%d of %d callbacks cannot be completed; none was", len(details), len(in.Inputs)))
		e.Errors = details
		return errResult(e)
	}
	for _, cb := range in.Inputs {
		if e := c.completeLocked(cb); e != nil {
			return errResult(e)
		}
	}
	return http.StatusNoContent, nil
}

// POST /portals/{portalId}/actions/{definitionId}/execute
// {"objectType":"CONTACT","objectId":"123","inputFields":{...},"workflowId":1[,"callbackId":"..."]}
// → 200 ActionExecution, once answered (or failed for good).
func hControlExecuteAction(s *Simulator, r *http.Request) (int, any) {
	portalID, e := portalParam(r)
	if e != nil {
		return errResult(e)
	}
	var in struct {
		ObjectType  string         `json:"objectType"`
		ObjectID    string         `json:"objectId"`
		InputFields map[string]any `json:"inputFields"`
		WorkflowID  int64          `json:"workflowId"`
		CallbackID  string         `json:"callbackId"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, &in) != nil {
		return errResult(validationErr(`the body must be {"objectType","objectId","inputFields","workflowId"}`))
	}
	ex, err := s.ExecuteAction(r.Context(), ActionRun{DefinitionID: r.PathValue("definitionId"), PortalID: portalID,
		ObjectType: in.ObjectType, ObjectID: in.ObjectID, InputFields: in.InputFields, WorkflowID: in.WorkflowID, CallbackID: in.CallbackID})
	if err != nil {
		return errResult(validationErr(err.Error()))
	}
	return http.StatusOK, ex
}

// GET /actions/executions/{callbackId} → ActionExecution, or 404.
func hControlExecution(s *Simulator, r *http.Request) (int, any) {
	ex, ok := s.Execution(r.PathValue("callbackId"))
	if !ok {
		return errResult(notFoundErr("No execution with callbackId " + r.PathValue("callbackId")))
	}
	return http.StatusOK, ex
}
