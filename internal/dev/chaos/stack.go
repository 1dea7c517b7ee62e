// Package chaos runs referflow as it runs in production — one `referflow
// api` and several `referflow worker` processes, a private PostgreSQL
// cluster, a Temporal dev server on a SQLite file, and the HubSpot simulator
// as its own process delivering signed webhooks — and breaks it on purpose:
// it kills a worker, the API or Temporal with SIGKILL and restarts
// PostgreSQL and the simulator, at points a seeded Plan draws. The chaos
// suite (e2e/chaos) drives referrals through that and checks that nothing
// was lost or done twice.
//
// Everything listens on loopback on free ports and lives in one folder;
// every process runs in its own process group and Close ends them all.
package chaos

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/referflow/referflow/internal/config"
	"github.com/referflow/referflow/internal/dev/devstack"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
)

// Options configure a Stack.
type Options struct {
	// Dir holds the data and the logs of every process.
	Dir string
	// Binary is the referflow binary; TemporalCLI the pinned temporal CLI
	// (bin/temporal).
	Binary      string
	TemporalCLI string
	// Workers is how many worker processes run; default 2.
	Workers int
	// SimArgs are extra flags for `referflow hubspot-sim`, e.g. the
	// webhook chaos switches.
	SimArgs []string
	// Logf reports what the stack does (starts, kills, restarts).
	Logf func(format string, args ...any)
}

// Stack is referflow and everything it needs, each part a process of its
// own.
type Stack struct {
	opts Options

	// DatabaseURL reaches the private cluster's database.
	DatabaseURL string
	// TemporalAddress is the Temporal frontend; TemporalUIURL its Web UI.
	TemporalAddress string
	TemporalUIURL   string
	// APIURL is the API's address, which is also its public URL (the one
	// HubSpot signs webhooks for).
	APIURL string
	// SimURL is the HubSpot simulator's address.
	SimURL string
	// PortalID is the simulator's portal (the first one it makes).
	PortalID int64

	API     *Process
	Workers []*Process
	Sim     *Process

	pgOpts       devstack.PostgresOptions
	temporalOpts devstack.TemporalDevServerOptions
	environ      []string

	mu       sync.Mutex
	pg       *devstack.Postgres
	temporal *devstack.TemporalDevServer
}

// The first portal the simulator makes has this ID (portal IDs are
// deterministic).
const firstPortalID = 100001

