package hubspotsim

// Webhook delivery as HubSpot does it: app-level settings (target URL,
// signing secret, subscriptions by type and property), events made from
// every Change that matches a subscription, batched over a short window into
// POSTs of at most 100 events, at most MaxConcurrentRequests (10) requests in
// flight per portal, signed v1 and v3, retried with randomised exponential
// backoff on any non-2xx answer, connection failure or timeout, and — when
// asked — delivered twice or out of order, as HubSpot warns it may.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/referflow/referflow/internal/hubspot/signature"
)

// WebhookOptions configure webhook delivery. The zero value is HubSpot's
// behaviour with no chaos.
type WebhookOptions struct {
	// BatchWindow is how long events are collected before they are sent:
	// HubSpot batches near-simultaneous events into one request. Default
	// 100 ms.
	BatchWindow time.Duration
	// Timeout is how long a delivery may take before it counts as failed
	// and is retried (HubSpot: 5 seconds). Default 5 s.
	Timeout time.Duration
	// MaxRetries is how many times a failed delivery is retried after the
	// first attempt (HubSpot: 10), so a batch is attempted at most
	// MaxRetries+1 times, with attemptNumber 0 to MaxRetries. 0 means 10;
	// negative means never retry.
	MaxRetries int
	// RetryBase scales the backoff: retry n waits RetryBase·2^(n-1), times a
	// random factor in [0.5, 1.5). The default, 84 s, spreads 10 retries over
	// about 24 hours as HubSpot does; tests set a millisecond or less.
	RetryBase time.Duration
	// DuplicateRate is the probability that an event is delivered twice (the
	// copy has the same eventId and lands in the same or a later batch).
	DuplicateRate float64
	// Shuffle delivers events out of order: each flush is shuffled, split
	// into batches of random sizes, and each batch held back by a random
	// delay of up to BatchWindow.
	Shuffle bool
	// EventIDCollisionRate is the probability that an event reuses the
	// previous event's eventId (HubSpot: eventId is "not guaranteed to be
	// unique"). Event IDs are also counted per portal, so two portals
	// always share IDs.
	EventIDCollisionRate float64
	// Seed seeds the random source of backoff jitter and the chaos
	// switches; 0 picks a random seed. The same seed makes the same choices,
	// though concurrent deliveries may still interleave differently.
	Seed int64
	// Client sends the deliveries. Default: a client of its own whose idle
	// connections Close closes. Timeout applies either way.
	Client *http.Client
}

// Webhook delivery constants from HubSpot's documentation.
const (
	// MaxWebhookBatch is the most events HubSpot puts in one request.
	MaxWebhookBatch = 100
	// DefaultMaxConcurrentRequests is HubSpot's limit of requests in flight
	// per installing account.
	DefaultMaxConcurrentRequests = 10
	defaultWebhookTimeout        = 5 * time.Second
	defaultWebhookMaxRetries     = 10
	defaultRetryBase             = 84 * time.Second // 84 s × (2^10 − 1) ≈ 24 h
	defaultBatchWindow           = 100 * time.Millisecond
)

func (o *WebhookOptions) fill() {
	if o.BatchWindow <= 0 {
		o.BatchWindow = defaultBatchWindow
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultWebhookTimeout
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = defaultWebhookMaxRetries
	}
	if o.RetryBase <= 0 {
		o.RetryBase = defaultRetryBase
	}
}

// WebhookSettings are the app's webhook settings (HubSpot configures
// webhooks per app; every portal that installed the app — here, every
// portal — delivers to the same target).
type WebhookSettings struct {
	// TargetURL receives the POSTs; empty means webhooks are not set up and
	// no events are made. It is also the URL the v3 signature covers.
	TargetURL string
	// ClientSecret signs deliveries; empty means the app's
	// Options.ClientSecret.
	ClientSecret string
	// MaxConcurrentRequests is the most deliveries in flight per portal
	// (HubSpot's throttling.maxConcurrentRequests). 0 means 10.
	MaxConcurrentRequests int
	// Paused stops making events (an inactive app-level switch; the
	// opposite of "active"). Events already queued are still delivered.
	Paused bool
	// Subscriptions say which changes become events.
	Subscriptions []WebhookSubscription
	// CreatedAt and UpdatedAt are set by the simulator.
	CreatedAt, UpdatedAt time.Time
}

