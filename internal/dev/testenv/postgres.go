// Package testenv gives tests real services to run against, isolated per
// test so that every test can run in parallel.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/db/migrate"
	"github.com/referflow/referflow/internal/dev/devstack"
)

// testDatabase is the database tests use on a discovered or private server,
// kept apart from the development database "referflow".
const testDatabase = "referflow_test"

// Database is one test's private PostgreSQL schema, migrated to the current
// schema version. It is dropped when the test ends.
type Database struct {
	// Pool connects to the test's schema (search_path is set on every
	// connection).
	Pool *pgxpool.Pool
	// URL connects to the same schema (it carries search_path), so another
	// pool or process — an api or worker under test — sees the same data.
	URL string
	// Schema is the schema's name, e.g. t_3f9a0c1b2d4e5f60.
	Schema string
	// Queries are the sqlc queries bound to Pool.
	Queries *db.Queries
}

// server is the PostgreSQL found once per test process.
var server struct {
	once  sync.Once
	url   string
	admin *pgxpool.Pool
	err   error
}

// NewDatabase creates a fresh schema in the test database, applies
// migrate.Up to it and returns a pool bound to it. At the end of the test the
// pool is closed and the schema dropped. A schema per test (rather than a
// database per test) is cheap enough to do for every test and keeps parallel
// tests from seeing each other's rows.
//
// PostgreSQL is DATABASE_URL when set, else whatever devstack.EnsurePostgres
// finds or starts; when there is none the test fails with what to do, it is
// never skipped: a database test that silently does not run hides breakage.
func NewDatabase(t testing.TB) *Database {
	t.Helper()
	d := NewEmptyDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := migrate.Up(ctx, d.Pool); err != nil {
		t.Fatalf("testenv: migrate schema %s: %v", d.Schema, err)
	}
	// Sales entries name their workflows by ID (sales-entry/<id>), and the
	// tests of a package share one Temporal server: each schema numbers its
	// entries from its own random start so no two tests' workflows collide.
	start := 1_000_000 + mathrand.Int64N(1_000_000_000_000)
	if _, err := d.Pool.Exec(ctx, fmt.Sprintf("ALTER TABLE sales_entries ALTER COLUMN id RESTART WITH %d", start)); err != nil {
		t.Fatalf("testenv: number schema %s's sales entries: %v", d.Schema, err)
	}
	return d
}

// NewEmptyDatabase is NewDatabase without the migrations: a fresh, empty
// schema, for tests of migrating itself.
func NewEmptyDatabase(t testing.TB) *Database {
	t.Helper()
	server.once.Do(findServer)
	if server.err != nil {
		t.Fatalf("testenv: no PostgreSQL for tests: %v\n"+
			"To fix: start PostgreSQL and set DATABASE_URL, e.g.\n"+
			"  DATABASE_URL='postgres://postgres@127.0.0.1:5432/%s?sslmode=disable' go test ./...\n"+
			"or install the PostgreSQL server binaries (initdb, pg_ctl) so a private cluster can be started under .data/.",
			server.err, testDatabase)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	schema := "t_" + randomHex(8)
	if _, err := server.admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("testenv: create schema %s: %v", schema, err)
	}
	// Registered before anything else can fail, so the schema never leaks;
	// cleanups run last-in first-out, so the pool is closed first.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := server.admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("testenv: drop schema %s: %v", schema, err)
		}
	})

	schemaURL, err := withSearchPath(server.url, schema)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	cfg, err := pgxpool.ParseConfig(schemaURL)
	if err != nil {
		t.Fatalf("testenv: parse database URL: %v", err)
	}
	if !strings.Contains(schemaURL, "pool_max_conns") {
		// Many parallel tests each hold a pool; keep the sum well under the
		// server's max_connections.
		cfg.MaxConns = 8
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("testenv: connect to schema %s: %v", schema, err)
	}
	t.Cleanup(pool.Close)
	return &Database{Pool: pool, URL: schemaURL, Schema: schema, Queries: db.New(pool)}
}

// findServer locates PostgreSQL and opens the admin pool that creates and
// drops test schemas. Its outcome is shared by every test of the process.
func findServer() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	databaseURL := os.Getenv("DATABASE_URL")
	dataDir := ""
	if root, err := repoRoot(); err == nil {
		dataDir = filepath.Join(root, ".data")
	} else if databaseURL == "" {
		server.err = err
		return
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).
		With("component", "testenv")
	pg, err := devstack.EnsurePostgres(ctx, devstack.PostgresOptions{
		DatabaseURL: databaseURL,
		Database:    testDatabase,
		DataDir:     dataDir,
		Logger:      logger,
	})
	if err != nil {
		server.err = err
		return
	}
	admin, err := connectCreatingDatabase(ctx, pg.URL)
	if err != nil {
		server.err = fmt.Errorf("connect to %s (%s): %w", redact(pg.URL), pg.Source, err)
		return
	}
	server.url = pg.URL
	server.admin = admin
	// The admin pool lives as long as the test process: it is shared by all
	// tests, so no single test may close it.
}

// connectCreatingDatabase opens a pool on url, creating its database first
// when the server says it does not exist (a fresh server given through
// DATABASE_URL), so `go test` needs no manual createdb.
func connectCreatingDatabase(ctx context.Context, rawURL string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	err = pool.Ping(ctx)
	if err == nil {
		return pool, nil
	}
	pool.Close()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return nil, err
	}
	name := cfg.ConnConfig.Database
	maint := cfg.ConnConfig.Copy()
	maint.Database = "postgres"
	conn, cerr := pgx.ConnectConfig(ctx, maint)
	if cerr != nil {
		return nil, fmt.Errorf("database %q does not exist and the server's postgres database is unreachable to create it: %w", name, cerr)
	}
	_, cerr = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	_ = conn.Close(ctx)
	// Another test process (go test runs packages in parallel) may have
	// created it first.
	if cerr != nil && !(errors.As(cerr, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505")) {
		return nil, fmt.Errorf("create database %q: %w", name, cerr)
	}
	pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// withSearchPath adds search_path=<schema> to a connection string; pgx sends
// unknown URL parameters as run-time parameters, so every connection starts
// in the schema, whichever process opens it.
func withSearchPath(raw, schema string) (string, error) {
	if strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://") {
		u, err := url.Parse(raw)
		if err != nil {
			return "", fmt.Errorf("parse database URL: %w", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	// keyword=value form.
	return strings.TrimSpace(raw) + " search_path=" + schema, nil
}

// repoRoot is the repository root above the working directory (a package
// directory under `go test`).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	return devstack.FindRepoRoot(dir)
}

// redact hides the password of a connection URL in messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// randomHex returns n random bytes as hex, for schema names that cannot
// collide between parallel tests and test processes.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
