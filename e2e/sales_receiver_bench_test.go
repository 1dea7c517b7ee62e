package e2e_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
)

// BenchmarkDealWonToRewardWebhook measures the Sales Receiver end to end, as
// a user experiences it: from a deal moved to the winning stage in HubSpot
// (the simulator) to the reward webhook reaching the campaign's fulfilment
// endpoint. In between: HubSpot-style delivery (events batched for 100 ms,
// at most 10 requests in flight, signed), the webhook endpoint recording
// the sales entries, the dispatcher routing them to the referrals'
// workflows, the status change and the reward. 500 referrals; deals are won
// at REFERFLOW_BENCH_RATE per second (default 20; 0: all at once). b.N is
// ignored: the figure is a distribution, reported as p50/p99 milliseconds.
//
//	go test -run '^$' -bench DealWonToRewardWebhook -benchtime 1x ./worker/
func BenchmarkDealWonToRewardWebhook(b *testing.B) {
	rate := benchRate(b, 20, true)
	const referrals = 500
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	st := newSalesReceiverStack(b, ctx, hubspotsim.WebhookOptions{})
	ids, deals := st.addReferrals(b, ctx, referrals)

	b.ResetTimer()
	won := make([]time.Time, referrals)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10) // people closing deals at once
	for i, deal := range deals {
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			won[i] = time.Now()
			if err := st.hs.Sim.UpdateObject(st.hs.PortalID, "deals", deal, map[string]string{"dealstage": "closedwon"}); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	for {
		st.mu.Lock()
		n := len(st.rewards)
		st.mu.Unlock()
		if n == referrals {
			break
		}
		if ctx.Err() != nil {
			b.Fatalf("only %d of %d reward webhooks arrived", n, referrals)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()

	st.mu.Lock()
	defer st.mu.Unlock()
	lat := make([]time.Duration, 0, referrals)
	for i, id := range ids {
		arrivals := st.rewards[id]
		if len(arrivals) != 1 {
			b.Fatalf("referral %s: %d reward webhooks, want 1", id, len(arrivals))
		}
		lat = append(lat, arrivals[0].Sub(won[i]))
	}
	reportLatencies(b, lat)
}
