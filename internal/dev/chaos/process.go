package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is one child process under supervision, as systemd or Kubernetes
// would run it: in its own process group (so a kill reaches whatever it
// starts), killed with the test process if that dies (Pdeathsig), its
// output appended to a log file, and started again a second after it exits
// on its own. Exits it was not told to make are counted: a process that
// dies when a dependency restarts is a finding.
type Process struct {
	Name string
	// Path and Args are the command; Env its whole environment.
	Path string
	Args []string
	Env  []string
	// LogFile receives stdout and stderr, appended across restarts.
	LogFile string
	// Ready reports whether a start has finished: it gets the size the log
	// had when this start began (look at what was written since).
	Ready func(ctx context.Context, logOffset int64) bool
	// Logf reports starts, exits and restarts.
	Logf func(format string, args ...any)

	mu         sync.Mutex
	cmd        *exec.Cmd
	exited     chan struct{}
	wantDown   bool // killed or stopped on purpose: do not restart
	closed     bool
	logOffset  int64
	starts     int
	unexpected []Exit
}

// Exit is an exit the process made on its own.
type Exit struct {
	At     time.Time
	Status string
	// LogTail is the end of its log at that moment.
	LogTail string
}

// Start starts the process and waits until it is ready (Ready), or ctx
// ends. A process that exits on its own before it is ready is started again.
func (p *Process) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errors.New("chaos: " + p.Name + " is closed")
	}
	p.wantDown = false
	err := p.spawnLocked()
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return p.WaitReady(ctx)
}

// WaitReady waits until the current start is ready.
func (p *Process) WaitReady(ctx context.Context) error {
	for {
		p.mu.Lock()
		offset, running := p.logOffset, p.cmd != nil
		p.mu.Unlock()
		if running && (p.Ready == nil || p.Ready(ctx, offset)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("chaos: %s not ready: %w (log: %s)", p.Name, ctx.Err(), p.LogFile)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *Process) spawnLocked() error {
	logf, err := os.OpenFile(p.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("chaos: %s's log: %w", p.Name, err)
	}
	defer logf.Close()
	offset, _ := logf.Seek(0, 2)
	fmt.Fprintf(logf, "\n=== %s chaos: start %s\n", time.Now().Format(time.RFC3339Nano), p.Name)
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = p.Env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("chaos: start %s: %w", p.Name, err)
	}
	p.cmd, p.exited, p.logOffset = cmd, make(chan struct{}), offset
	p.starts++
	go p.wait(cmd, p.exited)
	return nil
}

// wait reaps the process and restarts it when it exited on its own.
func (p *Process) wait(cmd *exec.Cmd, exited chan struct{}) {
	err := cmd.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	close(exited)
	if p.cmd == cmd {
		p.cmd = nil
	}
	if p.wantDown || p.closed {
		return
	}
	status := "exit 0"
	if err != nil {
		status = err.Error()
	}
	p.unexpected = append(p.unexpected, Exit{At: time.Now(), Status: status, LogTail: tail(p.LogFile, 15)})
	p.logf("%s exited on its own (%s); restarting it in 1s", p.Name, status)
	time.AfterFunc(time.Second, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.cmd == nil && !p.wantDown && !p.closed {
			if err := p.spawnLocked(); err != nil {
				p.logf("%v", err)
			}
		}
	})
}

// Kill sends SIGKILL to the process group and waits for the exit. The
// process stays down until Start.
func (p *Process) Kill() { p.signal(syscall.SIGKILL, 0) }

// Stop asks the process to stop (SIGTERM), waits up to grace, then kills it.
// It stays down until Start.
func (p *Process) Stop(grace time.Duration) { p.signal(syscall.SIGTERM, grace) }

func (p *Process) signal(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	p.wantDown = true
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	if sig != syscall.SIGKILL {
		select {
		case <-exited:
			return
		case <-time.After(grace):
			p.logf("%s did not stop within %s; killing it", p.Name, grace)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	<-exited
}

// Close kills the process for good: no restart follows.
func (p *Process) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Kill()
}

// UnexpectedExits lists the exits the process made on its own.
func (p *Process) UnexpectedExits() []Exit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Exit(nil), p.unexpected...)
}

// Starts counts the times the process was started (restarts included).
func (p *Process) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

func (p *Process) logf(format string, args ...any) {
	if p.Logf != nil {
		p.Logf(format, args...)
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
