package hubspotconn_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
)

// hitRecorder records the simulator's answers to CRM requests, timed by the
// simulator's clock.
type hitRecorder struct {
	now func() time.Time // nil: time.Now

	mu   sync.Mutex
	hits []hit
}

type hit struct {
	at     time.Time
	search bool
	status int
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (r *hitRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !strings.HasPrefix(req.URL.Path, "/crm/") {
			h.ServeHTTP(w, req)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, req)
		now := time.Now
		if r.now != nil {
			now = r.now
		}
		r.mu.Lock()
		r.hits = append(r.hits, hit{at: now(), search: strings.HasSuffix(req.URL.Path, "/search"), status: sw.status})
		r.mu.Unlock()
	})
}

// load is what the simulator saw of a run, in simulator time.
type load struct {
	accepted, refused   int           // 2xx, 429
	searches            int           // accepted searches
	span                time.Duration // first to last accepted request
	maxPer10s, maxPer1s int           // accepted requests in the busiest 10 s; searches in the busiest second
}

func (r *hitRecorder) load() load {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all, searches []time.Time
	var l load
	for _, h := range r.hits {
		switch {
		case h.status == http.StatusTooManyRequests:
			l.refused++
		case h.status >= 200 && h.status <= 299:
			all = append(all, h.at)
			if h.search {
				searches = append(searches, h.at)
			}
		}
	}
	slices.SortFunc(all, func(a, b time.Time) int { return a.Compare(b) })
	slices.SortFunc(searches, func(a, b time.Time) int { return a.Compare(b) })
	l.accepted, l.searches = len(all), len(searches)
	if len(all) > 0 {
		l.span = all[len(all)-1].Sub(all[0])
	}
	l.maxPer10s, l.maxPer1s = maxInWindow(all, 10*time.Second), maxInWindow(searches, time.Second)
	return l
}

// maxInWindow is the most of the sorted times ts within one closed window of
// length w.
func maxInWindow(ts []time.Time, w time.Duration) int {
	best, lo := 0, 0
	for hi := range ts {
		for ts[hi].Sub(ts[lo]) > w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// speedup is how much faster than real time the simulator's clock runs in
// TestSharedLimiterHoldsHubSpotsLimitsAcrossProcesses: its 10-s and 1-s
// windows last 2 s and 200 ms of real time. The limiters, timed by
// Postgres's real clock, get budgets over windows as much shorter.
const speedup = 5

// TestSharedLimiterHoldsHubSpotsLimitsAcrossProcesses: two "worker
// processes" (two managers, each with its own pool and limiter, over one
// database), each with many goroutines calling one portal as fast as they
// are let through — lists and searches — for 3 s of real time (15 s of the
// simulator's, which enforces HubSpot's 110 per 10 s and 5 searches per
// second). With the limiter shared through Postgres the simulator never
// answers 429; with an in-process limiter in each process (the same budget
// each) it does, which shows the test can fail.
func TestSharedLimiterHoldsHubSpotsLimitsAcrossProcesses(t *testing.T) {
	t.Parallel()
	for _, shared := range []bool{true, false} {
		name := map[bool]string{true: "shared through Postgres", false: "one in-process limiter per process"}[shared]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := hammer(t, shared, 3*time.Second)
			perSecond := float64(got.accepted) / got.span.Seconds()
			t.Logf("simulator time: %d requests accepted (%d searches), %d refused with 429, over %.1f s: %.1f requests/s on average (%.0f per 10 s); busiest 10 s: %d requests; busiest second: %d searches",
				got.accepted, got.searches, got.refused, got.span.Seconds(), perSecond, perSecond*10, got.maxPer10s, got.maxPer1s)
			if !shared {
				if got.refused == 0 {
					t.Errorf("no 429 without the shared limiter: the load does not exceed HubSpot's limits, so the test proves nothing")
				}
				return
			}
			if got.refused > 0 {
				t.Errorf("the simulator refused %d requests with 429: the processes together exceeded HubSpot's limits", got.refused)
			}
			if got.maxPer10s > 110 || got.maxPer1s > 5 {
				t.Errorf("busiest windows: %d requests in 10 s, %d searches in 1 s; HubSpot allows 110 and 5", got.maxPer10s, got.maxPer1s)
			}
			// The budget is 100 per 10 s (a sustained 91 after a burst of
			// 10) over ~15 s, about 145 requests: the limiter must not
			// starve the callers either. The floor is half of that: on a
			// loaded 2-core machine (every package's tests at once) the
			// callers themselves manage about 105, while a limiter that
			// starves them lets through a few dozen.
			if got.accepted < 70 || got.searches < 10 {
				t.Errorf("only %d requests (%d searches) went through in 15 s of simulator time; want about 145 (searches about 4 per second while they last)", got.accepted, got.searches)
			}
		})
	}
}

