package main

import (
	"context"
	"flag"
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
	p, err := startProcess(ctx, out)
	if err != nil {
		return err
	}
	defer p.close()
	return runWorkers(ctx, p.cfg, p.pool, p.temporal, p.hubspot, p.logger)
}
