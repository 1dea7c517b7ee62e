package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestSettingsPage: the admin sees the workspace's admins, keys and signing
// secret; creates a key that is shown once; revokes it (then it is
// refused); adds and removes an admin; cannot remove the last admin; a form
// without its CSRF token changes nothing; bad input says what to fix.
func TestSettingsPage(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	fx := d.SeedReferral(t)
	b := signInAdmin(t, srv, d, fx.Workspace, "ops@acme.test")

	page := b.get("/admin/settings", http.StatusOK)
	for _, want := range []string{"<h1>Settings</h1>", "ops@acme.test", fx.Workspace.WebhookSigningSecret, "first key", "The last admin stays"} {
		if !strings.Contains(page, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}

	// No CSRF token: refused, nothing created.
	rec := b.send(http.MethodPost, "/admin/settings/api-keys", url.Values{"name": {"sneaky"}})
	if rec.Code != http.StatusForbidden || strings.Contains(b.get("/admin/settings", http.StatusOK), "sneaky") {
		t.Fatalf("create key without CSRF = %d", rec.Code)
	}
	rec = b.post("/admin/settings", "/admin/settings/api-keys", url.Values{"name": {""}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "is required") || !strings.Contains(rec.Body.String(), `aria-invalid="true"`) {
		t.Fatalf("create key without a name = %d %s", rec.Code, rec.Body)
	}
	rec = b.post("/admin/settings", "/admin/settings/api-keys", url.Values{"name": {"finance export"}})
	key := regexp.MustCompile(`<code id="new-api-key">(rfk_[^<]+)</code>`).FindStringSubmatch(rec.Body.String())
	if rec.Code != http.StatusCreated || key == nil || !strings.Contains(rec.Body.String(), "shown once") {
		t.Fatalf("create key = %d %s", rec.Code, rec.Body)
	}
	api := adminClient{t: t, h: srv.Handler(), key: key[1]}
	if rec := api.call("GET", "/api/v1/me", ""); rec.Code != http.StatusOK {
		t.Fatalf("the key the page showed = %d", rec.Code)
	}
	page = b.get("/admin/settings", http.StatusOK)
	if strings.Contains(page, key[1]) || !strings.Contains(page, "finance export") || !strings.Contains(page, key[1][:10]+"…") {
		t.Fatalf("the settings page again shows the key, or not its name and prefix:\n%s", page)
	}
	keys, err := srv.apiKeysOf(t.Context(), fx.Workspace.ID)
	if err != nil || keys[0].Name != "finance export" {
		t.Fatalf("keys %+v %v", keys, err)
	}
	rec = b.post("/admin/settings", "/admin/settings/api-keys/"+keys[0].ID+"/revoke", nil)
	if rec.Code != http.StatusSeeOther || !strings.Contains(b.get("/admin/settings", http.StatusOK), "revoked: it is refused") {
		t.Fatalf("revoke = %d %s", rec.Code, rec.Body)
	}
	if rec := api.call("GET", "/api/v1/me", ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("the revoked key = %d, want 401", rec.Code)
	}

	// Admins.
	rec = b.post("/admin/settings", "/admin/settings/admins/"+b.admin.ID.String()+"/remove", nil)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "last admin") {
		t.Fatalf("remove the last admin = %d %s", rec.Code, rec.Body)
	}
	rec = b.post("/admin/settings", "/admin/settings/admins", url.Values{"email": {"nobody"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "must be an email address") || !strings.Contains(rec.Body.String(), `value="nobody"`) {
		t.Fatalf("add admin with a bad email = %d %s", rec.Code, rec.Body)
	}
	rec = b.post("/admin/settings", "/admin/settings/admins", url.Values{"email": {"fin@acme.test"}, "name": {"Fin"}})
	newKey := regexp.MustCompile(`<code id="new-api-key">(rfk_[^<]+)</code>`).FindStringSubmatch(rec.Body.String())
	if rec.Code != http.StatusCreated || newKey == nil || !strings.Contains(rec.Body.String(), "fin@acme.test is now an admin") {
		t.Fatalf("add admin = %d %s", rec.Code, rec.Body)
	}
	fin := adminClient{t: t, h: srv.Handler(), key: newKey[1]}
	rec = fin.call("GET", "/api/v1/me", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("the new admin's key = %d", rec.Code)
	}
	var me AdminView
	if err := json.Unmarshal(rec.Body.Bytes(), &me); err != nil {
		t.Fatal(err)
	}
	rec = b.post("/admin/settings", "/admin/settings/admins/"+me.ID+"/remove", nil)
	if rec.Code != http.StatusSeeOther || !strings.Contains(b.get("/admin/settings", http.StatusOK), "fin@acme.test is no longer an admin") {
		t.Fatalf("remove admin = %d %s", rec.Code, rec.Body)
	}
	if rec := fin.call("GET", "/api/v1/me", ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("the removed admin's key = %d, want 401", rec.Code)
	}
	if rec := b.post("/admin/settings", "/admin/settings/api-keys/not-a-key/revoke", nil); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "<h1>Not found</h1>") {
		t.Fatalf("revoke an unknown key = %d %s", rec.Code, rec.Body)
	}
}
