// Package outgoing sends referflow's signed webhooks (reward fulfilment and
// later announcements) and verifies them for receivers written in Go.
//
// # What a receiver gets
//
// An HTTP POST with a JSON body
//
//	{"id": "...", "type": "reward.issued", "created_at": "2026-03-01T10:00:00Z", "data": {...}}
//
// and the headers
//
//	Content-Type:        application/json
//	Referflow-Event-Id:  the event's id (the same as "id" in the body)
//	Referflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
// The signature is HMAC-SHA256, keyed with the workspace's webhook signing
// secret, over the timestamp t, a dot and the raw body, exactly as received:
// "<t>.<body>". To verify: recompute it, compare in constant time, and refuse
// a t more than 5 minutes away from your clock (a replayed request). Verify
// does all of that. Several v1 values may appear (while a secret is rotated);
// one matching is enough.
//
// # Delivery
//
// Post makes one attempt: it succeeds when the receiver answers 2xx within
// 10 seconds, and says what happened otherwise. The outbox's dispatcher
// (internal/webhookdelivery) retries with backoff, delivering the same event
// again with the same id and the same body (only t and the signature
// change), so a receiver must treat Referflow-Event-Id as an idempotency
// key: do the work for an id once and answer 2xx to its repeats. A 4xx
// answer is retried like any other failure: it usually means a bug or a
// misconfiguration on the receiving side, and once that is fixed the pending
// deliveries go through instead of being lost. Redirects are not followed (a
// 3xx is a failed delivery).
//
// Only http and https URLs are accepted. Private addresses are allowed on
// purpose: referflow is self-hosted and fulfilment services often live on the
// same network.
package outgoing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Headers of an outgoing webhook.
const (
	SignatureHeader = "Referflow-Signature"
	EventIDHeader   = "Referflow-Event-Id"
)

// Timeout bounds one delivery attempt.
const Timeout = 10 * time.Second

// Tolerance is how far a signature's timestamp may be from the receiver's
// clock.
const Tolerance = 5 * time.Minute

// Event is one announcement. ID must be stable across retries of the same
// event: receivers deduplicate on it.
type Event struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Data      any       `json:"data"`
}

// Sign returns the Referflow-Signature header value for body sent at
// timestamp: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func Sign(secret []byte, timestamp time.Time, body []byte) string {
	t := strconv.FormatInt(timestamp.Unix(), 10)
	return "t=" + t + ",v1=" + hex.EncodeToString(mac(secret, t, body))
}

func mac(secret []byte, t string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(t))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verification errors.
var (
	ErrMalformedSignature = errors.New("outgoing: Referflow-Signature is malformed")
	ErrStaleSignature     = errors.New("outgoing: Referflow-Signature timestamp is more than 5 minutes from now")
	ErrBadSignature       = errors.New("outgoing: Referflow-Signature does not match the body")
)

// Verify checks a Referflow-Signature header against the raw body as
// received, at time now: nil when one v1 signature matches and its timestamp
// is within Tolerance of now.
func Verify(secret []byte, header string, body []byte, now time.Time) error {
	var t string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformedSignature
		}
		switch k {
		case "t":
			t = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil {
				return ErrMalformedSignature
			}
			sigs = append(sigs, sig)
		}
	}
	sec, err := strconv.ParseInt(t, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrMalformedSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return ErrStaleSignature
	}
	want := mac(secret, t, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return ErrBadSignature
}

// ErrUnsupportedURL is returned for a webhook URL that is not an absolute
// http or https URL. Retrying does not help.
var ErrUnsupportedURL = errors.New("outgoing: webhook URL must be an absolute http or https URL")

// CheckURL says whether rawURL may receive webhooks.
func CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnsupportedURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%w, not %q", ErrUnsupportedURL, rawURL)
	}
	if u.User != nil {
		return fmt.Errorf("%w without credentials in it", ErrUnsupportedURL)
	}
	return nil
}

// NewClient is an HTTP client for webhooks: it does not follow redirects.
func NewClient() *http.Client {
	return &http.Client{
		Timeout: Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

var defaultClient = NewClient()
