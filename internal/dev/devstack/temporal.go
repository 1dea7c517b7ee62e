package devstack

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TemporalCLIVersion is the Temporal CLI that `referflow dev` and the tests
// run. It is pinned so every developer and CI run get the same server
// (Temporal Server 1.29.1, Web UI 2.42.1, embedded in the CLI).
//
// It cannot simply be moved to a newer release: from CLI v1.6.0 on, the CLI's
// go.mod carries a replace directive, and `go install module@version` refuses
// modules with replace directives, so newer CLIs cannot be built this way
// (they would have to be downloaded as release binaries instead).
const TemporalCLIVersion = "1.5.1"

// temporalCLIModule is the package `go install` builds.
const temporalCLIModule = "github.com/temporalio/cli/cmd/temporal"

// EnsureTemporalCLI returns the path of <binDir>/temporal at
// TemporalCLIVersion (checked from the binary's Go build info, see
// temporalCLIVersion), building it with `go install` when it is missing or
// another version. Building from source through the Go module proxy needs
// nothing but the Go toolchain a developer already has, and no Docker.
func EnsureTemporalCLI(ctx context.Context, binDir string, logger *slog.Logger) (string, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	binDir, err := filepath.Abs(binDir) // GOBIN must be absolute
	if err != nil {
		return "", fmt.Errorf("devstack: Temporal CLI folder: %w", err)
	}
	path := filepath.Join(binDir, "temporal")
	v, err := temporalCLIVersion(ctx, path)
	if err == nil && v == TemporalCLIVersion {
		return path, nil
	}
	if err == nil {
		logger.Info("replacing the Temporal CLI with the pinned version", "path", path, "found", v, "want", TemporalCLIVersion)
	}
	goBin, lookErr := exec.LookPath("go")
	if lookErr != nil {
		return "", fmt.Errorf("devstack: the Temporal CLI %s is not at %s and the Go toolchain is not on PATH to build it; install Go, or put a temporal %s binary there", TemporalCLIVersion, path, TemporalCLIVersion)
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", fmt.Errorf("devstack: create %s: %w", binDir, err)
	}
	logger.Info("building the Temporal CLI with go install; this takes about 3 minutes the first time",
		"version", TemporalCLIVersion, "into", binDir)
	start := time.Now()
	cmd := exec.CommandContext(ctx, goBin, "install", temporalCLIModule+"@v"+TemporalCLIVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+binDir, "GOWORK=off")
	cmd.Dir = binDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("devstack: go install %s@v%s failed: %w\n%s\nthe build needs the Go module proxy to be reachable (GOPROXY)",
			temporalCLIModule, TemporalCLIVersion, err, lastLines(string(out), 20))
	}
	v, err = temporalCLIVersion(ctx, path)
	if err != nil {
		return "", fmt.Errorf("devstack: built the Temporal CLI but %s --version fails: %w", path, err)
	}
	if v != TemporalCLIVersion {
		return "", fmt.Errorf("devstack: built the Temporal CLI but %s reports version %s, want %s", path, v, TemporalCLIVersion)
	}
	logger.Info("built the Temporal CLI", "path", path, "took", time.Since(start).Round(time.Second))
	return path, nil
}

var cliVersionRE = regexp.MustCompile(`version\s+v?(\d+\.\d+\.\d+\S*)`)

// temporalCLIVersion returns the version of the temporal binary at path.
//
// A CLI built with `go install` says "temporal version 0.0.0-DEV" to
// --version (release builds set the version through linker flags), so the
// version recorded in the binary's Go build info (the
// github.com/temporalio/cli module version) is asked first; `temporal
// --version` is the fallback for release binaries without build info.
func temporalCLIVersion(ctx context.Context, path string) (string, error) {
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	if bi, err := buildinfo.ReadFile(path); err == nil && bi.Main.Path == "github.com/temporalio/cli" &&
		bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return strings.TrimPrefix(bi.Main.Version, "v"), nil
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, path, "--version").Output()
	if err != nil {
		return "", err
	}
	m := cliVersionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("unexpected output %q", strings.TrimSpace(string(out)))
	}
	return string(m[1]), nil
}

