package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/testenv"
)

// TestAdminsAndAPIKeysThroughTheAPI: admins add admins and keys, a new key
// is shown once and works, a revoked key and a removed admin's key are
// refused, and the workspace's last admin cannot be removed.
func TestAdminsAndAPIKeysThroughTheAPI(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	fx := d.SeedReferral(t)
	first, key, err := adminauth.CreateAdmin(context.Background(), d.Queries, fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	api := adminClient{t: t, h: srv.Handler(), key: key}
	as := func(key string) adminClient { return adminClient{t: t, h: srv.Handler(), key: key} }

	rec := api.call("DELETE", "/api/v1/admins/"+first.ID.String(), "")
	if e := decodeError(t, rec); rec.Code != http.StatusConflict || e.Code != "last_admin" {
		t.Fatalf("remove the last admin = %d %+v", rec.Code, e)
	}
	if rec := api.call("GET", "/api/v1/me", ""); rec.Code != http.StatusOK {
		t.Fatalf("the last admin is gone after a refused removal: %d", rec.Code)
	}
	for body, field := range map[string]string{`{"email":"not an address"}`: "email", `{}`: "email", `{"email":"a@b.test","name":"` + strings.Repeat("x", 201) + `"}`: "name"} {
		rec := api.call("POST", "/api/v1/admins", body)
		if e := decodeError(t, rec); rec.Code/100 != 4 || e.Fields[field] == "" {
			t.Errorf("add admin %s = %d %+v, want a 4xx naming %s", body, rec.Code, e, field)
		}
	}
	rec = api.call("POST", "/api/v1/admins", `{"email":"fin@acme.test","name":"Fin"}`)
	var added AdminAdded
	if err := json.Unmarshal(rec.Body.Bytes(), &added); rec.Code != http.StatusCreated || err != nil || !strings.HasPrefix(added.APIKey, adminauth.KeyPrefix) {
		t.Fatalf("add admin = %d %s", rec.Code, rec.Body)
	}
	if rec := as(added.APIKey).call("GET", "/api/v1/me", ""); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "fin@acme.test") {
		t.Fatalf("the new admin's key = %d %s", rec.Code, rec.Body)
	}
	if rec := api.call("POST", "/api/v1/admins", `{"email":"FIN@acme.test"}`); rec.Code != http.StatusConflict {
		t.Fatalf("add the same admin again = %d %s", rec.Code, rec.Body)
	}
	rec = api.call("GET", "/api/v1/admins", "")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "ops@acme.test") || !strings.Contains(rec.Body.String(), "fin@acme.test") {
		t.Fatalf("list admins = %d %s", rec.Code, rec.Body)
	}

	// Keys: a name is required; the key is in the answer once, never in
	// the list.
	if rec := api.call("POST", "/api/v1/api-keys", `{"name":"  "}`); rec.Code != http.StatusUnprocessableEntity || decodeError(t, rec).Fields["name"] == "" {
		t.Fatalf("key without a name = %d %s", rec.Code, rec.Body)
	}
	rec = api.call("POST", "/api/v1/api-keys", `{"name":"finance export"}`)
	var created APIKeyCreated
	if err := json.Unmarshal(rec.Body.Bytes(), &created); rec.Code != http.StatusCreated || err != nil || !strings.HasPrefix(created.Key, created.APIKey.Prefix) {
		t.Fatalf("create key = %d %s", rec.Code, rec.Body)
	}
	if rec := as(created.Key).call("GET", "/api/v1/me", ""); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "ops@acme.test") {
		t.Fatalf("the new key = %d %s", rec.Code, rec.Body)
	}
	rec = api.call("GET", "/api/v1/api-keys", "")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"finance export"`) || strings.Contains(rec.Body.String(), created.Key) {
		t.Fatalf("list keys = %d %s", rec.Code, rec.Body)
	}
	var list struct {
		APIKeys []APIKeyView `json:"api_keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list.APIKeys) != 3 || list.APIKeys[0].ID != created.APIKey.ID || list.APIKeys[0].LastUsedAt == nil {
		t.Fatalf("keys, newest first, the new one used: %+v %v", list.APIKeys, err)
	}
	rec = api.call("POST", "/api/v1/api-keys/"+created.APIKey.ID+"/revoke", "")
	var revoked APIKeyView
	if err := json.Unmarshal(rec.Body.Bytes(), &revoked); rec.Code != http.StatusOK || err != nil || revoked.RevokedAt == nil {
		t.Fatalf("revoke = %d %s", rec.Code, rec.Body)
	}
	if rec := as(created.Key).call("GET", "/api/v1/me", ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("a revoked key = %d, want 401", rec.Code)
	}
	for _, id := range []string{"not-a-uuid", "00000000-0000-0000-0000-000000000001"} {
		if rec := api.call("POST", "/api/v1/api-keys/"+id+"/revoke", ""); rec.Code != http.StatusNotFound {
			t.Errorf("revoke %s = %d", id, rec.Code)
		}
		if rec := api.call("DELETE", "/api/v1/admins/"+id, ""); rec.Code != http.StatusNotFound {
			t.Errorf("remove admin %s = %d", id, rec.Code)
		}
	}

	// Removing an admin takes their keys with them.
	if rec := api.call("DELETE", "/api/v1/admins/"+added.Admin.ID, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("remove admin = %d %s", rec.Code, rec.Body)
	}
	if rec := as(added.APIKey).call("GET", "/api/v1/me", ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("a removed admin's key = %d, want 401", rec.Code)
	}
	if strings.Contains(logs.String(), added.APIKey) || strings.Contains(logs.String(), created.Key) {
		t.Fatal("an API key is in the logs")
	}
}

// TestTheLastAdminStaysWhenTwoAreRemovedAtOnce: two admins removing each
// other at the same moment leave one of them.
func TestTheLastAdminStaysWhenTwoAreRemovedAtOnce(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	ctx := context.Background()
	for range 5 {
		a, _, err := adminauth.CreateAdmin(ctx, d.Queries, fx.Workspace.ID, "a-"+url.PathEscape(t.Name())+"@acme.test", "")
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := adminauth.CreateAdmin(ctx, d.Queries, fx.Workspace.ID, "b-"+url.PathEscape(t.Name())+"@acme.test", "")
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 2)
		go func() { _, err := adminauth.RemoveAdmin(ctx, d.Queries, fx.Workspace.ID, a.ID); errs <- err }()
		go func() { _, err := adminauth.RemoveAdmin(ctx, d.Queries, fx.Workspace.ID, b.ID); errs <- err }()
		e1, e2 := <-errs, <-errs
		left, err := d.Queries.AdminListByWorkspace(ctx, fx.Workspace.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 1 || (e1 == nil) == (e2 == nil) {
			t.Fatalf("after removing both at once: %d admins left, errors %v and %v", len(left), e1, e2)
		}
		if _, err := adminauth.RemoveAdmin(ctx, d.Queries, fx.Workspace.ID, left[0].ID); err != adminauth.ErrLastAdmin {
			t.Fatalf("remove the one left = %v", err)
		}
		if _, err := d.Pool.Exec(ctx, "DELETE FROM admins WHERE workspace_id = $1", fx.Workspace.ID); err != nil {
			t.Fatal(err)
		}
	}
}