// WebhookSubscription is one event subscription: an event type such as
// "contact.creation" or "deal.propertyChange" (the latter naming one
// property).
type WebhookSubscription struct {
	// ID is assigned by the simulator (ascending from 1); it is the events'
	// subscriptionId.
	ID           int64
	EventType    string
	PropertyName string
	// Paused makes no events for this subscription (HubSpot's "active":
	// false).
	Paused bool
	// CreatedAt and UpdatedAt are set by the simulator.
	CreatedAt, UpdatedAt time.Time
}

// WebhookEvent is one event as HubSpot sends it, in a JSON array.
type WebhookEvent struct {
	EventID          int64  `json:"eventId"`
	SubscriptionID   int64  `json:"subscriptionId"`
	PortalID         int64  `json:"portalId"`
	AppID            int64  `json:"appId"`
	OccurredAt       int64  `json:"occurredAt"`
	SubscriptionType string `json:"subscriptionType"`
	AttemptNumber    int    `json:"attemptNumber"`
	ObjectID         int64  `json:"objectId"`
	// Property changes (propertyValue is "" when the value was cleared).
	PropertyName  string  `json:"propertyName,omitempty"`
	PropertyValue *string `json:"propertyValue,omitempty"`
	ChangeSource  string  `json:"changeSource"`
	SourceID      string  `json:"sourceId,omitempty"`
	// ChangeFlag is "NEW" on creations.
	ChangeFlag string `json:"changeFlag,omitempty"`
	// Merges.
	PrimaryObjectID int64   `json:"primaryObjectId,omitempty"`
	MergedObjectIDs []int64 `json:"mergedObjectIds,omitempty"`
	NewObjectID     int64   `json:"newObjectId,omitempty"`
	// Association changes.
	AssociationType      string `json:"associationType,omitempty"`
	FromObjectID         int64  `json:"fromObjectId,omitempty"`
	ToObjectID           int64  `json:"toObjectId,omitempty"`
	AssociationRemoved   *bool  `json:"associationRemoved,omitempty"`
	IsPrimaryAssociation *bool  `json:"isPrimaryAssociation,omitempty"`
}

// Delivery is one delivery attempt: one POST of a batch.
type Delivery struct {
	PortalID int64  `json:"portal_id"`
	URL      string `json:"url"`
	// Start is when the request was sent (wall clock).
	Start time.Time `json:"start"`
	// Attempt is the events' attemptNumber: 0 first, then 1, 2...
	Attempt  int     `json:"attempt"`
	Events   int     `json:"events"`
	EventIDs []int64 `json:"event_ids"`
	// StatusCode is the answer's status, 0 when there was none.
	StatusCode int `json:"status_code"`
	// Answer is the start of the answer's body (at most 1 KiB), so a test
	// can see what the receiver said it did with the events.
	Answer string `json:"answer,omitempty"`
	// Err is why there was no answer: a connection failure or a timeout.
	Err     string        `json:"error,omitempty"`
	Latency time.Duration `json:"latency_ns"`
	// OK is a 2xx answer within the timeout.
	OK bool `json:"ok"`
	// GaveUp is set on a failed attempt that will not be retried.
	GaveUp bool `json:"gave_up,omitempty"`
}

// WebhookStats count events (a duplicate copy counts as an event where it
// is sent).
type WebhookStats struct {
	// Events made from changes (not counting duplicate copies).
	Events int `json:"events"`
	// Duplicates is how many extra copies DuplicateRate added.
	Duplicates int `json:"duplicates"`
	// Requests is the number of delivery attempts made.
	Requests int `json:"requests"`
	// Delivered counts events in successful attempts.
	Delivered int `json:"delivered"`
	// Failed counts events in failed attempts (each attempt again).
	Failed int `json:"failed"`
	// GaveUp counts events abandoned after their last retry failed.
	GaveUp int `json:"gave_up"`
	// Dropped counts events discarded because the target URL was removed.
	Dropped int `json:"dropped"`
	// Pending counts events queued, waiting for a retry, or in flight.
	Pending int `json:"pending"`
}

// ErrSimulatorClosed is returned by WaitIdle once Close has been called
// while events were still pending.
var ErrSimulatorClosed = errors.New("hubspotsim: simulator closed")

// queued is an event waiting to be sent.
type queued struct {
	ev  WebhookEvent
	dup bool // a duplicate copy: never duplicated again
}

