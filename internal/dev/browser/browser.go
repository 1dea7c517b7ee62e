// Package browser runs a real headless Chromium for referflow's browser
// suite (e2e/browser): Debian's chromium package, driven from Go over the
// DevTools protocol with chromedp, one browser with a fresh profile per
// test, and nothing reached but loopback.
//
// The suite runs only when asked (REFERFLOW_BROWSER=1, `make browser`,
// which installs chromium first through scripts/install-tools.sh
// --browser); asked for and without a chromium, a test fails saying how to
// install it, it is never skipped.
package browser

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/referflow/referflow/internal/dev/testenv"
)

// EnvVar asks for the browser suite: REFERFLOW_BROWSER=1.
const EnvVar = "REFERFLOW_BROWSER"

// ActionTimeout bounds one step of a test in the browser (a navigation, a
// wait for an element, a script's promise): a page that never comes fails
// the test, it does not hang it.
const ActionTimeout = 20 * time.Second

// Flags are Chromium's command line, with HostResolverRules, the profile
// folder and the DevTools pipe chromedp adds: headless, as root in a container (no
// sandbox), no GPU, and none of the browser's own traffic (background
// networking, component updates, sync, the first-run page, QUIC).
var Flags = []string{
	"headless", "no-sandbox", "disable-gpu", "disable-background-networking",
	"disable-component-update", "disable-sync", "no-first-run", "disable-quic",
}

// HostResolverRules answers every host name but localhost with "not found"
// inside Chromium, without asking DNS: even with Flags, Chromium looks up
// Google's hosts (accounts.google.com, clients2.google.com) on its own, and
// those lookups would leave the machine. The rules apply to addresses too:
// the loopback ones the suite uses are excluded. (Measured with strace: with
// the rules no DNS query is sent; what is left are UDP connects that pick a
// source address and send nothing.)
const HostResolverRules = "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]"

// Require skips the test unless the browser suite was asked for, so
// `make test` stays fast.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv(EnvVar) == "" {
		t.Skipf("the browser suite runs with %s=1 (make browser)", EnvVar)
	}
}

// Debian's chromium package: the browser binary, and the launcher script on
// PATH that runs it.
const (
	debianChromium  = "/usr/lib/chromium/chromium"
	debianLauncher  = "/usr/bin/chromium"
	installCommands = "run `make browser` (it installs it with `./scripts/install-tools.sh --browser`), or `sudo apt-get install -y chromium`"
)

// FindChromium is Debian's chromium: its binary, /usr/lib/chromium/chromium,
// started directly so that its command line is Flags and nothing else (the
// launcher /usr/bin/chromium adds the flags of /etc/chromium.d: extensions,
// GPU rasterization, ...); else the launcher, else chromium or
// chromium-browser on PATH.
func FindChromium() (string, error) {
	for _, p := range []string{debianChromium, debianLauncher} {
		if info, err := os.Stat(p); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium found (looked at %s, %s and for chromium, chromium-browser on PATH): %s",
		debianChromium, debianLauncher, installCommands)
}

// Browser is one test's Chromium with one tab. Its methods fail the test on
// error, each step bounded by ActionTimeout.
type Browser struct {
	t      testing.TB
	ctx    context.Context
	output *testenv.LogBuffer

	// scriptsOff: DisableJavaScript was called.
	scriptsOff bool

	mu sync.Mutex
	// refused are the requests to anything but loopback that the tab made
	// and the guard failed.
	refused []string
}

// New starts Chromium with Flags and a profile folder of the test's own,
// and opens a tab whose every request is checked: one to an address that
// is not loopback is failed, and fails the test. Chromium is stopped when
// the test ends.
func New(t testing.TB) *Browser {
	t.Helper()
	Require(t)
	exe, err := FindChromium()
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	// Made before the cleanup that stops Chromium is registered, so it is
	// removed after Chromium has stopped (cleanups run last first).
	profile := t.TempDir()
	b := &Browser{t: t, output: &testenv.LogBuffer{}}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(profile),
		chromedp.CombinedOutput(b.output),
	}
	for _, f := range Flags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	opts = append(opts, chromedp.Flag("host-resolver-rules", HostResolverRules))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		if t.Failed() {
			b.screenshot()
		}
		cancelTab()
		cancelAlloc()
		if t.Failed() {
			if out := strings.TrimSpace(b.output.String()); out != "" {
				t.Logf("chromium's output:\n%s", out)
			}
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, r := range b.refused {
			t.Errorf("browser: the page asked for %s, which is not on loopback (refused)", r)
		}
	})
	b.ctx = ctx
	// The first call starts Chromium and binds it to ctx, which has no
	// deadline (a deadline here would end the browser, not the step).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browser: start %s: %v\n%s", exe, err, b.output.String())
	}
	b.guardLoopback()
	return b
}