// hammer runs the load of TestSharedLimiterHoldsHubSpotsLimitsAcrossProcesses
// for d of real time.
func hammer(t *testing.T, shared bool, d time.Duration) load {
	start := time.Now()
	simNow := func() time.Time { return start.Add(time.Since(start) * speedup) }
	w := newWorld(t, hubspotsim.Options{Now: simNow, DailyLimit: -1})
	w.connect(t)

	limits := hubspot.Limits{Requests: 100, Per: 10 * time.Second / speedup, Searches: 4, SearchPer: time.Second / speedup}
	clients := make([]*hubspot.Client, 2)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for i := range clients {
		pool, err := pgxpool.New(context.Background(), w.db.URL) // another process's pool
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		var limiter hubspot.RateLimiter = hubspot.NewLimiter(limits, nil)
		if shared {
			limiter = hubspotconn.NewSharedLimiter(pool, limits)
		}
		m := w.newManager(t, func(o *hubspotconn.Options) { o.Limiter = limiter })
		if clients[i], _, err = m.Client(ctx, w.workspace.ID); err != nil {
			t.Fatal(err)
		}
	}

	const goroutines = 6 // per process; every third searches
	var wg sync.WaitGroup
	var failures atomic.Int64
	for p, c := range clients {
		for g := range goroutines {
			wg.Go(func() {
				for ctx.Err() == nil {
					var err error
					if g%3 == 0 {
						_, err = c.Search(ctx, hubspot.Contacts, hubspot.SearchRequest{Limit: 1})
					} else {
						_, err = c.List(ctx, hubspot.Contacts, hubspot.ListOptions{Limit: 1})
					}
					var rl *hubspot.RateLimitError
					if err == nil || errors.As(err, &rl) || ctx.Err() != nil {
						continue
					}
					if errors.Is(err, context.DeadlineExceeded) {
						return // the limiter's wait would outlast the run
					}
					if failures.Add(1) <= 3 {
						t.Errorf("process %d, goroutine %d: %v", p, g, err)
					}
				}
			})
		}
	}
	wg.Wait()
	return w.hits.load()
}

func TestSharedLimiterWaits(t *testing.T) {
	t.Parallel()
	database := testenv.NewDatabase(t)
	ctx := context.Background()
	// 2 calls per 400 ms: a burst of 1, then one every 200.001 ms.
	l := hubspotconn.NewSharedLimiter(database.Pool, hubspot.Limits{Requests: 2, Per: 400 * time.Millisecond})
	begin := time.Now()
	for range 3 {
		if err := l.Wait(ctx, 7, false); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(begin); took < 390*time.Millisecond || took > 2*time.Second {
		t.Errorf("3 calls at 2 per 400 ms took %s, want about 400 ms", took)
	}
}

func TestSharedLimiterWaitHonoursContext(t *testing.T) {
	t.Parallel()
	database := testenv.NewDatabase(t)
	ctx := context.Background()
	// One call, then one every 10 s.
	l := hubspotconn.NewSharedLimiter(database.Pool, hubspot.Limits{Requests: 2, Per: 20 * time.Second})
	const portal = 11
	if err := l.Wait(ctx, portal, false); err != nil {
		t.Fatal(err)
	}
	before, err := database.Queries.HubSpotRateLimitGet(ctx, portal)
	if err != nil {
		t.Fatal(err)
	}

	// Cancelled while waiting: returns at once with ctx's error.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	begin := time.Now()
	if err := l.Wait(cctx, portal, false); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: err = %v, want context.Canceled", err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("cancelled wait returned after %s", took)
	}

	// A deadline before the budget allows the call: an error at once.
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	begin = time.Now()
	if err := l.Wait(dctx, portal, false); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait past the deadline: err = %v, want one wrapping context.DeadlineExceeded", err)
	}
	if took := time.Since(begin); took > 500*time.Millisecond {
		t.Errorf("a wait that cannot end before the deadline took %s to say so", took)
	}

	// Neither spent anything.
	after, err := database.Queries.HubSpotRateLimitGet(ctx, portal)
	if err != nil {
		t.Fatal(err)
	}
	if !after.TatAll.Equal(before.TatAll) || !after.TatSearch.Equal(before.TatSearch) {
		t.Errorf("abandoned waits moved the budget: tat %s → %s", before.TatAll, after.TatAll)
	}
}

// admitted tells whether the limiter lets a call through within 200 ms.
func admitted(t *testing.T, l hubspot.RateLimiter, portal int64, search bool) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := l.Wait(ctx, portal, search)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	return err == nil
}

