package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/db/migrate"
	"github.com/referflow/referflow/internal/config"
	"github.com/referflow/referflow/internal/dev/devstack"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/temporalclient"
	"github.com/referflow/referflow/worker"
)

const devUsage = `Usage: referflow dev [flags]

Runs the whole product on this machine, without Docker:
  1. PostgreSQL: DATABASE_URL when set, else a local server that answers,
     else a private cluster under <data-dir>/postgres (installing PostgreSQL
     with apt-get when it is missing);
  2. Temporal: TEMPORAL_ADDRESS when set, else the pinned Temporal CLI's dev
     server (built into <bin-dir> once, about 3 minutes) with its state in
     <data-dir>/temporal.db and the Web UI on http://localhost:8233;
  3. HubSpot: when HUBSPOT_CLIENT_ID is not set, the HubSpot simulator on
     http://localhost:8090 (--hubspot-sim-port) with a "Demo portal", and
     referflow's OAuth app pointed at it, so "Connect HubSpot" works offline;
  4. migrations, then the worker and the HTTP server in this process.
It prints every URL and stops everything it started on Ctrl-C. A second run
reuses what the first built and keeps the data.
`

type devFlags struct {
	dataDir        string
	binDir         string
	temporalPort   int
	temporalUIPort int
	hubspotSimPort int
}

