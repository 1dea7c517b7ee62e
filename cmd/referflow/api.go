package main

import (
	"context"
	"flag"

	"github.com/referflow/referflow/internal/config"
)

const apiUsage = `Usage: referflow api

Runs the HTTP server on REFERFLOW_HTTP_ADDR: health (/healthz, /readyz),
Prometheus metrics (/metrics), the admin API and webhooks, and connecting
HubSpot (/oauth/hubspot/connect; needs HUBSPOT_CLIENT_ID and
HUBSPOT_CLIENT_SECRET, else it answers 503). Needs
DATABASE_URL and REFERFLOW_ENCRYPTION_KEY; refuses to start while the database
has migrations pending (run ` + "`referflow migrate`" + ` first).
`

func runAPI(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error {
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
	return serveAPI(ctx, cfg, pool, tc, hs, logger)
}
