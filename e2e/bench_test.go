package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// BenchmarkSignalToRewardWebhook measures, on the local stack (Postgres, the
// pinned Temporal dev server, one worker), the time from sending the signal
// that carries the winning deal stage to the reward webhook arriving at the
// campaign's fulfilment endpoint, over 1,000 referrals (b.N is ignored: the
// figure is a distribution, reported as p50/p99 in milliseconds). Winning
// changes arrive at a steady rate, as deals close, from 10 concurrent
// senders; REFERFLOW_BENCH_RATE sets the rate per second (default 20; 0 sends
// them all at once, which measures how long a burst takes to drain).
//
//	go test -run '^$' -bench SignalToRewardWebhook -benchtime 1x ./worker/
func BenchmarkSignalToRewardWebhook(b *testing.B) {
	rate := benchRate(b, 20, true)
	const referrals = 1000
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	d := testenv.NewDatabase(b)
	tc := testenv.NewTemporal(b)
	fx := d.SeedReferral(b)

	var mu sync.Mutex
	arrived := map[string]time.Time{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Data struct {
				ReferralID string `json:"referral_id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		if _, seen := arrived[ev.Data.ReferralID]; !seen {
			arrived[ev.Data.ReferralID] = now
		}
		mu.Unlock()
	}))
	defer receiver.Close()

	rewardOnWin(b, ctx, d, fx, receiver.URL)
	ws := worker.New(tc.Client, d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue, WebhookPolicy: testenv.LoopbackWebhooks(b)})
	if err := ws.Start(); err != nil {
		b.Fatal(err)
	}
	defer ws.Stop()

	// Add the referrals and wait until every workflow listens.
	ids := listeningReferrals(b, ctx, d, fx, tc.Client, tc, referrals)

	// Send the winning changes, ten at a time as a webhook receiver would.
	b.ResetTimer()
	sent := make([]time.Time, referrals)
	sem := make(chan struct{}, 10)
	var wg sync.WaitGroup
	start := time.Now()
	for i, id := range ids {
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			sent[i] = time.Now()
			c := workflows.HubSpotChange{ObjectType: "deal", ObjectID: int64(3000000 + i), Property: "dealstage", Value: "closedwon", OccurredAt: sent[i], DedupeKey: "won-" + id}
			if err := tc.Client.SignalWorkflow(ctx, workflows.ReferralWorkflowID(id), "", workflows.SignalHubSpotChange, c); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	for {
		mu.Lock()
		n := len(arrived)
		mu.Unlock()
		if n == referrals {
			break
		}
		if ctx.Err() != nil {
			b.Fatalf("only %d of %d reward webhooks arrived", n, referrals)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.StopTimer()

	lat := make([]time.Duration, referrals)
	for i, id := range ids {
		lat[i] = arrived[id].Sub(sent[i])
	}
	reportLatencies(b, lat)

	// How much of it the outbox accounts for: from the reward's issue (the
	// event's time, when its webhook was queued) to its delivery.
	rows, err := d.Pool.Query(ctx, `SELECT EXTRACT(EPOCH FROM delivered_at - created_at)::float8 FROM webhook_deliveries WHERE delivered_at IS NOT NULL`)
	if err != nil {
		b.Fatal(err)
	}
	var queued []time.Duration
	for rows.Next() {
		var seconds float64
		if err := rows.Scan(&seconds); err != nil {
			b.Fatal(err)
		}
		queued = append(queued, time.Duration(seconds*float64(time.Second)))
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	slices.Sort(queued)
	if len(queued) > 0 {
		b.ReportMetric(float64(queued[len(queued)/2].Microseconds())/1000, "outbox-p50-ms")
		b.ReportMetric(float64(queued[len(queued)*99/100].Microseconds())/1000, "outbox-p99-ms")
	}
}
