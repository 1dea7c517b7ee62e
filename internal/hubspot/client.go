package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// APIVersion is the date version every path this client calls carries.
const APIVersion = "2026-03"

// DefaultTimeout bounds one HTTP request when no http.Client is given.
const DefaultTimeout = 30 * time.Second

// DefaultUserAgent identifies referflow to HubSpot.
const DefaultUserAgent = "referflow-hubspot-client"

// maxResponseBytes bounds what one response may make the client read.
const maxResponseBytes = 32 << 20

// Client calls HubSpot's CRM API for one portal. It is safe for concurrent
// use.
type Client struct {
	base      string // scheme://host[/path], no trailing slash
	configErr error
	tokens    oauth2.TokenSource
	http      *http.Client
	userAgent string
	limiter   RateLimiter
	portalID  int64
	clock     Clock
	zone      *time.Location // the account's time zone, nil when unknown
	metrics   *Metrics
}

// Option configures a Client.
type Option func(*options)

type options struct {
	httpClient *http.Client
	timeout    time.Duration
	userAgent  string
	limiter    RateLimiter
	portalID   int64
	clock      Clock
	zone       *time.Location
	metrics    *Metrics
}

// WithHTTPClient makes the client send its requests through hc (for a proxy
// or custom transport). Its Timeout is kept unless WithTimeout is also given.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) { o.httpClient = hc }
}

// WithTimeout bounds each HTTP request (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithUserAgent sets the User-Agent header (default DefaultUserAgent).
func WithUserAgent(ua string) Option {
	return func(o *options) { o.userAgent = ua }
}

// WithLimiter makes every request wait on l for portalID first. Share one
// RateLimiter between all clients of a process so that every client of one
// portal draws from the same budget; a shared one (hubspotconn.SharedLimiter)
// also counts other processes' calls. A nil l means no limiter.
func WithLimiter(l RateLimiter, portalID int64) Option {
	if in, ok := l.(*Limiter); ok && in == nil {
		l = nil // a nil *Limiter in the interface would not compare equal to nil
	}
	return func(o *options) { o.limiter, o.portalID = l, portalID }
}

// WithClock replaces the wall clock the client uses to work out rate-limit
// waits (tests use a fake one).
func WithClock(c Clock) Option {
	return func(o *options) { o.clock = c }
}

// WithTimeZone gives the client the account's time zone (Account.Location),
// so that a DAILY 429 waits until the account's midnight, when HubSpot
// resets the daily count (see RateLimitError.RetryAfter). A nil loc means
// unknown.
func WithTimeZone(loc *time.Location) Option {
	return func(o *options) { o.zone = loc }
}

