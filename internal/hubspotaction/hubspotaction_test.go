package hubspotaction

import (
	"encoding/json"
	"strings"
	"testing"
)

// Each definition is JSON with its actionUrl under the public URL, the
// action's own path, and every input field the action reads and output
// field it answers named, so a workflow's author can set and branch on them.
func TestDefinitionsNameWhatTheActionsUse(t *testing.T) {
	inputs := map[Action][]string{
		EnrolMember:       {"campaign_id"},
		AddReferral:       {"campaign_id", "member_code", "member_email"},
		SetReferralStatus: {"status", "reason", "campaign_id"},
		WaitForDecision:   {"campaign_id"},
	}
	outputs := map[Action][]string{
		EnrolMember:       {FieldMemberID, FieldReferralCode, FieldReferralLink, FieldJoined, FieldError},
		AddReferral:       {FieldReferralID, FieldReferralStatus, FieldAdded, FieldError},
		SetReferralStatus: {FieldReferralID, FieldReferralStatus, FieldError},
		WaitForDecision:   {FieldDecision, FieldReferralID, FieldError},
	}
	for _, a := range Actions {
		raw, err := Definition(a, "https://refer.example.com/")
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			ActionURL    string `json:"actionUrl"`
			ObjectTypes  []string
			InputFields  []struct{ TypeDefinition struct{ Name string } }
			OutputFields []struct{ TypeDefinition struct{ Name string } }
			Labels       map[string]struct {
				ActionName        string
				InputFieldLabels  map[string]string
				OutputFieldLabels map[string]string
			}
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		if d.ActionURL != "https://refer.example.com"+a.Path() || len(d.ObjectTypes) == 0 || d.Labels["en"].ActionName == "" {
			t.Errorf("%s: actionUrl %q, objectTypes %v, labels %+v", a, d.ActionURL, d.ObjectTypes, d.Labels)
		}
		names := func(fs []struct{ TypeDefinition struct{ Name string } }) string {
			var out []string
			for _, f := range fs {
				out = append(out, f.TypeDefinition.Name)
			}
			return "," + strings.Join(out, ",") + ","
		}
		for _, in := range inputs[a] {
			if !strings.Contains(names(d.InputFields), ","+in+",") || d.Labels["en"].InputFieldLabels[in] == "" {
				t.Errorf("%s: input field %s not defined or labelled", a, in)
			}
		}
		for _, out := range outputs[a] {
			if !strings.Contains(names(d.OutputFields), ","+out+",") || d.Labels["en"].OutputFieldLabels[out] == "" {
				t.Errorf("%s: output field %s not defined or labelled", a, out)
			}
		}
	}
	if _, err := Parse("pay-everyone"); err == nil || !strings.Contains(err.Error(), "enrol-member") {
		t.Fatalf("unknown action: %v", err)
	}
}

func TestParseExecution(t *testing.T) {
	ok := `{"callbackId":"ap-1","origin":{"portalId":7,"actionDefinitionId":2,"actionDefinitionVersion":1},"context":{"source":"WORKFLOWS","workflowId":3},"object":{"objectId":9,"objectType":"CONTACT","properties":{"email":"a@b.co"}},"inputFields":{"campaign_id":" c1 ","n":12,"b":true}}`
	e, err := ParseExecution([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if e.Object.ObjectType != "contact" || e.Input("campaign_id") != "c1" || e.Input("n") != "12" || e.Input("b") != "true" || e.Input("none") != "" || e.Object.Properties["email"] != "a@b.co" {
		t.Fatalf("parsed: %+v", e)
	}
	for body, want := range map[string]string{
		`[`:                                     "not valid JSON",
		strings.Replace(ok, `"ap-1"`, `" "`, 1): "callbackId is required",
		strings.Replace(ok, `"portalId":7`, `"portalId":0`, 1):  "origin.portalId",
		strings.Replace(ok, `"objectId":9`, `"objectId":-1`, 1): "object.objectId",
		strings.Replace(ok, `"CONTACT"`, `"TICKET"`, 1):         "objectType",
	} {
		if _, err := ParseExecution([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}
