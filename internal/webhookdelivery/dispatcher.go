package webhookdelivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/outgoing"
	"github.com/referflow/referflow/internal/pglisten"
)

// Defaults of the Dispatcher's tuning fields.
const (
	DefaultConcurrency  = 16
	DefaultPollInterval = time.Second
	// DefaultLease outlasts one attempt (outgoing.Timeout) with room to
	// record it; a dispatcher that dies holds its rows this long.
	DefaultLease      = time.Minute
	DefaultMinBackoff = 10 * time.Second
	DefaultMaxBackoff = time.Hour
)

// ErrNoURL is an attempt's error when the campaign has no fulfilment URL
// (it was removed after the event): the delivery is retried, so setting a
// URL again sends it.
var ErrNoURL = errors.New("the campaign has no fulfilment webhook URL")

// Dispatcher sends the outbox's due deliveries until its context ends. Run
// one per worker process: each leases its own rows.
type Dispatcher struct {
	Pool *pgxpool.Pool
	// Client sends the webhooks; nil is outgoing's (10 s, no redirects).
	Client *http.Client
	Logger *slog.Logger
	// Now is the clock deciding what is due, the backoff and the retry
	// window (tests move it); nil is time.Now.
	Now func() time.Time

	// Tuning; zero values take the defaults above. Concurrency bounds the
	// deliveries in flight, and so what a killed dispatcher leaves leased.
	Concurrency            int
	PollInterval           time.Duration
	Lease                  time.Duration
	MinBackoff, MaxBackoff time.Duration

	listenerPID atomic.Uint32
}

func (d *Dispatcher) fill() {
	if d.Concurrency <= 0 {
		d.Concurrency = DefaultConcurrency
	}
	if d.PollInterval <= 0 {
		d.PollInterval = DefaultPollInterval
	}
	if d.Lease <= 0 {
		d.Lease = DefaultLease
	}
	if d.MinBackoff <= 0 {
		d.MinBackoff = DefaultMinBackoff
	}
	if d.MaxBackoff <= 0 {
		d.MaxBackoff = DefaultMaxBackoff
	}
	if d.MaxBackoff < d.MinBackoff {
		d.MaxBackoff = d.MinBackoff
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
}

// Run sends deliveries until ctx ends: at once when a transaction queues
// one (NOTIFY), and every PollInterval for retries that came due. When ctx
// ends it stops claiming, lets the deliveries in flight finish and records
// them, and returns nil. Failures of Postgres are logged and retried.
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.Pool == nil {
		return errors.New("webhookdelivery: a Dispatcher needs Pool")
	}
	d.fill()
	wake := pglisten.NewWaker()
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		pglisten.Listen(ctx, d.Pool, NotifyChannel, wake.Poke, d.Logger, &d.listenerPID)
	}()
	defer func() { <-listening }()

	slots := make(chan struct{}, d.Concurrency)
	var inFlight sync.WaitGroup
	defer inFlight.Wait()
	ticker := time.NewTicker(d.PollInterval)
	defer ticker.Stop()
	for {
		if free := cap(slots) - len(slots); free > 0 && ctx.Err() == nil {
			rows, err := d.claim(ctx, free)
			if err != nil && ctx.Err() == nil {
				d.Logger.Error("claim webhook deliveries", "error", err.Error())
			}
			for _, row := range rows {
				slots <- struct{}{}
				inFlight.Go(func() {
					defer func() { <-slots; wake.Poke() }()
					// A delivery in flight runs to the end, and is recorded,
					// even when ctx ends meanwhile.
					d.deliver(context.WithoutCancel(ctx), row)
				})
			}
			if len(rows) == free {
				continue // more may be due
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-ticker.C:
		}
	}
}

// Once claims up to Concurrency due deliveries, sends them and records
// what came of each, and says how many it sent.
func (d *Dispatcher) Once(ctx context.Context) (int, error) {
	d.fill()
	rows, err := d.claim(ctx, d.Concurrency)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, row := range rows {
		wg.Go(func() { d.deliver(ctx, row) })
	}
	wg.Wait()
	return len(rows), nil
}

