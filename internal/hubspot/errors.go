package hubspot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// ErrInvalidRequest is wrapped by the errors of calls refused before any
// request is sent, because HubSpot would refuse them (a search limit over
// 200, a list limit over 100, too many filters) or because the client is
// misconfigured.
var ErrInvalidRequest = errors.New("hubspot: invalid request")

// ErrConnectionBroken is what a token source wraps when HubSpot has refused
// the connection's refresh token (invalid_grant / BAD_REFRESH_TOKEN): no call
// can succeed until an admin reconnects. The client also treats an
// *oauth2.RetrieveError with error code invalid_grant this way.
var ErrConnectionBroken = errors.New("hubspot: connection broken, an admin must reconnect HubSpot")

// Rate-limit policies HubSpot names in a 429's policyName.
const (
	PolicyTenSecondlyRolling = "TEN_SECONDLY_ROLLING"
	PolicySecondly           = "SECONDLY" // the search endpoints' 5 per second
	PolicyDaily              = "DAILY"
)

// ErrorDetail is one entry of the errors array in HubSpot's error body.
type ErrorDetail struct {
	Message     string
	Code        string
	In          string
	SubCategory string
	Context     map[string][]string
}

// APIError is HubSpot's answer to a request that failed, as decoded from its
// error body ({"status":"error","message","correlationId","category",
// "errors":[...]}). Every typed error of this package unwraps to one.
type APIError struct {
	StatusCode    int
	Method        string
	Path          string
	Message       string
	CorrelationID string
	Category      string
	SubCategory   string
	Context       map[string][]string
	Errors        []ErrorDetail
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hubspot: %s %s: %d", e.Method, e.Path, e.StatusCode)
	if e.Category != "" {
		b.WriteString(" " + e.Category)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.CorrelationID != "" {
		b.WriteString(" (correlation ID " + e.CorrelationID + ")")
	}
	return b.String()
}

// ValidationError is a 400: HubSpot refused the request's content.
type ValidationError struct {
	APIError
	// Property is the first property HubSpot named as invalid, from
	// errors[].context.propertyName or else from the message; empty when it
	// named none. Properties holds every one it named.
	Property   string
	Properties []string
}

func (e *ValidationError) Error() string {
	if e.Property == "" {
		return e.APIError.Error()
	}
	return e.APIError.Error() + " [property " + e.Property + "]"
}

func (e *ValidationError) Unwrap() error { return &e.APIError }

// NotFoundError is a 404: the object, property, pipeline or list does not
// exist (or was archived).
type NotFoundError struct{ APIError }

func (e *NotFoundError) Unwrap() error { return &e.APIError }

// ConflictError is a 409: the object already exists (a contact with the same
// email, a property or group with the same name).
type ConflictError struct {
	APIError
	// ExistingID is the existing object's ID when HubSpot's message says
	// "Existing ID: N", else empty.
	ExistingID string
}

func (e *ConflictError) Unwrap() error { return &e.APIError }

// RateLimitError is a 429: a HubSpot rate limit is used up.
type RateLimitError struct {
	APIError
	// Policy is the exhausted limit: PolicyTenSecondlyRolling,
	// PolicySecondly, PolicyDaily, or what HubSpot sent.
	Policy string
	// RetryAfter is how long to wait before the next call can succeed:
	// HubSpot's Retry-After header when it sends one; otherwise the rest of
	// the rolling window for TEN_SECONDLY_ROLLING (taken as the window length
	// from X-HubSpot-RateLimit-Interval-Milliseconds, 10 s when absent: with a
	// rolling window the oldest call leaves it at most that much later), 1 s
	// for the search limit, and for DAILY the time until the next midnight in
	// the account's time zone, when HubSpot resets the daily count
	// (WithTimeZone; hubspotconn's clients know it from the connect flow).
	// Without the zone it is midnight UTC, an estimate that is early for
	// accounts west of UTC (the next 429 then waits until the following
	// midnight UTC) and late for those east of it.
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%s [policy %s, retry after %s]", e.APIError.Error(), e.Policy, e.RetryAfter)
}

func (e *RateLimitError) Unwrap() error { return &e.APIError }

// UnauthorizedError is a 401: the token is missing, expired or revoked.
// HubSpot says a 401 is not a reason to refresh (tokens are refreshed on
// expires_in); a 401 with a fresh token means the app was uninstalled or the
// token revoked.
type UnauthorizedError struct{ APIError }

func (e *UnauthorizedError) Unwrap() error { return &e.APIError }

// ForbiddenError is a 403: the token lacks a scope or the portal's
// subscription lacks the feature.
type ForbiddenError struct{ APIError }

func (e *ForbiddenError) Unwrap() error { return &e.APIError }

// ServerError is a 5xx: HubSpot failed; the call may succeed later.
type ServerError struct{ APIError }

func (e *ServerError) Unwrap() error { return &e.APIError }

// TokenError is a failure to get an access token from the client's token
// source; no request was sent.
type TokenError struct{ Err error }

func (e *TokenError) Error() string { return "hubspot: getting an access token: " + e.Err.Error() }

func (e *TokenError) Unwrap() error { return e.Err }

// Broken reports whether the connection needs an admin to reconnect: the
// token source said so with ErrConnectionBroken, or HubSpot refused the
// refresh token with invalid_grant.
func (e *TokenError) Broken() bool {
	if errors.Is(e.Err, ErrConnectionBroken) {
		return true
	}
	var re *oauth2.RetrieveError
	return errors.As(e.Err, &re) && re.ErrorCode == "invalid_grant"
}

// TransportError is a request that got no HTTP answer: a timeout, a refused
// or reset connection, a cancelled context.
type TransportError struct {
	Method string
	Path   string
	Err    error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("hubspot: %s %s: %v", e.Method, e.Path, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// errorBody is HubSpot's error body. Every field is optional; context and
// errors[].context hold lists of strings, though a string alone is accepted.
type errorBody struct {
	Status        string                `json:"status"`
	Message       string                `json:"message"`
	CorrelationID string                `json:"correlationId"`
	Category      string                `json:"category"`
	SubCategory   json.RawMessage       `json:"subCategory"`
	Context       map[string]stringList `json:"context"`
	Errors        []struct {
		Message     string                `json:"message"`
		Code        string                `json:"code"`
		In          string                `json:"in"`
		SubCategory json.RawMessage       `json:"subCategory"`
		Context     map[string]stringList `json:"context"`
	} `json:"errors"`
	PolicyName string `json:"policyName"`
	ErrorType  string `json:"errorType"`
}

// stringList decodes a JSON list of strings or numbers, or a single one.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var items []flexString
		if err := json.Unmarshal(b, &items); err != nil {
			return nil // context is informative only: never fail the decode on it
		}
		*l = make(stringList, len(items))
		for i, s := range items {
			(*l)[i] = string(s)
		}
		return nil
	}
	var one flexString
	if err := json.Unmarshal(b, &one); err == nil && one != "" {
		*l = stringList{string(one)}
	}
	return nil
}

func contextMap(m map[string]stringList) map[string][]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = []string(v)
	}
	return out
}

