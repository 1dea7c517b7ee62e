// Package devstack finds or starts the services referflow needs on a laptop or
// a CI machine: a PostgreSQL server and the pinned Temporal CLI's dev server.
// `referflow dev` and the test harness both use it, so what a developer runs is
// what the tests run.
package devstack

import (
	"context"
	"errors"
	"log/slog"
)

// PostgresOptions says where to look for PostgreSQL and what to start when
// none is found.
type PostgresOptions struct {
	// DatabaseURL is DATABASE_URL. When set it is used as it is and nothing
	// is discovered or started.
	DatabaseURL string
	// Database is the database to use (created when absent) on a discovered
	// local server or a private cluster, e.g. "referflow" or "referflow_test".
	Database string
	// DataDir holds the private cluster (DataDir/postgres) when one is needed.
	DataDir string
	// Port of the private cluster; 0 means the default.
	Port int
	// Install allows `apt-get install postgresql` when no binaries are found.
	Install bool
	Logger  *slog.Logger
}

// Postgres is a reachable PostgreSQL database.
type Postgres struct {
	// URL connects to Database.
	URL string
	// Source tells a person where the database came from.
	Source string
	stop   func(context.Context) error
}

// EnsurePostgres returns a reachable database: DATABASE_URL when set, else a
// local server that answers, else a private cluster started from the local
// PostgreSQL binaries under DataDir.
func EnsurePostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	if opts.DatabaseURL != "" {
		return &Postgres{URL: opts.DatabaseURL, Source: "DATABASE_URL"}, nil
	}
	return nil, errors.New("devstack: discovery not implemented yet")
}

// Stop stops a private cluster that EnsurePostgres started; otherwise it does nothing.
func (p *Postgres) Stop(ctx context.Context) error {
	if p.stop == nil {
		return nil
	}
	return p.stop(ctx)
}
