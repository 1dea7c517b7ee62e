package hubspot

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits are the request budgets a Limiter holds each portal to.
type Limits struct {
	// Requests calls per Per, searches included.
	Requests int
	Per      time.Duration
	// Searches search calls per SearchPer.
	Searches  int
	SearchPer time.Duration
}

// DefaultLimits keep a margin under HubSpot's 110 requests per 10 s and 5
// searches per second per portal. They are the budget of every process
// together when the limiter is shared (hubspotconn's, through Postgres), of
// one process with the in-process Limiter.
var DefaultLimits = Limits{Requests: 100, Per: 10 * time.Second, Searches: 4, SearchPer: time.Second}

// WithDefaults returns l with its zero (or negative) budgets replaced by
// DefaultLimits' values.
func (l Limits) WithDefaults() Limits {
	if l.Requests <= 0 || l.Per <= 0 {
		l.Requests, l.Per = DefaultLimits.Requests, DefaultLimits.Per
	}
	if l.Searches <= 0 || l.SearchPer <= 0 {
		l.Searches, l.SearchPer = DefaultLimits.Searches, DefaultLimits.SearchPer
	}
	return l
}

// RateLimiter is what a Client waits on before each request (WithLimiter):
// it returns once portalID may make one more call — a search when search is
// true, which counts against both the search budget and the budget of all
// calls — or with an error when it cannot wait (ctx done, or its deadline
// coming before the wait would end: an error wrapping
// context.DeadlineExceeded at once). Implementations are safe for concurrent
// use.
//
// Limiter is the in-process implementation (one process's calls only: for
// tests and tools without a database); hubspotconn.SharedLimiter counts the
// calls of every process through Postgres and is what referflow's workers use.
type RateLimiter interface {
	Wait(ctx context.Context, portalID int64, search bool) error
}

// HoldingLimiter is a RateLimiter that also learns from HubSpot's 429s: a
// Client whose limiter is one calls HoldOff with HubSpot's wait when a call
// is answered 429, and the limiter then keeps the portal's other calls
// (only its searches, when search is true) waiting that long. HubSpot's
// budget counts the portal's other apps too, so a 429 can come however well
// the limiter paces referflow's calls; without this every caller would meet
// its own 429 before backing off, a storm costing one refused call per
// caller instead of one per window.
type HoldingLimiter interface {
	RateLimiter
	HoldOff(ctx context.Context, portalID int64, search bool, d time.Duration) error
}

// WaitTooLongError is a RateLimiter refusing to wait past its context's
// deadline: the portal's next call may go in Wait. It wraps
// context.DeadlineExceeded; TemporalError makes it a retry after Wait.
type WaitTooLongError struct {
	PortalID int64
	Wait     time.Duration
}

func (e *WaitTooLongError) Error() string {
	return fmt.Sprintf("hubspot: rate limiter: waiting %s for portal %d would outlast the context's deadline", e.Wait.Round(time.Millisecond), e.PortalID)
}

func (e *WaitTooLongError) Unwrap() error { return context.DeadlineExceeded }

var _ HoldingLimiter = (*Limiter)(nil)

// GCRA is the generic cell rate algorithm's parameters for one budget: a
// call is admitted at time t when max(tat, t) + Emission − t ≤ Limit(), and
// then tat (the theoretical arrival time) becomes max(tat, t) + Emission.
// Burst calls may go back to back after a pause; after that one call per
// Emission.
type GCRA struct {
	Emission time.Duration // T, a whole number of microseconds (Postgres' interval precision)
	Burst    int           // B ≥ 1; the limit L = B·T, the burst tolerance τ = L − T
}

// Limit is L = Burst × Emission.
func (g GCRA) Limit() time.Duration { return time.Duration(g.Burst) * g.Emission }

// WindowGCRA returns GCRA parameters under which no window of length per
// (closed: both ends included) ever holds more than n admitted calls,
// whatever their pattern: a burst of B = max(n/10, 1) and an emission
// interval T, in whole microseconds, just over per/(n+1−B).
//
// Proof. Let calls 1..m be admitted at times t_1..t_m (in the order they are
// admitted: in Postgres, the order in which they take the row's lock, their
// times need not be sorted) and all lie in one window [s, s+per]. Each
// admission raises tat by at least T, and the first sets it to at least
// t_1 + T, so before call m is admitted tat ≥ t_1 + (m−1)T. Admitting call m
// needs max(tat, t_m) + T − t_m ≤ L, hence t_1 + mT − t_m ≤ L, and
//
//	m ≤ (L + t_m − t_1)/T ≤ (per + L)/T = 1 + (per + τ)/T = per/T + B.
//
// m is an integer, so m ≤ ⌊per/T⌋ + B. T > per/(n+1−B) gives per/T < n+1−B,
// so ⌊per/T⌋ ≤ n−B and m ≤ n. For DefaultLimits: 100 calls per 10 s gives
// B = 10, T = 109.891 ms (a sustained 9.1 calls/s) and at most
// ⌊90.9992⌋ + 10 = 100 calls in any 10 s; 4 searches per second gives
// B = 1, T = 250.001 ms and at most ⌊3.99998⌋ + 1 = 4 searches in any second.
//
// The bound holds for the times calls are admitted. A call reaches HubSpot a
// little later, by a delay that varies (scheduling, the network); the margin
// of DefaultLimits under HubSpot's limits (100 of 110, 4 of 5) absorbs it:
// 111 calls admitted back to back span at least 101 × 109.891 ms ≈ 11.1 s,
// six searches at least 1.25 s.
func WindowGCRA(n int, per time.Duration) GCRA {
	n = max(n, 1)
	burst := max(n/10, 1)
	perUS := max(per.Microseconds(), 1)
	emissionUS := perUS/int64(n+1-burst) + 1
	return GCRA{Emission: time.Duration(emissionUS) * time.Microsecond, Burst: burst}
}

