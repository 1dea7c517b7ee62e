package main

import (
	"context"
	"flag"

	"github.com/referflow/referflow/internal/config"
)

const workerUsage = `Usage: referflow worker

Runs the Temporal worker: referral workflows and their activities on the
"referflow" task queue, HubSpot activities on the rate-limited
"referflow-hubspot" task queue. Run as many as you need against one Temporal
cluster and one Postgres. Needs DATABASE_URL and REFERFLOW_ENCRYPTION_KEY.
`

func runWorker(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error {
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(config.Requirement{DatabaseURL: true, EncryptionKey: true})
	if err != nil {
		return err
	}
	logger := newLogger(cfg, out.stderr)
	pool, err := openPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := requireMigrated(ctx, pool); err != nil {
		return err
	}
	tc, err := connectTemporal(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer tc.Close()
	hs, err := newHubSpotManager(cfg, pool, logger)
	if err != nil {
		return err
	}
	return runWorkers(ctx, pool, tc, hs, logger)
}
