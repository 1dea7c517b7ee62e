// Package hubspotaction holds the words of referflow's custom workflow
// actions in HubSpot workflows (HubSpot's automation actions v4): the four
// actions and their definitions (definitions/*.json, registered for the
// HubSpot app), the execution HubSpot POSTs to an action's URL, and the
// answer it reads back.
//
// HubSpot sends an execution signed with the v2 signature (and v3 when it
// has one) and retries it on a 5xx or a timeout; it reads the answer's
// outputFields. A blocking action answers hs_execution_state BLOCK with an
// hs_expiration_duration, and is completed later through HubSpot's callback
// API (POST /automation/actions/callbacks/2026-03/{callbackId}/complete,
// legacy /automation/v4/actions/callbacks/{callbackId}/complete) with its
// output fields, on which the workflow branches.
package hubspotaction

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/referflow/referflow/internal/hubspot"
)

// Action is one of referflow's workflow actions; it is the last segment of
// the action's URL (/hubspot/actions/<action>) and the name of its
// definition file.
type Action string

// The actions.
const (
	// EnrolMember makes the enrolled contact a member of a campaign (the
	// enrolment verb every way in uses); the member's workflow writes their
	// code and link back to the contact.
	EnrolMember Action = "enrol-member"
	// AddReferral adds a referral whose lead is the enrolled contact,
	// referred by the member with the given code or email (AddReferral, the
	// one way a referral is added).
	AddReferral Action = "add-referral"
	// SetReferralStatus is an admin's set-status decision on the referral
	// whose lead is the enrolled record; the workflow's validator may refuse
	// it, and the refusal is the answer's error.
	SetReferralStatus Action = "set-referral-status"
	// WaitForDecision blocks the HubSpot workflow until the referral is
	// approved or denied; the referral's workflow completes it.
	WaitForDecision Action = "wait-for-decision"
)

// Actions lists every action, in the order an admin meets them.
var Actions = []Action{EnrolMember, AddReferral, SetReferralStatus, WaitForDecision}

