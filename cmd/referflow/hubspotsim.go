package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
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

The CRM page at <url>/ lists each portal's contacts and deals; moving a deal
to another stage or setting a contact's property there is a change like any
other (validated, recorded with changeSource CRM_UI, delivered as webhooks).

With --webhook-url, every change that matches a subscription is delivered
there as HubSpot delivers webhooks: JSON arrays of at most 100 events, at
most --webhook-max-concurrent requests in flight per portal, signed with
X-HubSpot-Signature (v1) and X-HubSpot-Signature-v3 using the client secret
(or --webhook-secret), retried on any non-2xx answer, connection failure or
an answer slower than --webhook-timeout, up to --webhook-max-retries times
with randomised exponential backoff. --webhook-subscriptions lists
subscriptions as eventType or eventType:propertyName, comma-separated (e.g.
"contact.creation,deal.propertyChange:dealstage"); the default, "referflow",
is every creation, deletion, merge and association change of contacts, deals
and companies plus the property changes referflow works with. The webhooks
settings API (/webhooks/v3/{appId}/settings and .../subscriptions) takes the
printed developer API key as ?hapikey=.

Misbehaviour modes make a portal let its clients down as HubSpot does, with
HubSpot's statuses, headers and bodies. --mode switches one on for every
portal at start (repeat it for several); the CRM page and the control API
switch them on and off while it runs:

  --mode rate_limit[,for=30s]              every call 429 TEN_SECONDLY_ROLLING
  --mode daily_limit                       every call 429 DAILY until the portal's midnight
  --mode server_errors[,status=503][,calls=N][,for=D][,after_write][,writes_only]
                                           500/502/503/504; after_write does the write first;
                                           writes_only spares reads and searches
  --mode slow_answers,delay=35s[,calls=N][,for=D][,writes_only]
                                           the write is done, the answer comes delay later
  --mode revoked_tokens[,access_only]      OAuth tokens issued so far refused (401,
                                           invalid_grant); access_only: every access token

A mode without for or calls lasts until switched off. Control API (no token):
GET <url>/portals/{id}/modes; PUT and DELETE <url>/portals/{id}/modes/{kind}
(JSON body: status, calls, for, after_write, writes_only, delay,
access_only); DELETE
<url>/portals/{id}/modes; POST <url>/portals/{id}/reset (every record gone,
object IDs start again, tokens revoked); GET <url>/portals/{id}/calls;
POST <url>/portals/{id}/objects/{type} and GET, PATCH
<url>/portals/{id}/objects/{type}/{object id} (records changed as a person
would: {"properties": {...}}); GET <url>/webhooks/deliveries (every delivery
with its answer) and GET <url>/webhooks/stats.
Portals' daily limits reset at midnight in --time-zone.

App cards: POST <url>/portals/{id}/card-fetches sends a card's hubspot.fetch
to the app's backend as HubSpot does (parameters appended, signed with the
client secret, 15 s, 1 MB, 20 in flight per portal), to the URLs --card-url
permits (comma-separated; default: the origin of --webhook-url).

