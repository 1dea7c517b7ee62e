package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/referflow/referflow/internal/version"
)

func runVersion(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error {
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(out.stdout, "referflow", version.String())
	return nil
}
