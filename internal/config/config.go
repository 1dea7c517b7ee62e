// Package config reads referflow's configuration from environment variables.
//
// Every variable is declared once in Variables, with its default and what it
// is for; README.md's configuration table is checked against that list by a
// test, so the documentation cannot drift from the code. Load reports every
// problem at once, each naming the variable and what is wrong, so a
// misconfigured deployment stops at start-up instead of failing later.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/internal/outgoing"
)

// Variable documents one environment variable.
type Variable struct {
	Name    string
	Default string
	Usage   string
}

// Variables is every environment variable referflow reads, in the order the
// README lists them.
var Variables = []Variable{
	{"DATABASE_URL", "(none; `dev` finds or starts one)", "PostgreSQL connection URL. Required by `api`, `worker` and `migrate`. `dev` uses it when set, else this checkout's own database `referflow_<hash>` on a local server that answers, else on a private cluster under `.data/`."},
	{"TEMPORAL_ADDRESS", "localhost:7233", "Temporal frontend host:port. `dev` starts its own dev server when this is not set."},
	{"TEMPORAL_NAMESPACE", "default", "Temporal namespace for referflow's workflows."},
	{"TEMPORAL_UI_URL", "http://localhost:8233 (`dev`: its own dev server's UI)", "Base URL of the Temporal Web UI; the admin API links each referral, sales entry and review entry to its workflow's page there (<TEMPORAL_UI_URL>/namespaces/<namespace>/workflows/<workflow id>)."},
	{"REFERFLOW_HTTP_ADDR", ":8080", "Address the HTTP server listens on."},
	{"REFERFLOW_WORKER_METRICS_ADDR", "127.0.0.1:9091", "Address the worker serves its Prometheus metrics on (`GET /metrics`: the Temporal SDK's and referflow's own, see docs/operations.md); `off` serves none. The default answers only on this host: in a container set `:9091`. Each worker process needs its own port."},
	{"REFERFLOW_PUBLIC_URL", "http://localhost:8080 (from the HTTP port)", "Externally visible base URL, used in referral links and to rebuild the URL HubSpot signed when referflow runs behind a proxy. Absolute http(s) URL without query or fragment."},
	{"REFERFLOW_ENCRYPTION_KEY", "(none; `dev` generates one into `.data/`)", "Key for HubSpot tokens at rest: base64 of 32 random bytes (`openssl rand -base64 32`). Several keys separated by commas rotate: the first encrypts, all decrypt. Required by `api` and `worker`."},
	{"REFERFLOW_LOG_LEVEL", "info", "Log level: debug, info, warn or error. Logs are JSON lines on standard error."},
	{"REFERFLOW_WORKFLOW_CACHE_SIZE", "10000", "How many running workflows a worker process keeps in memory (Temporal's sticky cache, about 45 KiB each). Smaller saves memory; a workflow that is not cached is rebuilt from its history when it wakes. See docs/benchmarks.md (10,000 idle referral workflows)."},
	{"REFERFLOW_WEBHOOK_ALLOW_HTTP", "false (`dev`: true)", "Accept plain `http` fulfilment webhook URLs besides `https`: `true` or `false`. `dev` sets it (its receivers are local). See docs/operations.md (webhooks to internal services)."},
	{"REFERFLOW_WEBHOOK_ALLOWED_NETWORKS", "(none; `dev`: 127.0.0.0/8,::1)", "Internal addresses fulfilment webhooks may reach, comma-separated: networks (`10.20.0.0/16`, `fd00::/8`), addresses (`10.20.0.5`, `::1`) and host names trusted whatever they resolve to (`fulfilment.internal`). Everything else that is loopback, private, link-local (cloud metadata), unique-local, carrier-grade NAT, unspecified, multicast or reserved is refused, on save and at connect time. `dev` allows loopback."},
	{"REFERFLOW_TRUSTED_PROXIES", "(none)", "Reverse proxies or load balancers in front of the api, comma-separated networks or addresses (`10.0.0.0/8`, `192.0.2.7`): when a request comes from one of them, its `X-Forwarded-For` names the visitor. Unset, the visitor is the TCP peer and forwarded headers are ignored (anyone can send them). The public pages' rate limits and visitor hashes use this address."},
	{"REFERFLOW_SMTP_URL", "(none: no email is sent; `dev`: its mail catcher)", "SMTP server of the emails to members (welcome, referral approved, reward earned): `smtp://user:password@host:587?from=referrals%40example.com` (STARTTLS when the server offers it; the password never goes unencrypted except to this machine), `smtps://...:465?...` (TLS from the start), `&starttls=off` for a relay without TLS. `from` is the sender, an address or a URL-encoded `Name <address>`; URL-encode the user and password too. Unset: no email is sent, and `doctor` and `GET /api/v1/email/status` say so. `dev` points it at its mail catcher."},
	{"HUBSPOT_APP_ID", "(none)", "Your HubSpot app's numeric ID; webhook events of another app (another appId) are answered but not recorded."},
	{"HUBSPOT_CLIENT_ID", "(none)", "Your HubSpot app's OAuth client ID (its redirect URL must be <REFERFLOW_PUBLIC_URL>/oauth/hubspot/callback). Set together with HUBSPOT_CLIENT_SECRET. Unset: connecting HubSpot answers 503, and `dev` starts the HubSpot simulator instead."},
	{"HUBSPOT_CLIENT_SECRET", "(none)", "Your HubSpot app's client secret: OAuth and webhook signatures. Set together with HUBSPOT_CLIENT_ID."},
	{"HUBSPOT_BASE_URL", "https://api.hubapi.com", "HubSpot API base URL; `dev` and the tests point it at the HubSpot simulator."},
	{"HUBSPOT_DEVELOPER_API_KEY", "(none)", "Your HubSpot developer account's API key: `referflow hubspot-actions register` creates referflow's workflow actions for the app (HUBSPOT_APP_ID) with it. Needed by that command only."},
}

