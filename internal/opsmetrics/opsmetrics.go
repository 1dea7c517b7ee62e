// Package opsmetrics is what operators see of referflow's state on a
// process's /metrics: the registry and its HTTP handler, and Collector, the
// gauges read from Postgres and from Temporal's visibility when Prometheus
// scrapes (sales entries waiting for dispatch, referrals waiting on HubSpot,
// rewards, HubSpot connections, referral workflow runs by status).
//
// The gauges are read on scrape rather than kept up to date, so they are
// never stale and cost nothing between scrapes; each source gets a short
// timeout, so a slow database or Temporal never hangs a scrape: its gauges
// are left out and referflow_ops_source_up{source} says 0. Labels hold only
// bounded values (statuses, causes, workspace IDs), never a referral's ID.
package opsmetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/reward"
)

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors, for one process's metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in Prometheus' text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// Serve answers GET /metrics on ln with reg until ctx ends.
func Serve(ctx context.Context, ln net.Listener, reg *prometheus.Registry) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", Handler(reg))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("metrics server on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(stopCtx)
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// DefaultTimeout bounds each source's reads during one scrape.
const DefaultTimeout = 3 * time.Second

// Sources, the values of referflow_ops_source_up's label.
const (
	SourcePostgres = "postgres"
	SourceTemporal = "temporal"
)

// Collector reads referflow's state from Postgres and Temporal when
// Prometheus scrapes. Every worker process reports the same figures: take
// max() across instances.
type Collector struct {
	Pool *pgxpool.Pool
	// Temporal and ReferralWorkflowType, TaskQueue select the referral
	// workflow runs counted (the worker names them: this package sits below
	// the workflows). Without Temporal no run is counted.
	Temporal             client.Client
	ReferralWorkflowType string
	TaskQueue            string
	// Timeout bounds each source's reads (default DefaultTimeout).
	Timeout time.Duration
	// Logger gets why a source could not be read (default: discard).
	Logger *slog.Logger
	// Now is the clock of "the last hour" (default time.Now).
	Now func() time.Time
}

var (
	descSourceUp = prometheus.NewDesc("referflow_ops_source_up",
		"1 when the last scrape read this source (postgres, temporal) in time, else 0 and its referflow_* gauges are missing from that scrape.",
		[]string{"source"}, nil)
	descUndispatched = prometheus.NewDesc("referflow_sales_entries_undispatched",
		"Sales entries (HubSpot webhook events) recorded but not yet routed by the dispatcher.", nil, nil)
	descUndispatchedAge = prometheus.NewDesc("referflow_sales_entries_undispatched_oldest_age_seconds",
		"Age of the oldest sales entry not yet routed by the dispatcher (0 when there is none): above a minute, routing is stuck.", nil, nil)
	descWebhooksPending = prometheus.NewDesc("referflow_webhook_deliveries_pending",
		"Outgoing webhooks in the outbox not yet delivered and still retried.", nil, nil)
	descWebhooksPendingAge = prometheus.NewDesc("referflow_webhook_deliveries_pending_oldest_age_seconds",
		"Age of the oldest pending outgoing webhook (0 when none): growing, a receiver is down or no worker sends.", nil, nil)
	descWebhooksFailed = prometheus.NewDesc("referflow_webhook_deliveries_failed",
		"Outgoing webhooks whose 72 hours of retries ran out without a 2xx (until an admin replays them).", nil, nil)
	descWaiting = prometheus.NewDesc("referflow_referrals_waiting",
		"Referrals whose workflow waits on the outside world, by step (send_lead, issue_reward, complete_decision_callbacks) and cause (e.g. HubSpotConnectionBroken).",
		[]string{"step", "cause"}, nil)
	descWaitingAge = prometheus.NewDesc("referflow_referrals_waiting_oldest_seconds",
		"How long the longest-waiting referral has waited, by step and cause.", []string{"step", "cause"}, nil)
	descWithoutWorkflow = prometheus.NewDesc("referflow_referrals_without_workflow",
		"Referrals whose workflow has not run its first step yet (saved while Temporal was unreachable, or just added).", nil, nil)
	descWithoutWorkflowAge = prometheus.NewDesc("referflow_referrals_without_workflow_oldest_age_seconds",
		"Age of the oldest referral whose workflow has not run its first step (0 when there is none).", nil, nil)
	descRewards = prometheus.NewDesc("referflow_rewards",
		"Rewards by status (pending, issued, cancelled, failed).", []string{"status"}, nil)
	descConnection = prometheus.NewDesc("referflow_hubspot_connection",
		"1 for each workspace's HubSpot connection, labelled with its status (connected, broken, disconnected).",
		[]string{"workspace_id", "status"}, nil)
	descMissingScopes = prometheus.NewDesc("referflow_hubspot_connection_missing_scopes",
		"OAuth scopes referflow asks for that a workspace's live HubSpot connection was not granted (what needs them fails until an admin reconnects).",
		[]string{"workspace_id"}, nil)
	descRuns = prometheus.NewDesc("referflow_referral_workflow_runs",
		"Referral workflow runs Temporal's visibility holds, by execution status (running, completed, failed, terminated, timed_out, canceled, continued_as_new); closed runs count until the namespace's retention drops them.",
		[]string{"status"}, nil)
	descRunsClosedLastHour = prometheus.NewDesc("referflow_referral_workflow_runs_closed_last_hour",
		"Referral workflow runs that closed in the last hour, by execution status: failed, terminated or timed_out ones need `referflow referrals resume`.",
		[]string{"status"}, nil)
)

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSourceUp, descUndispatched, descUndispatchedAge, descWebhooksPending, descWebhooksPendingAge, descWebhooksFailed, descWaiting, descWaitingAge,
		descWithoutWorkflow, descWithoutWorkflowAge, descRewards, descConnection, descMissingScopes, descRuns, descRunsClosedLastHour} {
		ch <- d
	}
}

