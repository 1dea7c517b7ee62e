package devstack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
)

// Each checkout of referflow keeps its own database on a shared server, so
// two checkouts (two worktrees, a clone beside the main one) never read each
// other's sales entries or compete for them.

// CheckoutDatabase is the database `referflow dev` uses for the data folder
// dataDir on a discovered local server or a private cluster:
// referflow_<first 10 hex digits of the SHA-256 of the folder's absolute
// path>. The same folder always gives the same name; another folder another
// name. It never clashes with the tests' referflow_test.
func CheckoutDatabase(dataDir string) (string, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", fmt.Errorf("devstack: data folder: %w", err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real // the same folder reached through a link is the same checkout
	}
	sum := sha256.Sum256([]byte(abs))
	return "referflow_" + hex.EncodeToString(sum[:])[:10], nil
}

// LegacyDatabase is the one database every checkout shared before
// CheckoutDatabase: `dev` says when it is still there, so nobody wonders
// where their data went.
const LegacyDatabase = DefaultDatabase

// HasDatabase tells whether the server that serverURL connects to has a
// database named name.
func HasDatabase(ctx context.Context, serverURL, name string) (bool, error) {
	conn, err := connectMaintenance(ctx, serverURL)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	return exists, err
}

// DropDatabase drops the database databaseURL connects to, disconnecting
// its sessions, and reports whether there was one. It connects to the
// server's postgres database to do it.
func DropDatabase(ctx context.Context, databaseURL string) (bool, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return false, errors.New("devstack: the database URL cannot be parsed")
	}
	name := cfg.Database
	if name == "" || name == "postgres" || name == "template0" || name == "template1" {
		return false, fmt.Errorf("devstack: refusing to drop the server's own database %q", name)
	}
	exists, err := HasDatabase(ctx, databaseURL, name)
	if err != nil || !exists {
		return false, err
	}
	conn, err := connectMaintenance(ctx, databaseURL)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return false, fmt.Errorf("devstack: drop database %q: %w", name, err)
	}
	return true, nil
}

// connectMaintenance connects to the postgres database of the server
// databaseURL names.
func connectMaintenance(ctx context.Context, databaseURL string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, errors.New("devstack: the database URL cannot be parsed")
	}
	cfg.Database = "postgres"
	delete(cfg.RuntimeParams, "search_path")
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("devstack: connect to PostgreSQL at %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	return conn, nil
}

// RemovePostgres undoes what EnsurePostgres made for opts, for `referflow
// dev reset`: with DatabaseURL, it drops that database; otherwise it drops
// opts.Database on the local server that answers, if any, and removes the
// private cluster under DataDir (stopping it first), if there is one. It
// returns what it removed, in words.
func RemovePostgres(ctx context.Context, opts PostgresOptions) ([]string, error) {
	var removed []string
	if opts.DatabaseURL != "" {
		dropped, err := DropDatabase(ctx, opts.DatabaseURL)
		if err != nil {
			return nil, err
		}
		if dropped {
			removed = append(removed, "the database DATABASE_URL names")
		}
		return removed, nil
	}
	if !opts.SkipLocalServer {
		for _, t := range defaultLocalTargets() {
			if t.isSocket() {
				if _, err := os.Stat(filepath.Join(t.Host, fmt.Sprintf(".s.PGSQL.%d", t.Port))); err != nil {
					continue
				}
			}
			conn, err := t.connect(ctx, "postgres", time.Second)
			if err != nil {
				continue
			}
			conn.Close(context.WithoutCancel(ctx))
			dropped, err := DropDatabase(ctx, t.url(opts.Database))
			if err != nil {
				return removed, err
			}
			if dropped {
				removed = append(removed, fmt.Sprintf("database %s on the local server at %s", opts.Database, t.where()))
			}
			break
		}
	}
	if opts.DataDir == "" {
		return removed, nil
	}
	gone, err := removePrivateCluster(ctx, opts)
	if err != nil {
		return removed, err
	}
	return append(removed, gone...), nil
}

// FindPostgres finds the database opts.Database where EnsurePostgres would
// have made it — on a local server that answers, or on the private cluster
// under DataDir when it runs — without creating or starting anything. It
// returns nil, nil when there is none: `referflow admin create` run in a
// checkout without DATABASE_URL uses it to find the dev database.
func FindPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	pctx, cancel := context.WithTimeout(ctx, localProbeBudget)
	defer cancel()
	for _, t := range defaultLocalTargets() {
		if t.isSocket() {
			if _, err := os.Stat(filepath.Join(t.Host, fmt.Sprintf(".s.PGSQL.%d", t.Port))); err != nil {
				continue
			}
		}
		if exists, err := HasDatabase(pctx, t.url(opts.Database), opts.Database); err == nil && exists {
			return &Postgres{URL: t.url(opts.Database), Source: "local server at " + t.where()}, nil
		}
	}
	if opts.DataDir == "" {
		return nil, nil
	}
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	bins, ok := findPostgresBins(readTrim(filepath.Join(c.pgData, "PG_VERSION")))
	if !ok {
		return nil, nil
	}
	c.bins = bins
	if running, port := c.running(ctx); running {
		t := pgTarget{Host: "127.0.0.1", Port: port, User: "postgres"}
		if exists, err := HasDatabase(ctx, t.url(opts.Database), opts.Database); err == nil && exists {
			return &Postgres{URL: t.url(opts.Database), Source: "private cluster in " + c.pgData}, nil
		}
	}
	return nil, nil
}
