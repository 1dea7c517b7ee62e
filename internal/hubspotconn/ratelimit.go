package hubspotconn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspot"
)

// minRetryWait is the shortest a refused caller sleeps before asking again,
// so that a wait worked out as zero (another process took the slot between
// the refusal and the read) never spins.
const minRetryWait = time.Millisecond

// SharedLimiter is a hubspot.RateLimiter whose budgets every process on the
// database shares: per portal, all calls and searches, each a GCRA
// (hubspot.WindowGCRA) whose state is a row of hubspot_rate_limits. Each
// admission is one atomic INSERT … ON CONFLICT DO UPDATE … WHERE timed by
// the database's clock (clock_timestamp()), so the processes' clocks do not
// matter; a search is admitted only when both budgets allow it and then
// draws on both, in the same statement. A refused caller reads the row,
// sleeps until its budget allows one more call (honouring ctx) and asks
// again.
//
// In a process, the callers waiting on one portal queue behind one another
// (one queue for searches, one for other calls), so only the head of each
// queue polls the database. It is safe for concurrent use; one per process.
type SharedLimiter struct {
	q          *db.Queries
	all        hubspot.GCRA
	search     hubspot.GCRA
	allEmit    pgtype.Interval
	allLimit   pgtype.Interval
	searchEmit pgtype.Interval
	searchLim  pgtype.Interval

	mu     sync.Mutex
	queues map[queueKey]chan struct{}
}

type queueKey struct {
	portalID int64
	search   bool
}

var _ hubspot.HoldingLimiter = (*SharedLimiter)(nil)

// NewSharedLimiter returns a limiter holding every portal, across all the
// processes that use pool's database, to limits (zero fields take
// hubspot.DefaultLimits' values).
func NewSharedLimiter(pool *pgxpool.Pool, limits hubspot.Limits) *SharedLimiter {
	all, search := limits.GCRA()
	return &SharedLimiter{
		q:   db.New(pool),
		all: all, search: search,
		allEmit: interval(all.Emission), allLimit: interval(all.Limit()),
		searchEmit: interval(search.Emission), searchLim: interval(search.Limit()),
		queues: map[queueKey]chan struct{}{},
	}
}

func interval(d time.Duration) pgtype.Interval {
	return pgtype.Interval{Microseconds: d.Microseconds(), Valid: true}
}

func (l *SharedLimiter) queue(portalID int64, search bool) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := queueKey{portalID, search}
	q, ok := l.queues[k]
	if !ok {
		q = make(chan struct{}, 1)
		l.queues[k] = q
	}
	return q
}

// Wait blocks until portalID may make one more call (a search when search is
// true, which draws on both budgets), or until ctx is done. When ctx's
// deadline comes before the budget would allow the call it returns at once
// with an error wrapping context.DeadlineExceeded. A refused or abandoned
// wait spends nothing.
func (l *SharedLimiter) Wait(ctx context.Context, portalID int64, search bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q := l.queue(portalID, search)
	select {
	case q <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-q }()

	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		_, err := l.q.HubSpotRateLimitAcquire(ctx, db.HubSpotRateLimitAcquireParams{
			PortalID: portalID, Search: search,
			AllEmission: l.allEmit, AllLimit: l.allLimit,
			SearchEmission: l.searchEmit, SearchLimit: l.searchLim,
		})
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return l.dbError(ctx, portalID, err)
		}
		wait, err := l.refusedWait(ctx, portalID, search)
		if err != nil {
			return l.dbError(ctx, portalID, err)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return &hubspot.WaitTooLongError{PortalID: portalID, Wait: wait}
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// HoldOff keeps the portal's calls (only its searches when search is true)
// from being admitted for d, in every process: HubSpot answered 429 and
// asked to wait that long (see hubspot.HoldingLimiter). When the hold ends
// calls resume at the budget's steady pace, not in a burst.
func (l *SharedLimiter) HoldOff(ctx context.Context, portalID int64, search bool, d time.Duration) error {
	if err := l.q.HubSpotRateLimitHoldOff(ctx, db.HubSpotRateLimitHoldOffParams{
		PortalID: portalID, Search: search, Hold: interval(d),
		AllLimit: l.allLimit, AllEmission: l.allEmit, SearchLimit: l.searchLim, SearchEmission: l.searchEmit,
	}); err != nil {
		return l.dbError(ctx, portalID, err)
	}
	return nil
}

// refusedWait is how long until the portal's budgets would admit the call,
// worked out from the stored theoretical arrival times and the database's
// clock: the call is admitted once max(tat, now) + T − now ≤ L, i.e. at
// tat + T − L.
func (l *SharedLimiter) refusedWait(ctx context.Context, portalID int64, search bool) (time.Duration, error) {
	st, err := l.q.HubSpotRateLimitGet(ctx, portalID)
	if errors.Is(err, pgx.ErrNoRows) {
		return minRetryWait, nil
	}
	if err != nil {
		return 0, err
	}
	wait := st.TatAll.Add(l.all.Emission - l.all.Limit()).Sub(st.Now)
	if search {
		wait = max(wait, st.TatSearch.Add(l.search.Emission-l.search.Limit()).Sub(st.Now))
	}
	return max(wait, minRetryWait), nil
}

// dbError reports a failed database round trip; when ctx ended, it is ctx's
// error that matters.
func (l *SharedLimiter) dbError(ctx context.Context, portalID int64, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return fmt.Errorf("hubspot: rate limiter for portal %d: %w", portalID, err)
}
