package webhookdelivery

import "github.com/prometheus/client_golang/prometheus"

// attempts counts what the dispatcher made of each attempt: the delivery
// delivered, retried (pending), failed (retries over), or lease_lost (made
// after its lease ran out: another dispatcher owns it). HTTP outcomes are
// outgoing's referflow_webhook_deliveries_total.
var attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "referflow_webhook_delivery_attempts_total",
	Help: "Webhook delivery attempts recorded by the outbox dispatcher, by event type and result: delivered, pending (retried later), failed (retries over), lease_lost.",
}, []string{"type", "result"})

// Metrics is the dispatcher's counter, to register in the worker's registry.
func Metrics() prometheus.Collector { return attempts }

func outcomeLabel(s Status, lost bool) string {
	if lost {
		return "lease_lost"
	}
	return string(s)
}
