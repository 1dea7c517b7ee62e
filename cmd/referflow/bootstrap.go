package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/api"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/db/migrate"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/config"
	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/personaldata"
	"github.com/referflow/referflow/internal/temporalclient"
	"github.com/referflow/referflow/internal/tokencrypt"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// shutdownTimeout bounds how long requests in flight get after a stop signal.
const shutdownTimeout = 15 * time.Second

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if cfg != nil {
		level = cfg.LogLevel
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// openPool connects to Postgres and checks that it answers. Errors never
// carry the URL: it may hold a password.
func openPool(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: cannot be parsed as a PostgreSQL URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s:%d (DATABASE_URL): %w", pcfg.ConnConfig.Host, pcfg.ConnConfig.Port, err)
	}
	return pool, nil
}

// connectTemporal dials Temporal and registers referflow's search
// attributes, so no workflow ever upserts an unknown one. The SDK's metrics
// go to metrics (nil: none; the worker's client gives its own). Personal
// data in payloads is sealed with keys (nil: a process that starts no
// workflow with personal data, referflow referrals resume).
func connectTemporal(ctx context.Context, cfg *config.Config, keys *personaldata.Keyring, logger *slog.Logger, metrics client.MetricsHandler) (client.Client, error) {
	var dc converter.DataConverter
	if keys != nil {
		dc = personaldata.DataConverter(keys)
	}
	c, err := temporalclient.Dial(ctx, cfg.TemporalAddress, cfg.TemporalNamespace, logger, metrics, dc)
	if err != nil {
		return nil, err
	}
	if err := temporalclient.RegisterSearchAttributes(ctx, c, cfg.TemporalNamespace, workflows.SearchAttributes); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// newKeyring holds the per-person keys of personal data in Temporal's
// histories, in Postgres, sealed with REFERFLOW_ENCRYPTION_KEY.
func newKeyring(cfg *config.Config, pool *pgxpool.Pool) (*personaldata.Keyring, error) {
	box, err := tokencrypt.New(cfg.EncryptionKeys)
	if err != nil {
		return nil, err
	}
	return personaldata.NewKeyring(pool, box), nil
}

// newHubSpotManager builds the HubSpot connection manager from the
// configuration: HubSpot's API (or the simulator) at HUBSPOT_BASE_URL, the
// app's OAuth credentials when set, tokens sealed with
// REFERFLOW_ENCRYPTION_KEY, its calls counted in metrics (nil: not counted;
// the worker's, which makes the calls). api and worker share nothing but the
// database.
func newHubSpotManager(cfg *config.Config, pool *pgxpool.Pool, logger *slog.Logger, metrics *hubspot.Metrics) (*hubspotconn.Manager, error) {
	box, err := tokencrypt.New(cfg.EncryptionKeys)
	if err != nil {
		return nil, err
	}
	return hubspotconn.New(pool, hubspotconn.Options{
		BaseURL:      cfg.HubSpotBaseURL,
		ClientID:     cfg.HubSpotClientID,
		ClientSecret: cfg.HubSpotClientSecret,
		PublicURL:    cfg.PublicURL,
		Box:          box,
		Logger:       logger,
		Metrics:      metrics,
		// A reset portal's records are gone and their IDs may be reused:
		// the referrals forget what they held.
		OnPortalReset: activities.ForgetPortalObjects,
	})
}

// serveAPI runs the HTTP server until ctx ends.
func serveAPI(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool, tc client.Client, hs *hubspotconn.Manager, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("REFERFLOW_HTTP_ADDR: listen on %s: %w", cfg.HTTPAddr, err)
	}
	srv := api.New(api.Deps{
		Pool:      pool,
		Temporal:  tc,
		Logger:    logger,
		Auth:      &adminauth.Authenticator{Queries: db.New(pool), Sessions: adminauth.NewSessions(cfg.EncryptionKeys[0])},
		PublicURL: cfg.PublicURL,
		HubSpot:   hs,
		// HubSpot signs webhook deliveries with the app's client secret.
		WebhookSecret: cfg.HubSpotClientSecret,
		HubSpotAppID:  cfg.HubSpotAppID,

		TemporalUIURL:     cfg.TemporalUIURL.String(),
		TemporalNamespace: cfg.TemporalNamespace,
		WebhookPolicy:     cfg.WebhookPolicy,
		EncryptionKey:     cfg.EncryptionKeys[0],
		TrustedProxies:    cfg.TrustedProxies,
		SMTP:              cfg.SMTP,
	})
	if !hs.Configured() {
		logger.Warn("HubSpot app credentials are not set (HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET): connecting HubSpot is unavailable")
	}
	logger.Info("http server listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL.String())
	return srv.Serve(ctx, ln, shutdownTimeout)
}

// runWorkers runs the Temporal workers, and the Sales Receiver's dispatcher
// that feeds recorded HubSpot events to them, until ctx ends; it serves
// metrics on REFERFLOW_WORKER_METRICS_ADDR unless that is off. tc and hs
// report into metrics (see worker.Metrics).
func runWorkers(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool, tc client.Client, keys *personaldata.Keyring, hs *hubspotconn.Manager, logger *slog.Logger, metrics *worker.Metrics) error {
	opts := worker.Options{HubSpot: hs, PublicURL: cfg.PublicURL.String(), WebhookPolicy: cfg.WebhookPolicy, Logger: logger, Metrics: metrics,
		Email: email.NewSender(cfg.SMTP, cfg.PublicURL.Hostname()), EncryptionKey: cfg.EncryptionKeys[0], PersonalData: keys}
	if cfg.SMTP == nil {
		logger.Info("no SMTP server is configured (REFERFLOW_SMTP_URL): no email is sent to members")
	} else {
		logger.Info("emails to members go through SMTP", "smtp", cfg.SMTP.String(), "from", cfg.SMTP.From.Address)
	}
	if cfg.WorkerMetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.WorkerMetricsAddr)
		if err != nil {
			return fmt.Errorf("REFERFLOW_WORKER_METRICS_ADDR: listen on %s: %w (each worker process on a host needs its own port; off serves none)", cfg.WorkerMetricsAddr, err)
		}
		opts.MetricsListener = ln
	}
	// Process-wide, and only before the first worker starts.
	sdkworker.SetStickyWorkflowCacheSize(cfg.WorkflowCacheSize)
	return worker.Run(ctx, tc, pool, opts)
}