With --state-file, the simulator keeps its state across restarts as HubSpot
does: on a clean stop (Ctrl-C, SIGTERM) it writes everything — portals,
records, properties, associations, lists, OAuth tokens, webhook settings,
the webhooks not yet delivered and the log of deliveries — to the file, and
the next start with the same file carries on from there (--portals,
--private-app-token, --mode, --webhook-url and --webhook-subscriptions then
come from the file, not the flags). Without it, state lives in memory only.
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
	developerKey    string
	timeZone        string
	modes           modeFlags

	webhookURL           string
	webhookSecret        string
	webhookSubscriptions string
	webhookConcurrency   int
	webhookBatchWindow   time.Duration
	webhookTimeout       time.Duration
	webhookMaxRetries    int
	webhookRetryBase     time.Duration
	webhookDuplicateRate float64
	webhookShuffle       bool
	webhookSeed          int64

	stateFile string
	cardURLs  string
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
	fs.StringVar(&f.developerKey, "developer-api-key", hubspotsim.DefaultDeveloperAPIKey, "developer API key (?hapikey=) the webhooks settings API accepts")
	fs.StringVar(&f.timeZone, "time-zone", "America/New_York", "the portals' time zone (IANA name): their daily limits reset at its midnight")
	fs.Var(&f.modes, "mode", "switch a misbehaviour mode on for every portal, e.g. rate_limit,for=30s or server_errors,status=502,calls=3,after_write (repeatable; see above)")
	fs.StringVar(&f.webhookURL, "webhook-url", "", "deliver webhooks to this URL (empty: no webhooks until set through the webhooks API)")
	fs.StringVar(&f.webhookSecret, "webhook-secret", "", "secret that signs webhooks (default: the OAuth client secret)")
	fs.StringVar(&f.webhookSubscriptions, "webhook-subscriptions", "referflow", "comma-separated eventType[:propertyName] list, \"referflow\" for referflow's set, or \"none\"")
	fs.IntVar(&f.webhookConcurrency, "webhook-max-concurrent", hubspotsim.DefaultMaxConcurrentRequests, "webhook requests in flight per portal")
	fs.DurationVar(&f.webhookBatchWindow, "webhook-batch-window", 100*time.Millisecond, "how long events are collected into one webhook batch")
	fs.DurationVar(&f.webhookTimeout, "webhook-timeout", 5*time.Second, "a webhook answer slower than this is retried")
	fs.IntVar(&f.webhookMaxRetries, "webhook-max-retries", 10, "retries of a failed webhook delivery (0: none)")
	fs.DurationVar(&f.webhookRetryBase, "webhook-retry-base", 84*time.Second, "first retry delay; retry n waits base*2^(n-1), randomised (84s spreads 10 retries over about 24h)")
	fs.Float64Var(&f.webhookDuplicateRate, "webhook-duplicate-rate", 0, "probability (0 to 1) that an event is delivered twice")
	fs.BoolVar(&f.webhookShuffle, "webhook-shuffle", false, "deliver events out of order")
	fs.Int64Var(&f.webhookSeed, "webhook-seed", 0, "seed of the random choices of webhook delivery (0: random)")
	fs.StringVar(&f.cardURLs, "card-url", "", "comma-separated URLs app cards may fetch (permittedUrls.fetch; default: the origin of --webhook-url)")
	fs.StringVar(&f.stateFile, "state-file", "", "keep the simulator's state in this file across restarts (read at start, written on a clean stop)")
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
	if f.developerKey == "" {
		return errors.New("--developer-api-key must not be empty")
	}
	if f.webhookConcurrency < 1 || f.webhookBatchWindow <= 0 || f.webhookTimeout <= 0 || f.webhookRetryBase <= 0 || f.webhookMaxRetries < 0 {
		return errors.New("--webhook-max-concurrent, --webhook-batch-window, --webhook-timeout and --webhook-retry-base must be positive, --webhook-max-retries 0 or more")
	}
	if f.webhookDuplicateRate < 0 || f.webhookDuplicateRate > 1 {
		return fmt.Errorf("--webhook-duplicate-rate must be between 0 and 1, got %v", f.webhookDuplicateRate)
	}
	subs, err := parseWebhookSubscriptions(f.webhookSubscriptions)
	if err != nil {
		return err
	}
	zone, err := time.LoadLocation(f.timeZone)
	if err != nil || f.timeZone == "" || f.timeZone == "Local" {
		return fmt.Errorf("--time-zone: %q is not an IANA time zone name such as America/New_York or UTC", f.timeZone)
	}
	retries := f.webhookMaxRetries
	if retries == 0 {
		retries = -1 // WebhookOptions: 0 means the default, negative none
	}
	sim := hubspotsim.New(hubspotsim.Options{
		ClientID: f.clientID, ClientSecret: f.clientSecret,
		RateLimitPerTenSeconds: f.rateLimit, SearchPerSecond: f.searchPerSecond, DailyLimit: f.dailyLimit,
		SearchLag: f.searchLag, AccessTokenTTL: f.tokenTTL, DeveloperAPIKey: f.developerKey, TimeZone: zone,
		Webhooks: hubspotsim.WebhookOptions{
			BatchWindow: f.webhookBatchWindow, Timeout: f.webhookTimeout, MaxRetries: retries,
			RetryBase: f.webhookRetryBase, DuplicateRate: f.webhookDuplicateRate, Shuffle: f.webhookShuffle,
			Seed: f.webhookSeed,
		},
	})
	defer sim.Close()
	restored := false
	if f.stateFile != "" {
		if restored, err = sim.LoadStateFile(f.stateFile); err != nil {
			return fmt.Errorf("--state-file: %w", err)
		}
	}
	portals := sim.Portals()
	if urls := cardURLs(f.cardURLs, f.webhookURL); len(urls) > 0 {
		sim.SetCardPermittedURLs(urls...)
	}
	if !restored {
		if err := sim.SetWebhookSettings(hubspotsim.WebhookSettings{
			TargetURL: f.webhookURL, ClientSecret: f.webhookSecret,
			MaxConcurrentRequests: f.webhookConcurrency, Subscriptions: subs,
		}); err != nil {
			return fmt.Errorf("--webhook-url / --webhook-subscriptions: %w", err)
		}
		for i := range f.portals {
			name, token := "Demo portal", ""
			if i == 0 {
				token = f.privateAppToken
			} else {
				name = fmt.Sprintf("Demo portal %d", i+1)
			}
			p := sim.CreatePortalWithToken(name, token)
			for _, m := range f.modes {
				if _, err := sim.SetMode(p.ID, m); err != nil {
					return fmt.Errorf("--mode: %w", err)
				}
			}
			portals = append(portals, p)
		}
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
	fmt.Fprintf(w, "  CRM page:        %s/\n", base)
	if restored {
		fmt.Fprintf(w, "  State:           restored from %s\n", f.stateFile)
	} else if f.stateFile != "" {
		fmt.Fprintf(w, "  State:           new; kept in %s on stop\n", f.stateFile)
	}
	if ws := sim.WebhookSettings(); ws.TargetURL != "" {
		fmt.Fprintf(w, "  Webhooks:        %s (%d subscriptions)\n", ws.TargetURL, len(ws.Subscriptions))
	} else {
		fmt.Fprintf(w, "  Webhooks:        off (set --webhook-url, or PUT %s/webhooks/v3/%d/settings)\n", base, sim.Options().AppID)
	}
	fmt.Fprintf(w, "  Developer key:   %s (webhooks settings API, ?hapikey=)\n", f.developerKey)
	for _, p := range portals {
		fmt.Fprintf(w, "  portal %d %q private-app token: %s\n", p.ID, p.Name, p.PrivateAppToken)
		for _, m := range sim.Modes(p.ID) {
			fmt.Fprintf(w, "    mode on: %s (switch off: DELETE %s/portals/%d/modes/%s)\n", m.Kind, base, p.ID, m.Kind)
		}
	}
	fmt.Fprintf(w, "  Modes:           %s/portals/{id}/modes (misbehaviour control API)\n", base)

	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return errors.Join(err, saveSimState(sim, f.stateFile))
	case <-ctx.Done():
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		return errors.Join(fmt.Errorf("stop the simulator: %w", err), saveSimState(sim, f.stateFile))
	}
	if err := saveSimState(sim, f.stateFile); err != nil {
		return err
	}
	fmt.Fprintln(out.stderr, "HubSpot simulator stopped")
	return nil
}