// screenshot saves what the tab shows when the test failed, and logs where.
func (b *Browser) screenshot() {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("browser: no screenshot: %v", err)
		return
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(b.t.Name())
	f, err := os.CreateTemp("", "referflow-browser-"+name+"-*.png")
	if err == nil {
		_, err = f.Write(png)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		b.t.Logf("browser: screenshot not saved: %v", err)
		return
	}
	b.t.Logf("browser: the tab at the failure: %s", f.Name())
}

// Screenshot saves what the tab shows, the whole page, as a PNG file at
// path (its folder is made when missing).
func (b *Browser) Screenshot(path string) {
	b.t.Helper()
	png := run(b, "take a screenshot", chromedp.FullScreenshot(100))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.t.Fatalf("browser: screenshot folder: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatalf("browser: save the screenshot: %v", err)
	}
}

// Select chooses the option of value in the select the CSS selector names
// (for a multi-select: that option alone), as a person picking it would:
// the select's change event fires.
func (b *Browser) Select(css, value string) {
	b.t.Helper()
	b.step("select "+value+" in "+css, chromedp.SetValue(chromedp.CSS(css), value))
}

// guardLoopback pauses every request of the tab and lets it go on only when
// it is for a loopback host; the others are failed and recorded.
func (b *Browser) guardLoopback() {
	b.t.Helper()
	paused := chromedp.Events(b.ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			if Loopback(ev.Request.URL) {
				_, _ = chromedp.Call(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				continue
			}
			b.mu.Lock()
			b.refused = append(b.refused, ev.Request.URL)
			b.mu.Unlock()
			_, _ = chromedp.Call(b.ctx, fetch.FailRequest, fetch.FailRequestParams{
				RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient,
			})
		}
	}()
	b.step("guard requests", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}})
		return err
	}))
}

// Loopback reports whether a URL the browser asks for stays on this
// machine: http(s) or ws(s) to localhost or a loopback address, or a URL
// with no host at all (data:, blob:, about:).
func Loopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "data", "blob", "about":
		return true
	case "http", "https", "ws", "wss":
	default:
		return false
	}
	host := u.Hostname()
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// step runs actions with the step's timeout and fails the test on error.
func (b *Browser) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, ActionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// run runs one action with the step's timeout and returns its value.
func run[T any](b *Browser, what string, action chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, ActionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// Context is the tab's context, for chromedp actions the methods do not
// cover (with a deadline of its own: see ActionTimeout).
func (b *Browser) Context() context.Context { return b.ctx }

// Open navigates the tab to a loopback URL, follows its redirects, and
// returns the HTTP status of the page it ended on.
func (b *Browser) Open(rawURL string) int64 {
	b.t.Helper()
	if !Loopback(rawURL) {
		b.t.Fatalf("browser: %s is not on loopback; the browser suite reaches nothing else", rawURL)
	}
	resp := run(b, "open "+rawURL, chromedp.NavigateResponse(rawURL))
	if resp == nil {
		b.t.Fatalf("browser: open %s: no response", rawURL)
	}
	return resp.Status
}

// Location is the tab's current URL.
func (b *Browser) Location() string {
	b.t.Helper()
	return run(b, "read the location", chromedp.Location())
}

// Text is the visible text of the first element the CSS selector matches,
// waiting for it to be there.
func (b *Browser) Text(css string) string {
	b.t.Helper()
	return run(b, "read "+css, chromedp.Text(chromedp.CSS(css)))
}

// Attribute is the value of an attribute of the first element the CSS
// selector matches ("" when it has none).
func (b *Browser) Attribute(css, name string) string {
	b.t.Helper()
	return run(b, "read "+name+" of "+css, chromedp.AttributeValue(chromedp.CSS(css), name)).Value
}

// Exists reports whether an element matches the CSS selector now, without
// waiting for one.
func (b *Browser) Exists(css string) bool {
	b.t.Helper()
	return len(run(b, "look for "+css, chromedp.Nodes(chromedp.CSS(css), chromedp.AtLeast(0)))) > 0
}

// Type types text into the field the CSS selector names, key by key as a
// person would.
func (b *Browser) Type(css, text string) {
	b.t.Helper()
	b.step("type into "+css, chromedp.SendKeys(chromedp.CSS(css), text))
}

// Submit clicks the element the CSS selector names (a submit button), waits
// until the page it leads to has loaded, and returns that page's HTTP
// status.
func (b *Browser) Submit(css string) int64 {
	b.t.Helper()
	return b.clickToPage("submit with "+css, css)
}

// Follow clicks the link the CSS selector names, waits until its page has
// loaded, and returns that page's HTTP status.
func (b *Browser) Follow(css string) int64 {
	b.t.Helper()
	return b.clickToPage("follow "+css, css)
}

func (b *Browser) clickToPage(what, css string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, ActionTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(css)))
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	if resp == nil {
		b.t.Fatalf("browser: %s: no response", what)
	}
	return resp.Status
}

