package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/referflow/referflow/db/migrate"
	"github.com/referflow/referflow/internal/config"
)

const migrateUsage = `Usage: referflow migrate [status]

Applies the database migrations built into this binary to DATABASE_URL, in
order, each in its own transaction. Safe to run from several processes at
once. ` + "`referflow migrate status`" + ` lists every migration with whether and when it
was applied, and changes nothing.
`

func runMigrate(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	status := false
	switch {
	case fs.NArg() == 1 && fs.Arg(0) == "status":
		status = true
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q: the only subcommand is `status`", fs.Arg(0))
	}
	cfg, err := config.Load(config.Requirement{DatabaseURL: true})
	if err != nil {
		return err
	}
	pool, err := openPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()

	if status {
		states, err := migrate.Status(ctx, pool)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tNAME\tSTATE\tAPPLIED AT")
		for _, s := range states {
			state, at := "pending", ""
			if s.Applied {
				state, at = "applied", s.AppliedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%04d\t%s\t%s\t%s\n", s.Version, s.Name, state, at)
		}
		return tw.Flush()
	}

	applied, err := migrate.Up(ctx, pool)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(out.stdout, "database is up to date")
	}
	for _, m := range applied {
		fmt.Fprintf(out.stdout, "applied %04d %s\n", m.Version, m.Name)
	}
	return nil
}
