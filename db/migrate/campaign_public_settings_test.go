package migrate_test

import (
	"testing"

	"github.com/referflow/referflow/db/migrate"
	"github.com/referflow/referflow/internal/dev/testenv"
)

// Migration 0012 gives every campaign already there a publishable key of its
// own, and empty public settings.
func TestCampaignsBeforeMigration0012GetAPublishableKey(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	_, pool := emptySchema(t, testenv.NewDatabase(t))
	migs, err := migrate.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migs {
		if m.Version == 12 {
			if _, err := pool.Exec(ctx, `
				INSERT INTO workspaces (name, webhook_signing_secret) VALUES ('Acme', 'whsec');
				INSERT INTO campaigns (workspace_id, name) SELECT id, 'Spring' FROM workspaces;
				INSERT INTO campaigns (workspace_id, name) SELECT id, 'Autumn' FROM workspaces;`); err != nil {
				t.Fatalf("seed before 0012: %v", err)
			}
		}
		if _, err := pool.Exec(ctx, m.SQL); err != nil {
			t.Fatalf("%s: %v", m.File, err)
		}
	}
	var campaigns, keys, formed int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT publishable_key), count(*) FILTER (WHERE publishable_key ~ '^pk_[0-9a-f]{32}$' AND public_settings = '{}')
		FROM campaigns`).Scan(&campaigns, &keys, &formed); err != nil {
		t.Fatal(err)
	}
	if campaigns != 2 || keys != 2 || formed != 2 {
		t.Fatalf("%d campaigns, %d distinct keys, %d well formed", campaigns, keys, formed)
	}
}
