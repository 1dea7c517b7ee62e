// Package hubspotconn is the HubSpot connection of a workspace: the OAuth
// 2.0 authorization-code flow that creates it, the encrypted tokens it keeps,
// the access tokens it hands to the CRM client (refreshed ahead of expiry,
// once however many callers ask at the same moment), its health (connected,
// broken, disconnected) and disconnecting it.
//
// # The connect flow
//
// Start records a random state (only its SHA-256 is stored, with the admin
// and workspace and an expiry 10 minutes ahead) and returns HubSpot's
// authorize URL. Complete consumes the state atomically (once, by the admin
// who started it, before it expires), exchanges the code on
// /oauth/2026-03/token (client credentials in the form body), introspects the
// access token on /oauth/2026-03/token/introspect to learn the portal
// (hub_id) and scopes, reads the portal's time zone from
// /account-info/2026-03/details (best effort: HubSpot resets the portal's
// daily limit at midnight there, so Client's clients wait until then after a
// DAILY 429), refuses a portal already connected to another
// workspace (PortalTakenError, which does not name it), and stores the tokens sealed with
// tokencrypt, bound to the workspace ID. Scopes the admin did not grant are
// logged and shown in Status (MissingScopes); the connection still works for
// what the granted ones allow. When the workspace was connected to a
// different portal, that portal's refresh token is revoked afterwards (best
// effort, logged without the token).
//
// A portal can be reset (a sandbox refreshed, every record deleted): its
// records are gone and new ones may get the IDs referflow stored. When the
// workspace connects again to the same portal after referflow's properties
// were set up there, and referflow's property group is gone, the portal is
// taken as reset: OnPortalReset runs in the transaction that stores the new
// connection (the referrals forget the records they held), so no call sees
// the old IDs as the new portal's.
//
// # Tokens
//
// Token returns the stored access token until RefreshMargin before it
// expires. Then one caller per process refreshes (a per-workspace semaphore)
// while holding the connection's row lock (SELECT … FOR UPDATE), so another
// process that wants to refresh at the same moment waits and then reads the
// new token instead of refreshing again. A refresh HubSpot answers with
// invalid_grant / BAD_REFRESH_TOKEN marks the connection broken with the
// reason; from then on every token request fails at once with an error
// wrapping hubspot.ErrConnectionBroken (non-retryable for activities through
// hubspot.TemporalError) until an admin connects again. Tokens never appear
// in logs or errors.
//
// A 401 to a CRM call of Client's clients is not left to fail call after
// call while the status says connected: the token is refreshed once (one
// caller per workspace) and the call sent again; a refused refresh breaks
// the connection as above, and a 401 to the fresh token breaks it with a
// reason saying so (transport.go). Either way the call fails with a
// *BrokenError.
//
// # Rate limits
//
// Client's calls wait on a SharedLimiter by default: each portal's budgets
// (hubspot.DefaultLimits: 100 calls per 10 s, 4 searches per second) live in
// Postgres (hubspot_rate_limits) and count the calls of every process on the
// database, one atomic statement per call; see the hubspot package's
// documentation for how it combines with the HubSpot task queue's cap.
package hubspotconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/oauth2"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/tokencrypt"
)

// Scopes are the OAuth scopes referflow asks for. The contract lists the
// first seven; crm.schemas.deals.write is needed too, because referflow
// creates its properties on deals as well as contacts (HubSpot requires the
// object's schema write scope to create a property or property group on it).
var Scopes = []string{
	"crm.objects.contacts.read",
	"crm.objects.contacts.write",
	"crm.objects.deals.read",
	"crm.objects.deals.write",
	"crm.objects.companies.read",
	"crm.lists.read",
	"crm.schemas.contacts.write",
	"crm.schemas.deals.write",
	"oauth",
	// automation: completing the callbacks of referflow's workflow actions
	// in HubSpot workflows ("Wait for referral decision").
	"automation",
}

// StateTTL is how long a started connect flow may take.
const StateTTL = 10 * time.Minute

// RefreshMargin is how long before expiry an access token is refreshed
// (HubSpot's live 30 minutes).
const RefreshMargin = 5 * time.Minute

// CallbackPath is where HubSpot sends the browser back, under
// REFERFLOW_PUBLIC_URL.
const CallbackPath = "/oauth/hubspot/callback"

// TouchInterval throttles how often a successful API call is recorded as the
// connection's "last successful API call".
const TouchInterval = time.Minute

// hubSpotAPIHost is the host of HubSpot's production API; its authorize page
// lives on a different host than the API.
const hubSpotAPIHost = "api.hubapi.com"