func runDev(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error {
	var f devFlags
	root := repoRootOrCwd()
	fs.StringVar(&f.dataDir, "data-dir", filepath.Join(root, ".data"), "folder for local state: private Postgres cluster, Temporal database, logs, dev encryption key")
	fs.StringVar(&f.binDir, "bin-dir", filepath.Join(root, "bin"), "folder for the pinned Temporal CLI")
	fs.IntVar(&f.temporalPort, "temporal-port", 7233, "port of the Temporal dev server's frontend (when TEMPORAL_ADDRESS is not set)")
	fs.IntVar(&f.temporalUIPort, "temporal-ui-port", 8233, "port of the Temporal Web UI (when TEMPORAL_ADDRESS is not set)")
	fs.IntVar(&f.hubspotSimPort, "hubspot-sim-port", 8090, "port of the HubSpot simulator (when HUBSPOT_CLIENT_ID is not set)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(config.Requirement{})
	if err != nil {
		return err
	}
	logger := newLogger(cfg, out.stderr)
	if err := os.MkdirAll(f.dataDir, 0o755); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	if len(cfg.EncryptionKeys) == 0 {
		key, err := devEncryptionKey(filepath.Join(f.dataDir, "encryption-key"), logger)
		if err != nil {
			return err
		}
		cfg.EncryptionKeys = [][]byte{key}
	}
	// Fulfilment receivers in development run on this machine over plain
	// http (the README's example, the chaos receiver).
	cfg.AllowLoopbackWebhooks()

	var cleanups []func(context.Context) error
	defer func() {
		// Stop in reverse order of start, with a bounded wait, even after Ctrl-C.
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := len(cleanups) - 1; i >= 0; i-- {
			if err := cleanups[i](stopCtx); err != nil {
				logger.Warn("stopping", "error", err.Error())
			}
		}
	}()

	simURL := ""
	if !cfg.HubSpotAppConfigured() {
		sim, err := startDevHubSpotSim(f.hubspotSimPort, cfg.PublicURL.JoinPath("webhooks", "hubspot").String(), logger)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, sim.stop)
		simURL = sim.url
		base, err := url.Parse(sim.url)
		if err != nil {
			return err
		}
		cfg.HubSpotBaseURL = base
		// The simulator's app credentials; the client secret also signs its
		// webhook deliveries, so the API verifies them with it.
		cfg.HubSpotClientID, cfg.HubSpotClientSecret = hubspotsim.DefaultClientID, hubspotsim.DefaultClientSecret
	}

	pg, err := devstack.EnsurePostgres(ctx, devstack.PostgresOptions{
		DatabaseURL: cfg.DatabaseURL,
		Database:    "referflow",
		DataDir:     f.dataDir,
		Install:     true,
		Logger:      logger,
	})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	cleanups = append(cleanups, pg.Stop)
	cfg.DatabaseURL = pg.URL

	uiURL := ""
	if !cfg.TemporalAddressSet {
		cli, err := devstack.EnsureTemporalCLI(ctx, f.binDir, logger)
		if err != nil {
			return fmt.Errorf("temporal CLI: %w", err)
		}
		srv, err := devstack.StartTemporalDevServer(ctx, devstack.TemporalDevServerOptions{
			CLIPath:   cli,
			Port:      f.temporalPort,
			UIPort:    f.temporalUIPort,
			DBFile:    filepath.Join(f.dataDir, "temporal.db"),
			Namespace: cfg.TemporalNamespace,
			LogFile:   filepath.Join(f.dataDir, "temporal.log"),
			Logger:    logger,
		})
		if err != nil {
			return fmt.Errorf("temporal dev server: %w", err)
		}
		cleanups = append(cleanups, srv.Stop)
		cfg.TemporalAddress = srv.Address
		uiURL = srv.UIURL
		if u, err := url.Parse(srv.UIURL); err == nil && !cfg.TemporalUIURLSet {
			cfg.TemporalUIURL = u // link to the UI of the server just started
		}
	}

	pool, err := openPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func(context.Context) error { pool.Close(); return nil })
	applied, err := migrate.Up(ctx, pool)
	if err != nil {
		return err
	}
	for _, m := range applied {
		logger.Info("migration applied", "version", m.Version, "name", m.Name)
	}
	keyFile, err := ensureDevAdmin(ctx, pool, f.dataDir, logger)
	if err != nil {
		return err
	}
	tc, err := connectTemporal(ctx, cfg, logger, nil)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func(context.Context) error { tc.Close(); return nil })
	// The worker has a client of its own, so the SDK's metrics on the
	// worker's /metrics are the worker's, as in production.
	metrics := worker.NewMetrics()
	workerTC, err := temporalclient.Dial(ctx, cfg.TemporalAddress, cfg.TemporalNamespace, logger, metrics.Temporal)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func(context.Context) error { workerTC.Close(); return nil })

	// Only the worker's activities call HubSpot's CRM: the shared manager
	// counts into the worker's metrics.
	hs, err := newHubSpotManager(cfg, pool, logger, metrics.HubSpot)
	if err != nil {
		return err
	}

	printDevURLs(out.stderr, cfg, pg, uiURL, keyFile, simURL)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, part := range []func(context.Context) error{
		func(ctx context.Context) error { return serveAPI(ctx, cfg, pool, tc, hs, logger) },
		func(ctx context.Context) error { return runWorkers(ctx, cfg, pool, workerTC, hs, logger, metrics) },
	} {
		wg.Go(func() {
			err := part(runCtx)
			stop() // one part ending ends the other
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		return err
	}
	fmt.Fprintln(out.stderr, "referflow dev: stopped")
	return nil
}

func printDevURLs(w io.Writer, cfg *config.Config, pg *devstack.Postgres, uiURL, adminKeyFile, simURL string) {
	public := cfg.PublicURL.String()
	var b strings.Builder
	fmt.Fprintln(&b, "")
	fmt.Fprintln(&b, "referflow is running. Press Ctrl-C to stop.")
	fmt.Fprintf(&b, "  API              %s\n", public)
	fmt.Fprintf(&b, "  health           %s/healthz   ready: %s/readyz\n", public, public)
	fmt.Fprintf(&b, "  metrics          %s/metrics (API)", public)
	if cfg.WorkerMetricsAddr != "" {
		fmt.Fprintf(&b, "   %s (worker)", workerMetricsURL(cfg.WorkerMetricsAddr))
	}
	fmt.Fprintln(&b)
	if adminKeyFile != "" {
		fmt.Fprintf(&b, "  admin sign-in    %s/login   (API key in %s)\n", public, adminKeyFile)
	}
	if uiURL != "" {
		fmt.Fprintf(&b, "  Temporal Web UI  %s/namespaces/%s/workflows\n", uiURL, cfg.TemporalNamespace)
	}
	fmt.Fprintf(&b, "  Temporal         %s (namespace %s)\n", cfg.TemporalAddress, cfg.TemporalNamespace)
	fmt.Fprintf(&b, "  PostgreSQL       %s (%s)\n", redactURL(pg.URL), pg.Source)
	if simURL != "" {
		fmt.Fprintf(&b, "  HubSpot (simulator) %s   (OAuth client %s; state in memory)\n", simURL, cfg.HubSpotClientID)
	} else {
		fmt.Fprintf(&b, "  HubSpot          %s (app %s)\n", cfg.HubSpotBaseURL, cfg.HubSpotClientID)
	}
	fmt.Fprintf(&b, "  connect HubSpot  %s/oauth/hubspot/connect\n", public)
	fmt.Fprintln(&b, "")
	fmt.Fprint(w, b.String())
}

// workerMetricsURL is where a browser on this machine finds the worker's
// metrics served on addr.
func workerMetricsURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/metrics"
}