type whBatch struct {
	portalID int64
	events   []WebhookEvent
	attempt  int
}

// whPortal is one portal's delivery state.
type whPortal struct {
	fresh      []queued // collected in the current batch window
	flushArmed bool
	ready      []*whBatch // waiting for a free request slot
	waiting    int        // events in batches held back (retry backoff, shuffle delay)
	inFlight   int        // requests
	inFlightEv int        // events in those requests
	lastID     int64
	// open are the batches made and not yet delivered or given up on
	// (ready, held back or in flight): what SaveState keeps for the next
	// start.
	open map[*whBatch]struct{}
}

func (p *whPortal) pending() int {
	n := len(p.fresh) + p.waiting + p.inFlightEv
	for _, b := range p.ready {
		n += len(b.events)
	}
	return n
}

// webhooks is the simulator's webhook settings and delivery machinery.
type webhooks struct {
	appID         int64
	defaultSecret string
	opts          WebhookOptions
	client        *http.Client
	ownTransport  *http.Transport

	mu         sync.Mutex
	settings   WebhookSettings
	nextSubID  int64
	rng        *rand.Rand
	portals    map[int64]*whPortal
	deliveries []Delivery
	stats      WebhookStats
	timers     map[*time.Timer]struct{}
	closed     bool
	idle       chan struct{} // closed and replaced whenever the state changes

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // delivery goroutines and armed timers
}

func newWebhooks(appID int64, secret string, opts WebhookOptions) *webhooks {
	opts.fill()
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Int64()
	}
	w := &webhooks{
		appID: appID, defaultSecret: secret, opts: opts,
		nextSubID: 1,
		rng:       rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15)),
		portals:   map[int64]*whPortal{},
		timers:    map[*time.Timer]struct{}{},
		idle:      make(chan struct{}),
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.client = opts.Client
	if w.client == nil {
		w.ownTransport = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 2 * DefaultMaxConcurrentRequests,
			IdleConnTimeout:     30 * time.Second,
		}
		w.client = &http.Client{Transport: w.ownTransport}
	}
	return w
}

// changedLocked wakes WaitIdle callers to look again.
func (w *webhooks) changedLocked() {
	close(w.idle)
	w.idle = make(chan struct{})
}

func (w *webhooks) portal(id int64) *whPortal {
	p := w.portals[id]
	if p == nil {
		p = &whPortal{open: map[*whBatch]struct{}{}}
		w.portals[id] = p
	}
	return p
}

// afterLocked runs fn under w.mu after d, unless Close comes first.
func (w *webhooks) afterLocked(d time.Duration, fn func()) {
	w.wg.Add(1)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		defer w.wg.Done()
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.timers, t)
		if w.closed {
			return
		}
		fn()
		w.changedLocked()
	})
	w.timers[t] = struct{}{}
}

// Settings.

// eventTypes are the subscription types the simulator makes events for.
var eventTypes = func() map[string]bool {
	m := map[string]bool{}
	for _, o := range []string{"contact", "company", "deal"} {
		for _, k := range []ChangeKind{ChangeCreation, ChangePropertyChange, ChangeDeletion, ChangeMerge, ChangeAssociationChange} {
			m[o+"."+string(k)] = true
		}
	}
	m["contact."+string(ChangePrivacyDeletion)] = true // classic webhooks only, contacts only
	return m
}()

// unsubscribable are properties HubSpot refuses property-change
// subscriptions for.
var unsubscribable = map[string]bool{"hs_lastmodifieddate": true, "lastmodifieddate": true}

func checkSubscription(eventType, propertyName string) *apiError {
	if !eventTypes[eventType] {
		return validationErr(fmt.Sprintf("%q is not a supported eventType: use contact.*, company.* or deal.* with creation, propertyChange, deletion, merge or associationChange, or contact.privacyDeletion", eventType))
	}
	isProp := eventType == "contact.propertyChange" || eventType == "company.propertyChange" || eventType == "deal.propertyChange"
	switch {
	case isProp && propertyName == "":
		return validationErr(eventType + " subscriptions need a propertyName")
	case !isProp && propertyName != "":
		return validationErr("propertyName is only allowed on propertyChange subscriptions, not " + eventType)
	case unsubscribable[propertyName]:
		return validationErr(fmt.Sprintf("property %q cannot be subscribed to", propertyName))
	}
	return nil
}