var (
	// ErrNotConfigured: no HubSpot app credentials (HUBSPOT_CLIENT_ID/SECRET).
	ErrNotConfigured = errors.New("HubSpot is not configured: set HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET to your HubSpot app's credentials (or run `referflow dev`, which starts the HubSpot simulator)")
	// ErrNotConnected: the workspace has no active connection. It wraps
	// hubspot.ErrConnectionBroken for callers of Token, so activities stop
	// retrying: an admin must connect HubSpot first.
	ErrNotConnected = errors.New("HubSpot is not connected for this workspace")

	ErrStateUnknown    = errors.New("this connect link is unknown: start again from /oauth/hubspot/connect")
	ErrStateUsed       = errors.New("this connect link was already used: each one works once; start again from /oauth/hubspot/connect")
	ErrStateExpired    = errors.New("this connect link expired (they last 10 minutes): start again from /oauth/hubspot/connect")
	ErrStateOtherAdmin = errors.New("this connect flow was started by another admin: the admin who starts connecting HubSpot must finish it; start again from /oauth/hubspot/connect")
)

// PortalTakenError refuses a portal that is connected to another workspace.
// Its message never names that workspace (nor its ID): the admin of one
// tenant learns nothing about another. WorkspaceID is for the log.
type PortalTakenError struct {
	PortalID    int64
	WorkspaceID uuid.UUID
}

func (e *PortalTakenError) Error() string {
	return fmt.Sprintf("HubSpot portal %d is already connected to another referflow workspace; a portal can be connected to one workspace only: an admin of that workspace must disconnect it first", e.PortalID)
}

// HubSpotError is HubSpot refusing an OAuth request (a code, a token), with
// HubSpot's error code and description but never a token.
type HubSpotError struct {
	Op          string // "exchange the authorization code", "introspect the access token", ...
	StatusCode  int
	Code        string // OAuth error, e.g. invalid_grant
	Status      string // HubSpot's status, e.g. BAD_AUTH_CODE
	Description string
}

