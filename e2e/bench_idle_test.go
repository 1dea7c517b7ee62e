package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// BenchmarkIdleReferralWorkflows holds 10,000 open referral workflows at once
// on the local stack and reports what that costs: how long until every one
// has done its first work (loaded its referral, recorded workflow_started,
// passed the fraud checks, recorded lead_not_sent — the campaign sends
// nothing to HubSpot) and waits for HubSpot; the worker's heap and RSS; and
// the Temporal dev server's RSS and database size. Then it proves the
// workflows are alive: 100 of them, spread over the 10,000, get the winning
// deal stage and must move to approved and end.
//
// The worker runs inside the benchmark's own process (with the test binary,
// the pgx pool and the Temporal client), so the worker figures are that
// process's, reported with a baseline taken before any workflow started. The
// dev server is one the benchmark starts itself (the pinned CLI, SQLite
// file with WAL as `referflow dev` runs it), so its PID and file are known.
// The worker's sticky cache is the SDK's default of 10,000 workflows (worker.New
// does not change it); REFERFLOW_BENCH_STICKY_CACHE sets another size, and
// REFERFLOW_BENCH_IDLE another number of workflows. b.N is ignored.
//
//	go test -run '^$' -bench IdleReferralWorkflows -benchtime 1x -timeout 30m ./worker/
func BenchmarkIdleReferralWorkflows(b *testing.B) {
	if testing.Short() {
		b.Skip("holds 10,000 workflows for minutes; not run with -short")
	}
	referrals := envInt(b, "REFERFLOW_BENCH_IDLE", 10000)
	stickyCache := 10000 // the SDK's default
	if v := envInt(b, "REFERFLOW_BENCH_STICKY_CACHE", 0); v > 0 {
		stickyCache = v
		sdkworker.SetStickyWorkflowCacheSize(v)
	}
	b.Logf("load average at start: %s", loadAverage())
	ctx, cancel := context.WithTimeout(context.Background(), 28*time.Minute)
	defer cancel()

	srv := startOwnDevServer(b, filepath.Join(b.TempDir(), "temporal.db"))
	d := testenv.NewDatabase(b)
	fx := d.SeedReferral(b)
	s := campaign.Defaults() // leads action none: nothing waits on HubSpot
	s.StatusRules.Approved = &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}}
	d.SetCampaignSettings(b, fx.Campaign, s)

	ids := make([]string, referrals)
	for i := range ids {
		email := fmt.Sprintf("idle-lead-%d@example.org", i)
		r, err := d.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
			WorkspaceID: fx.Workspace.ID, CampaignID: fx.Campaign.ID, MemberID: fx.Member.ID,
			LeadEmail: email, LeadEmailNormalized: referral.NormalizeEmail(email), Source: "api",
		})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = r.ID.String()
	}

	queue := "idle-" + uuid.NewString()[:8]
	ws := worker.New(srv.Client, d.Pool, worker.Options{TaskQueue: queue, HubSpotTaskQueue: queue + "-hubspot"})
	if err := ws.Start(); err != nil {
		b.Fatal(err)
	}
	defer ws.Stop()
	before := measure(b, srv)

	// Start them all, 16 at a time, and wait until each has recorded
	// lead_not_sent: its last step before it listens.
	b.ResetTimer()
	start := time.Now()
	forEach(ctx, b, ids, 16, func(id string) error {
		_, err := workflows.StartReferralWorkflow(ctx, srv.Client, queue, queue+"-hubspot", id)
		return err
	})
	started := time.Since(start)
	for {
		var n int
		if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM referral_events WHERE kind = 'lead_not_sent'`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n == referrals {
			break
		}
		if ctx.Err() != nil {
			b.Fatalf("only %d of %d workflows reached lead_not_sent", n, referrals)
		}
		time.Sleep(500 * time.Millisecond)
	}
	listening := time.Since(start)
	// Then the server must agree: running, no workflow task and no activity
	// pending. (The task that follows lead_not_sent only publishes the
	// state, so a few may still be finishing it.)
	var rechecks atomic.Int64
	forEach(ctx, b, ids, 16, func(id string) error {
		for {
			desc, err := srv.Client.DescribeWorkflowExecution(ctx, workflows.ReferralWorkflowID(id), "")
			if err != nil {
				return err
			}
			if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				return fmt.Errorf("workflow of referral %s is %v, want running", id, st)
			}
			if desc.GetPendingWorkflowTask() == nil && len(desc.GetPendingActivities()) == 0 {
				return nil
			}
			rechecks.Add(1)
			time.Sleep(100 * time.Millisecond)
		}
	})
	idle := time.Since(start)
	b.StopTimer()
	held := measure(b, srv)

	// Alive: 100 of them, spread over all, get the winning change; each must
	// be approved and end (the campaign has no reward to wait for).
	sample := make([]string, 0, 100)
	for i := 0; i < referrals && len(sample) < 100; i += max(1, referrals/100) {
		sample = append(sample, ids[i])
	}
	wakeStart := time.Now()
	forEach(ctx, b, sample, 10, func(id string) error {
		c := workflows.HubSpotChange{ObjectType: "deal", ObjectID: 3000001, Property: "dealstage", Value: "closedwon", OccurredAt: time.Now(), DedupeKey: "idle-won-" + id}
		return srv.Client.SignalWorkflow(ctx, workflows.ReferralWorkflowID(id), "", workflows.SignalHubSpotChange, c)
	})
	forEach(ctx, b, sample, 10, func(id string) error {
		var final workflows.ReferralState
		if err := srv.Client.GetWorkflow(ctx, workflows.ReferralWorkflowID(id), "").Get(ctx, &final); err != nil {
			return err
		}
		if final.Status != referral.Approved {
			return fmt.Errorf("referral %s ended %s, want approved", id, final.Status)
		}
		return nil
	})
	woken := time.Since(wakeStart)
	var approved, stillPending int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'approved'), count(*) FILTER (WHERE status = 'pending') FROM referrals WHERE campaign_id = $1`, fx.Campaign.ID).Scan(&approved, &stillPending); err != nil {
		b.Fatal(err)
	}
	// SeedReferral's own referral never had a workflow: it stays pending.
	if approved != len(sample) || stillPending != referrals-len(sample)+1 {
		b.Fatalf("in Postgres: %d approved, %d pending; want %d and %d", approved, stillPending, len(sample), referrals-len(sample)+1)
	}

	b.Logf("%d workflows: started in %s, all at lead_not_sent after %s, all idle on the server after %s (%d rechecks); sticky cache %d",
		referrals, started.Round(time.Millisecond), listening.Round(time.Millisecond), idle.Round(time.Millisecond), rechecks.Load(), stickyCache)
	b.Logf("worker process (test binary): heap in use %.1f → %.1f MiB, stacks %.1f → %.1f MiB, RSS %.1f → %.1f MiB, goroutines %d → %d, CPU %.1f s",
		mib(before.heapInuse), mib(held.heapInuse), mib(before.stackInuse), mib(held.stackInuse), mib(before.rss), mib(held.rss),
		before.goroutines, held.goroutines, held.cpu-before.cpu)
	b.Logf("Temporal dev server (pid %d): RSS %.1f → %.1f MiB (peak %.1f), CPU %.1f s, SQLite %.1f MiB",
		srv.PID, mib(before.serverRSS), mib(held.serverRSS), mib(held.serverPeak), held.serverCPU-before.serverCPU, mib(held.dbBytes))
	b.Logf("100 woken with the winning change: all approved and ended in %s", woken.Round(time.Millisecond))
	b.Logf("load average at end: %s", loadAverage())

	b.ReportMetric(float64(referrals), "workflows")
	b.ReportMetric(listening.Seconds(), "listening-s")
	b.ReportMetric(idle.Seconds(), "idle-s")
	b.ReportMetric(float64(referrals)/idle.Seconds(), "workflows/s")
	b.ReportMetric(mib(held.heapInuse), "worker-heap-MiB")
	b.ReportMetric((float64(held.heapInuse)-float64(before.heapInuse))/float64(referrals)/1024, "worker-heap-KiB/wf")
	b.ReportMetric(mib(held.stackInuse), "worker-stacks-MiB")
	b.ReportMetric(mib(held.rss), "worker-rss-MiB")
	b.ReportMetric(float64(stickyCache), "sticky-cache")
	b.ReportMetric(mib(held.serverRSS), "server-rss-MiB")
	b.ReportMetric(mib(held.dbBytes), "server-db-MiB")
	b.ReportMetric(woken.Seconds(), "wake100-s")
}

