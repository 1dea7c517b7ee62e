package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The fraud checks through the admin API, on the real worker and Temporal:
// the campaign shows and validates settings.fraud_checks; a referral whose
// lead is disposable (default review) waits in the review queue with the
// reason, decisions on it are refused until the review is approved; the
// member's own mailbox (default deny) is denied naming self_referral.
func TestFraudChecksThroughTheAdminAPI(t *testing.T) {
	t.Parallel()
	r := newReviewAPI(t)
	campaignPath := "/api/v1/campaigns/" + r.fx.Campaign.ID.String()

	rec := r.api.call("GET", campaignPath, "")
	var c struct {
		Settings struct {
			FraudChecks map[string]map[string]any `json:"fraud_checks"`
		} `json:"settings"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &c); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("get campaign = %d %s", rec.Code, rec.Body)
	}
	if f := c.Settings.FraudChecks; f["self_referral"]["action"] != "deny" || f["disposable_email"]["action"] != "review" ||
		f["company_domain"]["action"] != "off" || f["visitor_velocity"]["max_referrals"] != float64(5) {
		t.Fatalf("fraud_checks shown = %v", f)
	}
	rec = r.api.call("PUT", campaignPath+"/settings", `{"fraud_checks":{"company_domain":{"action":"block"},"member_velocity":{"window_minutes":-5}}}`)
	e := decodeError(t, rec)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(e.Fields["settings.fraud_checks.company_domain.action"], "deny, review or off") ||
		e.Fields["settings.fraud_checks.member_velocity.window_minutes"] == "" {
		t.Fatalf("invalid fraud checks = %d %+v", rec.Code, e)
	}

	add := func(email string) ReferralView {
		t.Helper()
		rec := r.api.call("POST", campaignPath+"/referrals", `{"member_code":"`+r.fx.Member.ReferralCode+`","lead":{"email":"`+email+`"}}`)
		var v ReferralView
		if err := json.Unmarshal(rec.Body.Bytes(), &v); rec.Code != http.StatusCreated || err != nil {
			t.Fatalf("add referral %s = %d %s", email, rec.Code, rec.Body)
		}
		return v
	}

	held := add("someone@trashmail.com")
	deadline := time.Now().Add(30 * time.Second)
	for !getReferralView(t, r.api, held.ID).InReview {
		if time.Now().After(deadline) {
			t.Fatal("the disposable lead was never held for review")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var entry *ReviewEntryView
	for _, e := range listReviewEntries(t, r.api, "").ReviewEntries {
		if e.ReferralID != nil && *e.ReferralID == held.ID {
			entry = &e
		}
	}
	if entry == nil || entry.Reason != "fraud_check" || !strings.Contains(string(entry.Data), `"reason":"disposable_email"`) {
		t.Fatalf("review entry of the held referral = %+v", entry)
	}
	v := getReferralView(t, r.api, held.ID)
	if !hasEvent(v, "fraud_signal", "disposable_email") {
		t.Fatalf("the trail does not name the signal: %+v", v.Events)
	}
	if rec := r.api.call("POST", "/api/v1/referrals/"+held.ID+"/decisions", `{"status":"qualified"}`); rec.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(rec.Body.String(), "review") {
		t.Fatalf("a decision while held = %d %s", rec.Code, rec.Body)
	}
	res, e, code := r.decide(uuid.MustParse(entry.ID), `{"action":"approve"}`)
	if code != http.StatusOK || res.ReviewEntry.Decision != "accepted" {
		t.Fatalf("approve = %d %+v %+v", code, e, res)
	}
	waitForEvent(t, r.api, held.ID, "lead_not_sent") // it went on (this campaign sends nothing to HubSpot)
	if v := getReferralView(t, r.api, held.ID); v.InReview || v.Status != "pending" {
		t.Fatalf("after approval: %+v", v)
	}

	self := add("maya+me@example.com")
	v = waitForStatus(t, r.api, self.ID, "denied")
	if !strings.HasPrefix(v.DeniedReason, "self_referral: ") || !hasEvent(v, "fraud_signal", "self_referral") {
		t.Fatalf("self-referral: %+v", v)
	}
}

func hasEvent(v ReferralView, kind, reason string) bool {
	for _, ev := range v.Events {
		if ev.Kind == kind && ev.Reason == reason {
			return true
		}
	}
	return false
}
