package worker

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/opsmetrics"
	"github.com/referflow/referflow/internal/outgoing"
	"github.com/referflow/referflow/internal/temporalclient"
	"github.com/referflow/referflow/internal/webhookdelivery"
)

// ReferralWorkflowType is the name workflows.ReferralWorkflow is registered
// under: the metrics and `referflow doctor` count its runs in Temporal's
// visibility by it.
const ReferralWorkflowType = "ReferralWorkflow"

// Metrics is what a worker process shows on its /metrics. Make it before
// the worker's Temporal client and HubSpot connection manager, so they
// report into it: Temporal goes to client.Options.MetricsHandler (the SDK's
// metrics: polls, task latencies, activity failures), HubSpot to
// hubspotconn.Options.Metrics (calls by outcome, rate-limiter waits). Run
// adds referflow's gauges read from Postgres and Temporal and the webhook
// deliveries.
type Metrics struct {
	Registry *prometheus.Registry
	Temporal client.MetricsHandler
	HubSpot  *hubspot.Metrics
}

// NewMetrics makes a worker's metrics on a fresh registry.
func NewMetrics() *Metrics {
	reg := opsmetrics.NewRegistry()
	return &Metrics{
		Registry: reg,
		Temporal: temporalclient.NewMetricsHandler(reg),
		HubSpot:  hubspot.NewMetrics(reg),
	}
}

// register adds what Run itself reports: the gauges, read on scrape, and
// the outgoing webhooks the outbox's dispatcher sends.
func (m *Metrics) register(c *opsmetrics.Collector) {
	m.Registry.MustRegister(c, outgoing.Metrics(), webhookdelivery.Metrics())
}
