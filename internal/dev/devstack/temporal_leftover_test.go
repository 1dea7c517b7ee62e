package devstack

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv carries the options of TestHelperStartsTemporal's server.
const helperEnv = "DEVSTACK_TEST_START_TEMPORAL"

// TestHelperStartsTemporal is not a test: run as a child process of a test
// (with helperEnv set), it starts a dev server, prints its PID and waits to
// be killed, like a `referflow dev`.
func TestHelperStartsTemporal(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("only runs as a child process of TestTemporalDevServerDiesWithItsStarter")
	}
	var opts TemporalDevServerOptions
	if err := json.Unmarshal([]byte(raw), &opts); err != nil {
		t.Fatal(err)
	}
	s, err := StartTemporalDevServer(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("server-pid %d\n", s.cmd.Process.Pid)
	select {}
}

// waitGone waits until pid has exited and nothing listens on addr.
func waitGone(t *testing.T, pid int, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
		}
		if err != nil && !processAlive(pid) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Temporal dev server (PID %d) still runs on %s", pid, addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill -9 of the process that started the dev server takes the server down
// with it: no orphan keeps the port and the database.
func TestTemporalDevServerDiesWithItsStarter(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's; elsewhere the next start stops the leftover (TestTemporalDevServerLeftoverIsStopped)")
	}
	// Not parallel, nor the next test: a dev server takes free ports for its
	// internal services, which may be ports a parallel test picked and has
	// not bound yet. Sequential tests run before the parallel ones start.
	opts := devServerOptions(t, temporalCLI(t), filepath.Join(t.TempDir(), "temporal.db"))
	opts.Logger = nil
	raw, _ := json.Marshal(opts)
	child := exec.Command(os.Args[0], "-test.run=^TestHelperStartsTemporal$", "-test.v")
	child.Env = append(os.Environ(), helperEnv+"="+string(raw))
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	child.SysProcAttr = &syscall.SysProcAttr{}
	dieWithParent(child.SysProcAttr) // a test that fails midway leaves nothing behind
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	pid := 0
	for sc := bufio.NewScanner(out); pid == 0 && sc.Scan(); {
		if rest, ok := strings.CutPrefix(sc.Text(), "server-pid "); ok {
			pid, _ = strconv.Atoi(rest)
		}
	}
	if pid == 0 {
		t.Fatal("the child process did not start a dev server")
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port))
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		t.Fatalf("the dev server does not answer on %s: %v", addr, err)
	} else {
		conn.Close()
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	waitGone(t, pid, addr)
}

// A dev server left by a run that could not take it down (an older binary,
// a system without the parent-death signal) is stopped at the next start,
// which then runs its own: found through the PID file, or, with none, as the
// orphan listening on the port with this database.
func TestTemporalDevServerLeftoverIsStopped(t *testing.T) {
	cli := temporalCLI(t)
	for _, withPIDFile := range []bool{true, false} {
		t.Run(fmt.Sprintf("pid_file=%v", withPIDFile), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dir := t.TempDir()
			opts := devServerOptions(t, cli, filepath.Join(dir, "temporal.db"))
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port))
			// Started as an older `referflow dev` did, by a parent that is
			// gone: the shell exits at once, the server is an orphan.
			script := fmt.Sprintf(`%q server start-dev --ip 127.0.0.1 --port %d --ui-port %d --log-level warn --db-filename %q >%q 2>&1 & echo $!`,
				cli, opts.Port, opts.UIPort, filepath.Join(dir, "temporal.db"), filepath.Join(dir, "leftover.log"))
			sh := exec.Command("sh", "-c", script)
			sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			pidOut, err := sh.Output()
			if err != nil {
				t.Fatal(err)
			}
			leftover, _ := strconv.Atoi(strings.TrimSpace(string(pidOut)))
			t.Cleanup(func() { _ = syscall.Kill(leftover, syscall.SIGKILL) })
			if err := probeUntilReady(ctx, addr); err != nil {
				t.Fatalf("the leftover server did not start: %v", err)
			}
			if withPIDFile {
				// Its starter (here: the shell, gone) is recorded as the owner.
				if err := os.WriteFile(filepath.Join(dir, "temporal.pid"), fmt.Appendf(nil, "%d %d\n", leftover, sh.Process.Pid), 0o644); err != nil {
					t.Fatal(err)
				}
			}

			s, err := StartTemporalDevServer(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Stop(context.Background()) })
			if s.Reused || s.Leftover == nil || s.Leftover.PID != leftover {
				t.Fatalf("start over a leftover: Reused %v, Leftover %+v, want the leftover PID %d stopped", s.Reused, s.Leftover, leftover)
			}
			if processAlive(leftover) {
				t.Fatalf("the leftover server (PID %d) still runs", leftover)
			}
			if server, owner, ok := readPIDFile(filepath.Join(dir, "temporal.pid")); !ok || server != s.cmd.Process.Pid || owner != os.Getpid() {
				t.Errorf("PID file = %d %d %v, want this start's server and this process", server, owner, ok)
			}
			if err := s.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "temporal.pid")); !os.IsNotExist(err) {
				t.Errorf("the PID file outlives the server it names: %v", err)
			}
		})
	}
}

// probeUntilReady waits until a Temporal frontend answers on addr.
func probeUntilReady(ctx context.Context, addr string) error {
	for {
		err := probeTemporal(ctx, addr, "default", 2*time.Second)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