// DefaultHubSpotBaseURL is HubSpot's public API.
const DefaultHubSpotBaseURL = "https://api.hubapi.com"

// DefaultWorkflowCacheSize is the Temporal SDK's own default sticky cache.
const DefaultWorkflowCacheSize = 10_000

// DefaultWorkerMetricsAddr is where the worker serves /metrics unless told
// otherwise: this host only, so metrics are not exposed by surprise.
const DefaultWorkerMetricsAddr = "127.0.0.1:9091"

// DefaultTemporalUIURL is where the Temporal dev server serves its Web UI.
const DefaultTemporalUIURL = "http://localhost:8233"

// Config is the validated configuration.
type Config struct {
	DatabaseURL       string
	TemporalAddress   string
	TemporalNamespace string
	// TemporalUIURL is the Temporal Web UI the admin API links workflows to.
	TemporalUIURL *url.URL
	HTTPAddr      string
	// WorkerMetricsAddr is where the worker serves /metrics; empty when
	// REFERFLOW_WORKER_METRICS_ADDR is "off".
	WorkerMetricsAddr string
	PublicURL         *url.URL
	// EncryptionKeys: the first encrypts, every one decrypts (key rotation).
	EncryptionKeys [][]byte
	LogLevel       slog.Level
	// WorkflowCacheSize is the worker's sticky workflow cache (workflows
	// kept in memory between their tasks).
	WorkflowCacheSize int
	// WebhookPolicy says where fulfilment webhooks may go
	// (REFERFLOW_WEBHOOK_ALLOW_HTTP, REFERFLOW_WEBHOOK_ALLOWED_NETWORKS): the
	// api checks campaigns' URLs with it, the worker sends with it.
	WebhookPolicy outgoing.Policy
	// TrustedProxies (REFERFLOW_TRUSTED_PROXIES) may name the client in
	// X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// SMTP is REFERFLOW_SMTP_URL, the server emails to members go through;
	// nil when unset (no email is sent).
	SMTP                *email.Server
	HubSpotAppID        int64
	HubSpotClientID     string
	HubSpotClientSecret string
	HubSpotBaseURL      *url.URL
	// HubSpotDeveloperAPIKey (HUBSPOT_DEVELOPER_API_KEY) creates the app's
	// workflow action definitions (`referflow hubspot-actions register`).
	HubSpotDeveloperAPIKey string

	// TemporalAddressSet tells `dev` whether to use an existing Temporal
	// server or start its own.
	TemporalAddressSet bool
	// TemporalUIURLSet tells `dev` whether to link to the configured Web UI
	// or to the one of the dev server it starts.
	TemporalUIURLSet bool
}

// Requirement says which variables a subcommand cannot run without.
type Requirement struct {
	DatabaseURL   bool
	EncryptionKey bool
}

// Error lists every configuration problem found.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// Load reads the configuration from the process environment.
func Load(req Requirement) (*Config, error) { return LoadFrom(os.LookupEnv, req) }

