// Package hubspotsim is a HubSpot stand-in as strict as HubSpot: portals with
// contacts, deals and companies, properties, the default deal pipeline,
// associations, lists, search, GDPR deletion of contacts (gdpr.go: with its
// contact.privacyDeletion and contact.deletion webhooks), OAuth and
// private-app tokens, rate limits and
// HubSpot's error bodies, served on both the date-versioned 2026-03 paths and
// the legacy /crm/v3, /crm/v4 and /oauth/v1 paths that HubSpot's official Node
// client still calls. Tests use it in-process (New + Handler behind an
// httptest.Server); `referflow hubspot-sim` serves it on a port for the local
// demo.
//
// Every fact it enforces comes from HubSpot's documented behaviour — its
// developer documentation (webhooks, signatures and their test vectors,
// OAuth, rate limits, CRM endpoints, error shapes) and its official clients;
// where HubSpot's sources disagree it takes the stricter side. A simulator kinder than HubSpot hides
// bugs.
//
// # Misbehaviour modes
//
// A portal can be switched into the ways HubSpot lets an integration down,
// each answered as HubSpot documents it (modes.go):
//
//	rate_limit      every CRM call 429, policyName TEN_SECONDLY_ROLLING, X-HubSpot-RateLimit-Remaining: 0
//	daily_limit     every CRM call 429, policyName DAILY, until midnight in the portal's time zone
//	server_errors   500/502/503/504 with HubSpot's body for the next N calls or for a while;
//	                after_write carries the call out first (the object exists, the answer is lost)
//	slow_answers    the call is carried out at once, its answer sent a delay later
//	                (both can spare reads: writes_only)
//	revoked_tokens  OAuth tokens issued so far refused: 401 INVALID_AUTHENTICATION on calls,
//	                invalid_grant / BAD_REFRESH_TOKEN on refresh; a new consent works again;
//	                access_only refuses every access token, even fresh ones, while refresh answers
//	journal_outage  the webhooks journal's reads of the portal answer 503 (journal.go)
//
// Switch them with SetMode and ClearMode, through the control API under
// /portals/{portalId}/modes (modes_api.go), on the CRM page, or with
// `referflow hubspot-sim --mode`. ResetPortal empties a portal as a fresh
// one (object IDs start again, so stored IDs may come to name other
// records) and revokes its tokens. Calls lists every CRM call a portal saw,
// whatever it was answered, for tests that count what a client sends.
package hubspotsim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"
	"time"
	_ "time/tzdata" // portals' time zones load without the machine's zone files
)

// Options configure a Simulator. The zero value is HubSpot's defaults.
type Options struct {
	// AppID is the public app's ID, reported by token introspection and in
	// change events made through OAuth tokens. Default 1.
	AppID int64
	// ClientID and ClientSecret are the OAuth app credentials the authorize
	// page and the token endpoints accept. Defaults "referflow-dev-client" and
	// "referflow-dev-secret".
	ClientID     string
	ClientSecret string
	// RateLimitPerTenSeconds is the per-portal limit of CRM requests in any
	// rolling 10 seconds (policy TEN_SECONDLY_ROLLING). 0 means 110 (a public
	// OAuth app); negative means unlimited.
	RateLimitPerTenSeconds int
	// SearchPerSecond is the per-portal limit of search requests in any
	// rolling second. 0 means 5; negative means unlimited.
	SearchPerSecond int
	// DailyLimit is the per-portal limit of CRM requests per day (UTC, policy
	// DAILY). 0 means 250,000; negative means unlimited.
	DailyLimit int
	// SearchLag is how long a newly written object (or a new version of one)
	// stays invisible to search. Default 0.
	SearchLag time.Duration
	// AccessTokenTTL is the lifetime of OAuth access tokens; expires_in
	// reflects it. Default 30 minutes.
	AccessTokenTTL time.Duration
	// TimeZone is the time zone of the portals created (HubSpot resets an
	// account's daily limit at midnight in the account's time zone, and
	// reports the zone through its account details). Default
	// America/New_York, HubSpot's own: a simulator on UTC would hide a
	// client that guesses midnight UTC.
	TimeZone *time.Location
	// Now is the clock. Default time.Now. Tests move it forward to slide rate
	// windows, expire tokens and let search lag pass. Webhook events'
	// occurredAt comes from it; delivery timing (batch window, timeouts,
	// retry backoff) and the X-HubSpot-Request-Timestamp of deliveries use
	// the wall clock, as a receiver checks them against its own.
	Now func() time.Time
	// DeveloperAPIKey authenticates the webhooks settings API
	// (/webhooks/v3/{appId}/...), as ?hapikey= or a bearer token, like a
	// HubSpot developer account's API key. Default "referflow-dev-hapikey".
	DeveloperAPIKey string
	// Actions configure executions of custom workflow actions
	// (ExecuteAction: timeout and retries).
	Actions ActionOptions
	// Webhooks configure webhook delivery (batching, timeout, retries and
	// chaos switches); the target URL and subscriptions are set with
	// SetWebhookSettings, Subscribe or the webhooks API.
	Webhooks WebhookOptions
}

