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
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/db/migrate"
	"github.com/referflow/referflow/internal/config"
	"github.com/referflow/referflow/internal/dev/devstack"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspotaction"
	"github.com/referflow/referflow/internal/personaldata"
	"github.com/referflow/referflow/internal/temporalclient"
	"github.com/referflow/referflow/worker"
)

const devUsage = `Usage: referflow dev [flags]
       referflow dev reset [--data-dir DIR] [--force]

Runs the whole product on this machine, without Docker:
  1. PostgreSQL: DATABASE_URL when set, else a local server that answers,
     else a private cluster under <data-dir>/postgres (installing PostgreSQL
     with apt-get when it is missing); on those two, this checkout's own
     database, referflow_<hash of the data folder's path>, created when
     missing, so two checkouts never share data;
  2. Temporal: TEMPORAL_ADDRESS when set, else the pinned Temporal CLI's dev
     server (built into <bin-dir> once, about 3 minutes) with its state in
     <data-dir>/temporal.db and the Web UI on http://localhost:8233; the
     server dies with this process, and one left by a killed run is stopped;
  3. HubSpot: when HUBSPOT_CLIENT_ID is not set, the HubSpot simulator on
     http://localhost:8090 (--hubspot-sim-port) with a "Demo portal", and
     referflow's OAuth app pointed at it, so "Connect HubSpot" works offline;
     its state (portals, records, tokens) is kept in
     <data-dir>/hubspot-sim.json across restarts;
  4. email: when REFERFLOW_SMTP_URL is not set, a mail catcher — an SMTP
     server on 127.0.0.1:1025 (--mail-catcher-port) that keeps what it is
     sent, listed on http://localhost:8025 (--mail-catcher-ui-port) — and
     the emails to members pointed at it; none leaves this machine;
  5. migrations, then the worker and the HTTP server in this process.
It prints every URL and where the admin API key is, and stops everything it
started on Ctrl-C. A second run reuses what the first built and keeps the
data.

` + "`dev reset`" + ` starts from nothing: it drops this checkout's database (or
deletes the private cluster), stops a Temporal dev server left running on the
data folder, and deletes the data folder's keys, simulator state, Temporal
database and logs (the list is in README.md). With DATABASE_URL set it drops
that database only with --force.
`

type devFlags struct {
	dataDir        string
	binDir         string
	temporalPort   int
	temporalUIPort int
	codecPort      int
	hubspotSimPort int
	mailPort       int
	mailUIPort     int
}

