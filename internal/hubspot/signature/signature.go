// Package signature checks that a request really comes from HubSpot, by the
// signatures HubSpot puts on webhook deliveries and on other requests it
// makes: v1 and v2 (X-HubSpot-Signature, with X-HubSpot-Signature-Version)
// and v3 (X-HubSpot-Signature-v3 with X-HubSpot-Request-Timestamp).
//
// The pitfalls others fell into are handled here once: timestamps are epoch
// milliseconds (not seconds, not floats), v3 rejects stale and future
// timestamps, the URL is rebuilt from the public base URL (a proxy in front of
// referflow changes the scheme and host the server sees) with HubSpot's
// listed characters decoded, and every comparison is constant-time.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Headers HubSpot sends.
const (
	HeaderV1V2      = "X-HubSpot-Signature"
	HeaderVersion   = "X-HubSpot-Signature-Version"
	HeaderV3        = "X-HubSpot-Signature-v3"
	HeaderTimestamp = "X-HubSpot-Request-Timestamp"
)

// MaxAge is how old a v3 timestamp may be: HubSpot's documented limit.
const MaxAge = 5 * time.Minute

// FutureTolerance is how far ahead of our clock a v3 timestamp may be, for
// clocks that differ slightly; anything later is refused as in the future.
const FutureTolerance = 5 * time.Second

// Errors a verification can end with. All of them mean "not from HubSpot" and
// should be answered 401 without touching the body.
var (
	ErrMissing   = errors.New("the request carries no HubSpot signature")
	ErrMismatch  = errors.New("the HubSpot signature does not match the request")
	ErrTimestamp = errors.New("the X-HubSpot-Request-Timestamp header is not epoch milliseconds")
	ErrStale     = errors.New("the HubSpot request timestamp is more than 5 minutes old")
	ErrFuture    = errors.New("the HubSpot request timestamp is in the future")
	ErrVersion   = errors.New("unknown X-HubSpot-Signature-Version (want v1 or v2)")
)

// V1 is the v1 signature: hex SHA-256 of the client secret followed by the body.
func V1(secret string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(secret))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// V2 is the v2 signature: hex SHA-256 of secret + method + URI + body.
func V2(secret, method, uri string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(secret + method + uri))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// V3 is the v3 signature: base64 HMAC-SHA256, keyed by the client secret, of
// method + URI (with HubSpot's listed characters decoded) + body + timestamp.
func V3(secret, method, uri string, body []byte, timestamp string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(method + DecodeURI(uri)))
	mac.Write(body)
	mac.Write([]byte(timestamp))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// decoded are the percent-encodings HubSpot decodes before signing a v3 URI.
var decoded = strings.NewReplacer(
	"%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$",
	"%27", "'", "%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";",
	"%3a", ":", "%2f", "/", "%3f", "?", "%2a", "*", "%2c", ",", "%3b", ";",
)

// DecodeURI decodes exactly the characters HubSpot lists for v3 signatures
// (: / ? @ ! $ ' ( ) * , ;) and leaves every other escape as it is.
func DecodeURI(uri string) string { return decoded.Replace(uri) }

// Verifier checks incoming requests against one app's client secret.
type Verifier struct {
	// Secret is the HubSpot app's client secret.
	Secret string
	// PublicURL is REFERFLOW_PUBLIC_URL: the scheme and host HubSpot called,
	// which a proxy in front of referflow hides from the server.
	PublicURL *url.URL
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verify checks r's signature over body (the raw bytes read from r.Body).
// It uses v3 when present, else v1 or v2 as X-HubSpot-Signature-Version says.
func (v Verifier) Verify(r *http.Request, body []byte) error {
	if sig := r.Header.Get(HeaderV3); sig != "" {
		return v.verifyV3(r, body, sig)
	}
	sig := r.Header.Get(HeaderV1V2)
	if sig == "" {
		return ErrMissing
	}
	var want string
	switch version := r.Header.Get(HeaderVersion); version {
	case "", "v1":
		want = V1(v.Secret, body)
	case "v2":
		want = V2(v.Secret, r.Method, v.RequestURL(r), body)
	default:
		return fmt.Errorf("%w: %q", ErrVersion, version)
	}
	if !equal(sig, want) {
		return ErrMismatch
	}
	return nil
}

func (v Verifier) verifyV3(r *http.Request, body []byte, sig string) error {
	ts := r.Header.Get(HeaderTimestamp)
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ms <= 0 {
		return ErrTimestamp
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	age := now().Sub(time.UnixMilli(ms))
	switch {
	case age > MaxAge:
		return ErrStale
	case age < -FutureTolerance:
		return ErrFuture
	}
	if !equal(sig, V3(v.Secret, r.Method, v.RequestURL(r), body, ts)) {
		return ErrMismatch
	}
	return nil
}

// RequestURL is the full URL HubSpot called: the public base URL's scheme
// and host, its path prefix unless the request path already starts with it
// (a proxy that does not strip the prefix), then the path and query exactly
// as received.
func (v Verifier) RequestURL(r *http.Request) string {
	path := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	if v.PublicURL == nil {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		return scheme + "://" + r.Host + path
	}
	prefix := strings.TrimRight(v.PublicURL.EscapedPath(), "/")
	if prefix != "" && (r.URL.EscapedPath() == prefix || strings.HasPrefix(r.URL.EscapedPath(), prefix+"/")) {
		prefix = ""
	}
	return v.PublicURL.Scheme + "://" + v.PublicURL.Host + prefix + path
}

func equal(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