func TestSharedLimiterBuckets(t *testing.T) {
	t.Parallel()
	database := testenv.NewDatabase(t)

	t.Run("searches have their own budget", func(t *testing.T) {
		// Plenty of calls, but one search and then one every 10 s.
		l := hubspotconn.NewSharedLimiter(database.Pool, hubspot.Limits{Requests: 1000, Per: time.Second, Searches: 2, SearchPer: 20 * time.Second})
		if !admitted(t, l, 21, true) {
			t.Fatal("first search refused")
		}
		if admitted(t, l, 21, true) {
			t.Error("a second search went through at once: the search budget is not enforced")
		}
		for i := range 5 {
			if !admitted(t, l, 21, false) {
				t.Fatalf("call %d refused while only the search budget is spent", i+1)
			}
		}
	})

	t.Run("a search counts against all calls too", func(t *testing.T) {
		// One call and then one every 10 s; searches plentiful.
		l := hubspotconn.NewSharedLimiter(database.Pool, hubspot.Limits{Requests: 2, Per: 20 * time.Second, Searches: 1000, SearchPer: time.Second})
		if !admitted(t, l, 22, true) {
			t.Fatal("first search refused")
		}
		if admitted(t, l, 22, false) {
			t.Error("a call went through at once after a search spent the budget of all calls")
		}
		if admitted(t, l, 22, true) {
			t.Error("a search went through with the budget of all calls spent")
		}
	})

	t.Run("portals do not share budgets", func(t *testing.T) {
		l := hubspotconn.NewSharedLimiter(database.Pool, hubspot.Limits{Requests: 2, Per: 20 * time.Second})
		if !admitted(t, l, 23, false) {
			t.Fatal("first call refused")
		}
		if admitted(t, l, 23, false) {
			t.Fatal("second call went through at once")
		}
		if !admitted(t, l, 24, false) {
			t.Error("portal 24's first call waited on portal 23's budget")
		}
	})

	t.Run("other processes share the budget", func(t *testing.T) {
		pool, err := pgxpool.New(context.Background(), database.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		limits := hubspot.Limits{Requests: 2, Per: 20 * time.Second}
		one, other := hubspotconn.NewSharedLimiter(database.Pool, limits), hubspotconn.NewSharedLimiter(pool, limits)
		if !admitted(t, one, 25, false) {
			t.Fatal("first call refused")
		}
		if admitted(t, other, 25, false) {
			t.Error("another process's limiter let a call through on a spent budget")
		}
	})
}

// TestSharedLimiterProbesAfterAHold: when HubSpot's wait is over, the calls
// held back do not all go at once (the burst a quiet portal would allow):
// one goes first, as a probe, and the next only an emission interval later,
// so a storm that outlasts HubSpot's wait costs one refused call, not one
// per waiting caller.
func TestSharedLimiterProbesAfterAHold(t *testing.T) {
	t.Parallel()
	database := testenv.NewDatabase(t)
	ctx := context.Background()
	// A burst of 10 calls, then one every 1.1 s.
	l := hubspotconn.NewSharedLimiter(database.Pool, hubspot.Limits{Requests: 100, Per: 100 * time.Second})
	const portal = 43
	if !admitted(t, l, portal, false) || !admitted(t, l, portal, false) {
		t.Fatal("a quiet portal refused its burst")
	}
	if err := l.HoldOff(ctx, portal, false, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := l.Wait(wait, portal, false); err != nil {
		t.Fatalf("the probe after the hold: %v", err)
	}
	if admitted(t, l, portal, false) {
		t.Fatal("a second call went right behind the probe: the hold let the burst through")
	}
}

// TestSharedLimiterHoldOff: after HubSpot's 429 one process holds the portal
// off, and every process's calls wait out the hold (searches only, for the
// search limit's 429); a shorter hold does not cut a longer one short.
func TestSharedLimiterHoldOff(t *testing.T) {
	t.Parallel()
	database := testenv.NewDatabase(t)
	ctx := context.Background()
	one := hubspotconn.NewSharedLimiter(database.Pool, hubspot.Limits{})
	other := hubspotconn.NewSharedLimiter(database.Pool, hubspot.Limits{}) // another process
	const portal, searchPortal = 41, 42
	if err := one.HoldOff(ctx, portal, false, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := one.HoldOff(ctx, portal, false, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var tooLong *hubspot.WaitTooLongError
	if err := other.Wait(short, portal, true); !errors.As(err, &tooLong) || tooLong.Wait < time.Second || tooLong.Wait > 1500*time.Millisecond {
		t.Fatalf("a search during the hold: %v", err)
	}
	begin := time.Now()
	if err := other.Wait(ctx, portal, false); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < time.Second {
		t.Fatalf("a call went %s into a 1.5 s hold", took)
	}

	if err := one.HoldOff(ctx, searchPortal, true, time.Hour); err != nil {
		t.Fatal(err)
	}
	if !admitted(t, other, searchPortal, false) {
		t.Fatal("the search limit's hold stopped a call that is not a search")
	}
	if admitted(t, other, searchPortal, true) {
		t.Fatal("a search went through the search limit's hold")
	}
}