func checkTargetURL(raw string) *apiError {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return validationErr(fmt.Sprintf("targetUrl must be an absolute http(s) URL, got %q", raw))
	}
	return nil
}

func conflictSubscription(eventType, propertyName string, id int64) *apiError {
	what := eventType
	if propertyName != "" {
		what += " " + propertyName
	}
	return newErr(http.StatusConflict, "CONFLICT", fmt.Sprintf("A subscription for %s already exists (ID %d)", what, id))
}

func (w *webhooks) findSubLocked(eventType, propertyName string) *WebhookSubscription {
	for i := range w.settings.Subscriptions {
		s := &w.settings.Subscriptions[i]
		if s.EventType == eventType && s.PropertyName == propertyName {
			return s
		}
	}
	return nil
}

// SetWebhookSettings replaces the app's webhook settings and subscriptions.
// Subscriptions without an ID get one; an empty TargetURL turns webhooks
// off. It refuses (with an *APIError) an invalid URL, an unknown event type,
// a propertyChange without a property (or another type with one), and two
// subscriptions to the same thing.
func (s *Simulator) SetWebhookSettings(ws WebhookSettings) error {
	w := s.wh
	if ws.TargetURL != "" {
		if e := checkTargetURL(ws.TargetURL); e != nil {
			return goErr(e)
		}
	}
	if ws.MaxConcurrentRequests < 0 {
		return goErr(validationErr("maxConcurrentRequests must be positive"))
	}
	now := s.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[string]int64{}
	subs := make([]WebhookSubscription, 0, len(ws.Subscriptions))
	next := w.nextSubID
	for _, sub := range ws.Subscriptions {
		if e := checkSubscription(sub.EventType, sub.PropertyName); e != nil {
			return goErr(e)
		}
		key := sub.EventType + "\x00" + sub.PropertyName
		if id, dup := seen[key]; dup {
			return goErr(conflictSubscription(sub.EventType, sub.PropertyName, id))
		}
		if sub.ID == 0 {
			sub.ID = next
			next++
		} else if sub.ID >= next {
			next = sub.ID + 1
		}
		seen[key] = sub.ID
		if sub.CreatedAt.IsZero() {
			sub.CreatedAt = now
		}
		sub.UpdatedAt = now
		subs = append(subs, sub)
	}
	w.nextSubID = next
	created := w.settings.CreatedAt
	if created.IsZero() {
		created = now
	}
	ws.Subscriptions = subs
	ws.CreatedAt, ws.UpdatedAt = created, now
	w.settings = ws
	w.changedLocked()
	return nil
}

// WebhookSettings returns the app's webhook settings, defaults filled in.
func (s *Simulator) WebhookSettings() WebhookSettings {
	w := s.wh
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.settingsLocked()
}

func (w *webhooks) settingsLocked() WebhookSettings {
	ws := w.settings
	ws.Subscriptions = slices.Clone(ws.Subscriptions)
	if ws.ClientSecret == "" {
		ws.ClientSecret = w.defaultSecret
	}
	if ws.MaxConcurrentRequests == 0 {
		ws.MaxConcurrentRequests = DefaultMaxConcurrentRequests
	}
	return ws
}

// SetWebhookTarget sets the target URL (keeping subscriptions and the
// rest); "" turns webhooks off.
func (s *Simulator) SetWebhookTarget(targetURL string) error {
	if targetURL != "" {
		if e := checkTargetURL(targetURL); e != nil {
			return goErr(e)
		}
	}
	w := s.wh
	now := s.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settings.TargetURL = targetURL
	if w.settings.CreatedAt.IsZero() {
		w.settings.CreatedAt = now
	}
	w.settings.UpdatedAt = now
	w.changedLocked()
	return nil
}

// Subscribe adds an active subscription (propertyName only for
// *.propertyChange) and returns it.
func (s *Simulator) Subscribe(eventType, propertyName string) (WebhookSubscription, error) {
	return s.wh.subscribe(eventType, propertyName, true, s.now())
}

