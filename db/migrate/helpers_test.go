package migrate_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/internal/dev/testenv"
)

// testContext is a context that ends with the test (or after a minute, so a
// stuck lock fails the test instead of hanging the run).
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// emptySchema creates an unmigrated schema next to d's and returns its URL
// and a pool on it, for tests of Up itself (testenv schemas arrive
// already migrated). The schema is dropped at the end of the test.
func emptySchema(t *testing.T, d *testenv.Database) (string, *pgxpool.Pool) {
	t.Helper()
	ctx := testContext(t)
	schema := d.Schema + "_empty"
	if _, err := d.Pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := d.Pool.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u := urlWithSearchPath(t, d.URL, schema)
	return u, openPool(t, u)
}

// urlWithSearchPath returns raw with its search_path replaced.
func urlWithSearchPath(t *testing.T, raw, schema string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openPool opens a pool closed at the end of the test.
func openPool(t *testing.T, rawURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(testContext(t), rawURL)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// requireContains fails unless err's message contains every part.
func requireContains(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error mentioning %q, got none", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("want an error mentioning %q, got: %v", p, err)
		}
	}
}