// memory is what the benchmark reads of the two processes.
type memory struct {
	heapInuse, rss uint64 // this process, after a GC
	stackInuse     uint64 // goroutine stacks: each cached workflow parks one
	goroutines     int
	cpu            float64 // this process's user+system seconds
	serverRSS      uint64
	serverPeak     uint64
	serverCPU      float64
	dbBytes        int64 // the SQLite file with its WAL and shared memory
}

func measure(b *testing.B, srv *ownDevServer) memory {
	b.Helper()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	m := memory{
		heapInuse:  ms.HeapInuse,
		stackInuse: ms.StackInuse,
		rss:        procStatusBytes(b, "self", "VmRSS"),
		goroutines: runtime.NumGoroutine(),
		cpu:        float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6,
		serverRSS:  procStatusBytes(b, strconv.Itoa(srv.PID), "VmRSS"),
		serverPeak: procStatusBytes(b, strconv.Itoa(srv.PID), "VmHWM"),
		serverCPU:  procCPUSeconds(b, srv.PID),
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(srv.DBFile + suffix); err == nil {
			m.dbBytes += fi.Size()
		}
	}
	return m
}

// procStatusBytes reads a "kB" field of /proc/<pid>/status.
func procStatusBytes(b *testing.B, pid, field string) uint64 {
	b.Helper()
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		b.Fatalf("memory of process %s: %v", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("/proc/%s/status %s: %v", pid, field, err)
			}
			return kb * 1024
		}
	}
	b.Fatalf("/proc/%s/status has no %s", pid, field)
	return 0
}

// procCPUSeconds is a process's user+system CPU time from /proc/<pid>/stat.
func procCPUSeconds(b *testing.B, pid int) float64 {
	b.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatalf("CPU time of process %d: %v", pid, err)
	}
	// Fields after the command name (which may hold spaces, hence the last
	// ")"): utime and stime are the 12th and 13th, in clock ticks (100/s).
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100
}

func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(raw))[:3], " ")
}

func mib[T uint64 | int64](n T) float64 { return float64(n) / (1 << 20) }

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: want a whole number", name, v)
	}
	return n
}

// forEach runs fn for every ID with the given concurrency and fails the
// benchmark on the first error.
func forEach(ctx context.Context, b *testing.B, ids []string, concurrency int, fn func(id string) error) {
	b.Helper()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	work := make(chan string)
	for range concurrency {
		wg.Go(func() {
			for id := range work {
				if err := fn(id); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		work <- id
	}
	close(work)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
	if ctx.Err() != nil {
		b.Fatal(ctx.Err())
	}
}
