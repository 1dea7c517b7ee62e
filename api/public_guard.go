package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/memberaccess"
)

// The door of the public pages and endpoints (hosted form, join page, member
// portal, the tracking script's conversions): everything there is hostile
// until shown otherwise. One home for what they all need:
//
//   - the visitor: a keyed hash of the IP address and user agent (never the
//     raw IP), as clicks keep it; the IP is the TCP peer's unless the request
//     came through a proxy listed in REFERFLOW_TRUSTED_PROXIES;
//   - rate limits, per visitor and per member, in memory (each api process
//     counts its own: with N processes a visitor gets up to N times the rate);
//   - CSRF tokens for the public forms, which have no session: a random
//     nonce in a cookie and, in the form, a token signing that nonce, the
//     form's path and the time it was issued — a page of another site can
//     read neither;
//   - the honeypot: a field people do not see and bots fill in.

// PublicLimits tunes the public rate limits (zero fields: the defaults).
type PublicLimits struct {
	// PerVisitor bounds the writes (form posts, conversions) one visitor
	// makes: default 10 at once, then one every 6 s (10 a minute).
	PerVisitor Rate
	// PerMember bounds the referrals one member's link brings in through the
	// public pages: default 100 at once, then one every 3 s (1,200 an hour),
	// so a leaked link cannot flood the campaign.
	PerMember Rate
}

// Rate is a token bucket: Burst requests at once, then one every Every.
type Rate struct {
	Burst int
	Every time.Duration
}

var (
	defaultPerVisitor = Rate{Burst: 10, Every: 6 * time.Second}
	defaultPerMember  = Rate{Burst: 100, Every: 3 * time.Second}
)

func (r Rate) orDefault(d Rate) Rate {
	if r.Burst <= 0 || r.Every <= 0 {
		return d
	}
	return r
}

// rateLimiter is a set of token buckets by key. Buckets that have refilled
// are dropped now and then, so memory follows the active keys.
type rateLimiter struct {
	rate Rate

	mu        sync.Mutex
	buckets   map[string]*tokenBucket
	lastSweep time.Time
}

type tokenBucket struct {
	tokens float64
	at     time.Time
}

func newRateLimiter(rate Rate) *rateLimiter {
	return &rateLimiter{rate: rate, buckets: map[string]*tokenBucket{}}
}

// allow takes a token of key's bucket. When there is none it returns false
// and how long until there is.
func (l *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	perToken := l.rate.Every.Seconds()
	if now.Sub(l.lastSweep) > time.Minute {
		full := time.Duration(float64(l.rate.Burst) * float64(l.rate.Every))
		for k, b := range l.buckets {
			if now.Sub(b.at) > full {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &tokenBucket{tokens: float64(l.rate.Burst), at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(float64(l.rate.Burst), b.tokens+now.Sub(b.at).Seconds()/perToken)
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.rate.Every))
	}
	b.tokens--
	return true, 0
}

// publicGuard holds the public pages' limits and CSRF key.
type publicGuard struct {
	perVisitor *rateLimiter
	perMember  *rateLimiter
	csrfKey    []byte
	secure     bool
}

func newPublicGuard(limits PublicLimits, encryptionKey []byte, secureCookies bool) *publicGuard {
	return &publicGuard{
		perVisitor: newRateLimiter(limits.PerVisitor.orDefault(defaultPerVisitor)),
		perMember:  newRateLimiter(limits.PerMember.orDefault(defaultPerMember)),
		csrfKey:    deriveKey(encryptionKey, "referflow public form csrf v1"),
		secure:     secureCookies,
	}
}

// deriveKey derives a key for one use from the encryption key (a random one
// when there is none: then tokens do not survive a restart).
func deriveKey(encryptionKey []byte, label string) []byte {
	return memberaccess.DeriveKey(encryptionKey, label)
}

// visitor is the keyed hash of the request's IP address and user agent.
func (s *Server) visitor(c echo.Context) []byte {
	return s.visitorHash(c.RealIP(), c.Request().UserAgent())
}

// errRateLimited is the answer of a write over its limit; the JSON endpoints
// answer it as is, the pages render it.
type rateLimitedError struct{ retryAfter time.Duration }

func (e *rateLimitedError) Error() string {
	return "too many requests: try again in " + strconv.Itoa(retryAfterSeconds(e.retryAfter)) + " seconds"
}

func retryAfterSeconds(d time.Duration) int {
	return int(math.Max(1, math.Ceil(d.Seconds())))
}

// limitVisitor takes a token of the visitor's bucket, or answers why not.
func (s *Server) limitVisitor(visitor []byte) error {
	if ok, wait := s.guard.perVisitor.allow(string(visitor), time.Now()); !ok {
		return &rateLimitedError{retryAfter: wait}
	}
	return nil
}

// limitMember takes a token of the member's bucket, or answers why not.
func (s *Server) limitMember(memberID string) error {
	if ok, wait := s.guard.perMember.allow(memberID, time.Now()); !ok {
		return &rateLimitedError{retryAfter: wait}
	}
	return nil
}

// rateLimitedAnswer is a rate limit as the JSON endpoints answer it: 429
// with Retry-After.
func rateLimitedAnswer(c echo.Context, err *rateLimitedError) error {
	c.Response().Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(err.retryAfter)))
	return NewError(http.StatusTooManyRequests, "rate_limited", err.Error())
}

