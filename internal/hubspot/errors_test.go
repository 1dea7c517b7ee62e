package hubspot_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspot"
)

func TestTypedErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)

	// 400 naming the property.
	_, err := e.client.Create(ctx, hubspot.Contacts, hubspot.CreateInput{Properties: map[string]string{"email": "v@example.com", "no_such_prop": "x"}})
	v := as[*hubspot.ValidationError](t, err)
	if v.StatusCode != 400 || v.Property != "no_such_prop" || v.CorrelationID == "" || v.Category != "VALIDATION_ERROR" {
		t.Errorf("validation error = %+v", v)
	}
	if !strings.Contains(v.Error(), "no_such_prop") {
		t.Errorf("message %q does not name the property", v.Error())
	}
	var api *hubspot.APIError
	if !errors.As(err, &api) || api.StatusCode != 400 {
		t.Errorf("a typed error must unwrap to its *APIError: %v", err)
	}

	// 404.
	_, err = e.client.Get(ctx, hubspot.Deals, "123456789", hubspot.GetOptions{})
	nf := as[*hubspot.NotFoundError](t, err)
	if nf.StatusCode != 404 || nf.CorrelationID == "" {
		t.Errorf("not found = %+v", nf)
	}

	// 409 with the existing ID.
	first, err := e.client.Create(ctx, hubspot.Contacts, hubspot.CreateInput{Properties: map[string]string{"email": "dup@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.Create(ctx, hubspot.Contacts, hubspot.CreateInput{Properties: map[string]string{"email": "dup@example.com"}})
	c := as[*hubspot.ConflictError](t, err)
	if c.StatusCode != 409 || c.ExistingID != first.ID || c.CorrelationID == "" {
		t.Errorf("conflict = %+v, want existing ID %s", c, first.ID)
	}

	// 5xx, injected.
	e.sim.FailNext(e.portal.ID, 503, 1)
	_, err = e.client.Get(ctx, hubspot.Contacts, first.ID, hubspot.GetOptions{})
	s := as[*hubspot.ServerError](t, err)
	if s.StatusCode != 503 || s.CorrelationID == "" {
		t.Errorf("server error = %+v", s)
	}
	if _, err := e.client.Get(ctx, hubspot.Contacts, first.ID, hubspot.GetOptions{}); err != nil {
		t.Errorf("the call after the injected failure: %v", err)
	}

	// 401, with a token HubSpot does not know; the token never shows.
	const secret = "pat-na1-00000000-dead-beef-0000-000000000000"
	bad := hubspot.New(e.url, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: secret}))
	_, err = bad.Get(ctx, hubspot.Contacts, first.ID, hubspot.GetOptions{})
	u := as[*hubspot.UnauthorizedError](t, err)
	if u.StatusCode != 401 {
		t.Errorf("unauthorized = %+v", u)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("the error shows the token: %v", err)
	}
}

func TestTokenSourceFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)
	before := e.sim.Requests(e.portal.ID)

	broken := hubspot.New(e.url, failingSource{fmt.Errorf("refresh refused: %w", hubspot.ErrConnectionBroken)})
	_, err := broken.Get(ctx, hubspot.Contacts, "1", hubspot.GetOptions{})
	if te := as[*hubspot.TokenError](t, err); !te.Broken() {
		t.Errorf("token error %v: Broken() = false", te)
	}
	invalidGrant := hubspot.New(e.url, failingSource{&oauth2.RetrieveError{ErrorCode: "invalid_grant"}})
	_, err = invalidGrant.Get(ctx, hubspot.Contacts, "1", hubspot.GetOptions{})
	if te := as[*hubspot.TokenError](t, err); !te.Broken() {
		t.Errorf("invalid_grant %v: Broken() = false", te)
	}
	passing := hubspot.New(e.url, failingSource{errors.New("dial tcp: connection refused")})
	_, err = passing.Get(ctx, hubspot.Contacts, "1", hubspot.GetOptions{})
	if te := as[*hubspot.TokenError](t, err); te.Broken() {
		t.Errorf("a passing token failure %v says broken", te)
	}
	if e.sim.Requests(e.portal.ID) != before {
		t.Error("a call without a token reached HubSpot")
	}
}

type failingSource struct{ err error }

func (f failingSource) Token() (*oauth2.Token, error) { return nil, f.err }

