package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/referflow/referflow/internal/config"
	"github.com/referflow/referflow/worker"
)

const referralsUsage = `Usage: referflow referrals resume [--dry-run]

Starts again the workflow of every referral whose run failed, was terminated
or timed out (runs that failed before referflow's workflows stopped failing
on HubSpot or fulfilment errors, or that an operator terminated). The new
run carries on from what the database holds — status, HubSpot IDs, rewards —
so no lead is created and no reward issued twice. Referrals whose workflow
runs already, or whose last run completed, are left alone. Prints one line
per referral. Needs DATABASE_URL and Temporal (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE); a worker must be running to carry the runs on.
`

func runReferrals(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error {
	dryRun := fs.Bool("dry-run", false, "list the referrals that would be resumed, and change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) != "resume" {
		return fmt.Errorf("the only subcommand is `resume` (see --help)")
	}
	cfg, err := config.Load(config.Requirement{})
	if err != nil {
		return err
	}
	logger := newLogger(cfg, out.stderr)
	tc, err := connectTemporal(ctx, cfg, nil, logger, nil)
	if err != nil {
		return err
	}
	defer tc.Close()
	results, err := worker.ResumeFailedReferrals(ctx, tc, cfg.TemporalNamespace, worker.Options{}, *dryRun)
	resumed := 0
	for _, r := range results {
		switch {
		case r.Resumed:
			resumed++
			fmt.Fprintf(out.stdout, "resumed  referral %s (run %s)\n", r.ReferralID, r.RunID)
		case *dryRun:
			fmt.Fprintf(out.stdout, "failed   referral %s\n", r.ReferralID)
		default:
			fmt.Fprintf(out.stdout, "skipped  referral %s: %s\n", r.ReferralID, r.Skipped)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out.stdout, "%d referral(s) with a failed run, %d resumed\n", len(results), resumed)
	return nil
}