// csrfCookieName holds the public forms' CSRF nonce.
const csrfCookieName = "referflow_csrf"

// CSRFField is the public forms' hidden field carrying the CSRF token.
const CSRFField = "csrf_token"

// HoneypotField is the public forms' trap: a text field hidden from people
// (and from screen readers) that bots fill in. A post with it filled is
// answered as a success, and nothing is kept.
const HoneypotField = "website"

// csrfTokenTTL is how long a public form may stay open before it is sent.
const csrfTokenTTL = 4 * time.Hour

// csrfToken is the token a public form at path carries: it sets the nonce
// cookie when the browser has none yet.
func (s *Server) csrfToken(c echo.Context, path string) string {
	nonce := ""
	if ck, err := c.Cookie(csrfCookieName); err == nil && validNonce(ck.Value) {
		nonce = ck.Value
	} else {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		nonce = hex.EncodeToString(b)
		c.SetCookie(&http.Cookie{
			Name: csrfCookieName, Value: nonce, Path: "/",
			HttpOnly: true, Secure: s.guard.secure, SameSite: http.SameSiteLaxMode,
		})
	}
	return s.signCSRF(nonce, path, time.Now())
}

func validNonce(v string) bool {
	b, err := hex.DecodeString(v)
	return err == nil && len(b) == 16
}

func (s *Server) signCSRF(nonce, path string, at time.Time) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, s.guard.csrfKey)
	m.Write([]byte(nonce + "\x00" + path + "\x00" + ts))
	return ts + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// errCSRF is a public form post without a valid token: sent from another
// site, replayed after the token's time, or without the browser's cookie.
var errCSRF = errors.New("this form has expired or did not come from this site: reload the page and send it again")

// checkCSRF verifies a public form post at path: the token in the form signs
// the nonce in the browser's cookie, this path, and a time within
// csrfTokenTTL. The browser's own Origin or Sec-Fetch-Site, when it sends
// one, must also say the post comes from referflow's pages.
func (s *Server) checkCSRF(c echo.Context, path string) error {
	if err := s.checkSameOrigin(c.Request(), false); err != nil {
		return errCSRF
	}
	ck, err := c.Cookie(csrfCookieName)
	if err != nil || !validNonce(ck.Value) {
		return errCSRF
	}
	token := c.FormValue(CSRFField)
	ts, _, ok := strings.Cut(token, ".")
	if !ok {
		return errCSRF
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errCSRF
	}
	at := time.Unix(sec, 0)
	if age := time.Since(at); age > csrfTokenTTL || age < -time.Minute {
		return errCSRF
	}
	if !hmac.Equal([]byte(token), []byte(s.signCSRF(ck.Value, path, at))) {
		return errCSRF
	}
	return nil
}

// honeypotFilled tells whether a public form post filled the trap field.
func honeypotFilled(c echo.Context) bool {
	return strings.TrimSpace(c.FormValue(HoneypotField)) != ""
}

// clientIP finds the client's address: the TCP peer, or, when the peer is
// one of the trusted proxies, the address they forwarded in
// X-Forwarded-For (the nearest one not itself a trusted proxy).
func clientIP(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(prefixNet(p)))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

func prefixNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