// rawString renders subCategory, which HubSpot sends as a string or an object.
func rawString(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// decodeError turns a non-2xx answer into the matching typed error.
func (c *Client) decodeError(r request, resp *http.Response, data []byte) error {
	var body errorBody
	if err := json.Unmarshal(data, &body); err != nil || (body.Message == "" && body.Category == "") {
		body.Message = snippet(data)
	}
	base := APIError{
		StatusCode:    resp.StatusCode,
		Method:        r.method,
		Path:          r.path,
		Message:       body.Message,
		CorrelationID: body.CorrelationID,
		Category:      body.Category,
		SubCategory:   rawString(body.SubCategory),
		Context:       contextMap(body.Context),
	}
	if base.CorrelationID == "" {
		base.CorrelationID = resp.Header.Get("X-HubSpot-Correlation-Id")
	}
	for _, d := range body.Errors {
		base.Errors = append(base.Errors, ErrorDetail{
			Message:     d.Message,
			Code:        d.Code,
			In:          d.In,
			SubCategory: rawString(d.SubCategory),
			Context:     contextMap(d.Context),
		})
	}

	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests:
		policy := ratePolicy(body, r.kind)
		return &RateLimitError{APIError: base, Policy: policy, RetryAfter: rateLimitWait(policy, resp.Header, c.clock.Now(), c.zone)}
	case code == http.StatusConflict || body.Category == "CONFLICT" || body.Category == "OBJECT_ALREADY_EXISTS":
		return &ConflictError{APIError: base, ExistingID: existingID(base)}
	case code == http.StatusNotFound:
		return &NotFoundError{APIError: base}
	case code == http.StatusUnauthorized:
		return &UnauthorizedError{APIError: base}
	case code == http.StatusForbidden:
		return &ForbiddenError{APIError: base}
	case code == http.StatusBadRequest:
		props := invalidProperties(base)
		v := &ValidationError{APIError: base, Properties: props}
		if len(props) > 0 {
			v.Property = props[0]
		}
		return v
	case code >= 500:
		return &ServerError{APIError: base}
	}
	return &base
}

