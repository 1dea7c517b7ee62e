// Package worker is what a `referflow worker` process runs: referflow's
// Temporal workers — one on the workflow task queue (the workflows and their
// database activities), one on the HubSpot task queue — with the outbox's
// webhook dispatcher (internal/webhookdelivery) that sends the webhooks
// their activities queue and the HubSpotWriter that sends members' counts
// and leads' statuses to HubSpot as they change; the Sales Receiver's
// dispatcher that feeds recorded HubSpot events to them, and the Reconciler
// that starts the workflow of any referral saved without one (Run).
// HubSpot's per-portal limits hold however many worker processes run because
// every HubSpot call takes a slot from a budget shared through Postgres
// (internal/hubspotconn); the HubSpot queue's dispatch cap only spreads the
// activities out so few of them wait on that budget.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/opsmetrics"
	"github.com/referflow/referflow/internal/outgoing"
	"github.com/referflow/referflow/internal/personaldata"
	"github.com/referflow/referflow/internal/webhookdelivery"
	"github.com/referflow/referflow/salesreceiver"
	"github.com/referflow/referflow/workflows"
)

// HubSpotActivitiesPerSecond caps HubSpot activities started per second on the
// HubSpot task queue across every worker (enforced by the Temporal server).
// It matches the shared per-portal budget of about 10 calls a second, so
// activities rarely start only to wait for a slot.
const HubSpotActivitiesPerSecond = 10

// Poller counts. The SDK's default of 2 pollers halved throughput on the dev
// server in our measurements (a start, an activity and a completion: about 30
// a second instead of 62); these keep tasks flowing on a 2-core machine
// without idle polls dominating.
const (
	workflowTaskPollers = 8
	activityTaskPollers = 8
)

// Options configures the workers.
type Options struct {
	// TaskQueue and HubSpotTaskQueue default to the production names; tests
	// give each test its own queues so they never steal each other's tasks.
	TaskQueue        string
	HubSpotTaskQueue string
	// HubSpot is the HubSpot connection manager HubSpot activities get their
	// clients from. Without one they fail, non-retryably, saying so.
	HubSpot *hubspotconn.Manager
	// PublicURL is REFERFLOW_PUBLIC_URL, the base of referral links written
	// to HubSpot and of the links in emails to members.
	PublicURL string
	// Email sends the emails to members (REFERFLOW_SMTP_URL); nil sends
	// none. EncryptionKey (the first REFERFLOW_ENCRYPTION_KEY) signs the
	// portal and unsubscribe links they carry, as the api does.
	Email         *email.Sender
	EncryptionKey []byte
	// WebhookPolicy says where fulfilment webhooks may go
	// (REFERFLOW_WEBHOOK_ALLOW_HTTP, REFERFLOW_WEBHOOK_ALLOWED_NETWORKS); the
	// zero value allows https to public addresses only. The outbox's
	// dispatcher sends with a client enforcing it.
	WebhookPolicy outgoing.Policy
	// Logger logs what Run's dispatcher and reconciler do, and every failed
	// local activity (at ERROR, with the referral's ID); none: nothing is
	// logged.
	Logger *slog.Logger
	// ReconcileEvery is how often Run's Reconciler looks for referrals
	// without a workflow (default a minute).
	ReconcileEvery time.Duration
	// Metrics, when set, is where Run reports referflow's gauges and webhook
	// deliveries (see Metrics for the rest); MetricsListener, when set too,
	// is where Run serves them on GET /metrics.
	Metrics         *Metrics
	MetricsListener net.Listener
	// JournalPollInterval is how often the JournalPoller reads HubSpot's
	// webhooks journal (default DefaultJournalPollInterval; negative: no
	// poller, for tests that run their own).
	JournalPollInterval time.Duration
	// PersonalData holds the per-person keys of personal data in Temporal's
	// histories (the one the process's client seals with); erasing a person
	// forgets their key through it.
	PersonalData *personaldata.Keyring
}

