package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
)

// BenchmarkCSVImport uploads a members file of REFERFLOW_BENCH_IMPORT_ROWS
// rows (default 1,000,000, about 60 MB) over real loopback HTTP to the API,
// generated as it is sent (the client holds no file), and waits for its
// workflow to add every row, with the API and the worker in this process,
// as `referflow dev` runs them. It reports rows per second of the upload
// (streamed into Postgres) and of the whole import, and the process's peak
// resident memory (VmHWM, reset after set-up) and Go heap during each.
//
//	go test -run '^$' -bench BenchmarkCSVImport -benchtime=1x ./api/
func BenchmarkCSVImport(b *testing.B) {
	rows := 1_000_000
	if v := os.Getenv("REFERFLOW_BENCH_IMPORT_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("REFERFLOW_BENCH_IMPORT_ROWS: want a count of rows, got %q", v)
		}
		rows = n
	}
	d := testenv.NewDatabase(b)
	tc := testenv.NewTemporal(b)
	srv := New(Deps{
		Pool: d.Pool, Temporal: tc.Client, Logger: slog.New(slog.DiscardHandler),
		Auth:      &adminauth.Authenticator{Queries: d.Queries, Sessions: adminauth.NewSessions([]byte("test-key-0123456789abcdef0123456"))},
		TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue,
	})
	ws := worker.New(tc.Client, d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue})
	if err := ws.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ws.Stop)
	fx := d.SeedReferral(b)
	_, key, err := adminauth.CreateAdmin(context.Background(), d.Queries, fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	b.Cleanup(hs.Close)

	for b.Loop() {
		baseline := residentKiB(b, "VmRSS")
		resetPeakRSS(b)
		mem := sampleMemory()

		body, w := io.Pipe()
		go func() {
			bw := bufio.NewWriterSize(w, 64<<10)
			fmt.Fprintln(bw, "email,first_name,last_name,external_id")
			for i := range rows {
				fmt.Fprintf(bw, "member-%d@bench.example.com,First%d,Last%d,ext-%d\n", i, i, i, i)
			}
			_ = bw.Flush()
			_ = w.Close()
		}()
		req, _ := http.NewRequest("POST", hs.URL+"/api/v1/campaigns/"+fx.Campaign.ID.String()+"/imports?kind=members", body)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "text/csv")
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		uploaded := time.Since(start)
		var v ImportView
		if err := json.Unmarshal(raw, &v); res.StatusCode != http.StatusAccepted || err != nil || int(v.RowsRead) != rows {
			b.Fatalf("upload = %d %s", res.StatusCode, raw)
		}
		uploadPeak, uploadHeap := residentKiB(b, "VmHWM"), mem.heapPeak()
		resetPeakRSS(b)
		for {
			imp, err := d.Queries.ImportGetByID(context.Background(), mustUUID(v.ID))
			if err != nil {
				b.Fatal(err)
			}
			if imp.Status == string(referral.ImportCompleted) || imp.Status == string(referral.ImportFailed) {
				if imp.RowsAdded != int32(rows) {
					b.Fatalf("import ended %s with %d added of %d", imp.Status, imp.RowsAdded, rows)
				}
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		total := time.Since(start)
		mem.stop()
		b.ReportMetric(float64(rows)/uploaded.Seconds(), "upload-rows/s")
		b.ReportMetric(float64(rows)/total.Seconds(), "rows/s")
		b.ReportMetric(total.Seconds(), "total-s")
		b.ReportMetric(float64(baseline)/1024, "baseline-RSS-MiB")
		b.ReportMetric(float64(uploadPeak)/1024, "upload-peak-RSS-MiB")
		b.ReportMetric(float64(residentKiB(b, "VmHWM"))/1024, "processing-peak-RSS-MiB")
		b.ReportMetric(float64(uploadHeap)/(1<<20), "upload-peak-heap-MiB")
		b.ReportMetric(float64(mem.heapPeak())/(1<<20), "peak-heap-MiB")
	}
}

// residentKiB reads a line of /proc/self/status (VmRSS, VmHWM) in KiB.
func residentKiB(b *testing.B, field string) int {
	b.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("needs Linux's /proc/self/status")
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// resetPeakRSS starts VmHWM again from the current RSS (Linux: writing 5 to
// clear_refs).
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the peak RSS (%v): it then includes set-up", err)
	}
}

// memorySampler keeps the Go heap's peak, sampled every 100 ms.
type memorySampler struct {
	mu   sync.Mutex
	peak uint64
	done chan struct{}
}

func sampleMemory() *memorySampler {
	m := &memorySampler{done: make(chan struct{})}
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-t.C:
				h := heapInUse()
				m.mu.Lock()
				m.peak = max(m.peak, h)
				m.mu.Unlock()
			}
		}
	}()
	return m
}

func (m *memorySampler) heapPeak() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.peak
	m.peak = 0
	return p
}

func (m *memorySampler) stop() { close(m.done) }

func heapInUse() uint64 {
	var s [1]metrics.Sample
	s[0].Name = "/memory/classes/heap/objects:bytes"
	metrics.Read(s[:])
	return s[0].Value.Uint64()
}

func mustUUID(s string) uuid.UUID { return uuid.MustParse(s) }
