package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"github.com/referflow/referflow/internal/config"
	"github.com/referflow/referflow/internal/hubspotaction"
)

const hubspotActionsUsage = `Usage: referflow hubspot-actions register | definitions

referflow's actions in HubSpot workflows ("Enrol as member", "Add referral",
"Set referral status", "Wait for referral decision") are defined for your
HubSpot app, once, for every portal that installs it.

  register      creates the four definitions through HubSpot's definitions
                API (POST /automation/v4/actions/{appId}), each calling
                <REFERFLOW_PUBLIC_URL>/hubspot/actions/<action>, and prints
                their IDs. Needs HUBSPOT_APP_ID and HUBSPOT_DEVELOPER_API_KEY
                (your developer account's API key); HUBSPOT_BASE_URL says
                where HubSpot is. Running it again creates them again:
                archive the old ones in HubSpot first.
  definitions   prints the four definitions as JSON (one per line), with
                their actionUrl under REFERFLOW_PUBLIC_URL, to create by
                hand or keep in a HubSpot project. Needs nothing running.

` + "`referflow dev`" + ` registers them in its HubSpot simulator at start.
`

func runHubSpotActions(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error {
	if len(args) == 0 || (args[0] != "register" && args[0] != "definitions") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return fs.Parse(args)
		}
		return errors.New("the subcommands are `register` and `definitions` (see --help)")
	}
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := config.Load(config.Requirement{})
	if err != nil {
		return err
	}
	if args[0] == "definitions" {
		for _, a := range hubspotaction.Actions {
			def, err := hubspotaction.Definition(a, cfg.PublicURL.String())
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(out.stdout, "%s\n", compactJSON(def)); err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case cfg.HubSpotAppID == 0:
		return errors.New("HUBSPOT_APP_ID is not set: set it to your HubSpot app's ID")
	case cfg.HubSpotDeveloperAPIKey == "":
		return errors.New("HUBSPOT_DEVELOPER_API_KEY is not set: set it to your HubSpot developer account's API key")
	}
	ids, err := hubspotaction.Register(ctx, nil, cfg.HubSpotBaseURL.String(), cfg.HubSpotAppID, cfg.HubSpotDeveloperAPIKey, cfg.PublicURL.String())
	for _, a := range hubspotaction.Actions {
		if id, ok := ids[a]; ok {
			fmt.Fprintf(out.stdout, "%s\t%s\n", a, id)
		}
	}
	return err
}

// compactJSON is raw on one line (raw as it is if it is not JSON).
func compactJSON(raw []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}