// TemporalDevServerOptions configures StartTemporalDevServer. Zero values get
// the defaults documented on each field.
type TemporalDevServerOptions struct {
	// CLIPath is the temporal binary (see EnsureTemporalCLI); empty means
	// "temporal" on PATH.
	CLIPath string
	// IP to listen on; default 127.0.0.1 so the unauthenticated dev server is
	// not reachable from the network.
	IP string
	// Port of the frontend gRPC service; default 7233.
	Port int
	// UIPort of the Web UI; default 8233.
	UIPort int
	// CodecEndpoint, when set, is the codec server the Web UI decodes
	// payloads with (referflow's personal-data codec).
	CodecEndpoint string
	// DBFile is the SQLite file that keeps workflows across restarts; empty
	// means in memory (everything is lost at Stop).
	DBFile string
	// Namespace to create at start; default "default" (always created).
	Namespace string
	// LogFile receives the server's stdout and stderr; default temporal.log
	// beside DBFile, or a new file in the temp folder.
	LogFile string
	// PIDFile records the server's PID and its starter's while it runs, so
	// the next start can tell a server left by a killed run (stopped, see
	// StopLeftoverTemporal) from one in use (reused); default temporal.pid
	// beside DBFile, none for an in-memory server.
	PIDFile string
	// Logger receives progress (starting, ready, reused, stopped); nil discards.
	Logger *slog.Logger
}

// TemporalDevServer is a Temporal frontend ready for clients: one this process
// started, or one that was already running on the address and is reused.
type TemporalDevServer struct {
	// Address is the frontend's host:port for client.Options.HostPort.
	Address string
	// UIURL is the Web UI's address.
	UIURL string
	// Namespace exists on the server.
	Namespace string
	// Reused is true when a server was already running on Address; Stop then
	// leaves it alone, because this process does not own it.
	Reused bool
	// LogFile has the server's output (empty when Reused).
	LogFile string
	// ReusedPID and ReusedCommand name the reused server's process when it
	// can be found (0 and "" otherwise), so a person can stop it.
	ReusedPID     int
	ReusedCommand string
	// Leftover is the server a killed run left on DBFile, which this start
	// stopped before starting its own; nil when there was none.
	Leftover *LeftoverTemporal

	pidFile string

	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has exited
	waitErr  error         // the process's exit status, valid once exited is closed
	stopOnce sync.Once
	logger   *slog.Logger
}