// LoadFrom reads the configuration through lookup, so tests need not touch
// the process environment.
func LoadFrom(lookup func(string) (string, bool), req Requirement) (*Config, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	var problems []string
	fail := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}

	c := &Config{
		DatabaseURL:       get("DATABASE_URL"),
		TemporalAddress:   get("TEMPORAL_ADDRESS"),
		TemporalNamespace: get("TEMPORAL_NAMESPACE"),
		HTTPAddr:          get("REFERFLOW_HTTP_ADDR"),
		HubSpotClientID:   get("HUBSPOT_CLIENT_ID"),
		// The secret is not trimmed: it is used byte for byte in signatures.
		HubSpotClientSecret: func() string { v, _ := lookup("HUBSPOT_CLIENT_SECRET"); return v }(),
	}

	if c.DatabaseURL == "" {
		if req.DatabaseURL {
			fail("DATABASE_URL", "is required (e.g. postgres://user:password@host:5432/referflow)")
		}
	} else if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Never echo the value: it may hold a password.
		fail("DATABASE_URL", "must be a postgres:// or postgresql:// URL")
	}

	c.TemporalAddressSet = c.TemporalAddress != ""
	if !c.TemporalAddressSet {
		c.TemporalAddress = "localhost:7233"
	}
	if _, port, err := net.SplitHostPort(c.TemporalAddress); err != nil || !validPort(port) {
		fail("TEMPORAL_ADDRESS", "must be host:port, got %q", c.TemporalAddress)
	}
	if c.TemporalNamespace == "" {
		c.TemporalNamespace = "default"
	}

	ui := get("TEMPORAL_UI_URL")
	c.TemporalUIURLSet = ui != ""
	if !c.TemporalUIURLSet {
		ui = DefaultTemporalUIURL
	}
	if u, err := parseBaseURL(ui); err != nil {
		fail("TEMPORAL_UI_URL", "%v", err)
	} else {
		c.TemporalUIURL = u
	}

	if c.HTTPAddr == "" {
		c.HTTPAddr = ":8080"
	}
	httpPort := ""
	if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil || !validPort(port) {
		fail("REFERFLOW_HTTP_ADDR", "must be [host]:port such as :8080, got %q", c.HTTPAddr)
	} else {
		httpPort = port
	}

	c.WorkerMetricsAddr = get("REFERFLOW_WORKER_METRICS_ADDR")
	switch {
	case c.WorkerMetricsAddr == "":
		c.WorkerMetricsAddr = DefaultWorkerMetricsAddr
	case strings.EqualFold(c.WorkerMetricsAddr, "off"):
		c.WorkerMetricsAddr = ""
	default:
		if _, port, err := net.SplitHostPort(c.WorkerMetricsAddr); err != nil || !validPort(port) {
			fail("REFERFLOW_WORKER_METRICS_ADDR", "must be [host]:port such as 127.0.0.1:9091 or :9091, or off, got %q", c.WorkerMetricsAddr)
		}
	}

	public := get("REFERFLOW_PUBLIC_URL")
	if public == "" && httpPort != "" {
		public = "http://localhost:" + httpPort
	}
	if public != "" {
		u, err := parseBaseURL(public)
		if err != nil {
			fail("REFERFLOW_PUBLIC_URL", "%v", err)
		}
		c.PublicURL = u
	}

	if raw := get("REFERFLOW_ENCRYPTION_KEY"); raw != "" {
		keys, err := ParseEncryptionKeys(raw)
		if err != nil {
			fail("REFERFLOW_ENCRYPTION_KEY", "%v", err)
		}
		c.EncryptionKeys = keys
	} else if req.EncryptionKey {
		fail("REFERFLOW_ENCRYPTION_KEY", "is required: base64 of 32 random bytes, e.g. the output of `openssl rand -base64 32`")
	}

	switch lvl := strings.ToLower(get("REFERFLOW_LOG_LEVEL")); lvl {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		fail("REFERFLOW_LOG_LEVEL", "must be debug, info, warn or error, got %q", lvl)
	}

	c.WorkflowCacheSize = DefaultWorkflowCacheSize
	if raw := get("REFERFLOW_WORKFLOW_CACHE_SIZE"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 1_000_000 {
			fail("REFERFLOW_WORKFLOW_CACHE_SIZE", "must be a whole number of workflows from 1 to 1000000, got %q", raw)
		}
		c.WorkflowCacheSize = n
	}
	if raw := get("REFERFLOW_TRUSTED_PROXIES"); raw != "" {
		proxies, err := ParseNetworks(raw)
		if err != nil {
			fail("REFERFLOW_TRUSTED_PROXIES", "%v", err)
		}
		c.TrustedProxies = proxies
	}
	if raw := get("REFERFLOW_WEBHOOK_ALLOW_HTTP"); raw != "" {
		allow, err := strconv.ParseBool(raw)
		if err != nil {
			fail("REFERFLOW_WEBHOOK_ALLOW_HTTP", "must be true or false, got %q", raw)
		}
		c.WebhookPolicy.AllowHTTP = allow
	}
	if raw := get("REFERFLOW_WEBHOOK_ALLOWED_NETWORKS"); raw != "" {
		networks, hosts, err := outgoing.ParseAllowList(raw)
		if err != nil {
			fail("REFERFLOW_WEBHOOK_ALLOWED_NETWORKS", "%v", err)
		}
		c.WebhookPolicy.AllowedNetworks, c.WebhookPolicy.AllowedHosts = networks, hosts
	}
	if raw := get("REFERFLOW_SMTP_URL"); raw != "" {
		server, err := email.ParseServerURL(raw)
		if err != nil {
			fail("REFERFLOW_SMTP_URL", "%v", err)
		}
		c.SMTP = server
	}
	c.HubSpotDeveloperAPIKey = get("HUBSPOT_DEVELOPER_API_KEY")
	if raw := get("HUBSPOT_APP_ID"); raw != "" {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || id <= 0 {
			fail("HUBSPOT_APP_ID", "must be a positive whole number (your app's ID in HubSpot), got %q", raw)
		}
		c.HubSpotAppID = id
	}
	if (c.HubSpotClientID == "") != (c.HubSpotClientSecret == "") {
		if c.HubSpotClientID == "" {
			fail("HUBSPOT_CLIENT_ID", "must be set when HUBSPOT_CLIENT_SECRET is set")
		} else {
			fail("HUBSPOT_CLIENT_SECRET", "must be set when HUBSPOT_CLIENT_ID is set")
		}
	}

	base := get("HUBSPOT_BASE_URL")
	if base == "" {
		base = DefaultHubSpotBaseURL
	}
	if u, err := parseBaseURL(base); err != nil {
		fail("HUBSPOT_BASE_URL", "%v", err)
	} else {
		c.HubSpotBaseURL = u
	}

	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return c, nil
}