// New builds a client for the API at baseURL (HubSpot's API host in
// production, the simulator's address in development and tests) that
// authenticates every request with a token from tokens. A base URL that is
// not http(s)://host[/path] makes every call fail with an error wrapping
// ErrInvalidRequest: configuration is validated where it is read.
func New(baseURL string, tokens oauth2.TokenSource, opts ...Option) *Client {
	o := options{timeout: -1, userAgent: DefaultUserAgent}
	for _, opt := range opts {
		opt(&o)
	}
	hc := o.httpClient
	switch {
	case hc == nil:
		hc = &http.Client{Timeout: DefaultTimeout}
		if o.timeout >= 0 {
			hc.Timeout = o.timeout
		}
	case o.timeout >= 0:
		copied := *hc
		copied.Timeout = o.timeout
		hc = &copied
	}
	if o.clock == nil {
		o.clock = realClock{}
	}
	c := &Client{
		tokens:    tokens,
		http:      hc,
		userAgent: o.userAgent,
		limiter:   o.limiter,
		portalID:  o.portalID,
		clock:     o.clock,
		zone:      o.zone,
		metrics:   o.metrics,
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	switch {
	case err != nil:
		c.configErr = fmt.Errorf("%w: base URL: %v", ErrInvalidRequest, err)
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		c.configErr = fmt.Errorf("%w: base URL %q: want http(s)://host", ErrInvalidRequest, baseURL)
	case tokens == nil:
		c.configErr = fmt.Errorf("%w: no token source", ErrInvalidRequest)
	default:
		u.RawQuery, u.Fragment = "", ""
		c.base = u.String()
	}
	return c
}

// callKind says which of HubSpot's limits a request counts against.
type callKind int

const (
	generalCall callKind = iota
	searchCall
)

// request is one HTTP call to HubSpot.
type request struct {
	method string
	path   string // already escaped where it holds IDs
	query  url.Values
	body   any
	kind   callKind
}

// do sends r and decodes a 2xx answer into out (when out is not nil). Any
// other answer becomes a typed error.
func (c *Client) do(ctx context.Context, r request, out any) error {
	if c.configErr != nil {
		return fmt.Errorf("hubspot: %s %s: %w", r.method, r.path, c.configErr)
	}
	if c.limiter != nil {
		start := time.Now()
		err := c.limiter.Wait(ctx, c.portalID, r.kind == searchCall)
		c.metrics.waited(r.kind == searchCall, time.Since(start))
		if err != nil {
			c.metrics.called(OutcomeNotSent)
			return fmt.Errorf("hubspot: %s %s: waiting for the rate limiter: %w", r.method, r.path, err)
		}
	}
	target := c.base + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("hubspot: %s %s: encoding the request: %w", r.method, r.path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return fmt.Errorf("hubspot: %s %s: %w", r.method, r.path, err)
	}
	tok, err := c.tokens.Token()
	if err != nil {
		c.metrics.called(OutcomeNotSent)
		return &TokenError{Err: err}
	}
	tok.SetAuthHeader(req)
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", c.userAgent)

	resp, err := c.http.Do(req)
	if err != nil {
		outcome := OutcomeTransportError
		if errors.Is(err, ErrConnectionBroken) {
			// hubspotconn's transport turned HubSpot's 401 into a broken
			// connection.
			outcome = OutcomeUnauthorized
		}
		c.metrics.called(outcome)
		return &TransportError{Method: r.method, Path: r.path, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		c.metrics.called(OutcomeTransportError)
		return &TransportError{Method: r.method, Path: r.path, Err: fmt.Errorf("reading the response: %w", err)}
	}
	c.metrics.called(statusOutcome(resp.StatusCode))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := c.decodeError(r, resp, data)
		c.holdOff(ctx, err)
		return err
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("hubspot: %s %s: decoding the %d response: %w", r.method, r.path, resp.StatusCode, err)
	}
	return nil
}

// holdOff tells a HoldingLimiter of a 429, so that the portal's other calls
// wait HubSpot's wait too. A limiter that cannot take it (the database
// unreachable) changes nothing: the 429 is returned either way.
func (c *Client) holdOff(ctx context.Context, err error) {
	var rl *RateLimitError
	h, ok := c.limiter.(HoldingLimiter)
	if !ok || !errors.As(err, &rl) || rl.RetryAfter <= 0 {
		return
	}
	_ = h.HoldOff(ctx, c.portalID, rl.Policy == PolicySecondly, rl.RetryAfter)
}

// objectsPath is the path of an object type's collection, plus any escaped
// segments after it.
func objectsPath(t ObjectType, segments ...string) string {
	return "/crm/objects/" + APIVersion + "/" + url.PathEscape(string(t)) + joinSegments(segments)
}

func joinSegments(segments []string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// Clock is the time source of the Limiter and of rate-limit waits. Tests
// give a fake one so that waiting out 10-second windows takes no real time.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done, whichever comes first, and returns
	// ctx's error in the second case.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// flexString decodes a JSON string or number into a string: HubSpot sends
// most IDs as strings, a few (v4 association targets, list IDs in older
// answers) as numbers.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*f = ""
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number, got %s", b)
	}
	*f = flexString(n.String())
	return nil
}

// paging is HubSpot's cursor block: {"next":{"after":"..."}}.
type paging struct {
	Next *struct {
		After flexString `json:"after"`
	} `json:"next"`
}

func (p *paging) after() string {
	if p == nil || p.Next == nil {
		return ""
	}
	return string(p.Next.After)
}