func (w *webhooks) subscribe(eventType, propertyName string, active bool, now time.Time) (WebhookSubscription, error) {
	if e := checkSubscription(eventType, propertyName); e != nil {
		return WebhookSubscription{}, goErr(e)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if old := w.findSubLocked(eventType, propertyName); old != nil {
		return WebhookSubscription{}, goErr(conflictSubscription(eventType, propertyName, old.ID))
	}
	sub := WebhookSubscription{ID: w.nextSubID, EventType: eventType, PropertyName: propertyName, Paused: !active, CreatedAt: now, UpdatedAt: now}
	w.nextSubID++
	w.settings.Subscriptions = append(w.settings.Subscriptions, sub)
	w.changedLocked()
	return sub, nil
}

// Unsubscribe deletes a subscription; false if there was none with that ID.
func (s *Simulator) Unsubscribe(id int64) bool {
	w := s.wh
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, sub := range w.settings.Subscriptions {
		if sub.ID == id {
			w.settings.Subscriptions = slices.Delete(w.settings.Subscriptions, i, i+1)
			w.changedLocked()
			return true
		}
	}
	return false
}

// DefaultWebhookSubscriptions are the subscriptions referflow works with:
// creation, deletion, merge and association changes of contacts, deals and
// companies, and property changes of the properties Referral Rock
// subscribes to (contact email, lifecyclestage, hubspot_owner_id,
// hs_lead_status; deal hs_all_owner_ids, dealstage, dealtype, amount;
// company hs_all_owner_ids, lifecyclestage, hs_lead_status, name), and
// contacts' privacy deletions.
func DefaultWebhookSubscriptions() []WebhookSubscription {
	var out []WebhookSubscription
	props := map[string][]string{
		"contact": {"email", "lifecyclestage", "hubspot_owner_id", "hs_lead_status"},
		"deal":    {"hs_all_owner_ids", "dealstage", "dealtype", "amount"},
		"company": {"hs_all_owner_ids", "lifecyclestage", "hs_lead_status", "name"},
	}
	for _, o := range []string{"contact", "deal", "company"} {
		for _, k := range []ChangeKind{ChangeCreation, ChangeDeletion, ChangeMerge, ChangeAssociationChange} {
			out = append(out, WebhookSubscription{EventType: o + "." + string(k)})
		}
		for _, p := range props[o] {
			out = append(out, WebhookSubscription{EventType: o + ".propertyChange", PropertyName: p})
		}
	}
	return append(out, WebhookSubscription{EventType: "contact." + string(ChangePrivacyDeletion)})
}

// Events.

// onChange turns a change into events for the matching subscriptions.
// Changes the app itself makes through the API are delivered too (HubSpot
// delivers them unless a subscription opts out; the simulator has no opt-out).
func (w *webhooks) onChange(c Change) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.settings.TargetURL == "" || w.settings.Paused {
		return
	}
	st := c.SubscriptionType()
	for _, sub := range w.settings.Subscriptions {
		if sub.Paused || sub.EventType != st {
			continue
		}
		if c.Kind == ChangePropertyChange && sub.PropertyName != c.PropertyName {
			continue
		}
		w.enqueueLocked(c.PortalID, queued{ev: w.eventLocked(c, sub.ID)})
		w.stats.Events++
	}
}

func (w *webhooks) eventLocked(c Change, subID int64) WebhookEvent {
	p := w.portal(c.PortalID)
	if p.lastID == 0 || w.opts.EventIDCollisionRate <= 0 || w.rng.Float64() >= w.opts.EventIDCollisionRate {
		p.lastID++
	}
	ev := WebhookEvent{
		EventID: p.lastID, SubscriptionID: subID, PortalID: c.PortalID, AppID: w.appID,
		OccurredAt: c.OccurredAt.UnixMilli(), SubscriptionType: c.SubscriptionType(),
		ObjectID: c.ObjectID, ChangeSource: c.ChangeSource,
	}
	switch {
	case c.SourceAppID != 0:
		ev.SourceID = strconv.FormatInt(c.SourceAppID, 10)
	case c.ChangeSource == SourceCRMUI:
		ev.SourceID = "userId:" + strconv.FormatInt(userID(c.PortalID), 10)
	}
	switch c.Kind {
	case ChangeCreation:
		ev.ChangeFlag = "NEW"
	case ChangePropertyChange:
		v := c.PropertyValue
		ev.PropertyName, ev.PropertyValue = c.PropertyName, &v
	case ChangeMerge:
		ev.PrimaryObjectID, ev.NewObjectID = c.PrimaryObjectID, c.NewObjectID
		ev.MergedObjectIDs = slices.Clone(c.MergedObjectIDs)
	case ChangeAssociationChange:
		removed, primary := c.AssociationRemoved, assocTypeByID[c.AssociationTypeID].label == "Primary"
		ev.AssociationType, ev.FromObjectID, ev.ToObjectID = c.AssociationType, c.FromObjectID, c.ToObjectID
		ev.AssociationRemoved, ev.IsPrimaryAssociation = &removed, &primary
	}
	return ev
}

