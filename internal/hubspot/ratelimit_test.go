package hubspot_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspot"
)

// TestLimiterKeepsABurstUnderHubSpotsLimit sends 300 calls as fast as the
// limiter lets them through to a simulator enforcing HubSpot's 110 per 10 s;
// the simulator and the limiter share a fake clock, so the ~30 s the burst
// takes pass at once. Without the limiter the same burst is refused from the
// 111th call.
func TestLimiterKeepsABurstUnderHubSpotsLimit(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

	t.Run("with the limiter", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock(start)
		limiter := hubspot.NewLimiter(hubspot.DefaultLimits, clock)
		sim := hubspotsim.Options{Now: clock.Now, DailyLimit: -1}
		e := newEnv(t, sim, hubspot.WithClock(clock))
		e.client = hubspot.New(e.url, staticToken(e.portal.PrivateAppToken), hubspot.WithClock(clock), hubspot.WithLimiter(limiter, e.portal.ID))
		ctx := testContext(t)
		for i := range 300 {
			if _, err := e.client.List(ctx, hubspot.Contacts, hubspot.ListOptions{Limit: 1}); err != nil {
				t.Fatalf("call %d at +%s: %v", i+1, clock.Now().Sub(start), err)
			}
		}
		if got := e.sim.Requests(e.portal.ID); got != 300 {
			t.Errorf("simulator counted %d requests, want 300", got)
		}
		if elapsed := clock.Now().Sub(start); elapsed < 20*time.Second || elapsed > 40*time.Second {
			t.Errorf("300 calls took %s of fake time, want about 30 s at 100 per 10 s", elapsed)
		}
	})

	t.Run("without the limiter", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock(start)
		e := newEnv(t, hubspotsim.Options{Now: clock.Now, DailyLimit: -1}, hubspot.WithClock(clock))
		ctx := testContext(t)
		for i := range 300 {
			_, err := e.client.List(ctx, hubspot.Contacts, hubspot.ListOptions{Limit: 1})
			if err == nil {
				continue
			}
			as[*hubspot.RateLimitError](t, err)
			if i != 110 {
				t.Errorf("first 429 on call %d, want call 111", i+1)
			}
			return
		}
		t.Fatal("300 calls in no time were all accepted: the simulator does not enforce 110 per 10 s")
	})
}

func TestLimiterSearchesUnderFivePerSecond(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC))
	limiter := hubspot.NewLimiter(hubspot.DefaultLimits, clock)
	e := newEnv(t, hubspotsim.Options{Now: clock.Now, DailyLimit: -1})
	e.client = hubspot.New(e.url, staticToken(e.portal.PrivateAppToken), hubspot.WithClock(clock), hubspot.WithLimiter(limiter, e.portal.ID))
	ctx := testContext(t)
	for i := range 40 {
		if _, err := e.client.Search(ctx, hubspot.Contacts, hubspot.SearchRequest{Limit: 1}); err != nil {
			t.Fatalf("search %d: %v", i+1, err)
		}
	}
}

// TestLimiterWindows checks the guarantee itself: whatever the pattern of
// calls, no window of the configured length holds more than the configured
// number, per portal, and portals do not share budgets.
func TestLimiterWindows(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	clock := newFakeClock(start)
	limits := hubspot.Limits{Requests: 100, Per: 10 * time.Second, Searches: 4, SearchPer: time.Second}
	l := hubspot.NewLimiter(limits, clock)
	ctx := context.Background()

	var all, searches []time.Time
	for i := range 400 {
		search := i%3 == 0
		if err := l.Wait(ctx, 1, search); err != nil {
			t.Fatal(err)
		}
		all = append(all, clock.Now())
		if search {
			searches = append(searches, clock.Now())
		}
		if i%50 == 0 {
			clock.Advance(1500 * time.Millisecond) // a pause now and then
		}
	}
	if n := maxInWindow(all, limits.Per); n > limits.Requests {
		t.Errorf("%d calls in one %s window, want at most %d", n, limits.Per, limits.Requests)
	}
	if n := maxInWindow(searches, limits.SearchPer); n > limits.Searches {
		t.Errorf("%d searches in one %s window, want at most %d", n, limits.SearchPer, limits.Searches)
	}

	// Another portal starts with a full budget.
	before := clock.Now()
	for range 10 {
		if err := l.Wait(ctx, 2, false); err != nil {
			t.Fatal(err)
		}
	}
	if clock.Now() != before {
		t.Errorf("portal 2's first 10 calls waited %s: portals must not share budgets", clock.Now().Sub(before))
	}

	// A context that ends before the wait would: an error at once, nothing spent.
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	for range 20 {
		if err := l.Wait(short, 3, false); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want one wrapping context.DeadlineExceeded", err)
			}
			return
		}
	}
	t.Error("20 calls with a 10 ms deadline never hit the limit")
}

// maxInWindow is the most timestamps (sorted) within any closed window of
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

