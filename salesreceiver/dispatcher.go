package salesreceiver

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/internal/pglisten"
)

// Defaults of the Dispatcher's tuning fields.
const (
	DefaultBatchSize    = 200
	DefaultConcurrency  = 16
	DefaultPollInterval = time.Second
	DefaultCallTimeout  = 10 * time.Second
	DefaultMinBackoff   = time.Second
	DefaultMaxBackoff   = 5 * time.Minute
	// ErrorAfterAttempts is the number of failed attempts after which an
	// entry's retries are logged at error level: it keeps being retried,
	// but someone should look.
	ErrorAfterAttempts = 10
)

// Dispatcher routes due sales entries until its context ends. Run as many
// as there are worker processes: each claims its own batches.
type Dispatcher struct {
	Pool     *pgxpool.Pool
	Temporal client.Client
	// TaskQueue is where sales-entry workflows start; HubSpotTaskQueue is
	// passed to them for their HubSpot activities.
	TaskQueue        string
	HubSpotTaskQueue string
	Logger           *slog.Logger

	// Tuning; zero values take the defaults above.
	BatchSize    int
	Concurrency  int
	PollInterval time.Duration
	// CallTimeout bounds one Temporal call: the SDK retries an unreachable
	// server until the deadline.
	CallTimeout            time.Duration
	MinBackoff, MaxBackoff time.Duration

	// listenerPID is the Postgres backend of the listening connection (0
	// while there is none), for tests that cut it.
	listenerPID atomic.Uint32
}

func (d *Dispatcher) fill() {
	if d.BatchSize <= 0 {
		d.BatchSize = DefaultBatchSize
	}
	if d.Concurrency <= 0 {
		d.Concurrency = DefaultConcurrency
	}
	if d.PollInterval <= 0 {
		d.PollInterval = DefaultPollInterval
	}
	if d.CallTimeout <= 0 {
		d.CallTimeout = DefaultCallTimeout
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
}

// Run dispatches entries until ctx ends: at once when the webhook endpoint
// notifies, and every PollInterval for entries whose retry came due (or
// whose notification was missed while the listening connection was down).
// It returns nil when ctx ends, after the batch in progress is recorded;
// failures of Postgres or Temporal are logged and retried, never returned.
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.Pool == nil || d.Temporal == nil {
		return errors.New("salesreceiver: a Dispatcher needs Pool and Temporal")
	}
	if d.TaskQueue == "" {
		return errors.New("salesreceiver: a Dispatcher needs the TaskQueue sales-entry workflows run on")
	}
	d.fill()
	wake := pglisten.NewWaker()
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		pglisten.Listen(ctx, d.Pool, NotifyChannel, wake.Poke, d.Logger, &d.listenerPID)
	}()
	defer func() { <-listening }()

	ticker := time.NewTicker(d.PollInterval)
	defer ticker.Stop()
	for {
		// A batch runs to the end even when ctx ends meanwhile, so what
		// was sent to Temporal is also recorded.
		full := d.dispatchOnce(context.WithoutCancel(ctx))
		if full && ctx.Err() == nil {
			continue // more are due: no need to wait
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-ticker.C:
		}
	}
}