func (d *Dispatcher) claim(ctx context.Context, n int) ([]db.WebhookDeliveryClaimRow, error) {
	now := d.Now()
	rows, err := db.New(d.Pool).WebhookDeliveryClaim(ctx, db.WebhookDeliveryClaimParams{
		Now: now, BatchSize: int32(n), LockedUntil: now.Add(d.Lease), LeaseToken: uuid.New(),
	})
	if err != nil {
		return nil, fmt.Errorf("claim due webhook deliveries: %w", err)
	}
	return rows, nil
}

// deliver makes one attempt of a claimed delivery and records it.
func (d *Dispatcher) deliver(ctx context.Context, row db.WebhookDeliveryClaimRow) {
	at := d.Now()
	var a outgoing.Attempt
	if url := deref(row.FulfilmentWebhookUrl); url == "" {
		a.Err = ErrNoURL
	} else {
		secrets := SigningSecrets(row.WebhookSigningSecret, row.WebhookSigningSecretPrevious, row.WebhookSigningSecretPreviousUntil, at)
		a = outgoing.Post(ctx, d.Client, url, secrets, row.EventID, row.EventType, row.Body)
	}
	if err := d.record(ctx, row, at, a); err != nil {
		// The lease runs out and another attempt is made: at least once.
		d.Logger.Error("record a webhook delivery attempt", "delivery_id", row.ID.String(), "error", err.Error())
	}
}

// record writes an attempt and what it means for its delivery: delivered;
// failed once the retry window is over; otherwise pending again after a
// backoff (capped at the window's end, so the last try is at its end).
func (d *Dispatcher) record(ctx context.Context, row db.WebhookDeliveryClaimRow, at time.Time, a outgoing.Attempt) error {
	status, next := Delivered, at
	if !a.Delivered() {
		status, next = Pending, at.Add(d.backoff(int(row.AttemptCount)+1))
		if !at.Before(row.RetryUntil) {
			status, next = Failed, at
		} else if next.After(row.RetryUntil) {
			next = row.RetryUntil
		}
	}
	att := db.WebhookDeliveryAttemptInsertParams{DeliveryID: row.ID, AttemptedAt: at, LatencyMs: int32(a.Latency.Milliseconds())}
	if a.StatusCode != 0 {
		code := int32(a.StatusCode)
		att.StatusCode = &code
	}
	if a.Excerpt != "" {
		att.ResponseExcerpt = &a.Excerpt
	}
	var se *outgoing.StatusError
	if a.Err != nil && !errors.As(a.Err, &se) {
		msg := a.Err.Error()
		att.Error = &msg
	}
	var lost bool
	err := pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if _, err := q.WebhookDeliveryAttemptInsert(ctx, att); err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		_, err := q.WebhookDeliveryRecordResult(ctx, db.WebhookDeliveryRecordResultParams{
			ID: row.ID, LeaseToken: *row.LeaseToken, Status: string(status), AttemptedAt: at, NextAttemptAt: next,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			lost = true // the attempt happened; its outcome is the new holder's
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	outcome := outcomeLabel(status, lost)
	attempts.WithLabelValues(row.EventType, outcome).Inc()
	// IDs and the status only: the answer's excerpt is for admins.
	switch {
	case lost:
		d.Logger.Warn("webhook delivery attempt made after its lease ran out; another dispatcher owns it",
			"delivery_id", row.ID.String(), "event_type", row.EventType)
	case status == Failed:
		d.Logger.Error("webhook delivery failed: retries are over; an admin may replay it",
			"delivery_id", row.ID.String(), "event_type", row.EventType, "attempts", row.AttemptCount+1, "status_code", a.StatusCode)
	case status == Pending:
		d.Logger.Warn("webhook delivery attempt failed; retrying",
			"delivery_id", row.ID.String(), "event_type", row.EventType, "attempt", row.AttemptCount+1, "status_code", a.StatusCode, "next_attempt_at", next)
	}
	return nil
}

// backoff is the pause after the n-th failed attempt: MinBackoff doubled
// each time up to MaxBackoff, of which a random half to all is taken
// (jitter: receivers coming back are not hit by every retry at once).
func (d *Dispatcher) backoff(n int) time.Duration {
	b := d.MaxBackoff
	if n < 40 {
		b = min(d.MinBackoff<<(n-1), d.MaxBackoff)
	}
	return b/2 + time.Duration(rand.Int64N(int64(b/2)+1))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
