// Command referflow is the whole product in one binary: `referflow dev` runs
// everything on a laptop, `api` and `worker` are the two processes of a
// deployment, `migrate` prepares the database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/referflow/referflow/internal/config"
)

type command struct {
	name    string
	summary string
	usage   string
	run     func(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error
}

func commands() []command {
	return []command{
		{"dev", "run everything on this machine: Postgres, Temporal dev server, migrations, API and worker", devUsage, runDev},
		{"api", "run the HTTP server (admin API, webhooks, health, metrics)", apiUsage, runAPI},
		{"worker", "run the Temporal worker (referral workflows and their activities)", workerUsage, runWorker},
		{"migrate", "apply database migrations; `migrate status` lists them", migrateUsage, runMigrate},
		{"referrals", "`referrals resume` starts again the referral workflows whose run failed", referralsUsage, runReferrals},
		{"admin", "manage program admins: `admin create` adds one and prints its API key", adminUsage, runAdmin},
		{"campaign", "`campaign example` prints a complete example campaign to POST to /api/v1/campaigns", campaignUsage, runCampaign},
		{"apikey", "manage admins' API keys: `apikey create` makes another key for an admin", apikeyUsage, runAPIKey},
		{"codec-server", "serve the personal-data codec to the Temporal Web UI, so an operator holding the keys reads sealed values", codecServerUsage, runCodecServer},
		{"doctor", "check this install (Postgres, Temporal, HubSpot connections, stuck referrals) and say how to fix each problem", doctorUsage, runDoctor},
		{"hubspot-sim", "run the HubSpot simulator (API, OAuth, rate limits) for tests and the demo", hubspotSimUsage, runHubSpotSim},
		{"hubspot-actions", "`hubspot-actions register` defines referflow's actions in HubSpot workflows for your HubSpot app", hubspotActionsUsage, runHubSpotActions},
		{"version", "print the version", "Usage: referflow version\n\nPrints the version of this build.\n", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// Logs (from the worker's goroutines too) and messages share stderr.
	stderr = &lockedWriter{w: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			args = []string{args[1], "--help"}
		} else {
			printUsage(stdout)
			return 0
		}
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		fs := flag.NewFlagSet("referflow "+c.name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() {
			fmt.Fprint(fs.Output(), c.usage)
			if hasFlags(fs) {
				fmt.Fprintln(fs.Output(), "\nFlags:")
				fs.PrintDefaults()
			}
		}
		err := c.run(ctx, streams{stdout, stderr}, fs, args[1:])
		switch {
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errProblemsFound):
			return 1 // the command has said what is wrong
		case err != nil:
			var cfgErr *config.Error
			if errors.As(err, &cfgErr) {
				fmt.Fprintf(stderr, "referflow %s: %v\nSee README.md, section Configuration.\n", c.name, err)
				return 2
			}
			fmt.Fprintf(stderr, "referflow %s: %v\n", c.name, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "referflow: unknown command %q\n\n", args[0])
	printUsage(stderr)
	return 2
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "referflow — a referral-program engine for HubSpot, on Temporal.")
	fmt.Fprintln(w, "\nUsage: referflow <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun `referflow <command> --help` for a command's flags. Configuration comes from")
	fmt.Fprintln(w, "environment variables: see README.md.")
}

// streams is where a command writes: its results to stdout, logs and
// messages for people to stderr.
type streams struct{ stdout, stderr io.Writer }

// lockedWriter serialises writes from several goroutines to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// parseNoArgs parses flags and refuses stray arguments.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	return nil
}
