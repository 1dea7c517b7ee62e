package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/campaign"
)

// A campaign's public settings are saved as given (origins normalised), read
// back, and refused with every problem named; its public slug is its
// workspace's alone, refused as a conflict, never a 500.
func TestCampaignPublicSettings(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)

	rec := w.api.call("POST", "/api/v1/campaigns", `{"name": "Spring", "settings": {"public": {
		"slug": "spring", "landing_url": "https://www.acme.test/welcome?utm_source=referral#form",
		"allowed_origins": ["HTTPS://WWW.Acme.test/", "https://www.acme.test:443", "http://localhost:3000"],
		"attribution": {"window_days": 30, "model": "first_touch"}}}}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	spring := decodeCampaign(t, rec)
	got := decodeCampaign(t, w.api.call("GET", "/api/v1/campaigns/"+spring.ID, "")).Settings.Public
	want := campaign.Public{
		Slug: "spring", LandingURL: "https://www.acme.test/welcome?utm_source=referral#form",
		AllowedOrigins: []string{"https://www.acme.test", "http://localhost:3000"},
		Attribution:    campaign.Attribution{WindowDays: 30, Model: campaign.FirstTouch},
	}
	if strings.Join(got.AllowedOrigins, " ") != strings.Join(want.AllowedOrigins, " ") || got.Slug != want.Slug ||
		got.LandingURL != want.LandingURL || got.Attribution != want.Attribution {
		t.Fatalf("read back %+v, want %+v", got, want)
	}

	// A campaign without public settings: no slug, the default attribution.
	fixture := decodeCampaign(t, w.api.call("GET", "/api/v1/campaigns/"+w.fx.Campaign.ID.String(), ""))
	if p := fixture.Settings.Public; p.Slug != "" || p.Attribution != (campaign.Attribution{WindowDays: 90, Model: campaign.LastTouch}) || p.AllowedOrigins == nil {
		t.Fatalf("defaults: %+v", p)
	}

	// Invalid public settings: every problem at once, by field.
	rec = w.api.call("PUT", "/api/v1/campaigns/"+spring.ID+"/settings", `{"public": {"slug": "Spring!", "landing_url": "javascript:alert(1)",
		"allowed_origins": ["https://*.acme.test"], "attribution": {"window_days": 400, "model": "linear"}}}`)
	problems := decodeError(t, rec)
	for _, f := range []string{"settings.public.slug", "settings.public.landing_url", "settings.public.allowed_origins[0]",
		"settings.public.attribution.window_days", "settings.public.attribution.model"} {
		if rec.Code != http.StatusUnprocessableEntity || problems.Fields[f] == "" {
			t.Errorf("%s: not named in %d %s", f, rec.Code, rec.Body)
		}
	}

	// The same slug on another campaign of the workspace: refused, by
	// create and by a settings change alike.
	for _, try := range []struct{ method, path, body string }{
		{"POST", "/api/v1/campaigns", `{"name": "Autumn", "settings": {"public": {"slug": "spring"}}}`},
		{"PUT", "/api/v1/campaigns/" + w.fx.Campaign.ID.String() + "/settings", `{"public": {"slug": "spring"}}`},
	} {
		rec := w.api.call(try.method, try.path, try.body)
		if rec.Code != http.StatusConflict || decodeError(t, rec).Fields["settings.public.slug"] == "" {
			t.Errorf("%s %s with a used slug: %d %s", try.method, try.path, rec.Code, rec.Body)
		}
	}
	// Campaigns without a slug never clash; the campaign keeps its own.
	if rec := w.api.call("PUT", "/api/v1/campaigns/"+w.fx.Campaign.ID.String()+"/settings", `{"public": {"slug": ""}}`); rec.Code != http.StatusOK {
		t.Errorf("no slug: %d %s", rec.Code, rec.Body)
	}
	if rec := w.api.call("POST", "/api/v1/campaigns", `{"name": "Winter"}`); rec.Code != http.StatusCreated {
		t.Errorf("another campaign without a slug: %d %s", rec.Code, rec.Body)
	}
	if rec := w.api.call("PUT", "/api/v1/campaigns/"+spring.ID+"/settings", `{"public": {"slug": "spring", "landing_url": "https://www.acme.test/"}}`); rec.Code != http.StatusOK {
		t.Errorf("the campaign saving its own slug again: %d %s", rec.Code, rec.Body)
	}

	// Another workspace may use the same slug.
	if rec := w.otherWorkspaceAdmin(t).call("POST", "/api/v1/campaigns", `{"name": "Spring", "settings": {"public": {"slug": "spring"}}}`); rec.Code != http.StatusCreated {
		t.Errorf("the same slug in another workspace: %d %s", rec.Code, rec.Body)
	}
}

// Every campaign has a publishable key; rotating it gives a new one, and the
// old one no longer finds the campaign.
func TestPublishableKeyRotation(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)
	ctx := context.Background()
	pattern := regexp.MustCompile(campaign.PublishableKeyPattern)

	before := decodeCampaign(t, w.api.call("GET", "/api/v1/campaigns/"+w.fx.Campaign.ID.String(), ""))
	if !pattern.MatchString(before.PublishableKey) {
		t.Fatalf("publishable key %q", before.PublishableKey)
	}
	created := decodeCampaign(t, w.api.call("POST", "/api/v1/campaigns", `{"name": "Spring"}`))
	if !pattern.MatchString(created.PublishableKey) || created.PublishableKey == before.PublishableKey {
		t.Fatalf("keys %q and %q", before.PublishableKey, created.PublishableKey)
	}
	if found, err := w.d.Queries.CampaignGetByPublishableKey(ctx, before.PublishableKey); err != nil || found.ID != w.fx.Campaign.ID {
		t.Fatalf("by key: %v %v", found.ID, err)
	}

	rec := w.api.call("POST", "/api/v1/campaigns/"+before.ID+"/publishable-key/rotate", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("rotate: %d %s", rec.Code, rec.Body)
	}
	after := decodeCampaign(t, rec)
	if !pattern.MatchString(after.PublishableKey) || after.PublishableKey == before.PublishableKey {
		t.Fatalf("rotated %q to %q", before.PublishableKey, after.PublishableKey)
	}
	if again := decodeCampaign(t, w.api.call("GET", "/api/v1/campaigns/"+before.ID, "")); again.PublishableKey != after.PublishableKey {
		t.Fatalf("read back %q, rotated to %q", again.PublishableKey, after.PublishableKey)
	}
	if _, err := w.d.Queries.CampaignGetByPublishableKey(ctx, before.PublishableKey); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("the old key still finds: %v", err)
	}
	if found, err := w.d.Queries.CampaignGetByPublishableKey(ctx, after.PublishableKey); err != nil || found.ID != w.fx.Campaign.ID {
		t.Fatalf("the new key: %v %v", found.ID, err)
	}

	// Another workspace's admin cannot rotate it.
	if rec := w.otherWorkspaceAdmin(t).call("POST", "/api/v1/campaigns/"+before.ID+"/publishable-key/rotate", ""); rec.Code != http.StatusNotFound {
		t.Fatalf("rotate from another workspace: %d %s", rec.Code, rec.Body)
	}
}

// otherWorkspaceAdmin is the API client of an admin of a second workspace.
func (w adminWorld) otherWorkspaceAdmin(t *testing.T) adminClient {
	t.Helper()
	ctx := context.Background()
	other, err := w.d.Queries.WorkspaceCreate(ctx, db.WorkspaceCreateParams{Name: "other", WebhookSigningSecret: "whsec_other"})
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := adminauth.CreateAdmin(ctx, w.d.Queries, other.ID, "ops@other.test", "")
	if err != nil {
		t.Fatal(err)
	}
	return adminClient{t: t, h: w.srv.Handler(), key: key}
}
