package main

import (
	"context"
	"errors"
	"flag"

	"github.com/referflow/referflow/api"
)

const campaignUsage = `Usage: referflow campaign example

Prints the example campaign: a complete POST /api/v1/campaigns body (a deal
per lead in HubSpot's default pipeline, approved on closedwon, a fixed
reward), the same one README.md shows and GET /api/v1/campaigns/example
answers. Needs nothing running. Create it with, e.g.:

  ./bin/referflow campaign example | curl -s -X POST http://localhost:8080/api/v1/campaigns \
    -H "Authorization: Bearer $(cat .data/admin-api-key)" -H 'Content-Type: application/json' --data-binary @-
`

func runCampaign(_ context.Context, out streams, fs *flag.FlagSet, args []string) error {
	if len(args) == 0 || args[0] != "example" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return fs.Parse(args)
		}
		return errors.New("the only subcommand is `example` (see --help)")
	}
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	_, err := out.stdout.Write(api.ExampleCampaignJSON())
	return err
}
