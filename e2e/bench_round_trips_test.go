package e2e_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"

	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// BenchmarkConversionRoundTrips counts the requests the worker's Temporal
// client makes to the server per conversion: 100 referrals waiting in their
// workflows each get the winning deal stage, and every gRPC call from the
// signal until the conversion is finished (its reward announced, the member
// written or not) is counted by method and divided by 100. Polls that
// return a task count; polls still open at the end count too, so a few are
// noise. REFERFLOW_BENCH_FAILURES=n makes the fulfilment endpoint answer 500
// to the first n deliveries of each event (a receiver that is down for a
// while).
//
//	go test -run '^$' -bench ConversionRoundTrips -benchtime 1x ./e2e/
func BenchmarkConversionRoundTrips(b *testing.B) {
	const referrals = 100
	failures := 0
	if v := os.Getenv("REFERFLOW_BENCH_FAILURES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			b.Fatalf("REFERFLOW_BENCH_FAILURES: want a whole number, got %q", v)
		}
		failures = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	d := testenv.NewDatabase(b)
	tc := testenv.NewTemporal(b)
	fx := d.SeedReferral(b)

	var counting atomic.Bool
	var calls sync.Map // method → *atomic.Int64
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if counting.Load() {
			n, _ := calls.LoadOrStore(method[strings.LastIndex(method, "/")+1:], new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort: tc.Address, Namespace: tc.Namespace,
		ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(count)}},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()

	var mu sync.Mutex
	deliveries := map[string]int{}
	announced := map[string]bool{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		id := r.Header.Get("Referflow-Event-Id")
		mu.Lock()
		defer mu.Unlock()
		deliveries[id]++
		if deliveries[id] <= failures {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		announced[id] = true
	}))
	defer receiver.Close()

	rewardOnWin(b, ctx, d, fx, receiver.URL)
	stop := startBenchWorker(b, ctx, c, d, tc)
	defer stop()

	ids := listeningReferrals(b, ctx, d, fx, c, tc, referrals)
	waitForEvents := func(where string, want int) {
		for {
			var n int
			if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM referral_events WHERE `+where).Scan(&n); err != nil {
				b.Fatal(err)
			}
			if n >= want {
				return
			}
			if ctx.Err() != nil {
				b.Fatalf("%d of %d events %s", n, want, where)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(time.Second) // let the last workflow tasks complete

	b.ResetTimer()
	counting.Store(true)
	for i, id := range ids {
		ch := workflows.HubSpotChange{ObjectType: "deal", ObjectID: int64(3000000 + i), Property: "dealstage", Value: "closedwon", OccurredAt: time.Now(), DedupeKey: "won-" + id}
		if err := c.SignalWorkflow(ctx, workflows.ReferralWorkflowID(id), "", workflows.SignalHubSpotChange, ch); err != nil {
			b.Fatal(err)
		}
	}
	waitForEvents("kind IN ('member_written_to_hubspot', 'member_not_written_to_hubspot')", referrals)
	for {
		mu.Lock()
		n := len(announced)
		mu.Unlock()
		if n == referrals {
			break
		}
		if ctx.Err() != nil {
			b.Fatalf("only %d of %d rewards announced", n, referrals)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // the last workflow tasks complete
	counting.Store(false)
	b.StopTimer()

	var methods []string
	total := int64(0)
	calls.Range(func(k, v any) bool {
		methods = append(methods, k.(string))
		total += v.(*atomic.Int64).Load()
		return true
	})
	slices.Sort(methods)
	for _, m := range methods {
		n, _ := calls.Load(m)
		b.Logf("%-40s %7.2f per conversion", m, float64(n.(*atomic.Int64).Load())/referrals)
	}
	b.ReportMetric(float64(total)/referrals, "requests/conversion")
}

// startBenchWorker runs referflow's workers on c for a benchmark and returns
// what stops them.
func startBenchWorker(b *testing.B, ctx context.Context, c client.Client, d *testenv.Database, tc *testenv.Temporal) func() {
	b.Helper()
	ws := worker.New(c, d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue, WebhookPolicy: testenv.LoopbackWebhooks(b)})
	if err := ws.Start(); err != nil {
		b.Fatal(err)
	}
	return ws.Stop
}