// Start brings the whole stack up: PostgreSQL, Temporal, the migrations,
// the HubSpot simulator, the API and the workers, each ready when Start
// returns. On error, what was started is stopped.
func Start(ctx context.Context, opts Options) (s *Stack, err error) {
	if opts.Workers == 0 {
		opts.Workers = 2
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	ports, err := freePorts(5 + opts.Workers)
	if err != nil {
		return nil, err
	}
	workerMetricsPorts := ports[5:]
	pgPort, temporalPort, uiPort, apiPort, simPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	s = &Stack{
		opts:     opts,
		APIURL:   "http://127.0.0.1:" + strconv.Itoa(apiPort),
		SimURL:   "http://127.0.0.1:" + strconv.Itoa(simPort),
		PortalID: firstPortalID,
		pgOpts: devstack.PostgresOptions{
			Database: "referflow", DataDir: filepath.Join(opts.Dir, "pg"), Port: pgPort,
			SkipLocalServer: true, Install: true,
		},
		temporalOpts: devstack.TemporalDevServerOptions{
			CLIPath: opts.TemporalCLI, Port: temporalPort, UIPort: uiPort,
			DBFile: filepath.Join(opts.Dir, "temporal", "temporal.db"), LogFile: filepath.Join(opts.Dir, "temporal.log"),
		},
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	if err := s.startPostgres(ctx); err != nil {
		return s, err
	}
	if err := s.startTemporal(ctx); err != nil {
		return s, err
	}
	s.TemporalUIURL = "http://127.0.0.1:" + strconv.Itoa(uiPort)
	if s.environ, err = s.env(apiPort); err != nil {
		return s, err
	}
	if out, err := s.Run(ctx, "migrate"); err != nil {
		return s, fmt.Errorf("chaos: referflow migrate: %w\n%s", err, out)
	}
	env, logf := s.environ, opts.Logf
	s.Sim = &Process{
		Name: "hubspot-sim", Path: opts.Binary, Env: env, LogFile: filepath.Join(opts.Dir, "hubspot-sim.log"), Logf: logf,
		Args: append([]string{"hubspot-sim", "--addr", "127.0.0.1:" + strconv.Itoa(simPort),
			"--state-file", filepath.Join(opts.Dir, "hubspot-sim.json"),
			"--webhook-url", s.APIURL + "/webhooks/hubspot"}, opts.SimArgs...),
		Ready: func(ctx context.Context, _ int64) bool {
			_, err := s.SimControl().WebhookStats(ctx)
			return err == nil
		},
	}
	s.API = &Process{
		Name: "api", Path: opts.Binary, Args: []string{"api"}, Env: env, LogFile: filepath.Join(opts.Dir, "api.log"), Logf: logf,
		Ready: func(ctx context.Context, _ int64) bool { return httpOK(ctx, s.APIURL+"/healthz") },
	}
	for i := range opts.Workers {
		name := fmt.Sprintf("worker-%d", i+1)
		log := filepath.Join(opts.Dir, name+".log")
		// Each worker serves its metrics on a port of its own.
		wenv := append(slices.Clip(env), "REFERFLOW_WORKER_METRICS_ADDR=127.0.0.1:"+strconv.Itoa(workerMetricsPorts[i]))
		s.Workers = append(s.Workers, &Process{
			Name: name, Path: opts.Binary, Args: []string{"worker"}, Env: wenv, LogFile: log, Logf: logf,
			Ready: func(_ context.Context, offset int64) bool {
				return logHas(log, offset, `"msg":"temporal workers polling"`)
			},
		})
	}
	for _, p := range s.processes() {
		if err := startWithin(ctx, p.Start); err != nil {
			return s, err
		}
	}
	return s, nil
}

// env is the processes' whole environment, the same for every one (they
// share the encryption key): nothing leaks in from the test process (a
// DATABASE_URL of the test harness, say).
func (s *Stack) env(apiPort int) ([]string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"DATABASE_URL=" + s.DatabaseURL,
		"TEMPORAL_ADDRESS=" + s.TemporalAddress,
		"TEMPORAL_NAMESPACE=default",
		"TEMPORAL_UI_URL=" + s.TemporalUIURL,
		"REFERFLOW_HTTP_ADDR=127.0.0.1:" + strconv.Itoa(apiPort),
		"REFERFLOW_PUBLIC_URL=" + s.APIURL,
		"REFERFLOW_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(key),
		"REFERFLOW_LOG_LEVEL=info",
		"HUBSPOT_CLIENT_ID=" + hubspotsim.DefaultClientID,
		"HUBSPOT_CLIENT_SECRET=" + hubspotsim.DefaultClientSecret,
		"HUBSPOT_BASE_URL=" + s.SimURL,
		// The chaos receiver listens on 127.0.0.1 over plain http.
		"REFERFLOW_WEBHOOK_ALLOW_HTTP=true",
		"REFERFLOW_WEBHOOK_ALLOWED_NETWORKS=" + config.LoopbackNetworks,
	}, nil
}

// processes are the referflow processes, in start order.
func (s *Stack) processes() []*Process {
	out := []*Process{s.Sim, s.API}
	return append(out, s.Workers...)
}

// Processes returns the referflow processes (simulator, API, workers).
func (s *Stack) Processes() []*Process { return s.processes() }

// Run runs a one-shot referflow command (migrate, admin create) with the
// stack's configuration and returns its standard output.
func (s *Stack) Run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.opts.Binary, args...)
	cmd.Env = s.environ
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return string(out), nil
}

// SimControl is a client of the simulator's control API.
func (s *Stack) SimControl() *hubspotsim.ControlClient {
	return &hubspotsim.ControlClient{BaseURL: s.SimURL, HTTP: &http.Client{Timeout: 10 * time.Second}}
}

func (s *Stack) startPostgres(ctx context.Context) error {
	pg, err := devstack.EnsurePostgres(ctx, s.pgOpts)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.pg, s.DatabaseURL = pg, pg.URL
	s.mu.Unlock()
	return nil
}

func (s *Stack) startTemporal(ctx context.Context) error {
	srv, err := devstack.StartTemporalDevServer(ctx, s.temporalOpts)
	if err != nil {
		return err
	}
	if srv.Reused {
		return fmt.Errorf("chaos: another Temporal server answers on %s", srv.Address)
	}
	s.mu.Lock()
	s.temporal, s.TemporalAddress = srv, srv.Address
	s.mu.Unlock()
	return nil
}

// Close ends every process, the simulator's last: it is stopped cleanly so
// its state file is written, then PostgreSQL and Temporal.
func (s *Stack) Close() {
	for _, p := range []*Process{s.API} {
		if p != nil {
			p.Close()
		}
	}
	for _, p := range s.Workers {
		p.Close()
	}
	if s.Sim != nil {
		s.Sim.Stop(20 * time.Second)
		s.Sim.Close()
	}
	s.mu.Lock()
	pg, temporal := s.pg, s.temporal
	s.pg, s.temporal = nil, nil
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if temporal != nil {
		_ = temporal.Stop(ctx)
	}
	if pg != nil {
		if err := pg.Stop(ctx); err != nil {
			s.opts.Logf("%v", err)
		}
	}
}

// startTimeout bounds a start (or a restart after a fault): a part that is
// not ready by then is broken, and waiting longer hides it.
const startTimeout = 2 * time.Minute

func startWithin(ctx context.Context, start func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	return start(ctx)
}

// freePorts asks the kernel for n free loopback ports.
func freePorts(n int) ([]int, error) {
	var out []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("chaos: free port: %w", err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func httpOK(ctx context.Context, url string) bool {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// logHas tells whether the log has a line containing want after offset.
func logHas(path string, offset int64, want string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), want) {
			return true
		}
	}
	return false
}
