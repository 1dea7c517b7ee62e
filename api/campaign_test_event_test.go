package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/workflows"
)

// TestCampaignTestEvent: on the real worker, Postgres and Temporal, a test
// event for a live pending referral's deal reports "moved to approved" while
// the referral stays pending, its audit trail and its workflow's history
// gain nothing, and no sales entry is recorded; a record no referral holds
// and a property no rule reads say what the Sales Receiver would do; bad
// input is a 400 naming the field; another workspace's campaign is not
// found. The status-rules page's form shows the same result inline.
func TestCampaignTestEvent(t *testing.T) {
	t.Parallel()
	r := newReviewAPI(t)
	ctx := context.Background()
	s := campaign.Defaults()
	s.StatusRules = campaign.StatusRules{
		Qualified: &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"contractsent"}},
		Approved:  &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}},
	}
	r.d.SetCampaignSettings(t, r.fx.Campaign, s)
	camp := r.fx.Campaign.ID.String()
	rec := r.api.call("POST", "/api/v1/campaigns/"+camp+"/referrals",
		`{"member_code":"`+r.fx.Member.ReferralCode+`","lead":{"email":"tested@example.org"}}`)
	var ref ReferralView
	if err := json.Unmarshal(rec.Body.Bytes(), &ref); rec.Code != http.StatusCreated || err != nil {
		t.Fatalf("add referral = %d %s", rec.Code, rec.Body)
	}
	waitForEvent(t, r.api, ref.ID, "workflow_started")
	if _, err := r.d.Pool.Exec(ctx, `UPDATE referrals SET hubspot_deal_id = 3000001 WHERE id = $1`, ref.ID); err != nil {
		t.Fatal(err)
	}
	// The workflow goes on writing its first steps (the lead, its label)
	// after workflow_started: the baseline is taken once its trail is still.
	before := getReferralView(t, r.api, ref.ID)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		time.Sleep(time.Second)
		now := getReferralView(t, r.api, ref.ID)
		if len(now.Events) == len(before.Events) {
			break
		}
		before = now
	}
	history := func() int {
		t.Helper()
		n := 0
		it := r.tc.Client.GetWorkflowHistory(ctx, ref.WorkflowID, "", false, 0)
		for it.HasNext() {
			if _, err := it.Next(); err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	events := history()

	try := func(body string) (TestEventResult, ErrorBody, int) {
		t.Helper()
		rec := r.api.call("POST", "/api/v1/campaigns/"+camp+"/test-event", body)
		var res TestEventResult
		var e ErrorBody
		if rec.Code == http.StatusOK {
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
				t.Fatal(err)
			}
		} else if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("error answer %d is not JSON: %s", rec.Code, rec.Body)
		}
		return res, e, rec.Code
	}
	for _, body := range []string{
		`{"object_type":"deal","record_id":3000001,"property":"dealstage","value":"closedwon"}`,
		`{"object_type":"deal","referral_id":"` + ref.ID + `","property":"dealstage","value":"closedwon"}`,
	} {
		res, e, code := try(body)
		if code != http.StatusOK {
			t.Fatalf("test event %s = %d %+v", body, code, e)
		}
		want := TestEventReferral{ReferralID: ref.ID, Status: "pending", Outcome: "moved to approved", MovesTo: "approved"}
		if len(res.Referrals) != 1 || res.Referrals[0] != want || res.Written || res.OtherCampaigns != 0 {
			t.Fatalf("test event %s = %+v", body, res)
		}
		if res.Change.ObjectType != "deal" || res.Change.ObjectID != 3000001 || res.Change.Property != "dealstage" || res.Change.Value != "closedwon" ||
			!strings.Contains(res.Receiver, "would send the change of deal 3000001 dealstage to the 1 referral(s)") || res.Notice == "" {
			t.Fatalf("test event %s: change %+v, receiver %q, notice %q", body, res.Change, res.Receiver, res.Notice)
		}
	}

	// Tried twice, and nothing changed: not the referral, not its trail,
	// not its workflow's history, not the Sales Receiver's log.
	after := getReferralView(t, r.api, ref.ID)
	if after.Status != "pending" || len(after.Events) != len(before.Events) {
		t.Fatalf("after the test events: status %s, %d events (was %d)", after.Status, len(after.Events), len(before.Events))
	}
	if n := history(); n != events {
		t.Fatalf("the workflow's history went from %d to %d events", events, n)
	}
	var entries int
	if err := r.d.Pool.QueryRow(ctx, `SELECT count(*) FROM sales_entries`).Scan(&entries); err != nil || entries != 0 {
		t.Fatalf("sales entries after test events: %d %v", entries, err)
	}
	v, err := r.tc.Client.QueryWorkflow(ctx, ref.WorkflowID, "", workflows.QueryReferralState)
	var st workflows.ReferralState
	if err == nil {
		err = v.Get(&st)
	}
	if err != nil || st.Status != "pending" || st.Transitions != 0 {
		t.Fatalf("workflow state after test events: %+v %v", st, err)
	}

	// What the Sales Receiver would do without a referral to send it to.
	if res, e, code := try(`{"object_type":"deal","record_id":424242,"property":"dealstage","value":"closedwon"}`); code != http.StatusOK ||
		len(res.Referrals) != 0 || !strings.Contains(res.Receiver, "No referral holds deal 424242: the Sales Receiver would start matching it") {
		t.Fatalf("a record no referral holds = %d %+v %+v", code, res, e)
	}
	if res, e, code := try(`{"object_type":"deal","record_id":3000001,"property":"amount","value":"1200"}`); code != http.StatusOK ||
		len(res.Referrals) != 0 || !strings.Contains(res.Receiver, "would ignore this event: no rule reads deal.amount") {
		t.Fatalf("a property no rule reads = %d %+v %+v", code, res, e)
	}

	// Bad input: 400 naming the field.
	for body, field := range map[string]string{
		`{"object_type":"ticket","record_id":1,"property":"dealstage","value":"x"}`:                                      "object_type",
		`{"object_type":"deal","record_id":1,"value":"x"}`:                                                               "property",
		`{"object_type":"deal","property":"dealstage","value":"x"}`:                                                      "record_id",
		`{"object_type":"deal","record_id":-5,"property":"dealstage","value":"x"}`:                                       "record_id",
		`{"object_type":"deal","record_id":"abc","property":"dealstage","value":"x"}`:                                    "record_id",
		`{"object_type":"deal","referral_id":"nope","property":"dealstage","value":"x"}`:                                 "referral_id",
		`{"object_type":"deal","referral_id":"` + ref.ID + `","record_id":1,"property":"dealstage","value":"x"}`:         "referral_id",
		`{"object_type":"contact","referral_id":"` + ref.ID + `","property":"dealstage","value":"x"}`:                    "referral_id",
		`{"object_type":"deal","referral_id":"00000000-0000-4000-8000-000000000000","property":"dealstage","value":"x"}`: "referral_id",
		`{"object_type":"deal","record_id":1,"property":"dealstage","value":"x","extra":1}`:                              "extra",
	} {
		if _, e, code := try(body); code != http.StatusBadRequest || e.Error.Fields[field] == "" {
			t.Errorf("test event %s = %d %+v, want 400 naming %s", body, code, e.Error, field)
		}
	}
	other := r.d.SeedReferral(t)
	if rec := r.api.call("POST", "/api/v1/campaigns/"+other.Campaign.ID.String()+"/test-event",
		`{"object_type":"deal","record_id":3000001,"property":"dealstage","value":"closedwon"}`); rec.Code != http.StatusNotFound {
		t.Fatalf("another workspace's campaign = %d %s", rec.Code, rec.Body)
	}

	// The admin UI: the form on the status-rules page, the result inline.
	b := signInAdmin(t, r.srv, r.d, r.fx.Workspace, "tester@acme.test")
	rules := "/admin/campaigns/" + camp + "/status-rules"
	page := b.get(rules, http.StatusOK)
	pageContains(t, "the status-rules page", page, `id="test-event-form"`, `action="/admin/campaigns/`+camp+`/test-event#test-event"`,
		`<option value="deal.dealstage">deal.dealstage (qualified rule)</option>`, `name="test_value"`, `name="test_record"`)
	if rec := b.send(http.MethodPost, "/admin/campaigns/"+camp+"/test-event", url.Values{"test_property": {"deal.dealstage"}, "test_value": {"closedwon"}, "test_record": {ref.ID}}); rec.Code != http.StatusForbidden {
		t.Fatalf("a test event without the CSRF token = %d", rec.Code)
	}
	rec = b.post(rules, "/admin/campaigns/"+camp+"/test-event", url.Values{"test_property": {"deal.dealstage"}, "test_value": {"closedwon"}, "test_record": {ref.ID}})
	if rec.Code != http.StatusOK {
		t.Fatalf("the test event form = %d %s", rec.Code, rec.Body)
	}
	pageContains(t, "the test event's result", rec.Body.String(), `id="test-event-result"`, "nothing was changed", `href="/admin/referrals/`+ref.ID+`"`,
		"<td>pending</td><td>moved to approved</td>", `value="closedwon"`)
	rec = b.post(rules, "/admin/campaigns/"+camp+"/test-event", url.Values{"test_property": {"deal.dealstage"}, "test_value": {"closedwon"}, "test_record": {"not an id"}})
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("the test event form with a bad ID = %d", rec.Code)
	}
	pageContains(t, "the refused test event", rec.Body.String(), `role="alert"`, `aria-invalid="true"`, `id="f-test_record-error"`)
	if v := getReferralView(t, r.api, ref.ID); v.Status != "pending" || len(v.Events) != len(before.Events) {
		t.Fatalf("after the admin's test events: %s, %d events", v.Status, len(v.Events))
	}
}
