package e2e_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/salesentry"
	"github.com/referflow/referflow/workflows"
)

// BenchmarkSalesEntryMatching measures, on the local stack (Postgres, the
// pinned Temporal dev server, one worker, the HubSpot simulator), the time
// from starting a sales entry's workflow (what the dispatcher does) to the
// entry being processed: the contact read from HubSpot, matched by a
// matching rule holding a member's referral code, a referral added from
// HubSpot, its workflow started and the change forwarded to it. 100 entries
// (b.N is ignored: the figure is a distribution, p50/p99 in milliseconds)
// arrive at REFERFLOW_BENCH_RATE per second (default 5; the HubSpot task
// queue dispatches at most 10 HubSpot activities a second, one per entry).
//
//	go test -run '^$' -bench SalesEntryMatching -benchtime 1x ./worker/
func BenchmarkSalesEntryMatching(b *testing.B) {
	rate := benchRate(b, 5, false)
	const entries = 100
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s := newSalesEntryStack(b, campaign.ProcessRules{AutoProcessDirectMatches: true})
	ids := make([]int64, entries)
	for i := range ids {
		ids[i] = s.contactChange(b, map[string]string{
			"email": fmt.Sprintf("lead%d@bench.test", i), "firstname": "Lead", hubspotobject.PropReferredByCode: s.fx.Member.ReferralCode,
		}, "lifecyclestage", "lead").ID
	}

	b.ResetTimer()
	latencies := make([]time.Duration, entries)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for i, id := range ids {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			var st workflows.SalesEntryState
			run, err := s.tc.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.SalesEntryWorkflowID(id), TaskQueue: s.tc.TaskQueue},
				workflows.SalesEntryWorkflowType, workflows.SalesEntryInput{SalesEntryID: id, HubSpotTaskQueue: s.tc.HubSpotTaskQueue})
			if err == nil {
				err = run.Get(ctx, &st)
			}
			if err != nil {
				b.Errorf("entry %d: %v", id, err)
				return
			}
			if st.Status != salesentry.Processed || st.Match == nil || !st.Match.ReferralAdded {
				b.Errorf("entry %d ended %+v", id, st)
			}
			latencies[i] = time.Since(start)
		}()
	}
	wg.Wait()
	b.StopTimer()
	reportLatencies(b, latencies)
}
