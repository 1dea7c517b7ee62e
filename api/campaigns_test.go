package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
)

type adminClient struct {
	t   *testing.T
	h   http.Handler
	key string
}

func (a adminClient) call(method, path, body string) *httptest.ResponseRecorder {
	a.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

// adminWorld is a test server over a seeded referral, with an admin of its
// workspace and that admin's API client.
type adminWorld struct {
	srv   *Server
	d     *testenv.Database
	fx    testenv.ReferralFixture
	admin db.Admin
	api   adminClient
	logs  *bytes.Buffer
}

func newAdminWorld(t *testing.T) adminWorld {
	t.Helper()
	w := adminWorld{logs: &bytes.Buffer{}}
	w.srv, w.d = newTestServer(t, w.logs)
	w.fx = w.d.SeedReferral(t)
	admin, key, err := adminauth.CreateAdmin(context.Background(), w.d.Queries, w.fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	w.admin, w.api = admin, adminClient{t: t, h: w.srv.Handler(), key: key}
	return w
}

func decodeCampaign(t *testing.T, rec *httptest.ResponseRecorder) CampaignView {
	t.Helper()
	var v CampaignView
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("campaign body: %v: %s", err, rec.Body)
	}
	return v
}

func TestCampaignsAPI(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	fx := d.SeedReferral(t)
	ctx := context.Background()
	_, key, err := adminauth.CreateAdmin(ctx, d.Queries, fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	api := adminClient{t: t, h: srv.Handler(), key: key}

	// A new campaign gets the defaults: nothing to set up, nothing sent.
	rec := api.call("POST", "/api/v1/campaigns", `{"name":"  Partners 2027 "}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create = %d %s", rec.Code, rec.Body)
	}
	c := decodeCampaign(t, rec)
	if c.Name != "Partners 2027" || c.Status != "draft" || c.Settings.Leads.Action != "none" || !c.Settings.ProcessRules.AutoProcessDirectMatches || len(c.SetupRequired) != 0 {
		t.Fatalf("created %+v", c)
	}

	// Settings for a deal campaign without the deal rows: saved, setup required.
	settings := `{"leads":{"action":"create_deal","field_mapping":[{"object":"deal","source":"first_name","property":"dealname"}]},
		"status_rules":{"approved":{"object":"deal","property":"dealstage","values":["closedwon"]}},
		"rewards":{"on_status":"approved","member":{"kind":"fixed","amount":"50","currency":"USD"}}}`
	rec = api.call("PUT", "/api/v1/campaigns/"+c.ID+"/settings", settings)
	if rec.Code != http.StatusOK {
		t.Fatalf("settings = %d %s", rec.Code, rec.Body)
	}
	c = decodeCampaign(t, rec)
	if len(c.SetupRequired) != 2 || !strings.Contains(strings.Join(c.SetupRequired, ";"), "pipeline") || c.Settings.Rewards.Member.Amount != "50" {
		t.Fatalf("after settings: %+v", c)
	}
	// Stored: read back through GET.
	rec = api.call("GET", "/api/v1/campaigns/"+c.ID, "")
	if got := decodeCampaign(t, rec); rec.Code != http.StatusOK || got.Settings.Leads.Action != campaign.ActionCreateDeal {
		t.Fatalf("get = %d %+v", rec.Code, got)
	}

	// Every problem at once, keyed by field.
	bad := `{"leads":{"action":"create_contact","field_mapping":[{"object":"deal","source":"nope","property":"Bad Name"}]},
		"status_rules":{"qualified":{"object":"deal","property":"dealstage","values":[]}},
		"rewards":{"friend":{"kind":"fixed","amount":"-1","currency":"usd"}}}`
	rec = api.call("PUT", "/api/v1/campaigns/"+c.ID+"/settings", bad)
	e := decodeError(t, rec)
	for _, f := range []string{"settings.leads.field_mapping[0].object", "settings.leads.field_mapping[0].source",
		"settings.leads.field_mapping[0].property", "settings.status_rules.qualified.values",
		"settings.rewards.friend.amount", "settings.rewards.friend.currency"} {
		if e.Fields[f] == "" {
			t.Errorf("422 lacks field %s: %+v", f, e.Fields)
		}
	}
	if rec.Code != http.StatusUnprocessableEntity || e.Code != "invalid" {
		t.Fatalf("bad settings = %d %+v", rec.Code, e)
	}
	if got := decodeCampaign(t, api.call("GET", "/api/v1/campaigns/"+c.ID, "")); got.Settings.Leads.Action != campaign.ActionCreateDeal {
		t.Fatal("rejected settings were saved")
	}

	// A typo in a setting's name is reported, not ignored.
	rec = api.call("PUT", "/api/v1/campaigns/"+c.ID+"/settings", `{"leads":{"acton":"none"}}`)
	if e := decodeError(t, rec); rec.Code != http.StatusUnprocessableEntity || e.Fields["acton"] == "" {
		t.Fatalf("unknown field = %d %+v", rec.Code, e)
	}
	for body, want := range map[string]int{"": 400, "{": 400, `{"name":5}`: 422, `{"name":"a"} {}`: 400, `{"name":"Nulls","settings":null}`: 201} {
		if rec := api.call("POST", "/api/v1/campaigns", body); rec.Code != want {
			t.Errorf("create with %q = %d %s, want %d", body, rec.Code, rec.Body, want)
		}
	}

	// Names are unique per workspace; details change with PATCH.
	rec = api.call("POST", "/api/v1/campaigns", `{"name":"Partners 2027"}`)
	if e := decodeError(t, rec); rec.Code != http.StatusConflict || e.Fields["name"] == "" {
		t.Fatalf("duplicate name = %d %+v", rec.Code, e)
	}
	rec = api.call("PATCH", "/api/v1/campaigns/"+c.ID, `{"status":"active","fulfilment_webhook_url":"https://pay.acme.test/rewards"}`)
	if got := decodeCampaign(t, rec); rec.Code != http.StatusOK || got.Status != "active" || got.FulfilmentWebhookURL != "https://pay.acme.test/rewards" || got.Name != "Partners 2027" {
		t.Fatalf("patch = %d %+v", rec.Code, got)
	}
	rec = api.call("PATCH", "/api/v1/campaigns/"+c.ID, `{"status":"live","fulfilment_webhook_url":"ftp://x"}`)
	if e := decodeError(t, rec); rec.Code != http.StatusUnprocessableEntity || e.Fields["status"] == "" || e.Fields["fulfilment_webhook_url"] == "" {
		t.Fatalf("bad patch = %d %+v", rec.Code, e)
	}

	// The list shows this workspace's campaigns only; another workspace's
	// campaign is not found.
	rec = api.call("GET", "/api/v1/campaigns", "")
	var list struct{ Campaigns []CampaignView }
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list.Campaigns) != 3 {
		t.Fatalf("list = %d %s", rec.Code, rec.Body)
	}
	other := d.SeedReferral(t)
	for _, path := range []string{"/api/v1/campaigns/" + other.Campaign.ID.String(), "/api/v1/campaigns/not-a-uuid"} {
		if rec := api.call("GET", path, ""); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d", path, rec.Code)
		}
	}
	if rec := api.call("PUT", "/api/v1/campaigns/"+other.Campaign.ID.String()+"/settings", `{}`); rec.Code != http.StatusNotFound {
		t.Errorf("PUT settings of another workspace's campaign = %d", rec.Code)
	}
}
