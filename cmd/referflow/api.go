package main

import (
	"context"
	"flag"
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
	p, err := startProcess(ctx, out, nil)
	if err != nil {
		return err
	}
	defer p.close()
	return serveAPI(ctx, p.cfg, p.pool, p.temporal, p.hubspot, p.logger)
}