// TestWindowGCRA checks WindowGCRA's bound by simulation: callers admitted as
// early as GCRA lets them (a burst, then one per emission interval, after
// pauses of every length) never put more than n calls in a closed window of
// length per, and get close to n in the busiest one.
func TestWindowGCRA(t *testing.T) {
	t.Parallel()
	if g := hubspot.WindowGCRA(100, 10*time.Second); g.Burst != 10 || g.Emission != 109891*time.Microsecond {
		t.Errorf("WindowGCRA(100, 10 s) = %+v, want a burst of 10 every 109.891 ms", g)
	}
	if g := hubspot.WindowGCRA(4, time.Second); g.Burst != 1 || g.Emission != 250001*time.Microsecond {
		t.Errorf("WindowGCRA(4, 1 s) = %+v, want a burst of 1 every 250.001 ms", g)
	}
	all, search := hubspot.Limits{}.GCRA()
	if all != hubspot.WindowGCRA(100, 10*time.Second) || search != hubspot.WindowGCRA(4, time.Second) {
		t.Errorf("zero Limits' GCRA = %+v, %+v, want DefaultLimits'", all, search)
	}
	for _, per := range []time.Duration{time.Second, 10 * time.Second, 200 * time.Millisecond, 3700 * time.Millisecond} {
		for n := 1; n <= 120; n++ {
			g := hubspot.WindowGCRA(n, per)
			var admitted []time.Time
			start := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
			t0, tat := start, start
			for i := range 4 * n {
				// Earliest admission: max(tat, t) + T − t ≤ L.
				if earliest := tat.Add(g.Emission - g.Limit()); earliest.After(t0) {
					t0 = earliest
				}
				tat = later(tat, t0).Add(g.Emission)
				admitted = append(admitted, t0)
				if i%(n+3) == n+2 {
					t0 = t0.Add(time.Duration(i%5) * per / 3) // pauses of 0 to 4/3 windows
				}
			}
			got := maxInWindow(admitted, per)
			if got > n {
				t.Fatalf("WindowGCRA(%d, %s) = %+v let %d calls into one window", n, per, g, got)
			}
			if n >= 10 && got < n-1 {
				t.Errorf("WindowGCRA(%d, %s) = %+v: busiest window holds only %d calls", n, per, g, got)
			}
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// TestLimiterHoldsOffAfterA429: other apps of the portal use up its
// ten-second budget (the simulator's rate_limit mode). The first call meets
// HubSpot's 429; the limiter then holds the portal's next call for HubSpot's
// wait instead of sending it into the storm, and it goes through once the
// storm is over. A call whose context ends before the hold does gets a
// WaitTooLongError, which an activity returns as a rate limit retried after
// the hold.
func TestLimiterHoldsOffAfterA429(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	clock := newFakeClock(start)
	limiter := hubspot.NewLimiter(hubspot.DefaultLimits, clock)
	e := newEnv(t, hubspotsim.Options{Now: clock.Now}, hubspot.WithClock(clock))
	e.client = hubspot.New(e.url, staticToken(e.portal.PrivateAppToken), hubspot.WithClock(clock), hubspot.WithLimiter(limiter, e.portal.ID))
	if _, err := e.sim.SetMode(e.portal.ID, hubspotsim.Mode{Kind: hubspotsim.ModeRateLimit, For: hubspotsim.Duration(8 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	_, err := e.client.List(ctx, hubspot.Contacts, hubspot.ListOptions{Limit: 1})
	if rl := as[*hubspot.RateLimitError](t, err); rl.RetryAfter != 10*time.Second {
		t.Fatalf("429 = %+v, want HubSpot's 10 s window", rl)
	}

	// A caller that may wait one second only is told how long the hold is.
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err = e.client.List(short, hubspot.Contacts, hubspot.ListOptions{Limit: 1})
	tooLong := as[*hubspot.WaitTooLongError](t, err)
	if tooLong.Wait != 10*time.Second || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait refused with %+v", tooLong)
	}
	var appErr *temporal.ApplicationError
	if !errors.As(hubspot.TemporalError(err), &appErr) || appErr.Type() != hubspot.ErrorTypeRateLimited || appErr.NonRetryable() || appErr.NextRetryDelay() != 10*time.Second {
		t.Fatalf("an activity would return %v", hubspot.TemporalError(err))
	}

	// One that may wait is held 10 s and then goes through.
	if _, err := e.client.List(ctx, hubspot.Contacts, hubspot.ListOptions{Limit: 1}); err != nil {
		t.Fatalf("after the hold: %v", err)
	}
	if held := clock.Now().Sub(start); held < 10*time.Second {
		t.Fatalf("the second call went %s after the 429, before HubSpot's 10 s", held)
	}
	if calls := e.sim.Calls(e.portal.ID); len(calls) != 2 || calls[0].Status != 429 || calls[1].Status != 200 {
		t.Fatalf("HubSpot saw %+v; want the 429 and the call after the hold", calls)
	}
}