// saveSimState stops webhook delivery and writes the state to path (when
// there is one), once nothing can change it any more.
func saveSimState(sim *hubspotsim.Simulator, path string) error {
	if path == "" {
		return nil
	}
	_ = sim.Close()
	if err := sim.SaveStateFile(path); err != nil {
		return fmt.Errorf("--state-file: %w", err)
	}
	return nil
}

// modeFlags collects repeated --mode flags, each checked as it is read.
type modeFlags []hubspotsim.Mode

func (m *modeFlags) String() string {
	kinds := make([]string, 0, len(*m))
	for _, x := range *m {
		kinds = append(kinds, x.Kind)
	}
	return strings.Join(kinds, " ")
}

func (m *modeFlags) Set(spec string) error {
	mode, err := hubspotsim.ParseMode(spec)
	if err != nil {
		return err
	}
	*m = append(*m, mode)
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

// parseWebhookSubscriptions reads --webhook-subscriptions: "referflow" (or
// empty) for hubspotsim.DefaultWebhookSubscriptions, "none", or a
// comma-separated list of eventType or eventType:propertyName.
func parseWebhookSubscriptions(spec string) ([]hubspotsim.WebhookSubscription, error) {
	switch strings.TrimSpace(spec) {
	case "", "referflow":
		return hubspotsim.DefaultWebhookSubscriptions(), nil
	case "none":
		return nil, nil
	}
	var out []hubspotsim.WebhookSubscription
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		typ, prop, _ := strings.Cut(item, ":")
		out = append(out, hubspotsim.WebhookSubscription{EventType: strings.TrimSpace(typ), PropertyName: strings.TrimSpace(prop)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--webhook-subscriptions: no subscription in %q", spec)
	}
	return out, nil
}

// cardURLs are the URLs app cards may fetch: the --card-url list, or the
// origin of the webhook URL (the app's backend) when the list is empty.
func cardURLs(list, webhookURL string) []string {
	var urls []string
	for _, u := range strings.Split(list, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 && webhookURL != "" {
		if u, err := url.Parse(webhookURL); err == nil && u.Host != "" {
			urls = append(urls, u.Scheme+"://"+u.Host)
		}
	}
	return urls
}
