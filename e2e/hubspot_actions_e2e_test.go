package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspotaction"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/workflows"
)

// actionStack is the Sales Receiver's stack with referflow's workflow
// actions registered in the HubSpot simulator's app, and an admin's key.
type actionStack struct {
	*salesReceiverStack
	defs     map[hubspotaction.Action]string
	adminKey string
	workflow int64
}

func newActionStack(t *testing.T, ctx context.Context) *actionStack {
	t.Helper()
	st := newSalesReceiverStack(t, ctx, hubspotsim.WebhookOptions{RetryBase: 20 * time.Millisecond})
	defs, err := hubspotaction.Register(ctx, nil, st.hs.URL, st.hs.Sim.Options().AppID, hubspotsim.DefaultDeveloperAPIKey, st.apiURL)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(st.hs.Sim.ActionDefinitions()); got != 4 {
		t.Fatalf("the simulator holds %d definitions, want 4", got)
	}
	_, key, err := adminauth.CreateAdmin(ctx, st.d.Queries, st.fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	return &actionStack{salesReceiverStack: st, defs: defs, adminKey: key, workflow: 4242}
}

// run executes an action on a record as a HubSpot workflow does.
func (st *actionStack) run(t *testing.T, ctx context.Context, a hubspotaction.Action, objectType, objectID string, inputs map[string]any) hubspotsim.ActionExecution {
	t.Helper()
	ex, err := st.hs.Sim.ExecuteAction(ctx, hubspotsim.ActionRun{
		DefinitionID: st.defs[a], PortalID: st.hs.PortalID, ObjectType: objectType, ObjectID: objectID,
		InputFields: inputs, WorkflowID: st.workflow,
	})
	if err != nil {
		t.Fatalf("execute %s: %v", a, err)
	}
	return ex
}

// again executes the same execution again (HubSpot's retry after a lost answer).
func (st *actionStack) again(t *testing.T, ctx context.Context, a hubspotaction.Action, objectType, objectID string, inputs map[string]any, callbackID string) hubspotsim.ActionExecution {
	t.Helper()
	ex, err := st.hs.Sim.ExecuteAction(ctx, hubspotsim.ActionRun{
		DefinitionID: st.defs[a], PortalID: st.hs.PortalID, ObjectType: objectType, ObjectID: objectID,
		InputFields: inputs, WorkflowID: st.workflow, CallbackID: callbackID,
	})
	if err != nil {
		t.Fatalf("execute %s again: %v", a, err)
	}
	return ex
}

func (st *actionStack) decide(t *testing.T, ctx context.Context, referralID, body string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, st.apiURL+"/api/v1/referrals/"+referralID+"/decisions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+st.adminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("decide %s: %d %s", body, resp.StatusCode, b)
	}
}

func wantOutputs(t *testing.T, what string, ex hubspotsim.ActionExecution, state string, outputs map[string]string) {
	t.Helper()
	if ex.State != state {
		t.Fatalf("%s: execution %s, want %s: %+v", what, ex.State, state, ex)
	}
	for k, v := range outputs {
		if ex.OutputFields[k] != v {
			t.Fatalf("%s: output %s = %q, want %q (outputs %v)", what, k, ex.OutputFields[k], v, ex.OutputFields)
		}
	}
}

