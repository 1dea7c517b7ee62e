// Package api is referflow's HTTP surface: health and metrics for operators
// now, and the admin API, webhooks and hosted pages as later capabilities
// land. Handlers validate at the edge and answer every client mistake with a
// 4xx and a JSON error body that says what is wrong.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/memberaccess"
	"github.com/referflow/referflow/internal/opsmetrics"
	"github.com/referflow/referflow/internal/outgoing"
	"github.com/referflow/referflow/workflows"
)

// MaxBodyBytes caps request bodies. HubSpot sends at most 100 events a
// request, well under this; anything larger is refused with 413 before it is
// read into memory. The admin API's bodies are capped lower
// (MaxAdminBodyBytes).
const MaxBodyBytes = 2 << 20

// Deps is what the HTTP server needs from the rest of the process.
type Deps struct {
	Pool     *pgxpool.Pool
	Temporal client.Client
	Logger   *slog.Logger
	// Registry collects the process's Prometheus metrics; nil makes a fresh one.
	Registry *prometheus.Registry
	// Auth identifies admins (API keys, sessions).
	Auth *adminauth.Authenticator
	// PublicURL is REFERFLOW_PUBLIC_URL.
	PublicURL *url.URL
	// WebhookSecret is the HubSpot app's client secret
	// (HUBSPOT_CLIENT_SECRET) that signs HubSpot's webhook deliveries; empty
	// answers POST /webhooks/hubspot with 503.
	WebhookSecret string
	// HubSpotAppID is HUBSPOT_APP_ID: when set, webhook events another app
	// sent (another appId) are not recorded.
	HubSpotAppID int64
	// HubSpot manages workspaces' HubSpot connections; nil answers the
	// HubSpot endpoints with 503.
	HubSpot *hubspotconn.Manager
	// TaskQueue and HubSpotTaskQueue are where workflows the API starts and
	// their HubSpot activities run (default: the production queues).
	TaskQueue        string
	HubSpotTaskQueue string
	// HubSpotSetupWait is how long the OAuth callback waits for the property
	// setup before showing the connection (default 5 s).
	HubSpotSetupWait time.Duration
	// TemporalUIURL (TEMPORAL_UI_URL) and TemporalNamespace make the links
	// from referrals, sales entries and review entries to their workflow's
	// page in the Temporal Web UI (defaults: the dev server's UI, "default").
	TemporalUIURL     string
	TemporalNamespace string
	// WebhookPolicy checks campaigns' fulfilment URLs when they are saved,
	// as the worker does before sending (REFERFLOW_WEBHOOK_ALLOW_HTTP,
	// REFERFLOW_WEBHOOK_ALLOWED_NETWORKS); the zero value allows https to
	// public addresses only.
	WebhookPolicy outgoing.Policy
	// EncryptionKey is the first REFERFLOW_ENCRYPTION_KEY: the key of the
	// visitor hash kept with clicks on referral links is derived from it (nil:
	// a random key, hashes then differ between restarts).
	EncryptionKey []byte
	// ClickBuffer tunes how clicks on referral links are buffered and
	// written in batches (zero: the defaults).
	ClickBuffer ClickBuffer
	// ReferralLinkCacheTTL is how long a referral link's lookup is reused
	// (default 1 s; negative: never), so a pause or a new landing URL shows
	// on the links within it.
	ReferralLinkCacheTTL time.Duration
	// PublicLimits tunes the public pages' rate limits (zero: the defaults).
	PublicLimits PublicLimits
	// SMTP is REFERFLOW_SMTP_URL: emails to members go through it; nil
	// when unset (invites are refused, the email status says so).
	SMTP *email.Server
	// TrustedProxies are the reverse proxies (REFERFLOW_TRUSTED_PROXIES)
	// whose X-Forwarded-For names the client; without them the client is the
	// TCP peer, and forwarded headers, which anyone can send, are ignored.
	TrustedProxies []netip.Prefix
}

// Server is the HTTP server.
type Server struct {
	echo *echo.Echo
	deps Deps
	// clicks buffers clicks on referral links; clickKey keys their visitor
	// hash; linkCache keeps the links' lookups for a second.
	clicks    *clickRecorder
	clickKey  []byte
	linkCache linkCache
	// guard is the public pages' door: rate limits and CSRF key.
	guard *publicGuard
	// access signs members' access links to their portal; unsubscriber
	// reads the unsubscribe links of emails to members.
	access       *memberaccess.Signer
	unsubscriber *email.Unsubscriber
	// portal caches the connected portals' properties, pipelines and lists.
	portal portalCache
	// adminNav is the admin UI's nav: the pages registered (admin_pages.go).
	adminNav []adminNavItem
}

