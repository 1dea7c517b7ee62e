package devstack

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// temporalCLI returns the repository's bin/temporal, which `make tools`
// builds before the tests run.
func temporalCLI(t *testing.T) string {
	t.Helper()
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "bin", "temporal")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run make tools (it builds the pinned Temporal CLI %s)", path, TemporalCLIVersion)
	}
	return path
}

func TestEnsureTemporalCLIReusesPinnedBinary(t *testing.T) {
	t.Parallel()
	cli := temporalCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, err := temporalCLIVersion(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	if v != TemporalCLIVersion {
		t.Fatalf("%s is version %s, want %s: run make tools", cli, v, TemporalCLIVersion)
	}
	started := time.Now()
	got, err := EnsureTemporalCLI(ctx, filepath.Dir(cli), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if got != cli {
		t.Errorf("EnsureTemporalCLI = %s, want %s", got, cli)
	}
	if d := time.Since(started); d > 5*time.Second {
		t.Errorf("EnsureTemporalCLI took %v with the binary present; it must not rebuild", d)
	}
}

func devServerOptions(t *testing.T, cli, dbFile string) TemporalDevServerOptions {
	return TemporalDevServerOptions{
		CLIPath:   cli,
		Port:      freePort(t),
		UIPort:    freePort(t),
		DBFile:    dbFile,
		Namespace: "referflow-devstack-test",
		Logger:    testLogger(t),
	}
}

func dial(t *testing.T, s *TemporalDevServer) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: s.Address, Namespace: s.Namespace, Logger: quietSDKLogger})
	if err != nil {
		t.Fatalf("dial %s: %v", s.Address, err)
	}
	t.Cleanup(c.Close)
	return c
}

// A second run on the same SQLite file keeps workflows: `referflow dev`
// restarts must not lose a developer's referral programs.
func TestTemporalDevServerKeepsWorkflowsAcrossRestarts(t *testing.T) {
	t.Parallel()
	cli := temporalCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := devServerOptions(t, cli, filepath.Join(t.TempDir(), "temporal.db"))

	started := time.Now()
	s1, err := StartTemporalDevServer(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s1.Stop(context.Background()) })
	t.Logf("dev server ready in %v at %s (UI %s)", time.Since(started).Round(time.Millisecond), s1.Address, s1.UIURL)
	if s1.Reused {
		t.Fatal("fresh ports, yet Reused")
	}

	c := dial(t, s1)
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		t.Fatal(err)
	}
	// Nobody polls this task queue: the workflow stays running in the database.
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "devstack-kept", TaskQueue: "devstack-nobody-polls"}, "NoSuchWorkflow")
	if err != nil {
		t.Fatal(err)
	}

	// A second start while it runs reuses it, and its Stop leaves it running.
	s2, err := StartTemporalDevServer(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.Reused {
		t.Error("second start on a busy address did not reuse the running server")
	}
	if s2.ReusedPID != s1.cmd.Process.Pid || !strings.Contains(s2.ReusedCommand, "start-dev") {
		t.Errorf("the reused server is named PID %d %q, want PID %d", s2.ReusedPID, s2.ReusedCommand, s1.cmd.Process.Pid)
	}
	if err := s2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		t.Fatalf("the reusing caller's Stop stopped the server: %v", err)
	}

	stopStarted := time.Now()
	if err := s1.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %v", time.Since(stopStarted).Round(time.Millisecond))
	if conn, err := net.DialTimeout("tcp", s1.Address, time.Second); err == nil {
		conn.Close()
		t.Fatal("frontend still listening after Stop")
	}

	started = time.Now()
	s3, err := StartTemporalDevServer(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s3.Stop(context.Background()) })
	t.Logf("restart on the same file ready in %v", time.Since(started).Round(time.Millisecond))
	c3 := dial(t, s3)
	desc, err := c3.DescribeWorkflowExecution(ctx, "devstack-kept", run.GetRunID())
	if err != nil {
		t.Fatalf("workflow started before the restart: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("status after restart = %v, want running", st)
	}
	if err := s3.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// A crash (kill -9) loses nothing the server acknowledged: the chaos suite
// kills the server mid-run and expects every workflow back.
func TestTemporalDevServerKeepsWorkflowsAcrossACrash(t *testing.T) {
	t.Parallel()
	cli := temporalCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := devServerOptions(t, cli, filepath.Join(t.TempDir(), "temporal.db"))
	s1, err := StartTemporalDevServer(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s1.Stop(context.Background()) })
	run, err := dial(t, s1).ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "devstack-crash", TaskQueue: "devstack-nobody-polls"}, "NoSuchWorkflow")
	if err != nil {
		t.Fatal(err)
	}
	s1.Kill()
	s1.Kill() // a second Kill (or Stop) does nothing
	if conn, err := net.DialTimeout("tcp", s1.Address, time.Second); err == nil {
		conn.Close()
		t.Fatal("frontend still listening after Kill")
	}
	s2, err := StartTemporalDevServer(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Stop(context.Background()) })
	if s2.Reused {
		t.Fatal("the killed server still answered")
	}
	desc, err := dial(t, s2).DescribeWorkflowExecution(ctx, "devstack-crash", run.GetRunID())
	if err != nil {
		t.Fatalf("workflow started before the crash: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("status after the crash = %v, want running", st)
	}
}

func TestTemporalDevServerInMemory(t *testing.T) {
	t.Parallel()
	cli := temporalCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := devServerOptions(t, cli, "")
	opts.Namespace = "" // default
	opts.LogFile = filepath.Join(t.TempDir(), "temporal.log")
	s, err := StartTemporalDevServer(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	if s.Namespace != "default" {
		t.Errorf("Namespace = %q", s.Namespace)
	}
	if _, err := dial(t, s).DescribeWorkflowExecution(ctx, "nothing-here", ""); err == nil {
		t.Error("describe of an unknown workflow: want an error")
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// A busy UI port makes the CLI exit at once: the error must carry the log.
func TestTemporalDevServerExitsEarly(t *testing.T) {
	t.Parallel()
	cli := temporalCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	opts := devServerOptions(t, cli, filepath.Join(t.TempDir(), "temporal.db"))
	opts.UIPort = busy.Addr().(*net.TCPAddr).Port
	started := time.Now()
	s, err := StartTemporalDevServer(ctx, opts)
	if err == nil {
		_ = s.Stop(ctx)
		t.Fatal("started although the UI port is taken")
	}
	t.Logf("failed after %v: %v", time.Since(started).Round(time.Millisecond), err)
	if !strings.Contains(err.Error(), "exited during start-up") || !strings.Contains(err.Error(), "UI port") {
		t.Errorf("error does not explain the failure: %v", err)
	}
}

// Something that is not Temporal on the address: a clear error, not a hang.
func TestTemporalDevServerAddressTakenByAnotherProgram(t *testing.T) {
	t.Parallel()
	cli := temporalCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	go func() {
		for {
			conn, err := busy.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	opts := devServerOptions(t, cli, "")
	opts.Port = busy.Addr().(*net.TCPAddr).Port
	_, err = StartTemporalDevServer(ctx, opts)
	if err == nil || !strings.Contains(err.Error(), "not a usable Temporal frontend") {
		t.Fatalf("err = %v", err)
	}
}
