package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A Temporal dev server must not outlive the `referflow dev` that started
// it. On Linux the kernel kills it with its parent (dieWithParent); a server
// left by an older binary, or by a killed run on another system, is found at
// the next start — through the PID file beside its database, or as the
// listener on the port whose command line names that database — and stopped
// when its starter is gone. A server started by anything else is reused, and
// named with its PID so a person can stop it.

// writePIDFile records the server's PID and its starter's.
func writePIDFile(path string, server int) error {
	return os.WriteFile(path, fmt.Appendf(nil, "%d %d\n", server, os.Getpid()), 0o644)
}

// readPIDFile returns the PIDs writePIDFile recorded.
func readPIDFile(path string) (server, owner int, ok bool) {
	fields := strings.Fields(readTrim(path))
	if len(fields) != 2 {
		return 0, 0, false
	}
	server, err1 := strconv.Atoi(fields[0])
	owner, err2 := strconv.Atoi(fields[1])
	return server, owner, err1 == nil && err2 == nil && server > 0
}

// removePIDFile removes path when it still records server.
func removePIDFile(path string, server int) {
	if s, _, ok := readPIDFile(path); ok && s == server {
		_ = os.Remove(path)
	}
}

// processAlive tells whether pid runs (a zombie, dead but not yet reaped by
// its parent, does not).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	state, _, ok := processState(pid)
	return ok && state != "Z"
}

// isDevServerOn tells whether pid is a Temporal dev server keeping its state
// in dbFile.
func isDevServerOn(pid int, dbFile string) bool {
	cmd := processCommand(pid)
	return strings.Contains(cmd, "server start-dev") && dbFile != "" && strings.Contains(cmd, "--db-filename "+dbFile)
}

// LeftoverTemporal is a Temporal dev server found running on a data folder's
// database with nobody left to stop it.
type LeftoverTemporal struct {
	PID     int
	Command string
}

// findLeftoverTemporal returns the dev server on dbFile (through pidFile, or
// listening on port) whose starter is gone, or nil.
func findLeftoverTemporal(pidFile, dbFile string, port int) *LeftoverTemporal {
	if server, owner, ok := readPIDFile(pidFile); ok {
		if !processAlive(server) || !isDevServerOn(server, dbFile) {
			_ = os.Remove(pidFile) // a stale file: the server is gone (or the PID is another's now)
		} else if _, ppid, _ := processState(server); ppid != owner || !processAlive(owner) {
			return &LeftoverTemporal{PID: server, Command: processCommand(server)}
		} else {
			return nil // its starter still runs it
		}
	}
	if port <= 0 {
		return nil
	}
	pid := listenerPID(port)
	if pid <= 0 || !isDevServerOn(pid, dbFile) {
		return nil
	}
	// No PID file (an older binary started it): orphaned when reparented.
	if _, ppid, ok := processState(pid); ok && (ppid == 1 || !processAlive(ppid)) {
		return &LeftoverTemporal{PID: pid, Command: processCommand(pid)}
	}
	return nil
}

// StopLeftoverTemporal stops the Temporal dev server left running on dbFile
// by a `referflow dev` that is gone (see TemporalDevServerOptions.PIDFile),
// and returns it, or nil when there was none. port is where the server would
// listen (0: look only at the PID file).
func StopLeftoverTemporal(ctx context.Context, pidFile, dbFile string, port int) (*LeftoverTemporal, error) {
	l := findLeftoverTemporal(pidFile, dbFile, port)
	if l == nil {
		return nil, nil
	}
	if err := stopProcessGroup(ctx, l.PID); err != nil {
		return nil, fmt.Errorf("devstack: stop the Temporal dev server left running by an earlier run (PID %d): %w; stop it yourself with `kill %d`", l.PID, err, l.PID)
	}
	removePIDFile(pidFile, l.PID)
	return l, nil
}

// stopProcessGroup stops a process that is not our child, with the group it
// leads: SIGINT, then SIGKILL after 10 s.
func stopProcessGroup(ctx context.Context, pid int) error {
	signal := func(sig syscall.Signal) {
		if err := syscall.Kill(-pid, sig); errors.Is(err, syscall.ESRCH) {
			_ = syscall.Kill(pid, sig) // not a group leader
		}
	}
	wait := func(d time.Duration) bool {
		deadline := time.Now().Add(d)
		for processAlive(pid) {
			if time.Now().After(deadline) || ctx.Err() != nil {
				return false
			}
			time.Sleep(50 * time.Millisecond)
		}
		return true
	}
	signal(syscall.SIGINT)
	if wait(10 * time.Second) {
		return nil
	}
	signal(syscall.SIGKILL)
	if wait(5 * time.Second) {
		return nil
	}
	return fmt.Errorf("process %d still runs after SIGKILL", pid)
}
