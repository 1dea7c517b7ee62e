package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/referflow/referflow/internal/dev/devstack"
	"github.com/referflow/referflow/internal/temporalclient"
)

// TemporalNamespace is the namespace tests run in.
const TemporalNamespace = "default"

// Temporal is one test's view of the shared Temporal dev server: a client and
// task queues no other test polls.
type Temporal struct {
	Client           client.Client
	Address          string
	Namespace        string
	TaskQueue        string
	HubSpotTaskQueue string
}

var temporalServer struct {
	once   sync.Once
	server *testsuite.DevServer
	err    error
}

// NewTemporal returns a client of a real Temporal dev server, started once
// per test process from the pinned CLI in bin/ (the same binary `referflow
// dev` runs) with the search attributes given to Main registered the way the
// processes register them. Packages that use it call Main from TestMain so
// the server stops when their tests end.
func NewTemporal(t testing.TB) *Temporal {
	t.Helper()
	temporalServer.once.Do(startTemporal)
	if temporalServer.err != nil {
		t.Fatalf("testenv: no Temporal dev server: %v", temporalServer.err)
	}
	addr := temporalServer.server.FrontendHostPort()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  addr,
		Namespace: TemporalNamespace,
		Logger:    quietTemporalLogger(),
	})
	if err != nil {
		t.Fatalf("testenv: dial Temporal at %s: %v", addr, err)
	}
	t.Cleanup(c.Close)
	suffix := randomHex(6)
	return &Temporal{
		Client:           c,
		Address:          addr,
		Namespace:        TemporalNamespace,
		TaskQueue:        "test-" + suffix,
		HubSpotTaskQueue: "test-hubspot-" + suffix,
	}
}

// WithDataConverter is the same server and task queues through a client
// whose payloads go through dc, as referflow's processes' do
// (personaldata.DataConverter): a worker built on it seals personal data.
func (tc *Temporal) WithDataConverter(t testing.TB, dc converter.DataConverter) *Temporal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:      tc.Address,
		Namespace:     tc.Namespace,
		Logger:        quietTemporalLogger(),
		DataConverter: dc,
	})
	if err != nil {
		t.Fatalf("testenv: dial Temporal at %s: %v", tc.Address, err)
	}
	t.Cleanup(c.Close)
	with := *tc
	with.Client = c
	return &with
}

// Option configures the Temporal dev server of a package's tests.
type Option func(*mainOptions)

type mainOptions struct {
	searchAttributes map[string]enumspb.IndexedValueType
}

// WithSearchAttributes registers search attributes on the dev server when it
// starts, as the processes do at start-up: packages whose tests run referflow's
// workflows pass workflows.SearchAttributes (the harness sits below the
// workflows and cannot name them itself).
func WithSearchAttributes(attrs map[string]enumspb.IndexedValueType) Option {
	return func(o *mainOptions) { o.searchAttributes = attrs }
}

var options mainOptions

// Main runs a package's tests and then stops the Temporal dev server if one
// was started. Call it from TestMain: os.Exit(testenv.Main(m)), with
// WithSearchAttributes when the tests run workflows.
func Main(m *testing.M, opts ...Option) int {
	for _, o := range opts {
		o(&options)
	}
	code := m.Run()
	if s := temporalServer.server; s != nil {
		if err := s.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stop Temporal dev server: %v\n", err)
		}
	}
	return code
}

func startTemporal() {
	wd, err := os.Getwd()
	if err != nil {
		temporalServer.err = err
		return
	}
	root, err := devstack.FindRepoRoot(wd)
	if err != nil {
		temporalServer.err = err
		return
	}
	cli := filepath.Join(root, "bin", "temporal")
	if _, err := os.Stat(cli); err != nil {
		temporalServer.err = fmt.Errorf("the pinned Temporal CLI is not at %s: run `make tools` (the test command `make test` does it first)", cli)
		return
	}
	logFile, err := os.CreateTemp("", "referflow-test-temporal-*.log")
	if err != nil {
		temporalServer.err = err
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  cli,
		ClientOptions: &client.Options{Namespace: TemporalNamespace, Logger: quietTemporalLogger()},
		LogLevel:      "error",
		Stdout:        logFile,
		Stderr:        logFile,
	})
	if err != nil {
		temporalServer.err = fmt.Errorf("start %s (log: %s): %w", cli, logFile.Name(), err)
		return
	}
	temporalServer.server = srv
	if err := temporalclient.RegisterSearchAttributes(ctx, srv.Client(), TemporalNamespace, options.searchAttributes); err != nil {
		temporalServer.err = err
	}
}

func quietTemporalLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}