// Parse returns the action named s, or an error listing the actions.
func Parse(s string) (Action, error) {
	for _, a := range Actions {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown workflow action %q (want one of %s)", s, strings.Join(names(), ", "))
}

func names() []string {
	out := make([]string, len(Actions))
	for i, a := range Actions {
		out[i] = string(a)
	}
	return out
}

// Path is the action's URL path under REFERFLOW_PUBLIC_URL.
func (a Action) Path() string { return "/hubspot/actions/" + string(a) }

//go:embed definitions/*.json
var definitionFiles embed.FS

// publicURLPlaceholder is replaced in a definition's actionUrl by
// REFERFLOW_PUBLIC_URL.
const publicURLPlaceholder = "{{PUBLIC_URL}}"

// Definition is an action's definition as HubSpot's definitions API takes
// it (actionUrl, published, objectTypes, objectRequestOptions, inputFields,
// outputFields, labels), with its actionUrl under publicURL.
func Definition(a Action, publicURL string) (json.RawMessage, error) {
	raw, err := definitionFiles.ReadFile("definitions/" + string(a) + ".json")
	if err != nil {
		return nil, fmt.Errorf("definition of %s: %w", a, err)
	}
	s := strings.ReplaceAll(string(raw), publicURLPlaceholder, strings.TrimRight(publicURL, "/"))
	return json.RawMessage(s), nil
}

// Output fields referflow answers, besides HubSpot's own.
const (
	// HubSpot's: the execution's state and, for BLOCK, how long HubSpot
	// waits for the callback (an ISO 8601 duration).
	FieldExecutionState     = "hs_execution_state"
	FieldExpirationDuration = "hs_expiration_duration"

	FieldDecision       = "decision"
	FieldReferralID     = "referral_id"
	FieldReferralStatus = "referral_status"
	FieldAdded          = "added"
	FieldMemberID       = "member_id"
	FieldReferralCode   = "referral_code"
	FieldReferralLink   = "referral_link"
	FieldJoined         = "joined"
	// FieldError says why the action did nothing (a refused decision, an
	// unknown member): HubSpot shows it in the workflow's history.
	FieldError = "error"
)

// Values of hs_execution_state.
const (
	StateSuccess      = "SUCCESS"
	StateFailContinue = "FAIL_CONTINUE"
	StateBlock        = "BLOCK"
)

// BlockFor is how long a "Wait for referral decision" asks HubSpot to wait
// for the callback: 30 days, since a referral often takes longer than
// HubSpot's default week to be decided. A referral decided later finds the
// callback expired (HubSpot answers 404): the HubSpot workflow took its
// expiry path.
const BlockFor = "P30D"

// Execution is what HubSpot POSTs to an action's URL.
type Execution struct {
	CallbackID  string         `json:"callbackId"`
	Origin      Origin         `json:"origin"`
	Context     Context        `json:"context"`
	Object      Object         `json:"object"`
	InputFields map[string]any `json:"inputFields"`
}

// Origin is the portal and the action definition an execution came from.
type Origin struct {
	PortalID                int64 `json:"portalId"`
	ActionDefinitionID      int64 `json:"actionDefinitionId"`
	ActionDefinitionVersion int64 `json:"actionDefinitionVersion"`
}

// Context is where in HubSpot the action ran.
type Context struct {
	Source     string `json:"source"`
	WorkflowID int64  `json:"workflowId"`
}

// Object is the enrolled record: objectType as HubSpot writes it (CONTACT,
// DEAL) and, when the definition asks for them (objectRequestOptions), its
// properties.
type Object struct {
	ObjectID   int64             `json:"objectId"`
	ObjectType string            `json:"objectType"`
	Properties map[string]string `json:"properties,omitempty"`
}

// Answer is the body of the answer to an execution.
type Answer struct {
	OutputFields map[string]string `json:"outputFields"`
}

// ParseExecution reads an execution, refusing one that cannot be acted on
// with what is wrong.
func ParseExecution(body []byte) (Execution, error) {
	var e Execution
	if err := json.Unmarshal(body, &e); err != nil {
		return e, fmt.Errorf("the execution is not valid JSON: %w", err)
	}
	switch {
	case strings.TrimSpace(e.CallbackID) == "":
		return e, errors.New("callbackId is required")
	case len(e.CallbackID) > 200:
		return e, errors.New("callbackId is longer than 200 characters")
	case e.Origin.PortalID <= 0:
		return e, errors.New("origin.portalId is required")
	case e.Object.ObjectID <= 0:
		return e, errors.New("object.objectId is required")
	}
	e.Object.ObjectType = strings.ToLower(strings.TrimSpace(e.Object.ObjectType))
	switch e.Object.ObjectType {
	case "contact", "deal", "company":
	default:
		return e, fmt.Errorf("object.objectType %q is not a record referflow acts on (CONTACT, DEAL, COMPANY)", e.Object.ObjectType)
	}
	return e, nil
}

// Input is the input field name as a trimmed string ("" when absent);
// HubSpot sends numbers for number fields, kept as their decimal form.
func (e Execution) Input(name string) string {
	switch v := e.InputFields[name].(type) {
	case string:
		return strings.TrimSpace(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// Success is an answer with outputs (hs_execution_state SUCCESS).
func Success(outputs map[string]string) Answer {
	out := map[string]string{FieldExecutionState: StateSuccess}
	for k, v := range outputs {
		out[k] = v
	}
	return Answer{OutputFields: out}
}

// Failed is an answer that did nothing, saying why: HubSpot records the
// action as failed and goes on (FAIL_CONTINUE), showing the error.
func Failed(reason string, outputs map[string]string) Answer {
	out := map[string]string{FieldExecutionState: StateFailContinue, FieldError: reason}
	for k, v := range outputs {
		out[k] = v
	}
	return Answer{OutputFields: out}
}

// Blocked is the answer of a "Wait for referral decision" whose referral is
// not decided yet.
func Blocked(referralID string) Answer {
	return Answer{OutputFields: map[string]string{
		FieldExecutionState: StateBlock, FieldExpirationDuration: BlockFor, FieldReferralID: referralID,
	}}
}

// Decided is the output fields of a "Wait for referral decision" whose
// referral is decided (answered at once, or sent through the callback API).
func Decided(referralID, decision string) map[string]string {
	return map[string]string{FieldDecision: decision, FieldReferralID: referralID}
}

// Register creates the four definitions for the HubSpot app appID through
// HubSpot's definitions API at baseURL (the developer API key
// authenticates: definitions belong to the app), each with its actionUrl
// under publicURL, and returns their IDs. Registering again creates new
// definitions: HubSpot keys them by ID, not by URL.
func Register(ctx context.Context, hc *http.Client, baseURL string, appID int64, developerAPIKey, publicURL string) (map[Action]string, error) {
	ids := map[Action]string{}
	for _, a := range Actions {
		def, err := Definition(a, publicURL)
		if err != nil {
			return ids, err
		}
		id, err := hubspot.CreateActionDefinition(ctx, hc, baseURL, appID, developerAPIKey, def)
		if err != nil {
			return ids, fmt.Errorf("register %s: %w", a, err)
		}
		ids[a] = id
	}
	return ids, nil
}
