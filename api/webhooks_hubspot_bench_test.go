package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspot/signature"
)

// intakeSenders is how many deliveries HubSpot keeps in flight per
// installing account.
const intakeSenders = 10

// BenchmarkHubSpotWebhookIntake measures the Sales Receiver's intake as
// HubSpot loads it: 10 concurrent senders posting v3-signed batches of 100
// distinct events to the real server over loopback HTTP, recorded in
// Postgres (one iteration is one batch). It reports sustained events/s and
// the p50/p99 answer time under that load, the median answer time of a batch
// sent alone (serial-p50-ms, from up to 30 batches sent one at a time
// first), then, in the same run and against the same
// Temporal dev server the tests use, bare SignalWithStartWorkflow
// throughput from 10 goroutines (10 signals per iteration, spread over
// workflows of a type no worker runs: a signal only needs the server), and
// the ratio of the two.
//
//	go test -run '^$' -bench HubSpotWebhookIntake -benchtime 300x ./api/
//
// The database pool is configured as `referflow api` configures it (pgx
// defaults: max(4, CPUs) connections).
func BenchmarkHubSpotWebhookIntake(b *testing.B) {
	ctx := context.Background()
	d := testenv.NewDatabase(b)
	cfg, err := pgxpool.ParseConfig(d.URL)
	if err != nil {
		b.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()

	// A connected portal, so every delivery also updates its connection.
	const portalID = 62515
	ws, err := d.Queries.WorkspaceCreate(ctx, db.WorkspaceCreateParams{Name: "Acme", WebhookSigningSecret: "whsec"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := d.Queries.HubSpotConnectionUpsert(ctx, db.HubSpotConnectionUpsertParams{WorkspaceID: ws.ID, PortalID: portalID, Scopes: []string{}}); err != nil {
		b.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	public, _ := url.Parse(base)
	srv := New(Deps{Pool: pool, Logger: slog.New(slog.DiscardHandler), PublicURL: public, WebhookSecret: testWebhookSecret})
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln, 5*time.Second) }()
	defer func() { stop(); <-served }()

	// Every batch is 100 events no other batch holds; the first serial ones
	// are sent one at a time, before the concurrent load.
	serial := min(b.N, 30)
	bodies := make([][]byte, serial+b.N)
	for i := range bodies {
		events := make([]string, 100)
		for j := range events {
			id := int64(i*100 + j + 1)
			events[j] = webhookDealEvent(id, portalID, 1000+id%5000, "closedwon", 0)
		}
		bodies[i] = []byte(webhookBatch(events...))
	}
	target := base + "/webhooks/hubspot"
	post := func(hc *http.Client, body []byte) (time.Duration, error) {
		req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(signature.HeaderV3, signature.V3(testWebhookSecret, http.MethodPost, target, body, ts))
		req.Header.Set(signature.HeaderTimestamp, ts)
		sent := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(sent)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), `"recorded":100`) {
			return took, fmt.Errorf("%d %s", resp.StatusCode, answer)
		}
		return took, nil
	}

	// One batch at a time: what a 100-event batch costs when nothing else
	// is waiting.
	serialLatencies := make([]time.Duration, serial)
	hc := &http.Client{Timeout: 10 * time.Second}
	for i := range serial {
		took, err := post(hc, bodies[i])
		if err != nil {
			b.Fatal(err)
		}
		serialLatencies[i] = took
	}
	hc.CloseIdleConnections()
	slices.Sort(serialLatencies)
	bodies = bodies[serial:]
	latencies := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Value

	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range intakeSenders {
		wg.Go(func() {
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
			defer hc.CloseIdleConnections()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				took, err := post(hc, bodies[i])
				if err != nil {
					failed.Store(fmt.Sprintf("batch %d: %v", i, err))
					return
				}
				latencies[i] = took
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if msg := failed.Load(); msg != nil {
		b.Fatal(msg)
	}
	var stored int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM sales_entries").Scan(&stored); err != nil || stored != 100*(serial+b.N) {
		b.Fatalf("%d sales entries stored (%v), want %d", stored, err, 100*(serial+b.N))
	}
	eventsPerSec := float64(100*b.N) / elapsed.Seconds()
	slices.Sort(latencies)

	signalsPerSec := signalWithStartThroughput(b, 10*b.N)

	b.ReportMetric(float64(intakePercentile(serialLatencies, 50).Microseconds())/1000, "serial-p50-ms")
	b.ReportMetric(eventsPerSec, "events/s")
	b.ReportMetric(float64(intakePercentile(latencies, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(intakePercentile(latencies, 99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(signalsPerSec, "signals/s")
	b.ReportMetric(eventsPerSec/signalsPerSec, "events/signal-ratio")
}

// signalWithStartThroughput sends n SignalWithStartWorkflow calls from 10
// goroutines and returns calls per second. Each goroutine cycles over 100
// workflow IDs of its own: the first pass starts them, later ones signal
// running workflows, as routing HubSpot events to referrals mostly does.
func signalWithStartThroughput(b *testing.B, n int) float64 {
	tc := testenv.NewTemporal(b)
	ctx := context.Background()
	prefix := fmt.Sprintf("bench-intake-%d", time.Now().UnixNano())
	var next atomic.Int64
	var failed atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for g := range intakeSenders {
		wg.Go(func() {
			for k := 0; ; k++ {
				if int(next.Add(1)) > n {
					return
				}
				id := fmt.Sprintf("%s/%d/%d", prefix, g, k%100)
				_, err := tc.Client.SignalWithStartWorkflow(ctx, id, "hubspot-change", map[string]any{"k": k},
					client.StartWorkflowOptions{ID: id, TaskQueue: tc.TaskQueue}, "BenchIntakeNoWorker")
				if err != nil {
					failed.Store(err.Error())
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if msg := failed.Load(); msg != nil {
		b.Fatal(msg)
	}
	return float64(n) / elapsed.Seconds()
}

func intakePercentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}
