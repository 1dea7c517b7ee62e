package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// A campaign's status decides what it takes, through the admin API: a draft
// takes nothing yet, an active campaign takes members and referrals, a
// paused one takes nothing new but keeps its referrals, an archived one is
// read-only for good; the moves between them follow the lifecycle, and a
// refused move names the allowed ones.
func TestCampaignStatusDecidesWhatItTakes(t *testing.T) {
	t.Parallel()
	api := newAdminWorld(t).api

	rec := api.call("POST", "/api/v1/campaigns", `{"name":"Lifecycle"}`)
	c := decodeCampaign(t, rec)
	if rec.Code != http.StatusCreated || c.Status != "draft" || !slices.Equal(c.AllowedTransitions, []string{"active", "archived"}) {
		t.Fatalf("create = %d %+v", rec.Code, c)
	}
	path := "/api/v1/campaigns/" + c.ID
	n := 0
	addMember := func() *httptest.ResponseRecorder {
		n++
		return api.call("POST", path+"/members", fmt.Sprintf(`{"email":"m%d@example.com","first_name":"M"}`, n))
	}
	refuses := func(what string, rec *httptest.ResponseRecorder, code int, says ...string) {
		t.Helper()
		e := decodeError(t, rec)
		if rec.Code != code {
			t.Fatalf("%s = %d %+v, want %d", what, rec.Code, e, code)
		}
		for _, s := range says {
			if !strings.Contains(e.Message, s) {
				t.Fatalf("%s: %q does not say %q", what, e.Message, s)
			}
		}
	}
	setStatus := func(status string) *httptest.ResponseRecorder {
		return api.call("PATCH", path, `{"status":"`+status+`"}`)
	}

	// Draft: no members, no referrals.
	refuses("a member of a draft", addMember(), http.StatusConflict, "draft", "active")
	refuses("draft → paused", setStatus("paused"), http.StatusConflict, "cannot become paused", "active, archived")

	// Active: members and referrals come in.
	rec = setStatus("active")
	if c = decodeCampaign(t, rec); rec.Code != http.StatusOK || c.Status != "active" || !slices.Equal(c.AllowedTransitions, []string{"paused", "archived"}) {
		t.Fatalf("draft → active = %d %+v", rec.Code, c)
	}
	if rec = setStatus("active"); rec.Code != http.StatusOK {
		t.Fatalf("active → active (no move) = %d %s", rec.Code, rec.Body)
	}
	if rec = addMember(); rec.Code != http.StatusCreated {
		t.Fatalf("a member of an active campaign = %d %s", rec.Code, rec.Body)
	}
	code := memberCode(t, rec)
	rec = api.call("POST", path+"/referrals", `{"member_code":"`+code+`","lead":{"email":"lead1@example.org"}}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("a referral of an active campaign = %d %s", rec.Code, rec.Body)
	}
	referralID := decodeReferral(t, rec).ID

	// Paused: nothing new; the referral lives on.
	if rec = setStatus("paused"); rec.Code != http.StatusOK {
		t.Fatalf("active → paused = %d %s", rec.Code, rec.Body)
	}
	refuses("a member of a paused campaign", addMember(), http.StatusConflict, "paused")
	refuses("a referral of a paused campaign", api.call("POST", path+"/referrals", `{"member_code":"`+code+`","lead":{"email":"lead2@example.org"}}`),
		http.StatusConflict, "paused", "existing referrals carry on")
	if rec = api.call("GET", "/api/v1/referrals/"+referralID, ""); rec.Code != http.StatusOK {
		t.Fatalf("the paused campaign's referral = %d", rec.Code)
	}
	// A retry of the addition that succeeded before the pause still
	// answers with its referral: adding stays idempotent.
	rec = api.call("POST", path+"/referrals", `{"member_code":"`+code+`","lead":{"email":"lead1@example.org"}}`)
	if rec.Code != http.StatusOK || decodeReferral(t, rec).ID != referralID {
		t.Fatalf("the same addition again after the pause = %d %s, want 200 with referral %s", rec.Code, rec.Body, referralID)
	}
	refuses("paused → draft", setStatus("draft"), http.StatusConflict, "from paused it can become active, archived")
	if rec = api.call("PUT", path+"/settings", `{}`); rec.Code != http.StatusOK {
		t.Fatalf("settings of a paused campaign = %d %s", rec.Code, rec.Body)
	}

	// Archived: read-only, for good.
	if rec = setStatus("archived"); rec.Code != http.StatusOK || len(decodeCampaign(t, rec).AllowedTransitions) != 0 {
		t.Fatalf("paused → archived = %d %s", rec.Code, rec.Body)
	}
	refuses("archived → active", setStatus("active"), http.StatusConflict, "final")
	refuses("renaming an archived campaign", api.call("PATCH", path, `{"name":"Renamed"}`), http.StatusConflict, "read-only")
	refuses("settings of an archived campaign", api.call("PUT", path+"/settings", `{}`), http.StatusConflict, "read-only")
	refuses("a member of an archived campaign", addMember(), http.StatusConflict, "archived")
	refuses("a referral of an archived campaign", api.call("POST", path+"/referrals", `{"member_code":"`+code+`","lead":{"email":"lead3@example.org"}}`),
		http.StatusConflict, "archived")
	if rec = api.call("GET", path, ""); decodeCampaign(t, rec).Name != "Lifecycle" {
		t.Fatalf("the archived campaign changed: %s", rec.Body)
	}

	// A new campaign starts as a draft or active, nothing else; an unknown
	// status is invalid input.
	refuses("creating a paused campaign", api.call("POST", "/api/v1/campaigns", `{"name":"Born paused","status":"paused"}`), http.StatusUnprocessableEntity)
	refuses("an unknown status", setStatus("closed"), http.StatusUnprocessableEntity)
	if rec = api.call("POST", "/api/v1/campaigns", `{"name":"Born active","status":"active"}`); rec.Code != http.StatusCreated {
		t.Fatalf("creating an active campaign = %d %s", rec.Code, rec.Body)
	}
}

func memberCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var m MemberView
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m.ReferralCode == "" {
		t.Fatalf("member body: %v: %s", err, rec.Body)
	}
	return m.ReferralCode
}

func decodeReferral(t *testing.T, rec *httptest.ResponseRecorder) ReferralView {
	t.Helper()
	var r ReferralView
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || r.ID == "" {
		t.Fatalf("referral body: %v: %s", err, rec.Body)
	}
	return r
}
