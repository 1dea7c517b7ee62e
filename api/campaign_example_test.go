package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/referral"
)

// The example campaign does what it says, through the real API on real
// Postgres, Temporal and the HubSpot simulator: the API serves it, takes it
// as it is (201, active, nothing left to set up), sends a referral's lead as
// a deal in the default pipeline with its contact, and approves and rewards
// the referral when the deal is won.
func TestExampleCampaignWorksAgainstTheSimulator(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := newHubSpotAPI(t, hubspotsim.DefaultClientID)
	_, browser, key := h.admin(t, h.workspace(t, "Acme"), "ops@acme.test")
	a := apiClient{t: t, url: h.url, key: key}
	h.runDispatcher(t)
	if code, page := open(t, browser, h.startConnect(t, browser, "allow")); code != http.StatusOK {
		t.Fatalf("connect HubSpot = %d\n%s", code, page)
	}

	code, example := a.do("GET", "/api/v1/campaigns/example", "")
	if code != http.StatusOK || !bytes.Equal(example, ExampleCampaignJSON()) {
		t.Fatalf("GET /api/v1/campaigns/example = %d\n%s", code, example)
	}
	code, body := a.do("POST", "/api/v1/campaigns", string(example))
	var c CampaignView
	if code != http.StatusCreated || json.Unmarshal(body, &c) != nil {
		t.Fatalf("POST the example = %d %s", code, body)
	}
	if c.Status != "active" || len(c.SetupRequired) != 0 {
		t.Fatalf("the example campaign is %s with setup required %v, want active and ready", c.Status, c.SetupRequired)
	}
	if code, body := a.do("POST", "/api/v1/campaigns/"+c.ID+"/members", `{"email":"maya@example.com","first_name":"Maya","referral_code":"MAYA"}`); code != http.StatusCreated {
		t.Fatalf("add member = %d %s", code, body)
	}
	code, body = a.do("POST", "/api/v1/campaigns/"+c.ID+"/referrals", `{"member_code":"MAYA","lead":{"email":"nia@example.org","first_name":"Nia"}}`)
	var added ReferralView
	if code != http.StatusCreated || json.Unmarshal(body, &added) != nil {
		t.Fatalf("add referral = %d %s", code, body)
	}

	v := a.await(ctx, added.ID, "sends its lead", func(v ReferralView) bool { return v.HubSpotDealID != "" && v.HubSpotContactID != "" })
	deal, ok := h.sim.GetObject(h.portal.ID, "deals", v.HubSpotDealID)
	if p := deal.Properties; !ok || p["pipeline"] != "default" || p["dealstage"] != "appointmentscheduled" || p["dealname"] != "Friends of Acme" {
		t.Fatalf("the lead's deal in HubSpot = %+v (found %v)", deal, ok)
	}
	if contact, ok := h.sim.FindContactByEmail(h.portal.ID, "nia@example.org"); !ok || contact.Properties["firstname"] != "Nia" {
		t.Fatalf("the lead's contact in HubSpot = %+v (found %v)", contact, ok)
	}
	h.winDeal(t, v.HubSpotDealID)
	v = a.await(ctx, added.ID, "is approved and rewarded", func(v ReferralView) bool {
		return v.Status == referral.Approved && len(v.Rewards) == 1 && v.Rewards[0].Status == "issued"
	})
	if r := v.Rewards[0]; r.Recipient != "member" || r.Amount != "50.00" || r.Currency != "USD" {
		t.Fatalf("reward = %+v, want 50 USD to the member", r)
	}
}

// README.md shows the example campaign as the body of its curl command: it
// is the JSON the code serves, byte for byte, so pasting it works.
func TestREADMEShowsTheExampleCampaign(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "/api/v1/campaigns \\\n")
	if !ok {
		t.Fatal("README.md has no curl command creating a campaign")
	}
	_, after, ok = strings.Cut(after, "<<'JSON'")
	_, after, _ = strings.Cut(after, "\n") // the rest of the command's line
	body, _, ok2 := strings.Cut(after, "\nJSON\n")
	if !ok || !ok2 {
		t.Fatal("README.md's campaign curl command has no <<'JSON' ... JSON body")
	}
	if want := string(ExampleCampaignJSON()); body+"\n" != want {
		t.Errorf("README.md's example campaign differs from the one the code serves; paste `referflow campaign example` there:\n%s", want)
	}
}
