//go:build !linux

package devstack

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// dieWithParent has no parent-death signal to set outside Linux: a server
// left by a killed `referflow dev` is found through its PID file instead.
func dieWithParent(*syscall.SysProcAttr) {}

// processState asks ps for pid's state letter and parent.
func processState(pid int) (state string, ppid int, ok bool) {
	out, err := exec.Command("ps", "-o", "stat=,ppid=", "-p", strconv.Itoa(pid)).Output()
	fields := strings.Fields(string(out))
	if err != nil || len(fields) < 2 {
		return "", 0, false
	}
	ppid, _ = strconv.Atoi(fields[1])
	return fields[0][:1], ppid, true
}

// processCommand asks ps for pid's command line.
func processCommand(pid int) string {
	out, err := exec.Command("ps", "-o", "command=", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// listenerPID asks lsof for the process listening on TCP port, or 0.
func listenerPID(port int) int {
	out, err := exec.Command("lsof", "-nP", "-t", "-iTCP:"+strconv.Itoa(port), "-sTCP:LISTEN").Output()
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]))
	return pid
}