// Press types keys into whatever has the focus, as on a keyboard: "\t" is
// Tab, "\r" Enter (see chromedp/kb).
func (b *Browser) Press(keys string) {
	b.t.Helper()
	b.step("press keys", chromedp.KeyEvent(keys))
}

// PressToPage presses keys that lead to another page (Enter in a form),
// waits until it has loaded, and returns its HTTP status.
func (b *Browser) PressToPage(keys string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, ActionTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.KeyEvent(keys))
	if err != nil {
		b.t.Fatalf("browser: press keys to a page: %v", err)
	}
	if resp == nil {
		b.t.Fatalf("browser: press keys to a page: no response")
	}
	return resp.Status
}

// Focused names the element that has the keyboard's focus: its name
// attribute, else its id, else its tag ("body" when nothing has it).
func (b *Browser) Focused() string {
	b.t.Helper()
	name, err := Eval[string](b, `(() => { const e = document.activeElement; return e ? (e.getAttribute("name") || e.id || e.tagName.toLowerCase()) : ""; })()`)
	if err != nil {
		b.t.Fatalf("browser: read the focus: %v", err)
	}
	return name
}

// AllowClipboard lets pages of origin write and read the clipboard without
// asking, as a person who clicked "Allow" would, for the copy buttons.
func (b *Browser) AllowClipboard(origin string) {
	b.t.Helper()
	b.step("allow the clipboard", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: origin,
			}); err != nil {
				return err
			}
		}
		return nil
	}))
}

// Clipboard is the text on the clipboard, read by the page (see
// AllowClipboard).
func (b *Browser) Clipboard() string {
	b.t.Helper()
	text, err := Eval[string](b, `navigator.clipboard.readText()`)
	if err != nil {
		b.t.Fatalf("browser: read the clipboard: %v", err)
	}
	return text
}

// Download fetches a loopback URL as following a download link in the tab
// would: with the tab's cookies for it (the admin's session), from Go,
// since the tab shows no downloaded file. It returns the answer's status
// and body.
func (b *Browser) Download(rawURL string) (int, []byte) {
	b.t.Helper()
	if !Loopback(rawURL) {
		b.t.Fatalf("browser: %s is not on loopback; the browser suite reaches nothing else", rawURL)
	}
	ctx, cancel := context.WithTimeout(b.ctx, ActionTimeout)
	defer cancel()
	got, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{rawURL}})
	if err != nil {
		b.t.Fatalf("browser: the tab's cookies for %s: %v", rawURL, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		b.t.Fatalf("browser: download %s: %v", rawURL, err)
	}
	for _, c := range got.Cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("browser: download %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("browser: download %s: %v", rawURL, err)
	}
	return resp.StatusCode, body
}

// Click clicks the element the CSS selector names, waiting for nothing
// after it.
func (b *Browser) Click(css string) {
	b.t.Helper()
	b.step("click "+css, chromedp.Click(chromedp.CSS(css)))
}

// WaitVisible waits until the element the CSS selector names is shown.
func (b *Browser) WaitVisible(css string) {
	b.t.Helper()
	b.step("wait for "+css, chromedp.WaitVisible(chromedp.CSS(css)))
}

// Eval runs a JavaScript expression in the page and decodes its value into
// T, awaiting it when it is a promise. A promise that rejects, or a script
// that throws, is returned as the error.
func Eval[T any](b *Browser, expression string) (T, error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, ActionTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expression, chromedp.EvalAwaitPromise))
}

// DisableJavaScript turns script execution off in the tab, as in a browser
// with JavaScript disabled, for the pages that must work without it.
func (b *Browser) DisableJavaScript() {
	b.t.Helper()
	b.scriptsOff = true
	b.setScriptsDisabled(true)
}

func (b *Browser) setScriptsDisabled(off bool) {
	b.t.Helper()
	b.step(fmt.Sprintf("disable JavaScript: %v", off), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: off})
		return err
	}))
}

// String names the browser in messages.
func (b *Browser) String() string { return fmt.Sprintf("chromium (%s)", strings.Join(Flags, " ")) }