// snippet is a short, printable excerpt of a body that was not HubSpot's
// JSON error (an HTML error page from a proxy, say).
func snippet(data []byte) string {
	s := strings.Join(strings.Fields(string(data)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

var existingIDPattern = regexp.MustCompile(`Existing ID:\s*(\d+)`)

func existingID(e APIError) string {
	if m := existingIDPattern.FindStringSubmatch(e.Message); m != nil {
		return m[1]
	}
	for _, d := range e.Errors {
		if m := existingIDPattern.FindStringSubmatch(d.Message); m != nil {
			return m[1]
		}
	}
	return ""
}

var (
	// Property "foo" does not exist / Property 'foo' ... (quotes possibly
	// escaped inside an embedded JSON message).
	quotedPropertyPattern = regexp.MustCompile(`[Pp]roperty\s+\\*["']([^"'\\]+)\\*["']`)
	// "Property values were not valid: [{...,"name":"foo",...}]"
	embeddedNamePattern = regexp.MustCompile(`\\*"name\\*"\s*:\s*\\*"([^"\\]+)\\*"`)
)

// invalidProperties lists the properties a 400 names: from errors[].context
// (propertyName and the like) first, then from the messages.
func invalidProperties(e APIError) []string {
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	for _, ctx := range append([]map[string][]string{e.Context}, detailContexts(e.Errors)...) {
		for _, key := range []string{"propertyName", "propertyNames", "property", "properties"} {
			for _, name := range ctx[key] {
				add(name)
			}
		}
	}
	messages := []string{e.Message}
	for _, d := range e.Errors {
		messages = append(messages, d.Message)
	}
	for _, m := range messages {
		for _, match := range embeddedNamePattern.FindAllStringSubmatch(m, -1) {
			add(match[1])
		}
		for _, match := range quotedPropertyPattern.FindAllStringSubmatch(m, -1) {
			add(match[1])
		}
	}
	return out
}

func detailContexts(details []ErrorDetail) []map[string][]string {
	out := make([]map[string][]string, 0, len(details))
	for _, d := range details {
		out = append(out, d.Context)
	}
	return out
}

// ratePolicy names the exhausted limit from the 429's body, falling back on
// its message and on the kind of call.
func ratePolicy(body errorBody, kind callKind) string {
	if p := strings.ToUpper(strings.TrimSpace(body.PolicyName)); p != "" {
		return p
	}
	msg := strings.ToLower(body.Message)
	switch {
	case strings.Contains(msg, "ten_secondly"):
		return PolicyTenSecondlyRolling
	case strings.Contains(msg, "secondly"):
		return PolicySecondly
	case strings.Contains(msg, "daily"):
		return PolicyDaily
	case kind == searchCall:
		return PolicySecondly
	}
	return PolicyTenSecondlyRolling
}

// rateLimitWait works out RateLimitError.RetryAfter (see there); zone is
// the account's time zone, nil when unknown.
func rateLimitWait(policy string, h http.Header, now time.Time, zone *time.Location) time.Duration {
	if d, ok := retryAfterHeader(h.Get("Retry-After"), now); ok {
		return d
	}
	switch policy {
	case PolicyDaily:
		return untilNextMidnight(now, zone)
	case PolicySecondly:
		return time.Second
	}
	if ms, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-HubSpot-RateLimit-Interval-Milliseconds")), 10, 64); err == nil && ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return 10 * time.Second
}

// retryAfterHeader reads Retry-After as seconds or as an HTTP date.
func retryAfterHeader(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0, false
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now), true
	}
	return 0, false
}

// untilNextMidnight is how long from now to the next midnight in zone (UTC
// when nil).
func untilNextMidnight(now time.Time, zone *time.Location) time.Duration {
	if zone == nil {
		zone = time.UTC
	}
	l := now.In(zone)
	return time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, zone).Sub(now)
}