func (w *webhooks) enqueueLocked(portalID int64, q queued) {
	p := w.portal(portalID)
	p.fresh = append(p.fresh, q)
	if !p.flushArmed {
		p.flushArmed = true
		w.afterLocked(w.opts.BatchWindow, func() { w.flushLocked(portalID) })
	}
	w.changedLocked()
}

// flushLocked turns the events collected in the window into batches.
func (w *webhooks) flushLocked(portalID int64) {
	p := w.portal(portalID)
	p.flushArmed = false
	in := p.fresh
	p.fresh = nil
	evs := make([]WebhookEvent, 0, len(in))
	var later []queued
	for _, q := range in {
		evs = append(evs, q.ev)
	}
	if w.opts.DuplicateRate > 0 {
		for i := len(in) - 1; i >= 0; i-- {
			if in[i].dup || w.rng.Float64() >= w.opts.DuplicateRate {
				continue
			}
			w.stats.Duplicates++
			if w.rng.IntN(2) == 0 {
				// Same flush, somewhere after the original.
				at := i + 1 + w.rng.IntN(len(evs)-i)
				evs = slices.Insert(evs, at, in[i].ev)
			} else {
				later = append(later, queued{ev: in[i].ev, dup: true})
			}
		}
	}
	if w.opts.Shuffle {
		w.rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	}
	for len(evs) > 0 {
		n := min(len(evs), MaxWebhookBatch)
		if w.opts.Shuffle {
			n = 1 + w.rng.IntN(n)
		}
		b := &whBatch{portalID: portalID, events: slices.Clone(evs[:n])}
		p.open[b] = struct{}{}
		evs = evs[n:]
		if w.opts.Shuffle {
			p.waiting += len(b.events)
			delay := time.Duration(w.rng.Int64N(int64(w.opts.BatchWindow) + 1))
			w.afterLocked(delay, func() {
				p.waiting -= len(b.events)
				p.ready = append(p.ready, b)
				w.pumpLocked(portalID)
			})
			continue
		}
		p.ready = append(p.ready, b)
	}
	for _, q := range later {
		w.enqueueLocked(portalID, q)
	}
	w.pumpLocked(portalID)
}

// pumpLocked starts deliveries while the portal has free request slots.
func (w *webhooks) pumpLocked(portalID int64) {
	p := w.portal(portalID)
	ws := w.settingsLocked()
	for len(p.ready) > 0 && p.inFlight < ws.MaxConcurrentRequests {
		b := p.ready[0]
		p.ready = p.ready[1:]
		if ws.TargetURL == "" {
			w.stats.Dropped += len(b.events)
			delete(p.open, b)
			continue
		}
		p.inFlight++
		p.inFlightEv += len(b.events)
		w.stats.Requests++
		w.wg.Add(1)
		go w.send(b, ws.TargetURL, ws.ClientSecret)
	}
}

