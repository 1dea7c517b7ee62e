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
// searches per second per portal, for one worker process.
var DefaultLimits = Limits{Requests: 100, Per: 10 * time.Second, Searches: 4, SearchPer: time.Second}

// Limiter holds each portal's calls, in this process, to Limits: a token
// bucket per portal for all calls and one for searches, waited on before
// each request. It is safe for concurrent use; share one per process.
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
}

// NewLimiter returns a Limiter holding every portal to limits (zero fields
// take DefaultLimits' values). clock may be nil for the wall clock.
func NewLimiter(limits Limits, clock Clock) *Limiter {
	if limits.Requests <= 0 || limits.Per <= 0 {
		limits.Requests, limits.Per = DefaultLimits.Requests, DefaultLimits.Per
	}
	if limits.Searches <= 0 || limits.SearchPer <= 0 {
		limits.Searches, limits.SearchPer = DefaultLimits.Searches, DefaultLimits.SearchPer
	}
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
		return fmt.Errorf("hubspot: rate limiter: waiting %s for portal %d would outlast the context's deadline: %w", delay, portalID, context.DeadlineExceeded)
	}
	if err := l.clock.Sleep(ctx, delay); err != nil {
		cancel()
		return err
	}
	return nil
}