// Run runs the workers and the Sales Receiver's dispatcher that feeds
// recorded HubSpot events to them until ctx ends, then lets the dispatcher
// record the batch in progress and stops the workers. It returns early, with
// the error, when the workers cannot start or the dispatcher cannot run.
func Run(ctx context.Context, c client.Client, pool *pgxpool.Pool, opts Options) error {
	opts.fill()
	ws := New(c, pool, opts)
	if err := ws.Start(); err != nil {
		return err
	}
	defer ws.Stop()
	if opts.Logger != nil {
		opts.Logger.Info("temporal workers polling", "task_queue", opts.TaskQueue, "hubspot_task_queue", opts.HubSpotTaskQueue)
	}
	dispatcher := &salesreceiver.Dispatcher{Pool: pool, Temporal: c, TaskQueue: opts.TaskQueue, HubSpotTaskQueue: opts.HubSpotTaskQueue}
	reconciler := &Reconciler{Pool: pool, Temporal: c, TaskQueue: opts.TaskQueue, HubSpotTaskQueue: opts.HubSpotTaskQueue, Every: opts.ReconcileEvery}
	if opts.Logger != nil {
		dispatcher.Logger = opts.Logger.With("component", "sales-receiver")
		reconciler.Logger = opts.Logger.With("component", "reconciler")
	}
	rctx, stopReconciler := context.WithCancel(ctx)
	reconciled := make(chan struct{})
	go func() { defer close(reconciled); reconciler.Run(rctx) }()
	defer func() { stopReconciler(); <-reconciled }()
	if opts.Metrics == nil {
		// Run returns when ctx ends, after recording the batch in
		// progress, or at once when it cannot run at all.
		return dispatcher.Run(ctx)
	}
	collector := &opsmetrics.Collector{Pool: pool, Temporal: c, ReferralWorkflowType: ReferralWorkflowType, TaskQueue: opts.TaskQueue}
	if opts.Logger != nil {
		collector.Logger = opts.Logger.With("component", "metrics")
	}
	opts.Metrics.register(collector)
	if opts.MetricsListener == nil {
		return dispatcher.Run(ctx)
	}
	// The dispatcher and the metrics server end together: when ctx ends,
	// or when either cannot go on.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() {
		err := opsmetrics.Serve(runCtx, opts.MetricsListener, opts.Metrics.Registry)
		stop()
		served <- err
	}()
	if opts.Logger != nil {
		opts.Logger.Info("worker metrics served", "url", "http://"+opts.MetricsListener.Addr().String()+"/metrics")
	}
	err := dispatcher.Run(runCtx)
	stop()
	return errors.Join(err, <-served)
}

func (o *Options) fill() {
	if o.TaskQueue == "" {
		o.TaskQueue = workflows.TaskQueue
	}
	if o.HubSpotTaskQueue == "" {
		o.HubSpotTaskQueue = workflows.HubSpotTaskQueue
	}
}

// Workers is the set of workers one process runs, and the webhook
// dispatcher that sends what their activities queue in the outbox.
type Workers struct {
	workers  []sdkworker.Worker
	webhooks *webhookdelivery.Dispatcher
	// hubspot writes members' counts and leads' statuses to HubSpot; nil
	// without a HubSpot connection manager.
	hubspot *HubSpotWriter
	// journal polls HubSpot's webhooks journal (lists' additions); nil
	// without a HubSpot connection manager.
	journal *JournalPoller
	// stopWebhooks ends the dispatcher, the HubSpot writer and the journal
	// poller; webhooksDone closes when all have.
	stopWebhooks context.CancelFunc
	webhooksDone chan struct{}
}