// TestHubSpotWorkflowActions runs each of referflow's four workflow actions
// in a HubSpot workflow (the simulator executing them as HubSpot does,
// signed, with retries) against the whole stack:
//
//   - "Enrol as member" makes the contact a member whose code and link
//     reach the contact; run again with the same callbackId, it answers the
//     same and adds no one;
//   - "Add referral" adds the contact as a lead of the member with the
//     code, once whatever the retries, through AddReferral;
//   - "Wait for referral decision" blocks, and the referral's workflow
//     completes it with decision=approved when an admin approves; on a
//     decided referral it answers at once;
//   - "Set referral status": a decision the workflow's validator refuses
//     (a denial without a reason) answers FAIL_CONTINUE with the reason;
//     one it accepts moves the referral and completes the waiting workflow
//     with decision=denied;
//   - HubSpot failing when the decision is sent: the referral's workflow
//     keeps running and completes the callback once HubSpot answers;
//   - an execution with a bad signature is a 401 with a JSON error.
func TestHubSpotWorkflowActions(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st := newActionStack(t, ctx)
	sim, portal := st.hs.Sim, st.hs.PortalID
	campaignID := st.fx.Campaign.ID.String()

	// Enrol as member.
	ada, err := sim.CreateObject(portal, "contacts", map[string]string{"email": "ada@example.org", "firstname": "Ada", "lastname": "Byron"})
	if err != nil {
		t.Fatal(err)
	}
	enrol := map[string]any{"campaign_id": campaignID}
	ex := st.run(t, ctx, hubspotaction.EnrolMember, "CONTACT", ada, enrol)
	wantOutputs(t, "enrol Ada", ex, hubspotsim.ExecutionAnswered, map[string]string{"hs_execution_state": "SUCCESS", "joined": "true"})
	code := ex.OutputFields["referral_code"]
	if code == "" || !strings.HasSuffix(ex.OutputFields["referral_link"], "/r/"+code) {
		t.Fatalf("enrol Ada: no code and link in %v", ex.OutputFields)
	}
	retried := st.again(t, ctx, hubspotaction.EnrolMember, "CONTACT", ada, enrol, ex.CallbackID)
	if retried.OutputFields["member_id"] != ex.OutputFields["member_id"] || retried.OutputFields["joined"] != "true" {
		t.Fatalf("a retried enrolment answered %v, the first %v", retried.OutputFields, ex.OutputFields)
	}
	st.waitCount(t, ctx, "Ada a member once, linked to her contact", 1,
		`SELECT count(*) FROM members WHERE campaign_id = $1 AND email = 'ada@example.org' AND source = 'hubspot' AND hubspot_contact_id::text = $2`, st.fx.Campaign.ID, ada)
	for {
		c, _ := sim.GetObject(portal, "contacts", ada)
		if c.Properties[hubspotobject.PropReferralCode] == code {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Ada's contact never got her code %s: %v", code, c.Properties)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Add referral: Lee, referred by Ada's code; retried, still one referral.
	lee, err := sim.CreateObject(portal, "contacts", map[string]string{"email": "lee@example.org", "firstname": "Lee"})
	if err != nil {
		t.Fatal(err)
	}
	add := map[string]any{"campaign_id": campaignID, "member_code": code}
	ex = st.run(t, ctx, hubspotaction.AddReferral, "CONTACT", lee, add)
	wantOutputs(t, "add Lee", ex, hubspotsim.ExecutionAnswered, map[string]string{"hs_execution_state": "SUCCESS", "added": "true", "referral_status": "pending"})
	leeReferral := ex.OutputFields["referral_id"]
	retried = st.again(t, ctx, hubspotaction.AddReferral, "CONTACT", lee, add, ex.CallbackID)
	if retried.OutputFields["referral_id"] != leeReferral || retried.OutputFields["added"] != "true" {
		t.Fatalf("a retried addition answered %v, the first %v", retried.OutputFields, ex.OutputFields)
	}
	st.waitCount(t, ctx, "Lee referred once, holding his contact", 1,
		`SELECT count(*) FROM referrals WHERE lead_email = 'lee@example.org' AND source = 'hubspot' AND hubspot_contact_id::text = $1`, lee)
	st.waitCount(t, ctx, "Lee's referral added by the workflow action", 1,
		`SELECT count(*) FROM referral_events WHERE referral_id = $1 AND kind = 'added' AND details->>'source' = 'hubspot_workflow_action'`, leeReferral)
	st.waitCount(t, ctx, "Lee's referral's workflow started", 1,
		`SELECT count(*) FROM referral_events WHERE referral_id = $1 AND kind = 'workflow_started'`, leeReferral)
	bad := st.run(t, ctx, hubspotaction.AddReferral, "CONTACT", lee, map[string]any{"campaign_id": campaignID, "member_code": "NOBODY"})
	wantOutputs(t, "add with an unknown code", bad, hubspotsim.ExecutionAnswered, map[string]string{"hs_execution_state": "FAIL_CONTINUE"})

	// Wait for referral decision: blocked until an admin approves.
	wait := st.run(t, ctx, hubspotaction.WaitForDecision, "CONTACT", lee, nil)
	wantOutputs(t, "wait for Lee's decision", wait, hubspotsim.ExecutionBlocked, map[string]string{"hs_execution_state": "BLOCK", "referral_id": leeReferral})
	if again := st.again(t, ctx, hubspotaction.WaitForDecision, "CONTACT", lee, nil, wait.CallbackID); again.State != hubspotsim.ExecutionBlocked {
		t.Fatalf("a retried wait answered %+v", again)
	}
	st.decide(t, ctx, leeReferral, `{"status":"approved"}`)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	done, err := sim.WaitForExecution(wctx, wait.CallbackID)
	wcancel()
	if err != nil {
		t.Fatalf("the approval did not complete the waiting workflow: %v (%+v)", err, done)
	}
	wantOutputs(t, "Lee approved", done, hubspotsim.ExecutionCompleted, map[string]string{"decision": "approved", "referral_id": leeReferral})
	st.waitCount(t, ctx, "the callback recorded completed", 1,
		`SELECT count(*) FROM hubspot_action_executions WHERE callback_id = $1 AND state = 'completed' AND decision = 'approved'`, wait.CallbackID)
	st.waitCount(t, ctx, "the completion in the audit trail", 1,
		`SELECT count(*) FROM referral_events WHERE referral_id = $1 AND kind = 'decision_callbacks_completed' AND details->>'completed' = '1'`, leeReferral)
	// The run replays against the current code (its decision callbacks
	// versioned), and is saved for the replay test with
	// REFERFLOW_RECORD_HISTORIES=1.
	replayAndRecord(t, ctx, st.tc.Client, workflows.ReferralWorkflowID(leeReferral), "referral_decision_callbacks.json")
	// Decided already: answered at once.
	now := st.run(t, ctx, hubspotaction.WaitForDecision, "CONTACT", lee, nil)
	wantOutputs(t, "wait on a decided referral", now, hubspotsim.ExecutionAnswered, map[string]string{"hs_execution_state": "SUCCESS", "decision": "approved"})

	// Set referral status: Mo's referral, a workflow waiting on it.
	mo, err := sim.CreateObject(portal, "contacts", map[string]string{"email": "mo@example.org", "firstname": "Mo"})
	if err != nil {
		t.Fatal(err)
	}
	ex = st.run(t, ctx, hubspotaction.AddReferral, "CONTACT", mo, map[string]any{"campaign_id": campaignID, "member_email": "ada@example.org"})
	wantOutputs(t, "add Mo", ex, hubspotsim.ExecutionAnswered, map[string]string{"hs_execution_state": "SUCCESS", "added": "true"})
	moReferral := ex.OutputFields["referral_id"]
	moWait := st.run(t, ctx, hubspotaction.WaitForDecision, "CONTACT", mo, map[string]any{"campaign_id": campaignID})
	wantOutputs(t, "wait for Mo's decision", moWait, hubspotsim.ExecutionBlocked, nil)
	refused := st.run(t, ctx, hubspotaction.SetReferralStatus, "CONTACT", mo, map[string]any{"status": "denied"})
	wantOutputs(t, "deny without a reason", refused, hubspotsim.ExecutionAnswered, map[string]string{"hs_execution_state": "FAIL_CONTINUE", "referral_id": moReferral})
	if !strings.Contains(refused.OutputFields["error"], "reason") {
		t.Fatalf("the refusal does not say why: %v", refused.OutputFields)
	}
	if refused.LastStatus != http.StatusOK || refused.Attempts != 1 {
		t.Fatalf("a refused decision was answered %d after %d attempts, want one 200", refused.LastStatus, refused.Attempts)
	}
	denied := st.run(t, ctx, hubspotaction.SetReferralStatus, "CONTACT", mo, map[string]any{"status": "denied", "reason": "not a fit"})
	wantOutputs(t, "deny with a reason", denied, hubspotsim.ExecutionAnswered, map[string]string{"hs_execution_state": "SUCCESS", "referral_status": "denied"})
	wctx, wcancel = context.WithTimeout(ctx, 30*time.Second)
	done, err = sim.WaitForExecution(wctx, moWait.CallbackID)
	wcancel()
	if err != nil {
		t.Fatalf("the denial did not complete the waiting workflow: %v", err)
	}
	wantOutputs(t, "Mo denied", done, hubspotsim.ExecutionCompleted, map[string]string{"decision": "denied"})
	st.waitCount(t, ctx, "the decision's actor is the HubSpot workflow", 1,
		`SELECT count(*) FROM referral_events WHERE referral_id = $1 AND kind = 'status_changed' AND to_status = 'denied' AND actor = 'hubspot-workflow:4242'`, moReferral)

	// HubSpot failing when the decision is sent: the callback completes
	// once it answers again, and the referral's workflow never fails.
	kim, err := sim.CreateObject(portal, "contacts", map[string]string{"email": "kim@example.org", "firstname": "Kim"})
	if err != nil {
		t.Fatal(err)
	}
	ex = st.run(t, ctx, hubspotaction.AddReferral, "CONTACT", kim, add)
	kimReferral := ex.OutputFields["referral_id"]
	kimWait := st.run(t, ctx, hubspotaction.WaitForDecision, "CONTACT", kim, nil)
	wantOutputs(t, "wait for Kim's decision", kimWait, hubspotsim.ExecutionBlocked, nil)
	if _, err := sim.SetMode(portal, hubspotsim.Mode{Kind: hubspotsim.ModeServerErrors, Status: 503, For: hubspotsim.Duration(4 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	st.decide(t, ctx, kimReferral, `{"status":"approved"}`)
	time.Sleep(time.Second)
	if ex, _ := sim.Execution(kimWait.CallbackID); ex.State != hubspotsim.ExecutionBlocked {
		t.Fatalf("completed while HubSpot failed: %+v", ex)
	}
	wctx, wcancel = context.WithTimeout(ctx, time.Minute)
	done, err = sim.WaitForExecution(wctx, kimWait.CallbackID)
	wcancel()
	if err != nil {
		t.Fatalf("the callback was never completed after HubSpot came back: %v", err)
	}
	wantOutputs(t, "Kim approved", done, hubspotsim.ExecutionCompleted, map[string]string{"decision": "approved"})
	desc, err := st.tc.Client.DescribeWorkflowExecution(ctx, "referral/"+kimReferral, "")
	if err != nil {
		t.Fatal(err)
	}
	if s := desc.WorkflowExecutionInfo.Status.String(); s != "Running" && s != "Completed" {
		t.Fatalf("Kim's referral's workflow is %s", s)
	}

	// A bad signature: 401 with a JSON error, nothing done.
	body := `{"callbackId":"ap-forged","origin":{"portalId":1},"object":{"objectId":1,"objectType":"CONTACT"},"inputFields":{}}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, st.apiURL+"/hubspot/actions/enrol-member", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-HubSpot-Signature", strings.Repeat("0", 64))
	req.Header.Set("X-HubSpot-Signature-Version", "v2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
		Code string `json:"code"`
	}
	if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(b, &e) != nil || !strings.Contains(string(b), "invalid_signature") {
		t.Fatalf("a forged execution = %d %s, want 401 invalid_signature", resp.StatusCode, b)
	}
	st.waitCount(t, ctx, "nothing stored of the forged execution", 0, `SELECT count(*) FROM hubspot_action_executions WHERE callback_id = 'ap-forged'`)
}

// replayAndRecord replays the workflow's history so far against the current
// code and, with REFERFLOW_RECORD_HISTORIES=1, saves it under
// workflows/testdata for the replay test.
func replayAndRecord(t *testing.T, ctx context.Context, c client.Client, workflowID, file string) {
	t.Helper()
	hist := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, ev)
	}
	replayer := sdkworker.NewWorkflowReplayer()
	replayer.RegisterWorkflow(workflows.ReferralWorkflow)
	if err := replayer.ReplayWorkflowHistory(nil, hist); err != nil {
		t.Fatalf("replay of %s: %v", workflowID, err)
	}
	if os.Getenv("REFERFLOW_RECORD_HISTORIES") == "1" {
		raw, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "workflows", "testdata", file), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
