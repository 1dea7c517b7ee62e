package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/config"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/outgoing"
)

// hostileFulfilmentURLs are fulfilment URLs that would make the worker POST
// somewhere it must not: the examples and their relatives. (The
// whole table is internal/outgoing's TestCheckURLRefusesHostileURLs; this is
// what the API must refuse through it.)
var hostileFulfilmentURLs = []string{
	"http://169.254.169.254/latest/meta-data/",
	"http://[::1]:8090/",
	"http://0x7f000001:9911/",
	"http://127.0.0.1:5432/",
	"http://localhost:8080/api/v1/campaigns",
	"http://user:pass@127.0.0.1/x",
	"http://:80/x",
	"http://2130706433/",
	"http://0177.0.0.1/",
	"http://127.1/",
	"http://[::ffff:127.0.0.1]/",
	"http://10.0.0.1/",
	"http://100.64.0.1/",
	"http://[fd00::1]/",
	"http://0.0.0.0:8080/",
	"https://hooks.example.com:0/",
	"https://hooks.example.com:/",
	"https://[fe80::1%25eth0]/",
	`https://hooks.example.com\@127.0.0.1/`,
	"https://hooks.example.com/\r\nX-Injected: 1",
	"ftp://hooks.example.com/",
}

// A campaign's fulfilment URL is checked when saved, by the check the
// worker runs before sending: hostile URLs are refused with 422 naming
// fulfilment_webhook_url, on create and on edit, and nothing is saved.
func TestFulfilmentURLRefusedOnSave(t *testing.T) {
	t.Parallel()
	// The operator allows plain http (to public addresses): every refusal
	// below is for where the URL points or its form, not its scheme.
	cfg, err := config.LoadFrom(func(k string) (string, bool) {
		return map[string]string{"REFERFLOW_WEBHOOK_ALLOW_HTTP": "true"}[k], k == "REFERFLOW_WEBHOOK_ALLOW_HTTP"
	}, config.Requirement{})
	if err != nil {
		t.Fatal(err)
	}
	api, fx := fulfilmentAPI(t, cfg.WebhookPolicy)
	const good = "https://pay.acme.test/rewards"
	if rec := api.call("PATCH", "/api/v1/campaigns/"+fx.Campaign.ID.String(), `{"fulfilment_webhook_url":"`+good+`"}`); rec.Code != http.StatusOK {
		t.Fatalf("a public https URL: %d %s", rec.Code, rec.Body)
	}
	for i, hostile := range hostileFulfilmentURLs {
		u, _ := json.Marshal(hostile)
		for _, req := range []struct{ method, path, body string }{
			{"POST", "/api/v1/campaigns", `{"name":"Hostile ` + string(rune('A'+i)) + `","fulfilment_webhook_url":` + string(u) + `}`},
			{"PATCH", "/api/v1/campaigns/" + fx.Campaign.ID.String(), `{"fulfilment_webhook_url":` + string(u) + `}`},
		} {
			rec := api.call(req.method, req.path, req.body)
			if rec.Code != http.StatusUnprocessableEntity {
				t.Errorf("%s %q: %d %s, want 422", req.method, hostile, rec.Code, rec.Body)
				continue
			}
			if e := decodeError(t, rec); e.Fields["fulfilment_webhook_url"] == "" || len(e.Fields) != 1 {
				t.Errorf("%s %q: fields %v, want fulfilment_webhook_url named", req.method, hostile, e.Fields)
			}
		}
	}
	rec := api.call("GET", "/api/v1/campaigns", "")
	var list struct{ Campaigns []CampaignView }
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list.Campaigns) != 1 || list.Campaigns[0].FulfilmentWebhookURL != good {
		t.Fatalf("after the refusals: %s, want only the seeded campaign, its URL unchanged", rec.Body)
	}
	// The reason says what to change.
	rec = api.call("PATCH", "/api/v1/campaigns/"+fx.Campaign.ID.String(), `{"fulfilment_webhook_url":"http://169.254.169.254/latest/meta-data/"}`)
	if msg := decodeError(t, rec).Fields["fulfilment_webhook_url"]; !strings.Contains(msg, "169.254.169.254") || !strings.Contains(msg, "link-local") {
		t.Errorf("metadata address refused with %q, want it named and said why", msg)
	}
}

// Without the operator's REFERFLOW_WEBHOOK_ALLOW_HTTP, only https is saved.
func TestFulfilmentURLMustBeHTTPS(t *testing.T) {
	t.Parallel()
	api, _ := fulfilmentAPI(t, outgoing.Policy{})
	rec := api.call("POST", "/api/v1/campaigns", `{"name":"Plain","fulfilment_webhook_url":"http://pay.acme.test/rewards"}`)
	if msg := decodeError(t, rec).Fields["fulfilment_webhook_url"]; rec.Code != http.StatusUnprocessableEntity || !strings.Contains(msg, "https") {
		t.Fatalf("http URL: %d %q, want 422 asking for https", rec.Code, msg)
	}
	if rec := api.call("POST", "/api/v1/campaigns", `{"name":"Secure","fulfilment_webhook_url":"https://pay.acme.test/rewards"}`); rec.Code != http.StatusCreated {
		t.Fatalf("https URL: %d %s", rec.Code, rec.Body)
	}
}

// fulfilmentAPI is the admin API under the operator's webhook policy, an
// admin's client and the workspace's seeded campaign.
func fulfilmentAPI(t *testing.T, webhooks outgoing.Policy) (adminClient, testenv.ReferralFixture) {
	t.Helper()
	d := testenv.NewDatabase(t)
	srv := New(Deps{
		Pool: d.Pool, Temporal: testenv.NewTemporal(t).Client, Logger: slog.New(slog.DiscardHandler), WebhookPolicy: webhooks,
		Auth: &adminauth.Authenticator{Queries: d.Queries, Sessions: adminauth.NewSessions([]byte("test-key-0123456789abcdef0123456"))},
	})
	fx := d.SeedReferral(t)
	_, key, err := adminauth.CreateAdmin(context.Background(), d.Queries, fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	return adminClient{t: t, h: srv.Handler(), key: key}, fx
}
