package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/referflow/referflow/internal/hubspotsim"
)

const hubspotSimUsage = `Usage: referflow hubspot-sim [flags]

Runs the HubSpot simulator: portals with contacts, deals and companies, the
default deal pipeline, properties, associations, lists and search, OAuth
(authorize page, token, refresh, introspection, revocation) and a private-app
token per portal, with HubSpot's error bodies and rate limits. It answers both
the date-versioned 2026-03 paths and the legacy /crm/v3, /crm/v4 and
/oauth/v1 paths, so HubSpot's official Node client works against it with only
its base path set.

Point referflow (or any HubSpot client) at the printed URL: the API base and
the OAuth authorize page (<url>/oauth/authorize) are both served there. It
prints each portal's ID and private-app token and the OAuth client
credentials, and stops on Ctrl-C. State lives in memory only.
`

type hubspotSimFlags struct {
	addr            string
	portals         int
	privateAppToken string
	clientID        string
	clientSecret    string
	rateLimit       int
	searchPerSecond int
	dailyLimit      int
	searchLag       time.Duration
	tokenTTL        time.Duration
}

func runHubSpotSim(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error {
	var f hubspotSimFlags
	fs.StringVar(&f.addr, "addr", ":8090", "address to listen on")
	fs.IntVar(&f.portals, "portals", 1, "number of portals to create (the first is named \"Demo portal\")")
	fs.StringVar(&f.privateAppToken, "private-app-token", "", "fixed private-app token for the first portal (generated when empty)")
	fs.StringVar(&f.clientID, "client-id", hubspotsim.DefaultClientID, "OAuth client ID the simulator accepts")
	fs.StringVar(&f.clientSecret, "client-secret", hubspotsim.DefaultClientSecret, "OAuth client secret the simulator accepts")
	fs.IntVar(&f.rateLimit, "rate-limit", 110, "CRM requests per portal per rolling 10 seconds (negative: unlimited)")
	fs.IntVar(&f.searchPerSecond, "search-per-second", 5, "search requests per portal per second (negative: unlimited)")
	fs.IntVar(&f.dailyLimit, "daily-limit", 250000, "CRM requests per portal per day (negative: unlimited)")
	fs.DurationVar(&f.searchLag, "search-lag", 0, "how long new writes stay invisible to search, e.g. 2s")
	fs.DurationVar(&f.tokenTTL, "access-token-ttl", 30*time.Minute, "lifetime of OAuth access tokens")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if f.portals < 0 {
		return fmt.Errorf("--portals must be 0 or more, got %d", f.portals)
	}
	if f.rateLimit == 0 || f.searchPerSecond == 0 || f.dailyLimit == 0 {
		return errors.New("rate limits must be positive, or negative for unlimited")
	}
	if f.tokenTTL <= 0 {
		return errors.New("--access-token-ttl must be positive")
	}
	sim := hubspotsim.New(hubspotsim.Options{
		ClientID: f.clientID, ClientSecret: f.clientSecret,
		RateLimitPerTenSeconds: f.rateLimit, SearchPerSecond: f.searchPerSecond, DailyLimit: f.dailyLimit,
		SearchLag: f.searchLag, AccessTokenTTL: f.tokenTTL,
	})
	var portals []*hubspotsim.Portal
	for i := range f.portals {
		name, token := "Demo portal", ""
		if i == 0 {
			token = f.privateAppToken
		} else {
			name = fmt.Sprintf("Demo portal %d", i+1)
		}
		portals = append(portals, sim.CreatePortalWithToken(name, token))
	}

	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("--addr: listen on %s: %w", f.addr, err)
	}
	base := "http://" + displayAddr(ln.Addr())
	w := out.stdout
	fmt.Fprintf(w, "HubSpot simulator listening on %s\n", base)
	fmt.Fprintf(w, "  API base URL:    %s\n", base)
	fmt.Fprintf(w, "  OAuth authorize: %s/oauth/authorize\n", base)
	fmt.Fprintf(w, "  OAuth token:     %s/oauth/2026-03/token\n", base)
	fmt.Fprintf(w, "  OAuth client ID: %s\n  OAuth secret:    %s\n", f.clientID, f.clientSecret)
	for _, p := range portals {
		fmt.Fprintf(w, "  portal %d %q private-app token: %s\n", p.ID, p.Name, p.PrivateAppToken)
	}

	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		return fmt.Errorf("stop the simulator: %w", err)
	}
	fmt.Fprintln(out.stderr, "HubSpot simulator stopped")
	return nil
}

// displayAddr turns a listen address into one a browser can open.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if host == "" || host == "::" || host == "0.0.0.0" || strings.HasPrefix(host, "[::") {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
