package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/referflow/referflow/internal/config"
	"github.com/referflow/referflow/internal/dev/devstack"
)

// devDataFiles are the files `dev` keeps in its data folder, each deleted by
// `dev reset` (README.md lists them; a test checks the list there). The
// private PostgreSQL cluster (postgres/, postgres-run/, postgres.log,
// postgres.lock) is deleted by devstack.RemovePostgres.
var devDataFiles = []struct{ name, what string }{
	{"encryption-key", "the development encryption key of HubSpot tokens"},
	{"admin-api-key", "the first admin's API key"},
	{devSimStateFile, "the HubSpot simulator's state: portals, records, OAuth tokens"},
	{"temporal.db", "the Temporal dev server's database (SQLite)"},
	{"temporal.db-wal", "its write-ahead log"},
	{"temporal.db-shm", "its shared-memory index"},
	{"temporal.pid", "the running Temporal dev server's PID"},
	{"temporal.log", "the Temporal dev server's log"},
	{"dev.lock", "the lock that keeps one `referflow dev` per data folder"},
}

// runDevReset is `referflow dev reset`: everything `dev` made for this data
// folder is removed, so the next `dev` starts as on a new machine.
func runDevReset(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error {
	dataDir := fs.String("data-dir", filepath.Join(repoRootOrCwd(), ".data"), "the data folder to reset")
	force := fs.Bool("force", false, "with DATABASE_URL set, drop the database it names too")
	temporalPort := fs.Int("temporal-port", 7233, "port of the Temporal dev server `dev` started, to find one left running")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(config.Requirement{})
	if err != nil {
		return err
	}
	if cfg.DatabaseURL != "" && !*force {
		return errors.New("DATABASE_URL is set, and the database it names may not be this checkout's to drop: nothing was deleted. " +
			"Run `referflow dev reset --force` to drop that database along with the data folder, or unset DATABASE_URL to reset this checkout's own database")
	}
	if _, err := os.Stat(*dataDir); err == nil {
		unlock, err := lockDataDir(*dataDir)
		if err != nil {
			return fmt.Errorf("%w: nothing was deleted", err)
		}
		defer unlock()
	}
	removed := func(what string) { fmt.Fprintf(out.stdout, "removed %s\n", what) }

	dbFile := filepath.Join(*dataDir, "temporal.db")
	if abs, err := filepath.Abs(dbFile); err == nil {
		dbFile = abs
	}
	left, err := devstack.StopLeftoverTemporal(ctx, filepath.Join(*dataDir, "temporal.pid"), dbFile, *temporalPort)
	if err != nil {
		return err
	}
	if left != nil {
		removed(fmt.Sprintf("(stopped) the Temporal dev server left running on this data folder, PID %d", left.PID))
	}

	database, err := devstack.CheckoutDatabase(*dataDir)
	if err != nil {
		return err
	}
	gone, err := devstack.RemovePostgres(ctx, devstack.PostgresOptions{DatabaseURL: cfg.DatabaseURL, Database: database, DataDir: *dataDir})
	for _, g := range gone {
		removed(g)
	}
	if err != nil {
		return err
	}
	for _, f := range devDataFiles {
		p := filepath.Join(*dataDir, f.name)
		if err := os.Remove(p); err == nil {
			removed(fmt.Sprintf("%s (%s)", p, f.what))
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	if err := os.Remove(*dataDir); err == nil {
		removed(*dataDir + " (now empty)")
	} else if !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(out.stdout, "kept %s: it holds files `dev` did not make\n", *dataDir)
	}
	fmt.Fprintln(out.stdout, "the next `referflow dev` starts from nothing")
	return nil
}
