package outgoing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referflow/referflow/internal/outgoing"
)

// Every delivery attempt is counted by what came of it, so failing
// receivers show on /metrics before anyone reads a log.
func TestDeliveriesAreCountedByOutcome(t *testing.T) {
	t.Parallel()
	codes := make(chan int, 3)
	codes <- http.StatusNoContent
	codes <- http.StatusBadRequest
	codes <- http.StatusBadGateway
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(<-codes) }))
	defer srv.Close()
	dead := httptest.NewServer(nil)
	dead.Close()

	// An event type of this test's own keeps its counts apart from the
	// other tests' deliveries.
	const eventType = "test.counted"
	secrets, body := [][]byte{[]byte("secret")}, []byte(`{"id":"e1"}`)
	ctx := context.Background()
	client := outgoing.NewClient(loopback)
	for range 3 {
		_ = outgoing.Post(ctx, client, srv.URL, secrets, "e1", eventType, body)
	}
	_ = outgoing.Post(ctx, client, dead.URL, secrets, "e1", eventType, body)
	_ = outgoing.Post(ctx, client, "ftp://example.org/hook", secrets, "e1", eventType, body)

	reg := prometheus.NewRegistry()
	reg.MustRegister(outgoing.Metrics())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["type"] == eventType {
				got[labels["outcome"]] = m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{
		outgoing.OutcomeDelivered: 1, outgoing.OutcomeClientError: 1, outgoing.OutcomeServerError: 1,
		outgoing.OutcomeTransportError: 1, outgoing.OutcomeInvalidURL: 1,
	}
	for outcome, n := range want {
		if got[outcome] != n {
			t.Errorf("referflow_webhook_deliveries_total{type=%q,outcome=%q} = %v, want %v", eventType, outcome, got[outcome], n)
		}
	}
}
