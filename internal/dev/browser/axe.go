package browser

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// AxePackage is the accessibility engine the browser suite injects into
// its pages: Deque's axe-core from npm, pinned to its major version.
const AxePackage = "axe-core@4"

// axeInstall is the one install of AxePackage per test binary.
var axeInstall struct {
	once   sync.Once
	script string
	err    error
}

// axeScript is the text of axe-core's axe.min.js, installed with npm once
// per test binary into the user's cache folder (referflow/axe-core-4 under
// os.UserCacheDir, reused by later runs; delete it to take the newest 4.x).
func axeScript(t testing.TB) string {
	t.Helper()
	axeInstall.once.Do(func() { axeInstall.script, axeInstall.err = installAxe() })
	if axeInstall.err != nil {
		t.Fatalf("browser: %v", axeInstall.err)
	}
	return axeInstall.script
}

func installAxe() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	parent := filepath.Join(cache, "referflow")
	dir := filepath.Join(parent, strings.NewReplacer("@", "-").Replace(AxePackage))
	file := func(d string) string { return filepath.Join(d, "node_modules", "axe-core", "axe.min.js") }
	if b, err := os.ReadFile(file(dir)); err == nil {
		return string(b), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("the accessibility check needs npm to install %s and npm is not on PATH: "+
			"run `make browser` (it installs it with `./scripts/install-tools.sh --browser`), or `sudo apt-get install -y npm`", AxePackage)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	// Installed into a folder of its own, then renamed into place: two test
	// binaries installing at once both succeed, and a half-done install is
	// never read.
	tmp, err := os.MkdirTemp(parent, "install-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", tmp, AxePackage)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install %s (into %s): %v\n%s", AxePackage, tmp, err, out)
	}
	b, err := os.ReadFile(file(tmp))
	if err != nil {
		return "", fmt.Errorf("npm installed %s without axe.min.js: %v", AxePackage, err)
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, fs.ErrExist) && !isNotEmpty(err) {
		return "", err
	}
	return string(b), nil
}

// isNotEmpty: renaming onto a folder another install has just filled.
func isNotEmpty(err error) bool {
	return strings.Contains(err.Error(), "directory not empty") || strings.Contains(err.Error(), "file exists")
}

// AxeViolation is one rule of axe-core the page breaks, with the elements
// that break it.
type AxeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"` // minor, moderate, serious or critical
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		// Target is the element's CSS selector (axe's, joined with " > "
		// across frames and shadow roots).
		Target  string `json:"target"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

// Blocking reports whether the violation fails the suite: serious or
// critical.
func (v AxeViolation) Blocking() bool { return v.Impact == "serious" || v.Impact == "critical" }

func (v AxeViolation) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "axe %s (%s): %s (%s)", v.ID, v.Impact, v.Help, v.HelpURL)
	for _, n := range v.Nodes {
		fmt.Fprintf(&s, "\n    at %s: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " "))
	}
	return s.String()
}

// axeRun runs axe-core on the document, violations only, and returns them
// in the shape of AxeViolation.
const axeRun = `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
  id: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl,
  nodes: v.nodes.map(n => ({target: n.target.map(t => Array.isArray(t) ? t.join(" ") : String(t)).join(" > "), summary: n.failureSummary || ""})),
})))`

// AxeViolations injects axe-core into the page in the tab (when not there
// yet) and returns every rule the page breaks, of any impact. It works
// through the DevTools protocol, so with the page's JavaScript off too: axe
// waits on timers, which do not fire while scripts are off, so they are
// turned on for the check and off again. The page's own scripts were
// skipped when it loaded and are not run by that.
func (b *Browser) AxeViolations() []AxeViolation {
	b.t.Helper()
	if b.scriptsOff {
		b.setScriptsDisabled(false)
		defer b.setScriptsDisabled(true)
	}
	loaded, err := Eval[bool](b, `typeof window.axe === "object" && typeof window.axe.run === "function"`)
	if err != nil {
		b.t.Fatalf("browser: look for axe-core: %v", err)
	}
	if !loaded {
		if _, err := Eval[bool](b, axeScript(b.t)+"\n;true"); err != nil {
			b.t.Fatalf("browser: inject axe-core: %v", err)
		}
	}
	violations, err := Eval[[]AxeViolation](b, axeRun)
	if err != nil {
		b.t.Fatalf("browser: run axe-core: %v", err)
	}
	return violations
}

// CheckAccessible fails the test (without stopping it) for each serious or
// critical violation of axe-core on the page in the tab, and each problem
// of OwnAccessibilityProblems, naming the page as what; lesser violations
// are logged.
func (b *Browser) CheckAccessible(what string) {
	b.t.Helper()
	where := b.Location()
	for _, v := range b.AxeViolations() {
		if v.Blocking() {
			b.t.Errorf("%s (%s): %s", what, where, v)
		} else {
			b.t.Logf("%s (%s), not failing the test: %s", what, where, v)
		}
	}
	for _, p := range b.OwnAccessibilityProblems() {
		b.t.Errorf("%s (%s): %s", what, where, p)
	}
}
