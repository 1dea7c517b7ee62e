package api

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// goTypeName is what a Go type looks like in a message (api.CampaignInput,
// *campaign.Settings, []string, map[string]string, int64).
var goTypeName = regexp.MustCompile(`\b[a-z]+\.[A-Z]\w*|\[\][a-z*]|map\[|\bu?int(8|16|32|64)\b|float64`)

// namesGoType tells whether an answer says a Go type name that is not an
// echo of the request (a status "den.A0" quoted back is the client's text).
func namesGoType(said, request string) (string, bool) {
	for _, m := range goTypeName.FindAllString(said, -1) {
		if !strings.Contains(request, m) {
			return m, true
		}
	}
	return "", false
}

// Hostile input gets a 4xx naming what is wrong — never a 500, never a Go
// type name: NUL characters and invalid UTF-8 in any text field, bodies of the
// wrong shape, lists and texts over their limits, money that is not money.
func TestBadInputIsAClientMistake(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)
	api, fx, logs := w.api, w.fx, w.logs
	camp := "/api/v1/campaigns/" + fx.Campaign.ID.String()
	referral := "/api/v1/referrals/" + fx.Referral.ID.String()
	rows := func(n int) string {
		r := make([]string, n)
		for i := range r {
			r[i] = fmt.Sprintf(`{"object":"contact","value":"x","property":"p%d"}`, i)
		}
		return `{"leads":{"action":"create_contact","field_mapping":[` + strings.Join(r, ",") + `]}}`
	}
	cases := []struct {
		name, method, path, body string
		code                     int
		field, says              string
	}{
		{"NUL in a campaign name", "POST", "/api/v1/campaigns", `{"name":"Spring\u0000"}`, 422, "name", "NUL"},
		{"invalid UTF-8 in a campaign name", "POST", "/api/v1/campaigns", "{\"name\":\"Spring \xff\xfe\"}", 422, "name", "UTF-8"},
		{"NUL in a member's last name", "POST", camp + "/members", `{"email":"a@example.com","last_name":"Li\u0000"}`, 422, "last_name", "NUL"},
		{"NUL in a lead's first name", "POST", camp + "/referrals", `{"member_id":"` + fx.Member.ID.String() + `","lead":{"email":"nul@example.org","first_name":"\u0000"}}`, 422, "lead.first_name", "NUL"},
		{"NUL in a field-mapping value", "PUT", camp + "/settings", `{"leads":{"action":"create_contact","field_mapping":[{"object":"contact","value":"a\u0000","property":"email"}]}}`, 422, "settings.leads.field_mapping[0].value", "NUL"},
		{"NUL in a decision's reason", "POST", referral + "/decisions", `{"status":"denied","reason":"\u0000"}`, 422, "reason", "NUL"},
		{"an array for a campaign", "POST", "/api/v1/campaigns", `[{"name":"x"}]`, 422, "body", "must be an object"},
		{"a number for a name", "POST", "/api/v1/campaigns", `{"name":5}`, 422, "name", "must be a string"},
		{"a string for a list", "PUT", camp + "/settings", `{"leads":{"field_mapping":"all"}}`, 422, "settings.leads.field_mapping", "must be an array"},
		{"a huge number for hold days", "PUT", camp + "/settings", `{"rewards":{"hold_days":1e40}}`, 422, "settings.rewards.hold_days", "whole number"},
		{"truncated JSON", "POST", "/api/v1/campaigns", `{"name":"x"`, 400, "", "ends too early"},
		{"a stray bracket after the JSON", "POST", "/api/v1/campaigns", `{"name":"x"}}`, 400, "", "more than one JSON value"},
		{"1,000 field-mapping rows", "PUT", camp + "/settings", rows(1000), 422, "settings.leads.field_mapping", "at most 100"},
		{"a 300 KB body", "PUT", camp + "/settings", rows(6000), 413, "", "larger than 262144 bytes"},
		{"a 5,000-character email local part", "POST", camp + "/members", `{"email":"` + strings.Repeat("a", 5000) + `@example.com"}`, 422, "email", "at most 254"},
		{"a 65-character local part", "POST", camp + "/members", `{"email":"` + strings.Repeat("a", 65) + `@example.com"}`, 422, "email", "at most 64"},
		{"a 201-character name", "POST", camp + "/members", `{"email":"b@example.com","first_name":"` + strings.Repeat("é", 201) + `"}`, 422, "first_name", "at most 200"},
		{"a 1,001-character reason", "POST", referral + "/decisions", `{"status":"denied","reason":"` + strings.Repeat("r", 1001) + `"}`, 422, "reason", "at most 1000"},
		{"currency XXX", "PUT", camp + "/settings", `{"rewards":{"member":{"kind":"fixed","amount":"10","currency":"XXX"}}}`, 422, "settings.rewards.member.currency", "ISO 4217"},
		{"a reward of 0", "PUT", camp + "/settings", `{"rewards":{"member":{"kind":"fixed","amount":"0","currency":"EUR"}}}`, 422, "settings.rewards.member.amount", "more than 0"},
		{"a negative reward", "PUT", camp + "/settings", `{"rewards":{"member":{"kind":"fixed","amount":"-5","currency":"EUR"}}}`, 422, "settings.rewards.member.amount", "amount like 50"},
		{"a 2,049-character fulfilment URL", "PATCH", camp, `{"fulfilment_webhook_url":"https://example.com/` + strings.Repeat("a", 2030) + `"}`, 422, "fulfilment_webhook_url", "at most 2048"},
		{"NUL in a path ID", "GET", "/api/v1/campaigns/%00", "", 404, "", "UUIDs"},
		{"NUL in a list's query", "GET", "/api/v1/referrals?email=a%00@example.com", "", 400, "email", "NUL"},
		{"invalid UTF-8 in a list's query", "GET", "/api/v1/sales-entries?status=%ff", "", 400, "status", "UTF-8"},
	}
	for _, tc := range cases {
		rec := api.call(tc.method, tc.path, tc.body)
		e := decodeError(t, rec)
		if rec.Code != tc.code {
			t.Errorf("%s: %d %+v, want %d", tc.name, rec.Code, e, tc.code)
			continue
		}
		msg := e.Message
		if tc.field != "" {
			msg = e.Fields[tc.field]
		}
		if !strings.Contains(msg, tc.says) {
			t.Errorf("%s: %q (fields %v), want %q at %q", tc.name, e.Message, e.Fields, tc.says, tc.field)
		}
		said := []string{e.Message}
		for k, v := range e.Fields {
			said = append(said, k, v)
		}
		if name, ok := namesGoType(strings.Join(said, " | "), tc.body); ok {
			t.Errorf("%s: the answer names a Go type (%s): %+v", tc.name, name, e)
		}
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Fatalf("a client mistake was logged as an error:\n%s", logs.String())
	}
}
