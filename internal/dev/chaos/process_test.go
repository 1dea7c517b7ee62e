package chaos

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func shProcess(t *testing.T, script string) (*Process, string) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "p.log")
	p := &Process{
		Name: "sh", Path: "/bin/sh", Args: []string{"-c", script}, Env: []string{"DIR=" + dir}, LogFile: log,
		Ready: func(_ context.Context, offset int64) bool { return logHas(log, offset, "ready") },
		Logf:  t.Logf,
	}
	t.Cleanup(p.Close)
	return p, dir
}

// A kill reaches the whole process group — nothing the process started
// outlives it — and a killed process stays down until started again.
func TestProcessKillLeavesNoOrphans(t *testing.T) {
	p, dir := shProcess(t, `sleep 60 & echo $! > "$DIR/child"; echo ready; wait`)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "child"))
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	p.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for alive(child) {
		if time.Now().After(deadline) {
			t.Fatalf("the process's child %d outlived the kill", child)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p.Starts() != 1 || len(p.UnexpectedExits()) != 0 {
		t.Fatalf("after a kill: %d starts, exits %v; want it left down", p.Starts(), p.UnexpectedExits())
	}
	if err := p.Start(ctx); err != nil || p.Starts() != 2 {
		t.Fatalf("start again: %v, %d starts", err, p.Starts())
	}
}

// alive tells whether pid runs (a zombie, dead and not yet reaped by
// whoever adopted it, does not).
func alive(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(after, "Z")
}

// A process that exits on its own is started again, as a supervisor would,
// and the exit is counted with the end of its log.
func TestProcessThatExitsIsRestartedAndCounted(t *testing.T) {
	p, _ := shProcess(t, `echo ready; if [ -e "$DIR/ran" ]; then exec sleep 60; fi; touch "$DIR/ran"; echo dying; exit 3`)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Starts() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("not restarted within 10s of its exit")
		}
		time.Sleep(20 * time.Millisecond)
	}
	exits := p.UnexpectedExits()
	if len(exits) != 1 || !strings.Contains(exits[0].Status, "exit status 3") || !strings.Contains(exits[0].LogTail, "dying") {
		t.Fatalf("exits = %+v", exits)
	}
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}