// New registers referflow's workflows and activities on their task queues.
func New(c client.Client, pool *pgxpool.Pool, opts Options) *Workers {
	opts.fill()
	acts := activities.New(pool)
	acts.WebhookPolicy = opts.WebhookPolicy
	acts.StartReferralWorkflow = referralStarter(c, opts.TaskQueue, opts.HubSpotTaskQueue)
	acts.Email = opts.Email
	acts.EmailLinks = activities.NewEmailLinks(opts.PublicURL, opts.EncryptionKey)
	acts.PersonalData = opts.PersonalData

	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	main := sdkworker.New(c, opts.TaskQueue, sdkworker.Options{
		MaxConcurrentWorkflowTaskPollers: workflowTaskPollers,
		MaxConcurrentActivityTaskPollers: activityTaskPollers,
		Interceptors:                     []interceptor.WorkerInterceptor{&activityFailureLog{logger: logger.With("component", "activities")}, &heartbeats{}},
	})
	main.RegisterWorkflow(workflows.ReferralWorkflow)
	main.RegisterWorkflow(workflows.MemberWorkflow)
	main.RegisterWorkflow(workflows.SetUpHubSpotPortalWorkflow)
	// The Sales Receiver's matching and review queue; its activities are
	// acts' (database) and the HubSpot activities' (ReadSalesEntryObject).
	main.RegisterWorkflowWithOptions(workflows.SalesEntryWorkflow, workflow.RegisterOptions{Name: workflows.SalesEntryWorkflowType})
	main.RegisterWorkflowWithOptions(workflows.CSVImportWorkflow, workflow.RegisterOptions{Name: workflows.CSVImportWorkflowType})
	main.RegisterWorkflowWithOptions(workflows.MemberEmailWorkflow, workflow.RegisterOptions{Name: workflows.MemberEmailWorkflowType})
	main.RegisterWorkflowWithOptions(workflows.ContactSyncWorkflow, workflow.RegisterOptions{Name: workflows.ContactSyncWorkflowType})
	main.RegisterWorkflowWithOptions(workflows.PrivacyErasureWorkflow, workflow.RegisterOptions{Name: workflows.PrivacyErasureWorkflowType})
	main.RegisterActivity(acts)

	ws := &Workers{workers: []sdkworker.Worker{main}, webhooks: &webhookdelivery.Dispatcher{
		Pool: pool, Client: outgoing.NewClient(opts.WebhookPolicy), Logger: logger.With("component", "webhooks"),
	}}
	if hubspot := hubSpotActivities(opts.HubSpot, pool, opts.PublicURL); len(hubspot) > 0 {
		hw := sdkworker.New(c, opts.HubSpotTaskQueue, HubSpotWorkerOptions())
		for _, a := range hubspot {
			hw.RegisterActivity(a)
		}
		ws.workers = append(ws.workers, hw)
	}
	if opts.HubSpot != nil {
		ws.hubspot = &HubSpotWriter{
			HubSpot: &activities.HubSpot{Conn: opts.HubSpot, Queries: db.New(pool), PublicURL: opts.PublicURL},
			Pool:    pool, Logger: logger.With("component", "hubspot-writer"),
		}
	}
	if opts.HubSpot != nil && opts.JournalPollInterval >= 0 {
		ws.journal = &JournalPoller{Pool: pool, HubSpot: opts.HubSpot, Logger: logger.With("component", "webhooks-journal"), Interval: opts.JournalPollInterval}
	}
	return ws
}

// referralStarter starts a referral's workflow for activities (a CSV
// import's), which cannot import the workflows: one already started, or one
// whose run ended before its first step (the reconciler's case, left to
// `referflow referrals resume`), is no error.
func referralStarter(c client.Client, taskQueue, hubSpotTaskQueue string) func(context.Context, string) error {
	return func(ctx context.Context, referralID string) error {
		_, err := workflows.StartReferralWorkflow(ctx, c, taskQueue, hubSpotTaskQueue, referralID)
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return nil
		}
		return err
	}
}

// HubSpotWorkerOptions are the options of every worker on the HubSpot task
// queue: no workflows, and a dispatch rate the server enforces queue-wide.
func HubSpotWorkerOptions() sdkworker.Options {
	return sdkworker.Options{
		TaskQueueActivitiesPerSecond:     HubSpotActivitiesPerSecond,
		MaxConcurrentActivityTaskPollers: activityTaskPollers,
		DisableWorkflowWorker:            true,
		Interceptors:                     []interceptor.WorkerInterceptor{&heartbeats{}},
	}
}

// hubSpotActivities lists the activities that call HubSpot; they run on the
// HubSpot task queue only.
func hubSpotActivities(conn *hubspotconn.Manager, pool *pgxpool.Pool, publicURL string) []any {
	return []any{&activities.HubSpot{Conn: conn, Queries: db.New(pool), PublicURL: publicURL, Pool: pool}}
}

// Start starts polling. Stop must be called to release the workers.
func (w *Workers) Start() error {
	for i, wk := range w.workers {
		if err := wk.Start(); err != nil {
			for _, started := range w.workers[:i] {
				started.Stop()
			}
			return fmt.Errorf("start Temporal worker: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.stopWebhooks, w.webhooksDone = cancel, make(chan struct{})
	go func() {
		defer close(w.webhooksDone)
		var wg sync.WaitGroup
		if w.hubspot != nil {
			wg.Go(func() { w.hubspot.Run(ctx) })
		}
		if w.journal != nil {
			wg.Go(func() { w.journal.Run(ctx) })
		}
		_ = w.webhooks.Run(ctx) // fails only without a pool
		wg.Wait()
	}()
	return nil
}

// Stop stops polling and waits for running tasks, the webhook deliveries
// and the HubSpot writes in flight to finish.
func (w *Workers) Stop() {
	if w.stopWebhooks != nil {
		w.stopWebhooks()
		<-w.webhooksDone
	}
	for _, wk := range w.workers {
		wk.Stop()
	}
}