// New builds the server with its middleware and routes.
func New(deps Deps) *Server {
	if deps.Registry == nil {
		deps.Registry = NewRegistry()
	}
	if deps.TaskQueue == "" {
		deps.TaskQueue = workflows.TaskQueue
	}
	if deps.HubSpotTaskQueue == "" {
		deps.HubSpotTaskQueue = workflows.HubSpotTaskQueue
	}
	if deps.HubSpotSetupWait == 0 {
		deps.HubSpotSetupWait = 5 * time.Second
	}
	if deps.TemporalUIURL == "" {
		deps.TemporalUIURL = "http://localhost:8233"
	}
	if deps.TemporalNamespace == "" {
		deps.TemporalNamespace = "default"
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.Server.ReadHeaderTimeout = 10 * time.Second
	e.Server.IdleTimeout = 2 * time.Minute

	s := &Server{echo: e, deps: deps, clicks: newClickRecorder(deps.Pool, deps.Logger, deps.Registry, deps.ClickBuffer)}
	e.HTTPErrorHandler = jsonErrorHandler(deps.Logger, s.renderAdminErrorPage)
	s.linkCache.ttl = deps.ReferralLinkCacheTTL
	if s.linkCache.ttl == 0 {
		s.linkCache.ttl = time.Second
	}
	s.clickKey = deriveKey(deps.EncryptionKey, "referflow click visitor hash v1")
	s.access = memberaccess.NewSigner(deps.EncryptionKey)
	s.unsubscriber = email.NewUnsubscriber(deps.EncryptionKey)
	s.guard = newPublicGuard(deps.PublicLimits, deps.EncryptionKey, deps.PublicURL != nil && deps.PublicURL.Scheme == "https")
	e.IPExtractor = clientIP(deps.TrustedProxies)
	e.Use(
		middleware.RequestID(),
		requestLogger(deps.Logger),
		newHTTPMetrics(deps.Registry).middleware,
		recoverPanics(deps.Logger),
		// Every route but the CSV upload (MaxImportBodyBytes, its own).
		middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: fmt.Sprintf("%dB", MaxBodyBytes), Skipper: skipServerBodyLimit}),
	)
	s.routes()
	if deps.HubSpot != nil && deps.Temporal != nil {
		deps.HubSpot.OnDisconnect(s.pauseSyncsOnDisconnect)
	}
	return s
}

func (s *Server) routes() {
	s.echo.GET("/healthz", s.healthz)
	s.echo.GET("/readyz", s.readyz)
	s.echo.GET("/metrics", echo.WrapHandler(opsmetrics.Handler(s.deps.Registry)))

	s.echo.GET("/login", s.loginForm)
	s.echo.POST("/login", s.login, s.refuseCrossSite)
	s.echo.POST("/logout", s.logout, s.refuseCrossSite)
	s.echo.GET("/oauth/hubspot/connect", s.hubspotConnect, s.requireAdmin)
	s.echo.GET(hubspotconn.CallbackPath, s.hubspotCallback, s.requireAdmin)
	admin := s.echo.Group("/api/v1", s.requireAdmin, limitBody(MaxAdminBodyBytes))
	admin.GET("/me", s.me)
	admin.GET("/hubspot/status", s.hubspotStatus)
	admin.POST("/hubspot/disconnect", s.hubspotDisconnect)
	admin.POST("/hubspot/private-app-token", s.hubspotPrivateAppToken)
	admin.GET("/hubspot/properties", s.hubspotProperties)
	admin.GET("/hubspot/pipelines", s.hubspotPipelines)
	admin.GET("/hubspot/lists", s.hubspotLists)
	admin.GET("/campaigns", s.listCampaigns)
	admin.POST("/campaigns", s.createCampaign)
	admin.GET("/campaigns/example", s.getCampaignExample)
	admin.GET("/campaigns/:id", s.getCampaign)
	admin.PATCH("/campaigns/:id", s.updateCampaign)
	admin.PUT("/campaigns/:id/settings", s.replaceCampaignSettings)
	admin.POST("/campaigns/:id/publishable-key/rotate", s.rotatePublishableKey)
	admin.POST("/campaigns/:id/test-event", s.campaignTestEvent)
	admin.GET("/campaigns/:id/members", s.listMembers)
	admin.POST("/campaigns/:id/members", s.createMember)
	admin.POST("/campaigns/:id/referrals", s.createReferral)
	admin.POST("/members/:id/access-link", s.createMemberAccessLink)
	admin.GET("/referrals/:id", s.getReferral)
	admin.POST("/referrals/:id/decisions", s.decideReferral)
	admin.POST("/referrals/:id/retry", s.retryReferral)
	admin.POST("/referrals/:id/give-up", s.giveUpReferral)
	admin.POST("/referrals/:id/review", s.resolveReview)
	admin.POST("/referrals/:id/rewards/:reward_id/cancel", s.cancelReward)
	admin.POST("/referrals/:id/rewards/:reward_id/paid", s.markRewardPaid)
	s.routeReferralList(admin)
	s.routeReports(admin)
	s.routeImports(admin)
	s.routeSyncs(admin)
	s.routeOpenAPI(admin)
	s.routeSalesReceiver(admin)
	s.routeWebhookDeliveries(admin)
	s.routeAdmins(admin)
	s.routeAPIKeys(admin)
	s.routeRewards(admin)
	s.routePrivacy(admin)
	s.routeHubSpotWebhooks()
	s.routeHubSpotCard()
	s.routeHubSpotActions()
	s.routeReferralLinks()
	s.routeConversions()
	s.routeTrackingScript()
	s.routeQRCodes()
	s.routePublicCampaignPages()
	s.routeMemberPortal()
	s.routeEmailUnsubscribe()
	s.routeMemberEmails(admin)
	s.routeAdminPages()
}

// Handler exposes the server for httptest.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve answers requests on ln until ctx is cancelled, then stops accepting
// connections, gives requests in flight up to shutdownTimeout to finish, and
// writes the clicks still buffered.
func (s *Server) Serve(ctx context.Context, ln net.Listener, shutdownTimeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.echo.Server.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	defer s.clicks.close()
	if err := s.echo.Server.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("http server shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}

// queries runs sqlc queries on the server's pool.
func (s *Server) queries() *db.Queries { return db.New(s.deps.Pool) }
