// Package chaos_test is referflow's chaos suite: the real binary as separate
// processes (one api, two workers, the HubSpot simulator), a private
// PostgreSQL cluster and a Temporal dev server on a SQLite file, while
// hundreds of referrals go from lead to reward driven by HubSpot's own
// webhooks — duplicated and out of order — and the suite kills workers, the
// API and Temporal with SIGKILL and restarts PostgreSQL and the simulator at
// points drawn from a printed seed. Then it checks that nothing was lost
// and nothing happened twice.
//
// It runs only when asked: `make chaos`, or
//
//	REFERFLOW_CHAOS=1 go test -v -count=1 -timeout 30m ./e2e/chaos/
//
// with REFERFLOW_CHAOS_SEED=<seed> to run a printed seed again,
// REFERFLOW_CHAOS_REFERRALS=<n> to change the load (default 320) and
// REFERFLOW_CHAOS_KEEP=1 to keep the processes' logs and data (they are kept
// anyway when the suite fails).
package chaos_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/internal/dev/chaos"
	"github.com/referflow/referflow/internal/dev/devstack"
)

// config is one run's parameters.
type config struct {
	seed int64
	// referrals is how many referrals the run adds; shared of their leads
	// are referred in both campaigns (two referrals, one HubSpot contact).
	referrals, shared int
	// perSecond is how fast referrals are added.
	perSecond float64
	// workerKills is how many times a worker is killed.
	workerKills int
	// stall ends the run when nothing progressed for that long.
	stall time.Duration
	// runTime bounds the run itself (adding and driving referrals while
	// the faults strike); settling and checking come after it, and the
	// whole test ends (and cleans up) before `go test -timeout` (30m in
	// `make chaos`) would kill it without cleanup.
	runTime time.Duration
}

func loadConfig(t *testing.T) config {
	c := config{referrals: 320, perSecond: 3, workerKills: 3, stall: 3 * time.Minute, runTime: 12 * time.Minute}
	if raw := os.Getenv("REFERFLOW_CHAOS_SEED"); raw != "" {
		seed, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			t.Fatalf("REFERFLOW_CHAOS_SEED must be a whole number, got %q", raw)
		}
		c.seed = seed
	} else {
		c.seed = rand.Int64N(1 << 40)
	}
	if raw := os.Getenv("REFERFLOW_CHAOS_REFERRALS"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 10 {
			t.Fatalf("REFERFLOW_CHAOS_REFERRALS must be a whole number of at least 10, got %q", raw)
		}
		c.referrals = n
	}
	c.shared = c.referrals / 8
	return c
}

func TestChaos(t *testing.T) {
	if os.Getenv("REFERFLOW_CHAOS") == "" {
		t.Skip("the chaos suite runs with REFERFLOW_CHAOS=1 (make chaos)")
	}
	cfg := loadConfig(t)
	t.Logf("chaos seed %d: run it again with REFERFLOW_CHAOS_SEED=%d make chaos", cfg.seed, cfg.seed)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 27*time.Minute)
	defer cancel()

	root, err := devstack.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "referflow-chaos-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("REFERFLOW_CHAOS_KEEP") != "" {
			t.Logf("logs and data kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})

	started := time.Now()
	bin := filepath.Join(dir, "referflow")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/referflow")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(started).Round(time.Second))

	recv, err := chaos.NewReceiver()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(recv.Close)
	logf := func(format string, args ...any) { t.Logf("%s "+format, append([]any{clock(started)}, args...)...) }
	st, err := chaos.Start(ctx, chaos.Options{
		Dir: dir, Binary: bin, TemporalCLI: filepath.Join(root, "bin", "temporal"), Workers: 2, Logf: logf,
		SimArgs: []string{
			// HubSpot's delivery, with its warned-of duplicates and disorder,
			// retried from one second up instead of 84.
			"--webhook-duplicate-rate", "0.1", "--webhook-shuffle", "--webhook-seed", strconv.FormatInt(cfg.seed, 10),
			"--webhook-retry-base", "1s",
			// Access tokens refreshed every minute or so (5 minutes before
			// they expire), across restarts and kills.
			"--access-token-ttl", "6m",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	t.Logf("stack up in %s: api %s, hubspot-sim %s, temporal %s (UI %s), logs in %s",
		time.Since(started).Round(time.Second), st.APIURL, st.SimURL, st.TemporalAddress, st.TemporalUIURL, dir)

	pool, err := pgxpool.New(ctx, st.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	tc, err := client.Dial(client.Options{HostPort: st.TemporalAddress, Namespace: "default", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)

	w := setUpWorkspace(t, ctx, st, pool, recv)
	plan := chaos.Plan(cfg.seed, len(st.Workers), cfg.workerKills)
	for _, f := range plan {
		t.Logf("planned: %s", f)
	}
	d := newDriver(t, cfg, st, w, pool, recv, logf)
	runStarted := time.Now()
	runCtx, cancelRun := context.WithTimeout(ctx, cfg.runTime)
	d.run(runCtx, plan)
	cancelRun()
	ran := time.Since(runStarted)
	settle(t, ctx, d, st, pool, tc)

	r := check(t, ctx, d, st, pool, tc)
	r.summary(t, cfg, d, st, ran)
	if len(r.failures) > 0 {
		t.Errorf("chaos seed %d: %d check(s) failed:\n  - %s\nrun it again with REFERFLOW_CHAOS_SEED=%d make chaos",
			cfg.seed, len(r.failures), strings.Join(r.failures, "\n  - "), cfg.seed)
	}
}

// clock is the time since start, for log lines.
func clock(start time.Time) string {
	return fmt.Sprintf("[%6.1fs]", time.Since(start).Seconds())
}