// Default OAuth app credentials of the simulator.
const (
	DefaultClientID     = "referflow-dev-client"
	DefaultClientSecret = "referflow-dev-secret"
	// DefaultDeveloperAPIKey authenticates the webhooks settings API.
	DefaultDeveloperAPIKey = "referflow-dev-hapikey"
)

// Simulator is a set of HubSpot portals and one OAuth app. All methods are
// safe for concurrent use.
type Simulator struct {
	opts Options

	mu           sync.Mutex
	portals      map[int64]*Portal
	portalOrder  []int64
	nextPortalID int64
	accessTokens map[string]*accessToken
	refreshToks  map[string]*refreshToken
	authCodes    map[string]*authCode
	privateToks  map[string]*Portal
	changeSeq    int64
	changeLog    []Change
	pending      []Change // changes made under mu, dispatched after unlock

	hookMu  sync.Mutex
	hooks   map[int]func(Change)
	hookSeq int

	wh *webhooks // webhook settings and delivery (webhooks.go)
	jn *journal  // the webhooks journal (journal.go), guarded by mu

	cards cardState // app cards' hubspot.fetch (cards.go)
	// act is the custom workflow actions' definitions and executions
	// (actions.go), guarded by mu.
	act *actionsState
}

// Portal is one HubSpot account ("hub"). Its exported fields never change
// after creation; everything else is reached through the Simulator.
type Portal struct {
	ID              int64
	Name            string
	PrivateAppToken string
	TimeZone        *time.Location

	objects     map[string]*objectStore // by object type: contacts, deals, companies
	props       map[string]map[string]*property
	groups      map[string][]*propertyGroup
	pipelines   []*pipeline
	assocs      map[assocEdge]map[int]bool
	labels      map[int]*assocType // the portal's association labels (association_labels.go)
	nextLabelID int
	lists       map[int64]*list
	nextListID  int64
	nextPipeID  int64
	limits      limiter
	failNext    []int
	requests    int
	calls       []Call           // the CRM calls seen, oldest first (calls.go)
	modes       map[string]*Mode // misbehaviour modes by kind (modes.go)
	tokenEpoch  int              // OAuth tokens carry the epoch they were issued in (ModeRevokedTokens)
	blocked     map[string]bool  // emails a GDPR deletion blocklisted (gdpr.go)
}

// New returns a simulator with no portals; add them with CreatePortal.
// Webhook delivery starts goroutines only while events are pending; Close
// stops them.
func New(opts Options) *Simulator {
	if opts.AppID == 0 {
		opts.AppID = 1
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.RateLimitPerTenSeconds == 0 {
		opts.RateLimitPerTenSeconds = 110
	}
	if opts.SearchPerSecond == 0 {
		opts.SearchPerSecond = 5
	}
	if opts.DailyLimit == 0 {
		opts.DailyLimit = 250000
	}
	if opts.AccessTokenTTL == 0 {
		opts.AccessTokenTTL = 30 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TimeZone == nil {
		opts.TimeZone = defaultTimeZone()
	}
	if opts.DeveloperAPIKey == "" {
		opts.DeveloperAPIKey = DefaultDeveloperAPIKey
	}
	opts.Webhooks.fill()
	opts.Actions.fill()
	s := &Simulator{
		opts:         opts,
		portals:      map[int64]*Portal{},
		nextPortalID: 100001,
		accessTokens: map[string]*accessToken{},
		refreshToks:  map[string]*refreshToken{},
		authCodes:    map[string]*authCode{},
		privateToks:  map[string]*Portal{},
		hooks:        map[int]func(Change){},
		jn:           newJournal(),
		act:          newActionsState(),
	}
	s.wh = newWebhooks(opts.AppID, opts.ClientSecret, opts.Webhooks)
	s.OnChange(s.wh.onChange)
	return s
}

// Options returns the options in force, defaults filled in.
func (s *Simulator) Options() Options { return s.opts }

func (s *Simulator) now() time.Time { return s.opts.Now().UTC() }

// CreatePortal adds a portal with HubSpot's default properties, property
// groups and deal pipeline, and its own private-app token (which has every
// scope). Portal IDs are deterministic: 100001, 100002, ...
func (s *Simulator) CreatePortal(name string) *Portal {
	return s.CreatePortalWithToken(name, "")
}

// CreatePortalWithToken is CreatePortal with a fixed private-app token
// (generated when empty). It panics if the token is already in use.
func (s *Simulator) CreatePortalWithToken(name, privateAppToken string) *Portal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createPortalLocked(name, privateAppToken)
}

// RotatePrivateAppToken replaces a portal's private-app token, as an admin
// rotating it in HubSpot's private app settings with "expire now" does: the
// old token is answered 401 like any unknown token from then on. It returns
// the new token, false when the portal does not exist.
func (s *Simulator) RotatePrivateAppToken(portalID int64) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.portals[portalID]
	if p == nil {
		return "", false
	}
	delete(s.privateToks, p.PrivateAppToken)
	p.PrivateAppToken = "pat-na1-" + randomUUIDish()
	s.privateToks[p.PrivateAppToken] = p
	return p.PrivateAppToken, true
}