// devHubSpotSim is the HubSpot simulator `dev` runs when no HubSpot app is
// configured.
type devHubSpotSim struct {
	url  string
	stop func(context.Context) error
}

// startDevHubSpotSim serves the HubSpot simulator on localhost:port with one
// portal, "Demo portal", to connect to. Its webhooks (referflow's default
// subscriptions) go to webhookURL, signed with the simulator's client secret
// (hubspotsim.DefaultClientSecret).
func startDevHubSpotSim(port int, webhookURL string, logger *slog.Logger) (*devHubSpotSim, error) {
	sim := hubspotsim.New(hubspotsim.Options{ClientSecret: hubspotsim.DefaultClientSecret})
	if len(sim.Portals()) == 0 {
		sim.CreatePortal("Demo portal")
	}
	if err := sim.SetWebhookSettings(hubspotsim.WebhookSettings{
		TargetURL: webhookURL, Subscriptions: hubspotsim.DefaultWebhookSubscriptions(),
	}); err != nil {
		return nil, fmt.Errorf("HubSpot simulator: webhooks to %s: %w", webhookURL, err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("HubSpot simulator: listen on port %d (--hubspot-sim-port): %w", port, err)
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("HubSpot simulator stopped", "error", err.Error())
		}
	}()
	base := "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	logger.Info("HubSpot simulator started (no HUBSPOT_CLIENT_ID set)", "url", base)
	return &devHubSpotSim{url: base, stop: srv.Shutdown}, nil
}

// redactURL hides a password in a connection URL before it is printed.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unprintable URL)"
	}
	return u.Redacted()
}

// devEncryptionKey reads the dev encryption key, creating it on first run so
// tokens stored in one session can be read in the next.
func devEncryptionKey(path string, logger *slog.Logger) ([]byte, error) {
	if raw, err := os.ReadFile(path); err == nil {
		keys, err := config.ParseEncryptionKeys(strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, fmt.Errorf("dev encryption key in %s: %w", path, err)
		}
		return keys[0], nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read dev encryption key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write dev encryption key: %w", err)
	}
	logger.Info("generated a development encryption key (set REFERFLOW_ENCRYPTION_KEY in production)", "file", path)
	return key, nil
}

// repoRootOrCwd is where `dev` keeps bin/ and .data/: the repository when run
// inside it, else the current folder.
func repoRootOrCwd() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	if root, err := devstack.FindRepoRoot(wd); err == nil {
		return root
	}
	return wd
}

// ensureDevAdmin gives a fresh local install a first workspace and admin, so
// the admin API and the HubSpot connect flow can be tried at once. The key is
// written to a file only the user can read, not printed or logged. It returns
// that file when it exists.
func ensureDevAdmin(ctx context.Context, pool *pgxpool.Pool, dataDir string, logger *slog.Logger) (string, error) {
	keyFile := filepath.Join(dataDir, "admin-api-key")
	n, err := db.New(pool).AdminCount(ctx)
	if err != nil {
		return "", fmt.Errorf("count admins: %w", err)
	}
	if n > 0 {
		if _, err := os.Stat(keyFile); err != nil {
			return "", nil
		}
		return keyFile, nil
	}
	admin, key, err := createAdmin(ctx, pool, "Demo workspace", "admin@localhost", "Demo admin")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write the first admin's API key: %w", err)
	}
	logger.Info("created the first admin", "admin_id", admin.ID.String(), "workspace_id", admin.WorkspaceID.String(), "api_key_file", keyFile)
	return keyFile, nil
}
