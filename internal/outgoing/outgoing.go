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
// # Where webhooks may go (SSRF)
//
// A fulfilment URL is typed by a workspace admin, but the request leaves from
// the worker, inside the operator's network: without a check, an admin could
// make referflow POST to the cloud's metadata service (169.254.169.254), to
// Postgres or Temporal on localhost, or to any service on the private network,
// and read the answers in failure messages. So a Policy decides:
//
//   - https only; plain http when the operator sets
//     REFERFLOW_WEBHOOK_ALLOW_HTTP (`referflow dev` does);
//   - no user name or password, no empty host, no port 0, empty or out of
//     range, no IPv6 zone, no backslash, space or control character, no
//     percent-encoded or non-ASCII host (write IDNs as xn--), no IPv4 address
//     in any form but a.b.c.d (2130706433, 0x7f000001, 0177.0.0.1 and 127.1
//     are all 127.0.0.1 to some parser);
//   - no internal address: loopback, private (RFC 1918), link-local
//     (cloud metadata), unique-local (fc00::/7), carrier-grade NAT
//     (100.64.0.0/10), unspecified, multicast, broadcast, reserved and
//     documentation blocks, Teredo, and IPv6 addresses carrying an internal
//     IPv4 one (IPv4-mapped ::ffff:127.0.0.1, IPv4-compatible, NAT64
//     64:ff9b::/96, 6to4 2002::/16) — unless the operator names the network
//     or host in REFERFLOW_WEBHOOK_ALLOWED_NETWORKS.
//
// CheckURL applies it when a campaign is saved (literal addresses and
// localhost are refused there; other names are not resolved). NewClient's
// client applies it again before each request and, after resolving the host
// name itself, on the dialer: every address the name resolves to must be
// allowed, and the connection goes to the very address checked, so DNS
// rebinding (a public answer at save, an internal one at send) cannot slip
// through. Proxies from the environment are not used, and redirects are
// not followed. A refusal is an error wrapping ErrUnsupportedURL (and
// ErrInternalAddress when it is for the address), counted as invalid_url:
// nothing is sent. A receiver's answer never appears in an error, only its
// status; Post keeps its start in the attempt's Excerpt, for the admins.
package outgoing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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

// defaultClient is the strictest policy's: https to public addresses only.
var defaultClient = NewClient(Policy{})