func runDev(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 && args[0] == "reset" {
		return runDevReset(ctx, out, fs, args[1:])
	}
	var f devFlags
	root := repoRootOrCwd()
	fs.StringVar(&f.dataDir, "data-dir", filepath.Join(root, ".data"), "folder for local state: private Postgres cluster, Temporal database, logs, dev encryption key")
	fs.StringVar(&f.binDir, "bin-dir", filepath.Join(root, "bin"), "folder for the pinned Temporal CLI")
	fs.IntVar(&f.temporalPort, "temporal-port", 7233, "port of the Temporal dev server's frontend (when TEMPORAL_ADDRESS is not set)")
	fs.IntVar(&f.temporalUIPort, "temporal-ui-port", 8233, "port of the Temporal Web UI (when TEMPORAL_ADDRESS is not set)")
	fs.IntVar(&f.codecPort, "codec-port", 8089, "port of the personal-data codec server the Temporal Web UI decodes with (0: none)")
	fs.IntVar(&f.hubspotSimPort, "hubspot-sim-port", 8090, "port of the HubSpot simulator (when HUBSPOT_CLIENT_ID is not set)")
	fs.IntVar(&f.mailPort, "mail-catcher-port", 1025, "SMTP port of the mail catcher (when REFERFLOW_SMTP_URL is not set)")
	fs.IntVar(&f.mailUIPort, "mail-catcher-ui-port", 8025, "port of the mail catcher's page (when REFERFLOW_SMTP_URL is not set)")
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
	unlock, err := lockDataDir(f.dataDir)
	if err != nil {
		return err
	}
	defer unlock()
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

	var sim *devHubSpotSim
	if !cfg.HubSpotAppConfigured() {
		sim, err = startDevHubSpotSim(f.hubspotSimPort, cfg.PublicURL.JoinPath("webhooks", "hubspot").String(), filepath.Join(f.dataDir, devSimStateFile), logger)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, sim.stop)
		base, err := url.Parse(sim.url)
		if err != nil {
			return err
		}
		cfg.HubSpotBaseURL = base
		// The simulator's app credentials; the client secret also signs its
		// webhook deliveries, so the API verifies them with it.
		cfg.HubSpotClientID, cfg.HubSpotClientSecret = hubspotsim.DefaultClientID, hubspotsim.DefaultClientSecret
	}

	var mail *devMailCatcher
	if cfg.SMTP == nil {
		if mail, err = startDevMailCatcher(f.mailPort, f.mailUIPort, logger); err != nil {
			return err
		}
		cleanups = append(cleanups, mail.stop)
		cfg.SMTP = mail.server
	}

	database, err := devstack.CheckoutDatabase(f.dataDir)
	if err != nil {
		return err
	}
	pg, err := devstack.EnsurePostgres(ctx, devstack.PostgresOptions{
		DatabaseURL: cfg.DatabaseURL,
		Database:    database,
		DataDir:     f.dataDir,
		Install:     true,
		Logger:      logger,
	})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	cleanups = append(cleanups, pg.Stop)
	cfg.DatabaseURL = pg.URL

	var notes []string
	if pg.Source != "DATABASE_URL" {
		notes = append(notes, legacyDatabaseNote(ctx, pg.URL, database)...)
	}

	uiURL := ""
	if !cfg.TemporalAddressSet {
		cli, err := devstack.EnsureTemporalCLI(ctx, f.binDir, logger)
		if err != nil {
			return fmt.Errorf("temporal CLI: %w", err)
		}
		srv, err := devstack.StartTemporalDevServer(ctx, devstack.TemporalDevServerOptions{
			CLIPath: cli,
			Port:    f.temporalPort,
			UIPort:  f.temporalUIPort,
			// The codec server starts below, once Postgres is there; the
			// Web UI calls it only when a page shows a payload.
			CodecEndpoint: codecEndpoint(f.codecPort),
			DBFile:        filepath.Join(f.dataDir, "temporal.db"),
			Namespace:     cfg.TemporalNamespace,
			LogFile:       filepath.Join(f.dataDir, "temporal.log"),
			Logger:        logger,
		})
		if err != nil {
			return fmt.Errorf("temporal dev server: %w", err)
		}
		cleanups = append(cleanups, srv.Stop)
		notes = append(notes, temporalNotes(srv)...)
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
	adminKey, err := ensureDevAdmin(ctx, pool, cfg.DatabaseURL, f.dataDir, f.binDir, logger)
	if err != nil {
		return err
	}
	keys, err := newKeyring(cfg, pool)
	if err != nil {
		return err
	}
	if f.codecPort != 0 {
		stopCodec, err := serveDevCodec(f.codecPort, keys, f.temporalUIPort, logger)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, stopCodec)
	}
	tc, err := connectTemporal(ctx, cfg, keys, logger, nil)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func(context.Context) error { tc.Close(); return nil })
	// The worker has a client of its own, so the SDK's metrics on the
	// worker's /metrics are the worker's, as in production.
	metrics := worker.NewMetrics()
	workerTC, err := temporalclient.Dial(ctx, cfg.TemporalAddress, cfg.TemporalNamespace, logger, metrics.Temporal, personaldata.DataConverter(keys))
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

	printDevURLs(out.stderr, cfg, pg, uiURL, adminKey, sim, mail, notes)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, part := range []func(context.Context) error{
		func(ctx context.Context) error { return serveAPI(ctx, cfg, pool, tc, hs, logger) },
		func(ctx context.Context) error {
			return runWorkers(ctx, cfg, pool, workerTC, keys, hs, logger, metrics)
		},
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

func printDevURLs(w io.Writer, cfg *config.Config, pg *devstack.Postgres, uiURL string, adminKey devAdminKey, sim *devHubSpotSim, mail *devMailCatcher, notes []string) {
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
	if adminKey.exists {
		fmt.Fprintf(&b, "  admin UI         %s/admin   (sign in with the API key in %s)\n", public, adminKey.file)
	} else {
		fmt.Fprintf(&b, "  admin UI         %s/admin\n", public)
		fmt.Fprintf(&b, "  admin API key    none in %s: this database already had admins when it was\n", adminKey.file)
		fmt.Fprintln(&b, "                   made (or the file was deleted). Make an admin and key with:")
		fmt.Fprintf(&b, "                     %s\n", adminKey.createCommand)
		if adminKey.apikeyCommand != "" {
			fmt.Fprintln(&b, "                   or another key for the first admin with:")
			fmt.Fprintf(&b, "                     %s\n", adminKey.apikeyCommand)
		}
	}
	if uiURL != "" {
		fmt.Fprintf(&b, "  Temporal Web UI  %s/namespaces/%s/workflows\n", uiURL, cfg.TemporalNamespace)
	}
	fmt.Fprintf(&b, "  Temporal         %s (namespace %s)\n", cfg.TemporalAddress, cfg.TemporalNamespace)
	fmt.Fprintf(&b, "  PostgreSQL       %s (%s)\n", redactURL(pg.URL), pg.Source)
	if sim != nil {
		fmt.Fprintf(&b, "  HubSpot (simulator) %s   (OAuth client %s; state in %s)\n", sim.url, cfg.HubSpotClientID, sim.stateFile)
		fmt.Fprintf(&b, "    portal         %d %q\n", sim.portal.ID, sim.portal.Name)
		for _, pl := range sim.pipelines {
			fmt.Fprintf(&b, "    deal pipeline  %s, stages %s\n", pl.ID, strings.Join(pl.StageIDs, " "))
		}
	} else {
		fmt.Fprintf(&b, "  HubSpot          %s (app %s)\n", cfg.HubSpotBaseURL, cfg.HubSpotClientID)
	}
	fmt.Fprintf(&b, "  connect HubSpot  %s/oauth/hubspot/connect\n", public)
	switch {
	case mail != nil:
		fmt.Fprintf(&b, "  mail catcher     %s   (emails to members; SMTP on %s, nothing leaves this machine)\n", mail.pageURL, mail.server.Address())
	case cfg.SMTP != nil:
		fmt.Fprintf(&b, "  email            %s (REFERFLOW_SMTP_URL)\n", cfg.SMTP)
	}
	fmt.Fprintf(&b, "  example campaign %s/api/v1/campaigns/example (README.md, section Campaigns)\n", public)
	for _, n := range notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
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

// devSimStateFile is where, in the data folder, `dev` keeps the
// simulator's state across restarts.
const devSimStateFile = "hubspot-sim.json"

// devSimCheckpointEvery is how often `dev` writes the simulator's state
// while it runs (and once more on a clean stop).
const devSimCheckpointEvery = 2 * time.Second

// devHubSpotSim is the HubSpot simulator `dev` runs when no HubSpot app is
// configured.
type devHubSpotSim struct {
	url       string
	stateFile string
	portal    *hubspotsim.Portal
	// pipelines are the first portal's deal pipelines, whose IDs campaign
	// settings name.
	pipelines []hubspotsim.DealPipeline
	stop      func(context.Context) error
}

// startDevHubSpotSim serves the HubSpot simulator on localhost:port with one
// portal, "Demo portal", to connect to, carrying on from stateFile when an
// earlier run left one: the same portal, records, IDs and OAuth tokens, so a
// connected portal stays connected and no object ID is handed out twice
// (after a kill -9, the state of the last checkpoint, at most
// devSimCheckpointEvery old). Its
// webhooks (referflow's default subscriptions) go to webhookURL, signed with
// the simulator's client secret (hubspotsim.DefaultClientSecret). Stopping
// it writes the state back.
func startDevHubSpotSim(port int, webhookURL, stateFile string, logger *slog.Logger) (*devHubSpotSim, error) {
	sim := hubspotsim.New(hubspotsim.Options{ClientSecret: hubspotsim.DefaultClientSecret})
	restored, err := sim.LoadStateFile(stateFile)
	if err != nil {
		return nil, fmt.Errorf("HubSpot simulator: %w; delete the file (or run `referflow dev reset`) to start the simulator afresh", err)
	}
	if len(sim.Portals()) == 0 {
		sim.CreatePortal("Demo portal")
	}
	if err := sim.SetWebhookSettings(hubspotsim.WebhookSettings{
		TargetURL: webhookURL, Subscriptions: hubspotsim.DefaultWebhookSubscriptions(),
	}); err != nil {
		_ = sim.Close()
		return nil, fmt.Errorf("HubSpot simulator: webhooks to %s: %w", webhookURL, err)
	}
	// The app card's fetches may reach referflow's API (the webhooks' origin).
	sim.SetCardPermittedURLs(cardURLs("", webhookURL)...)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		_ = sim.Close()
		return nil, fmt.Errorf("HubSpot simulator: listen on port %d (--hubspot-sim-port): %w", port, err)
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("HubSpot simulator stopped", "error", err.Error())
		}
	}()
	base := "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	logger.Info("HubSpot simulator started (no HUBSPOT_CLIENT_ID set)", "url", base, "state_file", stateFile, "restored", restored)
	// referflow's workflow actions, defined for the simulator's app so its
	// workflows can run them (definitions are not kept in the state file).
	public := strings.TrimSuffix(webhookURL, "/webhooks/hubspot")
	if _, err := hubspotaction.Register(context.Background(), nil, base, sim.Options().AppID, hubspotsim.DefaultDeveloperAPIKey, public); err != nil {
		logger.Warn("HubSpot simulator: referflow's workflow actions not registered", "error", err.Error())
	}
	// A checkpoint every few seconds, so that a `dev` killed without a clean
	// stop (kill -9) loses only its last seconds of simulator state.
	checkpoints, checkpointed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(checkpointed)
		tick := time.NewTicker(devSimCheckpointEvery)
		defer tick.Stop()
		warned := false
		for {
			select {
			case <-checkpoints:
				return
			case <-tick.C:
				if err := sim.CheckpointFile(stateFile); err != nil && !warned {
					warned = true
					logger.Warn("HubSpot simulator: cannot keep its state", "file", stateFile, "error", err.Error())
				}
			}
		}
	}()
	stop := func(ctx context.Context) error {
		close(checkpoints)
		<-checkpointed
		// Nothing changes the state once requests and deliveries stopped.
		err := srv.Shutdown(ctx)
		_ = sim.Close()
		if serr := sim.SaveStateFile(stateFile); serr != nil {
			return errors.Join(err, fmt.Errorf("HubSpot simulator: keep its state: %w", serr))
		}
		return err
	}
	first := sim.Portals()[0]
	return &devHubSpotSim{url: base, stateFile: stateFile, portal: first, pipelines: sim.DealPipelines(first.ID), stop: stop}, nil
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

