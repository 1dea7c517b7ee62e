package outgoing

import "github.com/prometheus/client_golang/prometheus"

// Outcomes of a delivery attempt, the values of
// referflow_webhook_deliveries_total's outcome label.
const (
	OutcomeDelivered      = "delivered"       // 2xx
	OutcomeRedirect       = "redirect"        // 3xx: redirects are not followed
	OutcomeClientError    = "client_error"    // 4xx
	OutcomeServerError    = "server_error"    // 5xx (or any other status)
	OutcomeTransportError = "transport_error" // no answer within Timeout, refused or reset connection
	OutcomeInvalidURL     = "invalid_url"     // a URL CheckURL refuses: nothing sent
)

// deliveries counts every delivery attempt of this process. It is the
// package's own rather than given to Post: one counter per process is what
// an operator reads anyway.
var deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "referflow_webhook_deliveries_total",
	Help: "Outgoing webhook delivery attempts (reward.issued, review.created, referral.status_changed) by event type and outcome: delivered (2xx), redirect (3xx, not followed), client_error (4xx), server_error (5xx), transport_error (no answer), invalid_url (nothing sent). Failed attempts are retried by the outbox's dispatcher.",
}, []string{"type", "outcome"})

// Metrics is the delivery counter, to register in the registry a process
// serves on /metrics (the worker's: activities send the webhooks).
func Metrics() prometheus.Collector { return deliveries }

func statusOutcome(code int) string {
	switch {
	case code >= 200 && code <= 299:
		return OutcomeDelivered
	case code >= 300 && code <= 399:
		return OutcomeRedirect
	case code >= 400 && code <= 499:
		return OutcomeClientError
	}
	return OutcomeServerError
}