// GCRA returns the parameters of the two budgets, all calls and searches,
// after WithDefaults.
func (l Limits) GCRA() (all, search GCRA) {
	l = l.WithDefaults()
	return WindowGCRA(l.Requests, l.Per), WindowGCRA(l.Searches, l.SearchPer)
}

// Limiter holds each portal's calls, in this process, to Limits: a token
// bucket per portal for all calls and one for searches, waited on before
// each request. It is safe for concurrent use; share one per process. It
// knows nothing of other processes: with several worker processes use a
// shared RateLimiter (hubspotconn.SharedLimiter).
//
// A token bucket of rate N/W and burst N lets up to 2N calls through in one
// window of length W (a full bucket, then a window's refill), which HubSpot's
// rolling windows would answer with 429s. Each bucket here is sized so that
// burst + rate×W ≤ N: a burst of N/10 (at least 1) and a rate of
// (N − burst)/W. No window of length W then ever holds more than N calls,
// at the price of a sustained rate a little under N/W.
type Limiter struct {
	limits Limits
	clock  Clock

	mu      sync.Mutex
	portals map[int64]*portalBuckets
}

type portalBuckets struct {
	all    *rate.Limiter
	search *rate.Limiter
	// HoldOff: no call before heldAll, no search before heldSearch.
	heldAll, heldSearch time.Time
}

// NewLimiter returns a Limiter holding every portal to limits (zero fields
// take DefaultLimits' values). clock may be nil for the wall clock.
func NewLimiter(limits Limits, clock Clock) *Limiter {
	limits = limits.WithDefaults()
	if clock == nil {
		clock = realClock{}
	}
	return &Limiter{limits: limits, clock: clock, portals: map[int64]*portalBuckets{}}
}

// windowBucket is a token bucket that never lets more than n calls through
// in any window of length per.
func windowBucket(n int, per time.Duration) *rate.Limiter {
	burst := max(n/10, 1)
	refill := n - burst
	if refill <= 0 {
		refill = n
	}
	return rate.NewLimiter(rate.Limit(float64(refill)/per.Seconds()), burst)
}

func (l *Limiter) buckets(portalID int64) *portalBuckets {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.portals[portalID]
	if !ok {
		b = &portalBuckets{
			all:    windowBucket(l.limits.Requests, l.limits.Per),
			search: windowBucket(l.limits.Searches, l.limits.SearchPer),
		}
		l.portals[portalID] = b
	}
	return b
}

// Wait blocks until portalID may make one more call (a search when search is
// true, which draws on both buckets), or until ctx is done. When ctx's
// deadline comes before the wait would end it returns at once, leaving the
// budget untouched.
func (l *Limiter) Wait(ctx context.Context, portalID int64, search bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b := l.buckets(portalID)
	if hold := l.held(b, search); hold > 0 {
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < hold {
			return &WaitTooLongError{PortalID: portalID, Wait: hold}
		}
		if err := l.clock.Sleep(ctx, hold); err != nil {
			return err
		}
	}
	now := l.clock.Now()
	reservations := []*rate.Reservation{b.all.ReserveN(now, 1)}
	if search {
		reservations = append(reservations, b.search.ReserveN(now, 1))
	}
	cancel := func() {
		at := l.clock.Now()
		for _, r := range reservations {
			r.CancelAt(at)
		}
	}
	var delay time.Duration
	for _, r := range reservations {
		if !r.OK() {
			cancel()
			return fmt.Errorf("hubspot: rate limiter cannot grant a call for portal %d", portalID)
		}
		delay = max(delay, r.DelayFrom(now))
	}
	if delay <= 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < delay {
		cancel()
		return &WaitTooLongError{PortalID: portalID, Wait: delay}
	}
	if err := l.clock.Sleep(ctx, delay); err != nil {
		cancel()
		return err
	}
	return nil
}

// held is how long the portal is still held off (HoldOff) for a call of that
// kind.
func (l *Limiter) held(b *portalBuckets, search bool) time.Duration {
	l.mu.Lock()
	until := b.heldAll
	if search && b.heldSearch.After(until) {
		until = b.heldSearch
	}
	l.mu.Unlock()
	return until.Sub(l.clock.Now())
}

// HoldOff keeps the portal's calls (searches only, when search is true)
// waiting for d from now; a longer hold already in place stays.
func (l *Limiter) HoldOff(_ context.Context, portalID int64, search bool, d time.Duration) error {
	b := l.buckets(portalID)
	until := l.clock.Now().Add(d)
	l.mu.Lock()
	defer l.mu.Unlock()
	held := &b.heldAll
	if search {
		held = &b.heldSearch
	}
	if until.After(*held) {
		*held = until
	}
	return nil
}
