package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/referflow/referflow/internal/version"
)

func runVersion(ctx context.Context, fs *flag.FlagSet, args []string) error {
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	fmt.Println("referflow", version.String())
	return nil
}