func (s *Simulator) createPortalLocked(name, token string) *Portal {
	if token == "" {
		token = "pat-na1-" + randomUUIDish()
	}
	if _, dup := s.privateToks[token]; dup {
		panic("hubspotsim: private-app token already in use")
	}
	id := s.nextPortalID
	s.nextPortalID++
	if name == "" {
		name = fmt.Sprintf("Portal %d", id)
	}
	p := &Portal{ID: id, Name: name, PrivateAppToken: token, TimeZone: s.opts.TimeZone}
	s.resetDataLocked(p)
	s.portals[id] = p
	s.portalOrder = append(s.portalOrder, id)
	s.privateToks[token] = p
	return p
}

// resetDataLocked gives a portal the CRM data of a fresh one: no records,
// associations or lists, HubSpot's default properties, groups and deal
// pipeline, and object IDs from the first a new portal hands out. The caller
// holds s.mu.
func (s *Simulator) resetDataLocked(p *Portal) {
	p.objects = map[string]*objectStore{}
	p.assocs = map[assocEdge]map[int]bool{}
	p.labels, p.nextLabelID = map[int]*assocType{}, firstUserLabelID
	p.lists = map[int64]*list{}
	p.nextListID, p.nextPipeID = 1, 1000001
	for i, t := range objectTypes {
		p.objects[t] = &objectStore{byID: map[int64]*object{}, nextID: int64(i+1)*1000000 + 1}
	}
	now := s.now()
	p.props, p.groups = defaultProperties(now)
	p.pipelines = []*pipeline{defaultDealPipeline(now)}
}

// defaultTimeZone is HubSpot's home zone; the zone database is embedded
// (time/tzdata), so it loads on any machine.
func defaultTimeZone() *time.Location {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		return time.FixedZone("EST", -5*3600)
	}
	return loc
}

// Portal returns the portal with that ID, or nil.
func (s *Simulator) Portal(portalID int64) *Portal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.portals[portalID]
}

// Portals returns every portal in creation order.
func (s *Simulator) Portals() []*Portal {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Portal, 0, len(s.portalOrder))
	for _, id := range s.portalOrder {
		out = append(out, s.portals[id])
	}
	return out
}

// FailNext makes the next n CRM calls of the portal answer status with
// HubSpot's error body for it (500, 502, 503, 504, or 429 with the
// TEN_SECONDLY_ROLLING body), after authentication and rate limiting. The
// failed calls count against the limits, as they would at HubSpot.
func (s *Simulator) FailNext(portalID int64, status int, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.portals[portalID]
	if p == nil {
		return
	}
	for range n {
		p.failNext = append(p.failNext, status)
	}
}

// Requests returns how many CRM requests of the portal counted against its
// limits (every authenticated CRM request that was not itself refused with a
// 429 by the limiter).
func (s *Simulator) Requests(portalID int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.portals[portalID]; p != nil {
		return p.requests
	}
	return 0
}

// ResetRateLimits forgets the portal's request history (rolling windows and
// the daily count), as if a day had passed in quiet.
func (s *Simulator) ResetRateLimits(portalID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.portals[portalID]; p != nil {
		p.limits = limiter{}
	}
}

// locked runs fn under the simulator's lock, then hands the changes fn made
// to the subscribers, outside the lock.
func (s *Simulator) locked(fn func()) {
	s.mu.Lock()
	fn()
	s.journalSyncLocked()
	changes := s.pending
	s.pending = nil
	s.mu.Unlock()
	s.dispatch(changes)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func randomUUIDish() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// hsTime formats a time as HubSpot does in JSON: UTC with milliseconds.
func hsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func sortedKeys[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