// StartTemporalDevServer starts `temporal server start-dev` and returns once
// its frontend answers health checks and the namespace exists, so callers can
// dial immediately. When a Temporal frontend already answers on the address
// (a second `referflow dev`, or a server the developer started), that one is
// reused instead of failing on a busy port.
func StartTemporalDevServer(ctx context.Context, opts TemporalDevServerOptions) (*TemporalDevServer, error) {
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = 7233
	}
	if opts.UIPort == 0 {
		opts.UIPort = 8233
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &TemporalDevServer{
		Address:   net.JoinHostPort(opts.IP, strconv.Itoa(opts.Port)),
		UIURL:     "http://" + net.JoinHostPort(opts.IP, strconv.Itoa(opts.UIPort)),
		Namespace: opts.Namespace,
		logger:    opts.Logger,
	}

	dbFile := ""
	if opts.DBFile != "" {
		var err error
		if dbFile, err = filepath.Abs(opts.DBFile); err != nil {
			return nil, fmt.Errorf("devstack: Temporal database file: %w", err)
		}
		if opts.PIDFile == "" {
			opts.PIDFile = filepath.Join(filepath.Dir(dbFile), "temporal.pid")
		}
	}
	if opts.PIDFile != "" {
		left, err := StopLeftoverTemporal(ctx, opts.PIDFile, dbFile, opts.Port)
		if err != nil {
			return nil, err
		}
		if left != nil {
			s.Leftover = left
			opts.Logger.Warn("stopped a Temporal dev server left running by an earlier run that did not stop cleanly",
				"pid", left.PID, "db_file", dbFile)
		}
	}

	// Something already listening: reuse it when it is Temporal.
	if conn, err := net.DialTimeout("tcp", s.Address, time.Second); err == nil {
		conn.Close()
		if err := s.reuse(ctx, opts.Port); err != nil {
			return nil, err
		}
		return s, nil
	}

	cli := opts.CLIPath
	if cli == "" {
		p, err := exec.LookPath("temporal")
		if err != nil {
			return nil, fmt.Errorf("devstack: no Temporal CLI path given and temporal is not on PATH; run `make tools` (it builds bin/temporal %s)", TemporalCLIVersion)
		}
		cli = p
	}
	if _, err := os.Stat(cli); err != nil {
		return nil, fmt.Errorf("devstack: Temporal CLI: %w; run `make tools` (it builds bin/temporal %s)", err, TemporalCLIVersion)
	}

	args := []string{"server", "start-dev",
		"--ip", opts.IP,
		"--port", strconv.Itoa(opts.Port),
		"--ui-port", strconv.Itoa(opts.UIPort),
		"--log-level", "warn",
	}
	if opts.CodecEndpoint != "" {
		args = append(args, "--ui-codec-endpoint", opts.CodecEndpoint)
	}
	if opts.Namespace != "default" { // "default" is always created; listing it twice fails
		args = append(args, "--namespace", opts.Namespace)
	}
	if dbFile != "" {
		if err := os.MkdirAll(filepath.Dir(dbFile), 0o755); err != nil {
			return nil, fmt.Errorf("devstack: create the folder of the Temporal database file: %w", err)
		}
		// WAL with synchronous=normal measured about 2.7x the workflow starts
		// per second of SQLite's defaults, and still survives a process crash.
		args = append(args, "--db-filename", dbFile,
			"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")
		if opts.LogFile == "" {
			opts.LogFile = filepath.Join(filepath.Dir(dbFile), "temporal.log")
		}
	}

	var logf *os.File
	var err error
	if opts.LogFile == "" {
		logf, err = os.CreateTemp("", "referflow-temporal-*.log")
	} else {
		if err = os.MkdirAll(filepath.Dir(opts.LogFile), 0o755); err == nil {
			logf, err = os.OpenFile(opts.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("devstack: Temporal dev server log file: %w", err)
	}
	s.LogFile = logf.Name()
	logStart := fileSize(s.LogFile)

	cmd := exec.Command(cli, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C meant for `referflow dev` does not hit
	// the server mid-write, and Stop can signal the server with its children.
	// And it dies with this process, however this process ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithParent(cmd.SysProcAttr)
	fmt.Fprintf(logf, "\n=== %s referflow: %s %s\n", time.Now().Format(time.RFC3339), cli, strings.Join(args, " "))
	startErr := cmd.Start()
	logf.Close() // the child has its own copy
	if startErr != nil {
		return nil, fmt.Errorf("devstack: start %s: %w", cli, startErr)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if opts.PIDFile != "" {
		if err := writePIDFile(opts.PIDFile, cmd.Process.Pid); err != nil {
			s.Kill()
			return nil, fmt.Errorf("devstack: Temporal dev server PID file: %w", err)
		}
		s.pidFile = opts.PIDFile
	}
	opts.Logger.Info("starting the Temporal dev server", "address", s.Address, "db_file", opts.DBFile, "log", s.LogFile)

	started := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := probeTemporal(wctx, s.Address, opts.Namespace, 2*time.Second)
		if err == nil {
			opts.Logger.Info("Temporal dev server ready", "address", s.Address, "ui", s.UIURL,
				"namespace", opts.Namespace, "took", time.Since(started).Round(time.Millisecond))
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("devstack: the Temporal dev server exited during start-up (%v); last lines of %s:\n%s\nif a port is in use, stop what uses it or choose other ports",
				s.waitErr, s.LogFile, tailFile(s.LogFile, logStart, 20))
		case <-wctx.Done():
			_ = s.Stop(context.Background())
			if ctx.Err() != nil {
				return nil, fmt.Errorf("devstack: starting the Temporal dev server: %w", ctx.Err())
			}
			return nil, fmt.Errorf("devstack: the Temporal dev server on %s did not become ready within 60s (last probe: %v); last lines of %s:\n%s",
				s.Address, err, s.LogFile, tailFile(s.LogFile, logStart, 20))
		case <-tick.C:
		}
	}
}

// reuse adopts a server already listening on s.Address, creating the
// namespace when it lacks it.
func (s *TemporalDevServer) reuse(ctx context.Context, port int) error {
	err := probeTemporal(ctx, s.Address, s.Namespace, 3*time.Second)
	var nf *serviceerror.NamespaceNotFound
	if errors.As(err, &nf) {
		err = registerNamespace(ctx, s.Address, s.Namespace)
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("devstack: checking the server on %s: %w", s.Address, ctx.Err())
		}
		return fmt.Errorf("devstack: something listens on %s but it is not a usable Temporal frontend (%v); stop it or choose another port", s.Address, err)
	}
	s.Reused = true
	if s.ReusedPID = listenerPID(port); s.ReusedPID > 0 {
		s.ReusedCommand = processCommand(s.ReusedPID)
	}
	s.logger.Info("reusing the Temporal server already running; it is left running at exit", "address", s.Address, "namespace", s.Namespace, "pid", s.ReusedPID)
	return nil
}

// Stop stops a server this process started: SIGINT to its process group so
// it flushes SQLite and exits cleanly, SIGKILL after 10 s (or when ctx ends).
// It does nothing for a reused server and is safe to call more than once.
func (s *TemporalDevServer) Stop(ctx context.Context) error {
	if s == nil || s.cmd == nil {
		return nil
	}
	s.stopOnce.Do(func() {
		pgid := s.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGINT)
		timer := time.NewTimer(10 * time.Second)
		defer timer.Stop()
		select {
		case <-s.exited:
		case <-timer.C:
			s.logger.Warn("the Temporal dev server did not stop within 10s; killing it", "address", s.Address)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-s.exited
		case <-ctx.Done():
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-s.exited
		}
		removePIDFile(s.pidFile, s.cmd.Process.Pid)
		s.logger.Info("stopped the Temporal dev server", "address", s.Address)
	})
	return nil
}

// Kill ends a server this process started at once: SIGKILL to its process
// group, as a crash would, for tests of what survives one (with DBFile, every
// write the server acknowledged: SQLite's WAL keeps it). Like Stop it does
// nothing for a reused server, and either of them ends the server once.
func (s *TemporalDevServer) Kill() {
	if s == nil || s.cmd == nil {
		return
	}
	s.stopOnce.Do(func() {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
		removePIDFile(s.pidFile, s.cmd.Process.Pid)
		s.logger.Info("killed the Temporal dev server", "address", s.Address)
	})
}

// quietSDKLogger keeps the SDK's connection chatter out of the output while
// probing.
var quietSDKLogger = sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))

// probeTemporal reports nil when the frontend on addr passes the gRPC health
// check and namespace ns exists. A *serviceerror.NamespaceNotFound means the
// server is up without the namespace.
func probeTemporal(ctx context.Context, addr, ns string, timeout time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := client.DialContext(pctx, client.Options{HostPort: addr, Namespace: ns, Logger: quietSDKLogger})
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.CheckHealth(pctx, &client.CheckHealthRequest{}); err != nil {
		return err
	}
	_, err = c.WorkflowService().DescribeNamespace(pctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	return err
}

func registerNamespace(ctx context.Context, addr, ns string) error {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.DialContext(rctx, client.Options{HostPort: addr, Logger: quietSDKLogger})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WorkflowService().RegisterNamespace(rctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        ns,
		WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace %q: %w", ns, err)
	}
	// Registration reaches the frontend's namespace cache after a moment.
	for {
		_, err = c.WorkflowService().DescribeNamespace(rctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
		if err == nil {
			return nil
		}
		select {
		case <-rctx.Done():
			return fmt.Errorf("namespace %q registered but not visible: %w", ns, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
