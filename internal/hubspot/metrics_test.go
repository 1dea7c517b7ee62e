package hubspot_test

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspot"
)

type failingTokens struct{}

func (failingTokens) Token() (*oauth2.Token, error) { return nil, errors.New("no token today") }

// Every call is counted once by what came of it, and its wait on the rate
// limiter is timed.
func TestMetricsCountCallsByOutcome(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := hubspot.NewMetrics(reg)
	e := newEnv(t, hubspotsim.Options{RateLimitPerTenSeconds: 2, SearchPerSecond: -1, DailyLimit: -1},
		hubspot.WithMetrics(m), hubspot.WithLimiter(hubspot.NewLimiter(hubspot.Limits{}, nil), 1))
	ctx := testContext(t)

	if _, err := e.client.Create(ctx, hubspot.Contacts, hubspot.CreateInput{Properties: map[string]string{"email": "ana@example.org"}}); err != nil {
		t.Fatal(err)
	}
	var notFound *hubspot.NotFoundError
	if _, err := e.client.Get(ctx, hubspot.Contacts, "999999", hubspot.GetOptions{}); !errors.As(err, &notFound) {
		t.Fatalf("get a missing contact: %v, want a 404", err)
	}
	var limited *hubspot.RateLimitError
	if _, err := e.client.Get(ctx, hubspot.Contacts, "999999", hubspot.GetOptions{}); !errors.As(err, &limited) {
		t.Fatalf("third call in 10 s with a limit of 2: %v, want a 429", err)
	}
	dead := httptest.NewServer(nil)
	dead.Close()
	if _, err := hubspot.New(dead.URL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"}), hubspot.WithMetrics(m)).
		Get(ctx, hubspot.Contacts, "1", hubspot.GetOptions{}); err == nil {
		t.Fatal("a call to a closed server succeeded")
	}
	if _, err := hubspot.New(e.url, failingTokens{}, hubspot.WithMetrics(m)).Get(ctx, hubspot.Contacts, "1", hubspot.GetOptions{}); err == nil {
		t.Fatal("a call without a token succeeded")
	}

	got := gather(t, reg)
	for outcome, want := range map[string]float64{
		hubspot.OutcomeOK: 1, hubspot.OutcomeNotFound: 1, hubspot.OutcomeRateLimited: 1,
		hubspot.OutcomeTransportError: 1, hubspot.OutcomeNotSent: 1, hubspot.OutcomeServerError: 0,
	} {
		if v := got[`referflow_hubspot_calls_total{outcome="`+outcome+`"}`]; v != want {
			t.Errorf("referflow_hubspot_calls_total{outcome=%q} = %v, want %v", outcome, v, want)
		}
	}
	if n := got[`referflow_hubspot_rate_limit_wait_seconds{kind="general"}`]; n != 3 {
		t.Errorf("rate-limit waits timed = %v, want 3 (the calls with a limiter)", n)
	}
}

// gather reads reg as a scrape would: counters' and gauges' values, and
// histograms' sample counts, by name{labels}.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName() + "{"
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += l.GetName() + `="` + l.GetValue() + `"`
			}
			key += "}"
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}