// Collect reads both sources at once, each within the timeout.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var wg sync.WaitGroup
	read := func(source string, f func(context.Context) ([]prometheus.Metric, error)) {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		ms, err := f(ctx)
		up := 1.0
		if err != nil {
			up = 0
			c.logger().Warn("metrics: cannot read "+source+"; its gauges are left out of this scrape", "source", source, "error", err.Error())
		} else {
			for _, m := range ms {
				ch <- m
			}
		}
		ch <- prometheus.MustNewConstMetric(descSourceUp, prometheus.GaugeValue, up, source)
	}
	wg.Add(1)
	go read(SourcePostgres, c.postgres)
	if c.Temporal != nil {
		wg.Add(1)
		go read(SourceTemporal, c.temporal)
	}
	wg.Wait()
}

func (c *Collector) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// postgres reads the gauges kept in the database. Either all of them or
// none: a scrape never mixes old and missing figures.
func (c *Collector) postgres(ctx context.Context) ([]prometheus.Metric, error) {
	q := db.New(c.Pool)
	var out []prometheus.Metric

	entries, err := q.SalesEntryCountUndispatched(ctx)
	if err != nil {
		return nil, fmt.Errorf("count undispatched sales entries: %w", err)
	}
	out = append(out, gauge(descUndispatched, float64(entries.Entries)), gauge(descUndispatchedAge, entries.OldestAgeSeconds))

	webhooks, err := q.WebhookDeliveryCountUndelivered(ctx)
	if err != nil {
		return nil, fmt.Errorf("count undelivered webhooks: %w", err)
	}
	out = append(out, gauge(descWebhooksPending, float64(webhooks.Pending)), gauge(descWebhooksPendingAge, webhooks.OldestPendingAgeSeconds),
		gauge(descWebhooksFailed, float64(webhooks.Failed)))

	waiting, err := q.ReferralCountWaiting(ctx)
	if err != nil {
		return nil, fmt.Errorf("count waiting referrals: %w", err)
	}
	for _, w := range waiting {
		out = append(out, gauge(descWaiting, float64(w.Referrals), w.Step, w.Cause), gauge(descWaitingAge, w.OldestWaitSeconds, w.Step, w.Cause))
	}

	unstarted, err := q.ReferralCountWithoutWorkflow(ctx)
	if err != nil {
		return nil, fmt.Errorf("count referrals without a workflow: %w", err)
	}
	out = append(out, gauge(descWithoutWorkflow, float64(unstarted.Referrals)), gauge(descWithoutWorkflowAge, unstarted.OldestAgeSeconds))

	rewards, err := q.RewardCountByStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("count rewards: %w", err)
	}
	byStatus := map[string]int64{}
	for _, r := range rewards {
		byStatus[r.Status] = r.Rewards
	}
	for _, s := range []reward.Status{reward.Pending, reward.Issued, reward.Cancelled, reward.Failed} {
		out = append(out, gauge(descRewards, float64(byStatus[string(s)]), string(s)))
	}

	conns, err := q.HubSpotConnectionList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list HubSpot connections: %w", err)
	}
	for _, conn := range conns {
		ws := conn.WorkspaceID.String()
		out = append(out, gauge(descConnection, 1, ws, conn.Status))
		if conn.Status != hubspotconn.StatusDisconnected {
			out = append(out, gauge(descMissingScopes, float64(len(hubspotconn.MissingScopes(conn.Scopes))), ws))
		}
	}
	return out, nil
}