// HubSpotAppConfigured tells whether real HubSpot app credentials are set;
// `dev` starts the HubSpot simulator when they are not.
func (c *Config) HubSpotAppConfigured() bool { return c.HubSpotClientID != "" }

// ParseEncryptionKeys decodes a comma-separated list of base64 32-byte keys.
func ParseEncryptionKeys(raw string) ([][]byte, error) {
	var keys [][]byte
	for i, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		key, err := base64.StdEncoding.DecodeString(part)
		if err != nil {
			key, err = base64.RawStdEncoding.DecodeString(part)
		}
		if err != nil {
			return nil, fmt.Errorf("key %d is not valid base64", i+1)
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("key %d is %d bytes long; AES-256 needs exactly 32 (generate one with `openssl rand -base64 32`)", i+1, len(key))
		}
		keys = append(keys, key)
	}
	return keys, nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("is not a URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("must start with http:// or https://, got %q", raw)
	case u.Host == "":
		return nil, fmt.Errorf("has no host, got %q", raw)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("must not have a query or fragment, got %q", raw)
	case u.User != nil:
		return nil, errors.New("must not contain credentials")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n < 65536
}

// AllowLoopbackWebhooks lets fulfilment webhooks go over plain http to this
// machine, as `referflow dev` does for its local receivers: what an operator
// gets with REFERFLOW_WEBHOOK_ALLOW_HTTP=true and
// REFERFLOW_WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8,::1.
func (c *Config) AllowLoopbackWebhooks() {
	c.WebhookPolicy.AllowHTTP = true
	networks, _, _ := outgoing.ParseAllowList(LoopbackNetworks)
	c.WebhookPolicy.AllowedNetworks = append(c.WebhookPolicy.AllowedNetworks, networks...)
}

// LoopbackNetworks is the REFERFLOW_WEBHOOK_ALLOWED_NETWORKS value naming
// this machine.
const LoopbackNetworks = "127.0.0.0/8,::1"

// ParseNetworks reads a comma-separated list of networks (10.0.0.0/8) and
// addresses (192.0.2.7, a network of one).
func ParseNetworks(raw string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a network (10.0.0.0/8) nor an address (192.0.2.7)", part)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
