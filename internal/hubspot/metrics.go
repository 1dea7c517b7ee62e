package hubspot

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a call, the values of referflow_hubspot_calls_total's outcome
// label: what HubSpot answered, or why nothing was sent.
const (
	OutcomeOK             = "ok"              // 2xx
	OutcomeBadRequest     = "bad_request"     // 400: HubSpot refused the content (a property, a value)
	OutcomeUnauthorized   = "unauthorized"    // 401: token revoked, app uninstalled
	OutcomeForbidden      = "forbidden"       // 403: a scope or feature is missing
	OutcomeNotFound       = "not_found"       // 404
	OutcomeConflict       = "conflict"        // 409: already exists
	OutcomeRateLimited    = "rate_limited"    // 429
	OutcomeClientError    = "client_error"    // any other 4xx
	OutcomeServerError    = "server_error"    // 5xx
	OutcomeUnexpected     = "unexpected"      // an answer outside 2xx-5xx
	OutcomeTransportError = "transport_error" // no answer: timeout, refused or reset connection
	OutcomeNotSent        = "not_sent"        // no access token, or the rate limiter's wait outlasted the deadline
)

// Metrics counts a process's HubSpot calls by outcome and times their waits
// on the rate limiter. Give one to every Client of the process
// (WithMetrics; hubspotconn.Options.Metrics does it for the connection
// manager's clients).
type Metrics struct {
	calls *prometheus.CounterVec
	wait  *prometheus.HistogramVec
}

// NewMetrics registers the HubSpot call metrics in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "referflow_hubspot_calls_total",
			Help: "HubSpot CRM API calls by outcome: ok (2xx), bad_request (400), unauthorized (401), forbidden (403), not_found (404), conflict (409), rate_limited (429), client_error (other 4xx), server_error (5xx), unexpected, transport_error (no answer), not_sent (no access token, or the rate limiter's wait outlasted the deadline).",
		}, []string{"outcome"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "referflow_hubspot_rate_limit_wait_seconds",
			Help:    "Time HubSpot calls waited on referflow's per-portal rate limiter before being sent, by kind (search or general).",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"kind"}),
	}
	reg.MustRegister(m.calls, m.wait)
	for _, o := range []string{OutcomeOK, OutcomeRateLimited, OutcomeServerError, OutcomeTransportError} {
		m.calls.WithLabelValues(o) // shown at 0 from the start, so rate() works at the first failure
	}
	return m
}

// WithMetrics makes the client count its calls in m (nil: not counted).
func WithMetrics(m *Metrics) Option {
	return func(o *options) { o.metrics = m }
}

func (m *Metrics) waited(search bool, d time.Duration) {
	if m == nil {
		return
	}
	kind := "general"
	if search {
		kind = "search"
	}
	m.wait.WithLabelValues(kind).Observe(d.Seconds())
}

func (m *Metrics) called(outcome string) {
	if m != nil {
		m.calls.WithLabelValues(outcome).Inc()
	}
}

// statusOutcome names what an HTTP status means for a call.
func statusOutcome(code int) string {
	switch {
	case code >= 200 && code <= 299:
		return OutcomeOK
	case code == http.StatusBadRequest:
		return OutcomeBadRequest
	case code == http.StatusUnauthorized:
		return OutcomeUnauthorized
	case code == http.StatusForbidden:
		return OutcomeForbidden
	case code == http.StatusNotFound:
		return OutcomeNotFound
	case code == http.StatusConflict:
		return OutcomeConflict
	case code == http.StatusTooManyRequests:
		return OutcomeRateLimited
	case code >= 400 && code <= 499:
		return OutcomeClientError
	case code >= 500 && code <= 599:
		return OutcomeServerError
	}
	return OutcomeUnexpected
}
