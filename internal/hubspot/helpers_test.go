package hubspot_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspot"
)

// fakeClock is a clock shared by the simulator and the client: sleeping on it
// moves it forward at once, so waiting out a 10-second window takes no time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(start time.Time) *fakeClock { return &fakeClock{now: start} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
}

// env is one simulator behind an HTTP server, one portal, and a client
// authenticated with the portal's private-app token.
type env struct {
	sim    *hubspotsim.Simulator
	url    string
	portal *hubspotsim.Portal
	client *hubspot.Client
}

func newEnv(t *testing.T, opts hubspotsim.Options, clientOpts ...hubspot.Option) *env {
	t.Helper()
	sim := hubspotsim.New(opts)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	portal := sim.CreatePortal("Acme")
	clientOpts = append([]hubspot.Option{hubspot.WithTimeout(10 * time.Second)}, clientOpts...)
	c := hubspot.New(srv.URL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: portal.PrivateAppToken}), clientOpts...)
	return &env{sim: sim, url: srv.URL, portal: portal, client: c}
}

// unlimited are simulator options with no rate limits, for tests that make
// many calls and are not about limits.
func unlimited() hubspotsim.Options {
	return hubspotsim.Options{RateLimitPerTenSeconds: -1, SearchPerSecond: -1, DailyLimit: -1}
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// as asserts that err is (or wraps) a *T and returns it.
func as[T error](t *testing.T, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error = %v (%T), want a %T", err, err, target)
	}
	return target
}

func staticToken(token string) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})
}