// process is what `api` and `worker` share: configuration, logger, a
// database pool on a migrated schema, a Temporal client with the search
// attributes registered, and the HubSpot connection manager.
type process struct {
	cfg      *config.Config
	logger   *slog.Logger
	pool     *pgxpool.Pool
	keys     *personaldata.Keyring
	temporal client.Client
	hubspot  *hubspotconn.Manager
}

// startProcess prepares a production process, refusing to start on an
// invalid configuration or an unmigrated database. A worker passes its
// metrics, which its Temporal client and HubSpot manager report into.
func startProcess(ctx context.Context, out streams, metrics *worker.Metrics) (*process, error) {
	cfg, err := config.Load(config.Requirement{DatabaseURL: true, EncryptionKey: true})
	if err != nil {
		return nil, err
	}
	p := &process{cfg: cfg, logger: newLogger(cfg, out.stderr)}
	if p.pool, err = openPool(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	if err := requireMigrated(ctx, p.pool); err != nil {
		p.close()
		return nil, err
	}
	var temporalMetrics client.MetricsHandler
	var hubspotMetrics *hubspot.Metrics
	if metrics != nil {
		temporalMetrics, hubspotMetrics = metrics.Temporal, metrics.HubSpot
	}
	if p.keys, err = newKeyring(cfg, p.pool); err != nil {
		p.close()
		return nil, err
	}
	if p.temporal, err = connectTemporal(ctx, cfg, p.keys, p.logger, temporalMetrics); err != nil {
		p.close()
		return nil, err
	}
	if p.hubspot, err = newHubSpotManager(cfg, p.pool, p.logger, hubspotMetrics); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *process) close() {
	if p.temporal != nil {
		p.temporal.Close()
	}
	if p.pool != nil {
		p.pool.Close()
	}
}

// requireMigrated stops `api` and `worker` from running against a database
// whose schema is older than the code: a clear message beats SQL errors on
// the first request.
func requireMigrated(ctx context.Context, pool *pgxpool.Pool) error {
	states, err := migrate.Status(ctx, pool)
	if err != nil {
		return err
	}
	var pending []string
	for _, s := range states {
		if !s.Applied {
			pending = append(pending, fmt.Sprintf("%04d_%s", s.Version, s.Name))
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("the database has %d pending migration(s) %v: run `referflow migrate` first", len(pending), pending)
	}
	return nil
}