func (e *HubSpotError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HubSpot refused to %s", e.Op)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	codes := strings.Trim(strings.Join([]string{e.Code, e.Status}, " / "), " /")
	if codes != "" {
		b.WriteString(": " + codes)
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	return b.String()
}

// Options configure a Manager.
type Options struct {
	// BaseURL is HUBSPOT_BASE_URL: HubSpot's API or the simulator.
	BaseURL *url.URL
	// ClientID and ClientSecret are the HubSpot app's credentials; empty
	// means not configured (Start answers ErrNotConfigured; stored tokens
	// still work until they need a refresh).
	ClientID     string
	ClientSecret string
	// PublicURL is REFERFLOW_PUBLIC_URL; the redirect URL is under it.
	PublicURL *url.URL
	// Box seals and opens the stored tokens.
	Box *tokencrypt.Box
	// HTTPClient sends OAuth and CRM requests (default: 30 s timeout).
	HTTPClient *http.Client
	// Limits are the per-portal budgets of the default Limiter, for all
	// processes together (zero fields: hubspot.DefaultLimits).
	Limits hubspot.Limits
	// Limiter holds each portal's CRM calls (default: a SharedLimiter over
	// the pool with Limits, so every process's calls count). Tests may give
	// an in-process hubspot.Limiter.
	Limiter hubspot.RateLimiter
	// Metrics counts the CRM clients' calls (nil: not counted); the worker
	// gives one reporting to its /metrics.
	Metrics *hubspot.Metrics
	// Now is the clock (default time.Now); tests move it to expire states
	// and tokens.
	Now func() time.Time
	// Logger gets warnings (never tokens). Default: discard.
	Logger *slog.Logger
	// OnPortalReset, when set, runs when a reconnected portal turns out to
	// have been reset (the workspace's referrals forget the records they
	// held: activities.ForgetPortalObjects).
	OnPortalReset PortalResetHook
}

// DisconnectHook runs after a workspace's HubSpot connection is
// disconnected; it stops whatever works on that connection.
type DisconnectHook func(ctx context.Context, workspaceID uuid.UUID) error

// PortalResetHook runs when a workspace is connected again to its portal and
// the portal turns out to have been reset (see Complete), inside the
// transaction that stores the new connection, before any call can use it:
// q writes in that transaction. An error fails the connect.
type PortalResetHook func(ctx context.Context, q *db.Queries, workspaceID uuid.UUID, portalID int64) error

// Manager manages the HubSpot connections of all workspaces. It is safe for
// concurrent use; one per process.
type Manager struct {
	pool    *pgxpool.Pool
	q       *db.Queries
	box     *tokencrypt.Box
	baseURL string
	oauth   *oauth2.Config
	http    *http.Client
	limiter hubspot.RateLimiter
	metrics *hubspot.Metrics
	now     func() time.Time
	logger  *slog.Logger
	onReset PortalResetHook

	mu        sync.Mutex
	refreshes map[uuid.UUID]chan struct{} // one refresh at a time per workspace
	touched   map[uuid.UUID]time.Time     // last recorded successful API call
	// appTokenSource caches the app's client-credentials token (journal.go).
	appTokenSource oauth2.TokenSource

	hookMu       sync.Mutex
	onDisconnect []DisconnectHook
}

// New builds a Manager.
func New(pool *pgxpool.Pool, opts Options) (*Manager, error) {
	if opts.BaseURL == nil || opts.PublicURL == nil {
		return nil, errors.New("hubspotconn: BaseURL and PublicURL are required")
	}
	if opts.Box == nil {
		return nil, errors.New("hubspotconn: no token encryption (REFERFLOW_ENCRYPTION_KEY)")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Limiter == nil {
		opts.Limiter = NewSharedLimiter(pool, opts.Limits)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	base := strings.TrimRight(opts.BaseURL.String(), "/")
	m := &Manager{
		pool:    pool,
		q:       db.New(pool),
		box:     opts.Box,
		baseURL: base,
		http:    opts.HTTPClient,
		limiter: opts.Limiter,
		metrics: opts.Metrics,
		now:     opts.Now,
		logger:  opts.Logger,
		onReset: opts.OnPortalReset,

		refreshes: map[uuid.UUID]chan struct{}{},
		touched:   map[uuid.UUID]time.Time{},
	}
	if opts.ClientID != "" {
		m.oauth = &oauth2.Config{
			ClientID:     opts.ClientID,
			ClientSecret: opts.ClientSecret,
			Endpoint: oauth2.Endpoint{
				AuthURL:   AuthorizeURL(opts.BaseURL),
				TokenURL:  base + "/oauth/" + hubspot.APIVersion + "/token",
				AuthStyle: oauth2.AuthStyleInParams,
			},
			RedirectURL: strings.TrimRight(opts.PublicURL.String(), "/") + CallbackPath,
			Scopes:      Scopes,
		}
	}
	return m, nil
}

// AuthorizeURL is where an admin consents: HubSpot's app host for HubSpot's
// API (app.hubspot.com for api.hubapi.com, app-eu1.hubspot.com for
// api-eu1.hubapi.com), else <base>/oauth/authorize (the simulator).
func AuthorizeURL(base *url.URL) string {
	if app, ok := appHost(base); ok {
		return "https://" + app + "/oauth/authorize"
	}
	return strings.TrimRight(base.String(), "/") + "/oauth/authorize"
}

// appHost is the host of HubSpot's app (its web pages) in the data centre
// of the API at base: app.hubspot.com for api.hubapi.com, app-eu1.hubspot.com
// for api-eu1.hubapi.com. ok is false for another API (the simulator).
func appHost(base *url.URL) (host string, ok bool) {
	h := strings.ToLower(base.Hostname())
	if h == hubSpotAPIHost || (strings.HasPrefix(h, "api-") && strings.HasSuffix(h, ".hubapi.com")) {
		return "app" + strings.TrimSuffix(strings.TrimPrefix(h, "api"), ".hubapi.com") + ".hubspot.com", true
	}
	return "", false
}

// RecordURL is the page of one record of portal in HubSpot's app, in the
// data centre of the API at base (an EU portal's records are on
// app-eu1.hubspot.com); objectTypeID is HubSpot's "0-1" (contacts), "0-2"
// (companies) or "0-3" (deals). For the simulator it is the portal's page
// there, which shows its records.
func RecordURL(base *url.URL, portal int64, objectTypeID string, id int64) string {
	if app, ok := appHost(base); ok {
		return fmt.Sprintf("https://%s/contacts/%d/record/%s/%d", app, portal, objectTypeID, id)
	}
	return fmt.Sprintf("%s/portals/%d", strings.TrimRight(base.String(), "/"), portal)
}

// RecordURL is RecordURL for this manager's HubSpot API.
func (m *Manager) RecordURL(portal int64, objectTypeID string, id int64) string {
	base, err := url.Parse(m.baseURL)
	if err != nil {
		return ""
	}
	return RecordURL(base, portal, objectTypeID, id)
}

// Configured tells whether the HubSpot app's credentials are set.
func (m *Manager) Configured() bool { return m.oauth != nil }

// RedirectURL is the OAuth callback URL HubSpot must know for the app.
func (m *Manager) RedirectURL() string {
	if m.oauth == nil {
		return ""
	}
	return m.oauth.RedirectURL
}

// OnDisconnect adds a hook run after every disconnect: the API pauses the
// workspace's contact sync schedules here.
func (m *Manager) OnDisconnect(h DisconnectHook) {
	m.hookMu.Lock()
	defer m.hookMu.Unlock()
	m.onDisconnect = append(m.onDisconnect, h)
}

// oauthContext makes the oauth2 package send its requests through m.http.
func (m *Manager) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, m.http)
}

// additional binds a sealed token to its workspace (the AES-GCM additional
// data is the workspace ID), so a ciphertext copied into another workspace's
// row does not open.
func additional(workspaceID uuid.UUID) []byte { return []byte(workspaceID.String()) }