func TestRateLimitErrorsCarryTheWait(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 5, 4, 18, 0, 0, 0, time.UTC)

	t.Run("ten secondly rolling", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock(start)
		e := newEnv(t, hubspotsim.Options{RateLimitPerTenSeconds: 3, SearchPerSecond: -1, DailyLimit: -1, Now: clock.Now}, hubspot.WithClock(clock))
		ctx := testContext(t)
		for range 3 {
			if _, err := e.client.List(ctx, hubspot.Contacts, hubspot.ListOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := e.client.List(ctx, hubspot.Contacts, hubspot.ListOptions{})
		rl := as[*hubspot.RateLimitError](t, err)
		if rl.StatusCode != 429 || rl.Policy != hubspot.PolicyTenSecondlyRolling {
			t.Fatalf("rate limit = %+v", rl)
		}
		if rl.RetryAfter <= 0 || rl.RetryAfter > 10*time.Second {
			t.Fatalf("RetryAfter = %s, want the rest of the 10-s window", rl.RetryAfter)
		}
		// Waiting that long is enough.
		clock.Advance(rl.RetryAfter)
		if _, err := e.client.List(ctx, hubspot.Contacts, hubspot.ListOptions{}); err != nil {
			t.Errorf("after waiting RetryAfter (%s): %v", rl.RetryAfter, err)
		}
	})

	t.Run("search secondly", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock(start)
		e := newEnv(t, hubspotsim.Options{RateLimitPerTenSeconds: -1, SearchPerSecond: 2, DailyLimit: -1, Now: clock.Now}, hubspot.WithClock(clock))
		ctx := testContext(t)
		for range 2 {
			if _, err := e.client.Search(ctx, hubspot.Contacts, hubspot.SearchRequest{}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := e.client.Search(ctx, hubspot.Contacts, hubspot.SearchRequest{})
		rl := as[*hubspot.RateLimitError](t, err)
		if rl.Policy != hubspot.PolicySecondly || rl.RetryAfter <= 0 || rl.RetryAfter > time.Second {
			t.Fatalf("search rate limit = %+v, want SECONDLY and about a second", rl)
		}
		// Other calls are not held by the search limit.
		if _, err := e.client.List(ctx, hubspot.Contacts, hubspot.ListOptions{}); err != nil {
			t.Errorf("a list call during the search limit: %v", err)
		}
		clock.Advance(rl.RetryAfter)
		if _, err := e.client.Search(ctx, hubspot.Contacts, hubspot.SearchRequest{}); err != nil {
			t.Errorf("after waiting RetryAfter (%s): %v", rl.RetryAfter, err)
		}
	})

	t.Run("daily", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock(start)
		e := newEnv(t, hubspotsim.Options{RateLimitPerTenSeconds: -1, SearchPerSecond: -1, DailyLimit: 2, Now: clock.Now}, hubspot.WithClock(clock))
		ctx := testContext(t)
		for range 2 {
			if _, err := e.client.List(ctx, hubspot.Contacts, hubspot.ListOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := e.client.List(ctx, hubspot.Contacts, hubspot.ListOptions{})
		rl := as[*hubspot.RateLimitError](t, err)
		if rl.Policy != hubspot.PolicyDaily || rl.RetryAfter != 6*time.Hour {
			t.Fatalf("daily rate limit = %+v, want DAILY and 6h (18:00 to midnight UTC)", rl)
		}
	})

	// Knowing the account's time zone, the client waits until the account's
	// midnight, when HubSpot resets the daily count: for a New York portal at
	// 18:00 UTC (14:00 there), 10 hours.
	t.Run("daily in the account's time zone", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock(start)
		e := newEnv(t, hubspotsim.Options{Now: clock.Now}, hubspot.WithClock(clock))
		ctx := testContext(t)
		account, err := e.client.AccountDetails(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if account.PortalID != e.portal.ID || account.TimeZone != "America/New_York" || account.UTCOffsetMilliseconds != -4*3600*1000 {
			t.Fatalf("account %+v", account)
		}
		if _, err := e.sim.SetMode(e.portal.ID, hubspotsim.Mode{Kind: hubspotsim.ModeDailyLimit}); err != nil {
			t.Fatal(err)
		}
		c := hubspot.New(e.url, staticToken(e.portal.PrivateAppToken), hubspot.WithClock(clock), hubspot.WithTimeZone(account.Location()))
		_, err = c.List(ctx, hubspot.Contacts, hubspot.ListOptions{})
		rl := as[*hubspot.RateLimitError](t, err)
		if rl.Policy != hubspot.PolicyDaily || rl.RetryAfter != 10*time.Hour {
			t.Fatalf("daily rate limit = %+v, want DAILY and 10h (14:00 to midnight in New York)", rl)
		}
		clock.Advance(rl.RetryAfter)
		if _, err := c.List(ctx, hubspot.Contacts, hubspot.ListOptions{}); err != nil {
			t.Fatalf("at the account's midnight: %v", err)
		}
	})

	t.Run("injected", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, unlimited())
		ctx := testContext(t)
		e.sim.FailNext(e.portal.ID, 429, 1)
		_, err := e.client.List(ctx, hubspot.Contacts, hubspot.ListOptions{})
		rl := as[*hubspot.RateLimitError](t, err)
		if rl.Policy != hubspot.PolicyTenSecondlyRolling || rl.RetryAfter <= 0 || rl.RetryAfter > 10*time.Second {
			t.Fatalf("injected 429 = %+v", rl)
		}
	})
}

func TestNoAnswerAndMisconfiguration(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)

	// A HubSpot that cannot be reached: a transport error, retryable.
	e := newEnv(t, unlimited())
	down := httptest.NewServer(e.sim.Handler())
	down.Close()
	c := hubspot.New(down.URL, staticToken(e.portal.PrivateAppToken))
	_, err := c.Get(ctx, hubspot.Contacts, "1", hubspot.GetOptions{})
	as[*hubspot.TransportError](t, err)
	if appErr := appError(t, hubspot.TemporalError(err)); appErr.NonRetryable() || appErr.Type() != hubspot.ErrorTypeTransport {
		t.Errorf("unreachable HubSpot: %s, non-retryable %v", appErr.Type(), appErr.NonRetryable())
	}

	for _, base := range []string{"", "not a url", "ftp://example.com", "http://"} {
		_, err := hubspot.New(base, staticToken("x")).Get(ctx, hubspot.Contacts, "1", hubspot.GetOptions{})
		if !errors.Is(err, hubspot.ErrInvalidRequest) {
			t.Errorf("base URL %q: err = %v, want ErrInvalidRequest", base, err)
		}
	}
	_, err = hubspot.New(e.url, nil).Get(ctx, hubspot.Contacts, "1", hubspot.GetOptions{})
	if !errors.Is(err, hubspot.ErrInvalidRequest) {
		t.Errorf("no token source: err = %v, want ErrInvalidRequest", err)
	}
}
