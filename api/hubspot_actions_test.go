package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// An execution of a workflow action is refused, with a JSON error saying
// why, before anything is done: v1 (which does not cover the URL), an
// unknown action, an execution without what it must carry. A well-signed
// execution from a portal no workspace connected is answered FAIL_CONTINUE
// saying so (HubSpot shows it), not a 5xx HubSpot would retry for days.
func TestHubSpotActionRequestsRefused(t *testing.T) {
	t.Parallel()
	a := newWebhookAPI(t, nil, webhookAPIOptions{})
	body := `{"callbackId":"ap-1-2-3-4","origin":{"portalId":62515,"actionDefinitionId":2},"context":{"source":"WORKFLOWS","workflowId":3},"object":{"objectId":7,"objectType":"CONTACT"},"inputFields":{"campaign_id":"x"}}`
	path := "/hubspot/actions/enrol-member"
	v2 := signV2(testWebhookSecret, a.public+path)
	cases := []struct {
		name, path, body string
		sign             signing
		status           int
		code, message    string
	}{
		{"unsigned", path, body, nil, http.StatusUnauthorized, "missing_signature", "no HubSpot signature"},
		{"v1", path, body, signV1(testWebhookSecret), http.StatusUnauthorized, "invalid_signature", "signed v2"},
		{"v2 with another secret", path, body, signV2("other", a.public+path), http.StatusUnauthorized, "invalid_signature", "does not match"},
		{"unknown action", "/hubspot/actions/pay-everyone", body, signV2(testWebhookSecret, a.public+"/hubspot/actions/pay-everyone"), http.StatusNotFound, "not_found", "unknown workflow action"},
		{"not JSON", path, "{", v2, http.StatusBadRequest, "invalid_execution", "not valid JSON"},
		{"no callbackId", path, strings.Replace(body, `"ap-1-2-3-4"`, `""`, 1), v2, http.StatusBadRequest, "invalid_execution", "callbackId is required"},
		{"a ticket", path, strings.Replace(body, `"CONTACT"`, `"TICKET"`, 1), v2, http.StatusBadRequest, "invalid_execution", "objectType"},
	}
	for _, tc := range cases {
		ans := a.deliverTo(t, tc.path, tc.body, tc.sign)
		if ans.status != tc.status || ans.err.Code != tc.code || !strings.Contains(ans.err.Message, tc.message) {
			t.Errorf("%s: %d %s", tc.name, ans.status, ans.raw)
		}
	}
	for _, sign := range []signing{v2, signV3(testWebhookSecret, a.public+path, time.Now())} {
		ans := a.deliverTo(t, path, body, sign)
		var out struct {
			OutputFields map[string]string `json:"outputFields"`
		}
		if ans.status != http.StatusOK || json.Unmarshal([]byte(ans.raw), &out) != nil ||
			out.OutputFields["hs_execution_state"] != "FAIL_CONTINUE" || !strings.Contains(out.OutputFields["error"], "not connected") {
			t.Errorf("an execution from an unconnected portal: %d %s", ans.status, ans.raw)
		}
	}
}