// devAdminKey says where the admin API key of `dev` is: in file, or, when
// the database already had admins and the file is missing, how to make one.
type devAdminKey struct {
	file   string
	exists bool
	// createCommand and apikeyCommand are ready to paste (DATABASE_URL
	// filled in) when the file is missing.
	createCommand, apikeyCommand string
}

// ensureDevAdmin gives a fresh local install a first workspace and admin, so
// the admin API and the HubSpot connect flow can be tried at once. The key is
// written to a file only the user can read, not printed or logged. When the
// database already has admins and the file is missing (a database made by
// another data folder, or a deleted file), no key can be recovered: it
// returns the commands that make one.
func ensureDevAdmin(ctx context.Context, pool *pgxpool.Pool, databaseURL, dataDir, binDir string, logger *slog.Logger) (devAdminKey, error) {
	k := devAdminKey{file: filepath.Join(dataDir, "admin-api-key")}
	q := db.New(pool)
	n, err := q.AdminCount(ctx)
	if err != nil {
		return k, fmt.Errorf("count admins: %w", err)
	}
	if n > 0 {
		if _, err := os.Stat(k.file); err == nil {
			k.exists = true
			return k, nil
		}
		bin := shellQuote(displayPath(filepath.Join(binDir, "referflow")))
		env := "DATABASE_URL=" + shellQuote(databaseURL)
		if u, err := url.Parse(databaseURL); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				// Never print a password: the shell that runs dev has it.
				env = `DATABASE_URL="$DATABASE_URL"`
			}
		}
		workspace := "Demo workspace"
		if first, err := q.AdminOldest(ctx); err == nil {
			workspace = first.WorkspaceName
			k.apikeyCommand = fmt.Sprintf("%s %s apikey create --admin %s --workspace %s", env, bin, shellQuote(first.Admin.Email), shellQuote(workspace))
		}
		k.createCommand = fmt.Sprintf("%s %s admin create --workspace %s --email you@localhost", env, bin, shellQuote(workspace))
		logger.Warn("this database has admins but the data folder has no admin API key; see the commands printed below", "api_key_file", k.file)
		return k, nil
	}
	admin, key, err := createAdmin(ctx, pool, "Demo workspace", "admin@localhost", "Demo admin")
	if err != nil {
		return k, err
	}
	if err := os.WriteFile(k.file, []byte(key+"\n"), 0o600); err != nil {
		return k, fmt.Errorf("write the first admin's API key: %w", err)
	}
	logger.Info("created the first admin", "admin_id", admin.ID.String(), "workspace_id", admin.WorkspaceID.String(), "api_key_file", k.file)
	k.exists = true
	return k, nil
}

