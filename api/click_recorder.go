package api

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/referflow/referflow/db"
)

// Clicks on referral links are the busiest traffic a viral campaign makes, so
// the api process does not write each one as it comes: it buffers them in
// memory and writes them in batches with one COPY. A batch is written when it
// holds ClickBuffer.BatchSize clicks, or ClickBuffer.Interval after its first
// click, whichever comes first, and everything buffered is written when the
// server shuts down. The buffer is bounded: when MaxPending clicks are
// waiting (buffered or being written), a new click is dropped and counted
// rather than making the visitor wait. A crash loses at most the clicks not
// yet written — those of the last flush interval. A click is a measurement,
// never a referral: nothing else depends on it being written.

// ClickBuffer tunes the click buffer; zero fields take the defaults.
type ClickBuffer struct {
	// Interval is the longest a click waits in memory (default 100 ms).
	Interval time.Duration
	// BatchSize writes a batch as soon as this many clicks wait (default 500).
	BatchSize int
	// MaxPending bounds the clicks held in memory, buffered or being
	// written (default 20,000); more are dropped and counted. With a
	// BatchSize above it, only the Interval writes.
	MaxPending int
}

func (o ClickBuffer) withDefaults() ClickBuffer {
	if o.Interval <= 0 {
		o.Interval = 100 * time.Millisecond
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 20_000
	}
	return o
}

// clickRecorder is the buffer. It runs no goroutine while idle: the first
// click of a batch arms a timer, a full batch is written at once.
type clickRecorder struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	opts   ClickBuffer

	mu      sync.Mutex
	buf     []db.ClickInsertBatchParams
	pending int // buffered + being written
	timer   *time.Timer
	closed  bool
	writing sync.WaitGroup

	// lost counts clicks never written, by reason: dropped (the buffer was
	// full or the server shutting down) or failed (the write failed).
	lost *prometheus.CounterVec
}

func newClickRecorder(pool *pgxpool.Pool, logger *slog.Logger, reg prometheus.Registerer, opts ClickBuffer) *clickRecorder {
	r := &clickRecorder{
		pool: pool, logger: logger, opts: opts.withDefaults(),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "referflow_clicks_lost_total",
			Help: "Clicks on referral links never written, by reason: dropped (buffer full) or failed (the database refused the batch).",
		}, []string{"reason"}),
	}
	r.lost.WithLabelValues("dropped")
	r.lost.WithLabelValues("failed")
	reg.MustRegister(r.lost)
	return r
}

// add buffers a click; it never waits for the database.
func (r *clickRecorder) add(click db.ClickInsertBatchParams) {
	r.mu.Lock()
	if r.closed || r.pending >= r.opts.MaxPending {
		r.mu.Unlock()
		r.lost.WithLabelValues("dropped").Inc()
		return
	}
	r.buf = append(r.buf, click)
	r.pending++
	var batch []db.ClickInsertBatchParams
	switch {
	case len(r.buf) >= r.opts.BatchSize:
		batch = r.takeLocked()
	case r.timer == nil:
		r.timer = time.AfterFunc(r.opts.Interval, r.flushDue)
	}
	if batch != nil {
		r.writing.Add(1)
	}
	r.mu.Unlock()
	if batch != nil {
		go func() {
			defer r.writing.Done()
			r.write(batch)
		}()
	}
}

// takeLocked takes the buffered clicks and disarms the timer.
func (r *clickRecorder) takeLocked() []db.ClickInsertBatchParams {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	batch := r.buf
	r.buf = nil
	return batch
}

func (r *clickRecorder) flushDue() {
	r.mu.Lock()
	batch := r.takeLocked()
	if len(batch) > 0 {
		r.writing.Add(1)
	}
	r.mu.Unlock()
	if len(batch) > 0 {
		defer r.writing.Done()
		r.write(batch)
	}
}

// flush writes what is buffered and waits for every write under way.
func (r *clickRecorder) flush() {
	r.flushDue()
	r.writing.Wait()
}

// close flushes and refuses (drops) later clicks: the server is stopping.
func (r *clickRecorder) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.flush()
}

func (r *clickRecorder) write(batch []db.ClickInsertBatchParams) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := db.New(r.pool).ClickInsertBatch(ctx, batch)
	r.mu.Lock()
	r.pending -= len(batch)
	r.mu.Unlock()
	if err != nil {
		r.lost.WithLabelValues("failed").Add(float64(len(batch)))
		// Counts only: a click's visitor hash and page are not for logs.
		r.logger.Error("writing clicks failed", "clicks", len(batch), "error", err.Error())
	}
}
