package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
)

// TestMembersReferralsAndDecisions follows a referral added through the
// admin API: member, referral (its workflow starts), fraud checks, a refused
// and an accepted decision, and the audit trail — against real Postgres,
// a real Temporal dev server and a real worker.
func TestMembersReferralsAndDecisions(t *testing.T) {
	t.Parallel()
	d, fx, api := newWorkflowAPI(t)
	camp := "/api/v1/campaigns/" + fx.Campaign.ID.String()

	// A member gets a code and a link.
	rec := api.call("POST", camp+"/members", `{"email":"ana@example.com","first_name":"Ana María"}`)
	var member MemberView
	if err := json.Unmarshal(rec.Body.Bytes(), &member); rec.Code != http.StatusCreated || err != nil {
		t.Fatalf("add member = %d %s", rec.Code, rec.Body)
	}
	if !strings.HasPrefix(member.ReferralCode, "ANAMARA-") || member.ReferralLink != "http://localhost:8080/r/"+member.ReferralCode {
		t.Fatalf("member = %+v", member)
	}
	for body, field := range map[string]string{
		`{"email":"ANA@example.com"}`: "email",
		`{"email":"x@example.com","referral_code":"` + member.ReferralCode + `"}`: "referral_code",
		`{"email":"not an email"}`: "email",
	} {
		rec := api.call("POST", camp+"/members", body)
		if e := decodeError(t, rec); e.Fields[field] == "" || rec.Code < 400 || rec.Code >= 500 {
			t.Errorf("add member %s = %d %+v, want a 4xx naming %s", body, rec.Code, e, field)
		}
	}

	// A referral starts its workflow; the fraud checks let it through.
	rec = api.call("POST", camp+"/referrals", `{"member_code":"`+member.ReferralCode+`","lead":{"email":"bo@example.org","first_name":"Bo"}}`)
	var ref ReferralView
	if err := json.Unmarshal(rec.Body.Bytes(), &ref); rec.Code != http.StatusCreated || err != nil || ref.WorkflowID != "referral/"+ref.ID {
		t.Fatalf("add referral = %d %s", rec.Code, rec.Body)
	}
	waitForEvent(t, api, ref.ID, "workflow_started")

	// The same member sending the same lead again (a retried request) gets
	// the referral it already is; another member referring that lead is
	// refused, naming the referral.
	rec = api.call("POST", camp+"/referrals", `{"member_id":"`+member.ID+`","lead":{"email":"BO@example.org"}}`)
	var again ReferralView
	if err := json.Unmarshal(rec.Body.Bytes(), &again); rec.Code != http.StatusOK || err != nil || again.ID != ref.ID {
		t.Fatalf("same request again = %d %s, want 200 with referral %s", rec.Code, rec.Body, ref.ID)
	}
	rec = api.call("POST", camp+"/members", `{"email":"cy@example.com"}`)
	var otherMember MemberView
	if err := json.Unmarshal(rec.Body.Bytes(), &otherMember); rec.Code != http.StatusCreated || err != nil {
		t.Fatalf("add member = %d %s", rec.Code, rec.Body)
	}
	rec = api.call("POST", camp+"/referrals", `{"member_id":"`+otherMember.ID+`","lead":{"email":"bo@example.org"}}`)
	if e := decodeError(t, rec); rec.Code != http.StatusConflict || !strings.Contains(e.Message, ref.ID) {
		t.Fatalf("lead referred by another member = %d %+v", rec.Code, e)
	}
	// The member referring themself is denied by the workflow, with the reason.
	rec = api.call("POST", camp+"/referrals", `{"member_id":"`+member.ID+`","lead":{"email":"ana+me@example.com"}}`)
	var self ReferralView
	_ = json.Unmarshal(rec.Body.Bytes(), &self)
	if got := waitForStatus(t, api, self.ID, "denied"); !strings.HasPrefix(got.DeniedReason, "self_referral") {
		t.Fatalf("self-referral = %+v", got)
	}

	// An impossible decision is refused with the validator's reason; a valid
	// one moves the referral and lands in the audit trail with its admin.
	rec = api.call("POST", "/api/v1/referrals/"+ref.ID+"/decisions", `{"status":"denied"}`)
	if e := decodeError(t, rec); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(e.Message, "needs a reason") {
		t.Fatalf("denial without reason = %d %+v", rec.Code, e)
	}
	rec = api.call("POST", "/api/v1/referrals/"+ref.ID+"/decisions", `{"status":"shipped"}`)
	if e := decodeError(t, rec); rec.Code != http.StatusUnprocessableEntity || e.Fields["status"] == "" {
		t.Fatalf("unknown status = %d %+v", rec.Code, e)
	}
	rec = api.call("POST", "/api/v1/referrals/"+ref.ID+"/decisions", `{"status":"qualified"}`)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"status":"qualified"`) {
		t.Fatalf("qualify = %d %s", rec.Code, rec.Body)
	}
	got := waitForStatus(t, api, ref.ID, "qualified")
	last := got.Events[len(got.Events)-1]
	if last.Kind != "status_changed" || last.ToStatus != "qualified" || !strings.HasPrefix(last.Actor, "admin:") {
		t.Fatalf("audit trail = %+v", got.Events)
	}

	// A decision on a referral whose life has ended is refused clearly.
	rec = api.call("POST", "/api/v1/referrals/"+self.ID+"/decisions", `{"status":"approved"}`)
	if e := decodeError(t, rec); rec.Code != http.StatusConflict || !strings.Contains(e.Message, "not running") {
		t.Fatalf("decision on an ended referral = %d %+v", rec.Code, e)
	}
	// Another workspace's referral is not found.
	other := d.SeedReferral(t)
	if rec := api.call("GET", "/api/v1/referrals/"+other.Referral.ID.String(), ""); rec.Code != http.StatusNotFound {
		t.Fatalf("another workspace's referral = %d", rec.Code)
	}
}

// newWorkflowAPI is the API over a real Postgres schema, Temporal dev server
// and worker, with a seeded referral and an admin's client.
func newWorkflowAPI(t *testing.T) (*testenv.Database, testenv.ReferralFixture, adminClient) {
	t.Helper()
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	var logs testenv.LogBuffer
	srv := New(Deps{
		Pool: d.Pool, Temporal: tc.Client, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Auth:      &adminauth.Authenticator{Queries: d.Queries, Sessions: adminauth.NewSessions([]byte("test-key-0123456789abcdef0123456"))},
		TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue,
	})
	ws := worker.New(tc.Client, d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Stop)
	fx := d.SeedReferral(t)
	_, key, err := adminauth.CreateAdmin(context.Background(), d.Queries, fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	api := adminClient{t: t, h: srv.Handler(), key: key}
	return d, fx, api
}

func getReferralView(t *testing.T, api adminClient, id string) ReferralView {
	t.Helper()
	rec := api.call("GET", "/api/v1/referrals/"+id, "")
	var v ReferralView
	if err := json.Unmarshal(rec.Body.Bytes(), &v); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("get referral = %d %s", rec.Code, rec.Body)
	}
	return v
}

func waitForStatus(t *testing.T, api adminClient, id, status string) ReferralView {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v := getReferralView(t, api, id)
		if string(v.Status) == status {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("referral %s stayed %s, want %s", id, v.Status, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitForEvent(t *testing.T, api adminClient, id, kind string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, ev := range getReferralView(t, api, id).Events {
			if ev.Kind == kind {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("referral %s never recorded %s", id, kind)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRewardDecisionsThroughTheAPI: an approved referral earns the campaign's
// reward; an admin marks it paid; impossible decisions are refused with the
// workflow's reason.
func TestRewardDecisionsThroughTheAPI(t *testing.T) {
	t.Parallel()
	_, fx, api := newWorkflowAPI(t)
	camp := "/api/v1/campaigns/" + fx.Campaign.ID.String()
	if rec := api.call("PUT", camp+"/settings", `{"rewards":{"on_status":"approved","member":{"kind":"fixed","amount":"40","currency":"EUR"}}}`); rec.Code != http.StatusOK {
		t.Fatalf("settings = %d %s", rec.Code, rec.Body)
	}
	rec := api.call("POST", camp+"/referrals", `{"member_code":"`+fx.Member.ReferralCode+`","lead":{"email":"cy@example.net"}}`)
	var ref ReferralView
	if err := json.Unmarshal(rec.Body.Bytes(), &ref); rec.Code != http.StatusCreated || err != nil {
		t.Fatalf("add referral = %d %s", rec.Code, rec.Body)
	}
	waitForEvent(t, api, ref.ID, "lead_not_sent")

	rec = api.call("POST", "/api/v1/referrals/"+ref.ID+"/review", `{"accept":true}`)
	if e := decodeError(t, rec); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(e.Message, "nothing is waiting for review") {
		t.Fatalf("review with nothing held = %d %+v", rec.Code, e)
	}
	if rec := api.call("POST", "/api/v1/referrals/"+ref.ID+"/decisions", `{"status":"approved"}`); rec.Code != http.StatusOK {
		t.Fatalf("approve = %d %s", rec.Code, rec.Body)
	}
	var v ReferralView
	deadline := time.Now().Add(30 * time.Second)
	for {
		v = getReferralView(t, api, ref.ID)
		if len(v.Rewards) == 1 && v.Rewards[0].Status == "issued" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reward never issued: %+v", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rw := v.Rewards[0]
	if rw.Amount != "40.00" || rw.Currency != "EUR" || rw.Recipient != "member" {
		t.Fatalf("reward = %+v", rw)
	}
	base := "/api/v1/referrals/" + ref.ID + "/rewards/"
	rec = api.call("POST", base+rw.ID+"/cancel", `{"reason":"changed our mind"}`)
	// Refused by the validator ("only a pending reward") or, when the
	// workflow has not yet seen the issue complete, by the database ("already
	// issued"): either way 422 saying the reward is issued.
	if e := decodeError(t, rec); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(e.Message, "issued") {
		t.Fatalf("cancel an issued reward = %d %+v", rec.Code, e)
	}
	rec = api.call("POST", base+"not-a-reward/paid", "")
	if e := decodeError(t, rec); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(e.Message, "not one of this referral's rewards") {
		t.Fatalf("pay an unknown reward = %d %+v", rec.Code, e)
	}
	if rec := api.call("POST", base+rw.ID+"/paid", ""); rec.Code != http.StatusOK {
		t.Fatalf("mark paid = %d %s", rec.Code, rec.Body)
	}
	if got := getReferralView(t, api, ref.ID).Rewards[0]; got.PaidAt == nil {
		t.Fatalf("paid_at not set: %+v", got)
	}
}

// A referral added through the admin API goes the one way every way in
// goes: its audit trail starts with the added event, naming its source and
// the admin, and its member's counts include it at once.
func TestAReferralAddedThroughTheAPIIsAddedAndCounted(t *testing.T) {
	t.Parallel()
	d, fx, api := newWorkflowAPI(t)
	camp := "/api/v1/campaigns/" + fx.Campaign.ID.String()
	rec := api.call("POST", camp+"/members", `{"email":"cy@example.com","first_name":"Cy"}`)
	var member MemberView
	if err := json.Unmarshal(rec.Body.Bytes(), &member); rec.Code != http.StatusCreated || err != nil || member.ReferralCount != 0 {
		t.Fatalf("add member = %d %s", rec.Code, rec.Body)
	}

	for i, lead := range []string{"dee@example.org", "eli@example.org"} {
		rec = api.call("POST", camp+"/referrals", `{"member_id":"`+member.ID+`","lead":{"email":"`+lead+`"}}`)
		var ref ReferralView
		if err := json.Unmarshal(rec.Body.Bytes(), &ref); rec.Code != http.StatusCreated || err != nil {
			t.Fatalf("add referral = %d %s", rec.Code, rec.Body)
		}

		// The member's counts are fresh as soon as the answer comes.
		rec = api.call("GET", camp+"/members", "")
		var list struct{ Members []MemberView }
		if err := json.Unmarshal(rec.Body.Bytes(), &list); rec.Code != http.StatusOK || err != nil {
			t.Fatalf("list members = %d %s", rec.Code, rec.Body)
		}
		for _, m := range list.Members {
			if m.ID == member.ID && m.ReferralCount != int32(i+1) {
				t.Fatalf("after %d referrals the member's referral_count is %d", i+1, m.ReferralCount)
			}
		}

		// The audit trail starts with the added event, by the admin, from
		// the admin API.
		got := api.call("GET", "/api/v1/referrals/"+ref.ID, "")
		var view ReferralView
		if err := json.Unmarshal(got.Body.Bytes(), &view); err != nil || len(view.Events) == 0 {
			t.Fatalf("get referral = %d %s", got.Code, got.Body)
		}
		if first := view.Events[0]; first.Kind != string(referral.EventAdded) || !strings.HasPrefix(first.Actor, "admin:") {
			t.Fatalf("audit trail starts with %+v, want the added event by the admin", first)
		}
		events, err := d.Queries.ReferralEventListByReferral(context.Background(), uuid.MustParse(ref.ID))
		if err != nil {
			t.Fatal(err)
		}
		var details struct{ Source referral.Source }
		if err := json.Unmarshal(events[0].Details, &details); err != nil || details.Source != referral.SourceAdminAPI {
			t.Fatalf("added event's details = %s (%v), want source %s", events[0].Details, err, referral.SourceAdminAPI)
		}
	}
}