// displayPath is path relative to the working folder when it is inside it
// (./bin/referflow), else as it is.
func displayPath(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
		return "./" + rel
	}
	return path
}

// shellQuote quotes s for a POSIX shell, so a printed command works pasted.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// lockDataDir keeps one `referflow dev` per data folder (a second would
// fight the first for its ports, files and database) and lets `dev reset`
// refuse to delete what a running one uses. The lock file names the holder.
func lockDataDir(dataDir string) (func(), error) {
	path := filepath.Join(dataDir, "dev.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock the data folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(f)
		f.Close()
		return nil, fmt.Errorf("another `referflow dev` (PID %s) is running on %s; stop it first, or give this one another --data-dir",
			strings.TrimSpace(string(holder)), dataDir)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// legacyDatabaseNote says, when the server still has the database every
// checkout shared before each got its own, how to keep using it.
func legacyDatabaseNote(ctx context.Context, serverURL, database string) []string {
	exists, err := devstack.HasDatabase(ctx, serverURL, devstack.LegacyDatabase)
	if err != nil || !exists {
		return nil
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil
	}
	u.Path = "/" + devstack.LegacyDatabase
	return []string{fmt.Sprintf("this checkout uses its own database %s; the database %s that earlier versions shared between checkouts is still on this server, untouched (to use it: DATABASE_URL=%s make dev)",
		database, devstack.LegacyDatabase, shellQuote(u.String()))}
}

// temporalNotes says what was found on the Temporal port: a server left by
// a killed run (stopped), or one this run did not start (reused).
func temporalNotes(srv *devstack.TemporalDevServer) []string {
	var notes []string
	if l := srv.Leftover; l != nil {
		notes = append(notes, fmt.Sprintf("stopped a Temporal dev server (PID %d) that an earlier run left on this data folder", l.PID))
	}
	if srv.Reused {
		who := "a process this run could not identify (see `ss -ltnp` or `lsof -i`)"
		if srv.ReusedPID > 0 {
			who = fmt.Sprintf("PID %d (%s); stop it with `kill %d`", srv.ReusedPID, srv.ReusedCommand, srv.ReusedPID)
		}
		notes = append(notes, fmt.Sprintf("Temporal on %s was already running and is reused, not started by this run: %s", srv.Address, who))
	}
	return notes
}

// loadConfigFindingDevDatabase loads the configuration of an admin command
// that needs the database (`admin create`, `apikey create`). Without
// DATABASE_URL, run in a checkout whose `referflow dev` made its database
// (on a local server, or a private cluster that runs), it uses that database
// and says so, so the first admin command a newcomer types works; with none
// found it fails as DATABASE_URL being required.
func loadConfigFindingDevDatabase(ctx context.Context, stderr io.Writer) (*config.Config, error) {
	cfg, err := config.Load(config.Requirement{DatabaseURL: true})
	if err == nil || os.Getenv("DATABASE_URL") != "" {
		return cfg, err
	}
	wd, werr := os.Getwd()
	if werr != nil {
		return nil, err
	}
	root, rerr := devstack.FindRepoRoot(wd)
	if rerr != nil {
		return nil, err
	}
	dataDir := filepath.Join(root, ".data")
	name, nerr := devstack.CheckoutDatabase(dataDir)
	if nerr != nil {
		return nil, err
	}
	pg, ferr := devstack.FindPostgres(ctx, devstack.PostgresOptions{Database: name, DataDir: dataDir})
	if ferr != nil || pg == nil {
		return nil, err
	}
	cfg, err = config.Load(config.Requirement{})
	if err != nil {
		return nil, err
	}
	cfg.DatabaseURL = pg.URL
	fmt.Fprintf(stderr, "DATABASE_URL is not set: using this checkout's dev database %s (%s)\n", name, pg.Source)
	return cfg, nil
}

// codecEndpoint is the dev codec server's URL ("" when off).
func codecEndpoint(port int) string {
	if port == 0 {
		return ""
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// serveDevCodec runs the personal-data codec server (referflow
// codec-server) on loopback for the dev Web UI.
func serveDevCodec(port int, keys *personaldata.Keyring, uiPort int, logger *slog.Logger) (func(context.Context) error, error) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("codec server: listen on 127.0.0.1:%d: %w (choose another with --codec-port, or 0 for none)", port, err)
	}
	origins := []string{fmt.Sprintf("http://localhost:%d", uiPort), fmt.Sprintf("http://127.0.0.1:%d", uiPort)}
	srv := &http.Server{Handler: personaldata.CodecServer(&personaldata.Codec{Keys: keys}, origins), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	logger.Info("codec server listening", "url", "http://"+ln.Addr().String())
	return srv.Shutdown, nil
}