// send makes one delivery attempt and schedules the retry when it fails.
func (w *webhooks) send(b *whBatch, target, secret string) {
	defer w.wg.Done()
	events := slices.Clone(b.events)
	ids := make([]int64, len(events))
	for i := range events {
		events[i].AttemptNumber = b.attempt
		ids[i] = events[i].EventID
	}
	d := Delivery{PortalID: b.portalID, URL: target, Attempt: b.attempt, Events: len(events), EventIDs: ids}
	body, err := json.Marshal(events)
	if err != nil {
		d.Err = "encode: " + err.Error()
	} else {
		d.StatusCode, d.Answer, d.Err, d.Start, d.Latency = w.post(target, secret, body)
		d.OK = d.Err == "" && d.StatusCode >= 200 && d.StatusCode < 300
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.portal(b.portalID)
	p.inFlight--
	p.inFlightEv -= len(b.events)
	switch {
	case d.OK:
		w.stats.Delivered += len(events)
		delete(p.open, b)
	case w.closed:
		w.stats.Failed += len(events)
	case b.attempt < max(w.opts.MaxRetries, 0):
		w.stats.Failed += len(events)
		p.waiting += len(b.events)
		w.afterLocked(w.backoffLocked(b.attempt+1), func() {
			p.waiting -= len(b.events)
			b.attempt++
			p.ready = append(p.ready, b)
			w.pumpLocked(b.portalID)
		})
	default:
		w.stats.Failed += len(events)
		w.stats.GaveUp += len(events)
		d.GaveUp = true
		delete(p.open, b)
	}
	w.deliveries = append(w.deliveries, d)
	if !w.closed {
		w.pumpLocked(b.portalID)
	}
	w.changedLocked()
}

// backoffLocked is the wait before retry n (1-based): RetryBase·2^(n-1)
// times a random factor in [0.5, 1.5).
func (w *webhooks) backoffLocked(n int) time.Duration {
	d := float64(w.opts.RetryBase) * float64(int64(1)<<min(n-1, 30))
	return time.Duration(d * (0.5 + w.rng.Float64()))
}

// post sends one signed request: v1 over the body, v3 over method, the
// exact target URL, body and a fresh epoch-millisecond timestamp.
func (w *webhooks) post(target, secret string, body []byte) (status int, answer, errText string, start time.Time, latency time.Duration) {
	start = time.Now()
	ctx, cancel := context.WithTimeout(w.ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, "", err.Error(), start, 0
	}
	ts := strconv.FormatInt(start.UnixMilli(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "HubSpot Connect 2.0 (hubspotsim)")
	req.Header.Set(signature.HeaderV1V2, signature.V1(secret, body))
	req.Header.Set(signature.HeaderVersion, "v1")
	req.Header.Set(signature.HeaderV3, signature.V3(secret, http.MethodPost, target, body, ts))
	req.Header.Set(signature.HeaderTimestamp, ts)
	resp, err := w.client.Do(req)
	if err == nil {
		var head []byte
		head, err = io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		if err == nil {
			_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		}
		resp.Body.Close()
		status, answer = resp.StatusCode, string(head)
	}
	latency = time.Since(start)
	if err != nil {
		status = 0
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return status, "", fmt.Sprintf("timeout: no answer within %s", w.opts.Timeout), start, latency
		}
		return status, "", err.Error(), start, latency
	}
	return status, answer, "", start, latency
}

// Observability.

// Deliveries returns every delivery attempt so far, in the order they
// finished.
func (s *Simulator) Deliveries() []Delivery {
	w := s.wh
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Delivery, len(w.deliveries))
	for i, d := range w.deliveries {
		d.EventIDs = slices.Clone(d.EventIDs)
		out[i] = d
	}
	return out
}

// WebhookStats returns the delivery counters.
func (s *Simulator) WebhookStats() WebhookStats {
	w := s.wh
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.stats
	st.Pending = w.pendingLocked()
	return st
}

func (w *webhooks) pendingLocked() int {
	n := 0
	for _, p := range w.portals {
		n += p.pending()
	}
	return n
}

// WaitIdle waits until no event is collected, queued, waiting for a retry
// or in flight — including retries scheduled far ahead, so tests compress
// RetryBase. It returns ctx's error if ctx ends first, and
// ErrSimulatorClosed if Close discarded pending events.
func (s *Simulator) WaitIdle(ctx context.Context) error {
	w := s.wh
	for {
		w.mu.Lock()
		pending, closed, ch := w.pendingLocked(), w.closed, w.idle
		w.mu.Unlock()
		if pending == 0 {
			return nil
		}
		if closed {
			return ErrSimulatorClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops webhook delivery: no new events are made, scheduled batches
// and retries are discarded, requests in flight are cancelled, and Close
// returns once every delivery goroutine has ended. The API and the page
// keep working. Close is idempotent.
func (s *Simulator) Close() error {
	w := s.wh
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		for t := range w.timers {
			if t.Stop() {
				w.wg.Done()
			}
		}
		w.timers = map[*time.Timer]struct{}{}
		w.cancel()
		w.changedLocked()
	}
	w.mu.Unlock()
	w.wg.Wait()
	if w.ownTransport != nil {
		w.ownTransport.CloseIdleConnections()
	}
	return nil
}
