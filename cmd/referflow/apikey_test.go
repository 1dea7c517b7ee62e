package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/testenv"
)

var printedKey = regexp.MustCompile(`\(shown once\): (rfk_[0-9a-f]{64})\n`)

// TestAPIKeyCreate makes further keys for an existing admin: each works,
// only its hash is stored, and an unknown or ambiguous admin is a clear
// error that creates nothing.
func TestAPIKeyCreate(t *testing.T) {
	d := testenv.NewDatabase(t)
	t.Setenv("DATABASE_URL", d.URL)
	ctx := context.Background()
	acme, err := d.Queries.WorkspaceCreate(ctx, db.WorkspaceCreateParams{Name: "Acme", WebhookSigningSecret: "whsec-a"})
	if err != nil {
		t.Fatal(err)
	}
	admin, firstKey, err := adminauth.CreateAdmin(ctx, d.Queries, acme.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	auth := &adminauth.Authenticator{Queries: d.Queries}

	code, out, errOut := runCmd(t, ctx, "apikey", "create", "--admin", "OPS@acme.test", "--name", "ci pipeline")
	m := printedKey.FindStringSubmatch(out)
	if code != 0 || m == nil || !strings.Contains(out, admin.ID.String()) || !strings.Contains(out, `"ci pipeline"`) {
		t.Fatalf("apikey create: exit %d\n%s%s", code, out, errOut)
	}
	key := m[1]
	if key == firstKey {
		t.Fatal("the new key is the admin's first key")
	}
	for _, k := range []string{key, firstKey} {
		if got, err := auth.AdminByAPIKey(ctx, k); err != nil || got.ID != admin.ID {
			t.Fatalf("a key of the admin does not authenticate them: %+v %v", got, err)
		}
	}
	var stored int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM admin_api_keys WHERE admin_id = $1 AND name = 'ci pipeline' AND key_hash = $2 AND prefix = $3`,
		admin.ID, adminauth.HashAPIKey(key), key[:10]).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("stored keys = %d %v, want the hash and prefix of the new key", stored, err)
	}
	var plain int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM admin_api_keys WHERE position($1::bytea IN key_hash) > 0 OR name LIKE '%' || $2 || '%'`,
		[]byte(key), key).Scan(&plain); err != nil || plain != 0 {
		t.Fatalf("the key itself is stored: %d %v", plain, err)
	}

	// By admin ID, with the default label.
	code, out, errOut = runCmd(t, ctx, "apikey", "create", "--admin", admin.ID.String())
	if code != 0 || printedKey.FindStringSubmatch(out) == nil || !strings.Contains(out, "created with referflow apikey create") {
		t.Fatalf("apikey create by ID: exit %d\n%s%s", code, out, errOut)
	}

	// The same email administers a second workspace: --workspace decides.
	beta, err := d.Queries.WorkspaceCreate(ctx, db.WorkspaceCreateParams{Name: "Beta", WebhookSigningSecret: "whsec-b"})
	if err != nil {
		t.Fatal(err)
	}
	betaAdmin, _, err := adminauth.CreateAdmin(ctx, d.Queries, beta.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCmd(t, ctx, "apikey", "create", "--admin", "ops@acme.test")
	if code != 1 || !strings.Contains(errOut, "several workspaces") || !strings.Contains(errOut, `"Acme"`) || !strings.Contains(errOut, `"Beta"`) {
		t.Fatalf("ambiguous admin: exit %d %q", code, errOut)
	}
	code, out, errOut = runCmd(t, ctx, "apikey", "create", "--admin", "ops@acme.test", "--workspace", "Beta")
	if m := printedKey.FindStringSubmatch(out); code != 0 || m == nil {
		t.Fatalf("apikey create --workspace: exit %d\n%s%s", code, out, errOut)
	} else if got, err := auth.AdminByAPIKey(ctx, m[1]); err != nil || got.ID != betaAdmin.ID {
		t.Fatalf("--workspace Beta made a key for %+v %v", got, err)
	}

	// Unknown admins are clear errors and create nothing.
	var before int
	_ = d.Pool.QueryRow(ctx, `SELECT count(*) FROM admin_api_keys`).Scan(&before)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"apikey", "create", "--admin", "nobody@acme.test"}, "no admin has the email nobody@acme.test"},
		{[]string{"apikey", "create", "--admin", "ops@acme.test", "--workspace", "Gamma"}, `not an admin of workspace "Gamma"`},
		{[]string{"apikey", "create", "--admin", "5f1c3f8e-0000-4000-8000-000000000000"}, "no admin has ID"},
		{[]string{"apikey", "create"}, "--admin is required"},
		{[]string{"apikey", "revoke"}, "the only subcommand is `create`"},
		{[]string{"apikey"}, "the only subcommand is `create`"},
	} {
		code, out, errOut := runCmd(t, ctx, tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(out, "rfk_") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 saying %q", tc.args, code, out, errOut, tc.want)
		}
	}
	var after int
	_ = d.Pool.QueryRow(ctx, `SELECT count(*) FROM admin_api_keys`).Scan(&after)
	if after != before {
		t.Fatalf("failed commands stored keys: %d → %d", before, after)
	}
}