// RunStatuses are the execution statuses referral runs are counted by, as
// visibility names them, with their label values.
var RunStatuses = map[string]string{
	"Running": "running", "Completed": "completed", "Failed": "failed", "Canceled": "canceled",
	"Terminated": "terminated", "ContinuedAsNew": "continued_as_new", "TimedOut": "timed_out",
}

// closedBadly are the statuses of runs that ended without finishing their
// work.
var closedBadly = []string{"Failed", "Terminated", "TimedOut"}

func (c *Collector) temporal(ctx context.Context) ([]prometheus.Metric, error) {
	base := RunsQuery(c.ReferralWorkflowType, c.TaskQueue)
	all, err := CountRunsByStatus(ctx, c.Temporal, base)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	since := now().Add(-time.Hour).UTC().Format(time.RFC3339)
	recent, err := CountRunsByStatus(ctx, c.Temporal, base+" AND CloseTime > '"+since+"'")
	if err != nil {
		return nil, err
	}
	var out []prometheus.Metric
	for status, label := range RunStatuses {
		out = append(out, gauge(descRuns, float64(all[status]), label))
	}
	for _, status := range closedBadly {
		out = append(out, gauge(descRunsClosedLastHour, float64(recent[status]), RunStatuses[status]))
	}
	return out, nil
}

// RunsQuery is the visibility query of the runs of workflowType on
// taskQueue (either may be empty: any).
func RunsQuery(workflowType, taskQueue string) string {
	var parts []string
	if workflowType != "" {
		parts = append(parts, "WorkflowType = '"+quote(workflowType)+"'")
	}
	if taskQueue != "" {
		parts = append(parts, "TaskQueue = '"+quote(taskQueue)+"'")
	}
	if len(parts) == 0 {
		return "WorkflowId != ''"
	}
	return strings.Join(parts, " AND ")
}

func quote(s string) string { return strings.ReplaceAll(s, "'", "''") }

// CountRunsByStatus counts the workflow runs query matches by execution
// status (visibility's names: Running, Failed, ...).
func CountRunsByStatus(ctx context.Context, c client.Client, query string) (map[string]int64, error) {
	resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query + " GROUP BY ExecutionStatus"})
	if err != nil {
		return nil, fmt.Errorf("count workflow runs in Temporal's visibility: %w", err)
	}
	out := map[string]int64{}
	for _, g := range resp.GetGroups() {
		if len(g.GetGroupValues()) != 1 {
			continue
		}
		var status string
		if err := converter.GetDefaultDataConverter().FromPayload(g.GetGroupValues()[0], &status); err != nil {
			return nil, fmt.Errorf("read a visibility group: %w", err)
		}
		out[status] += g.GetCount()
	}
	return out, nil
}
