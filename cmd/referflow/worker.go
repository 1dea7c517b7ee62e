package main

import (
	"context"
	"flag"

	"github.com/referflow/referflow/worker"
)

const workerUsage = `Usage: referflow worker

Runs the Temporal worker: referral workflows and their activities on the
"referflow" task queue, HubSpot activities on the rate-limited
"referflow-hubspot" task queue. Run as many as you need against one Temporal
cluster and one Postgres. Needs DATABASE_URL and REFERFLOW_ENCRYPTION_KEY.
Serves Prometheus metrics on REFERFLOW_WORKER_METRICS_ADDR (default
127.0.0.1:9091; off serves none): see docs/operations.md.
`

func runWorker(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error {
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	metrics := worker.NewMetrics()
	p, err := startProcess(ctx, out, metrics)
	if err != nil {
		return err
	}
	defer p.close()
	return runWorkers(ctx, p.cfg, p.pool, p.temporal, p.keys, p.hubspot, p.logger, metrics)
}
