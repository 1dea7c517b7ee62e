package browser

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// Firefox is Debian's firefox-esr, headless, driven over WebDriver BiDi
// (the W3C protocol built into Firefox, so no geckodriver is needed): the
// browser suite's second engine, for the checks that the admin UI works in
// Firefox as in Chromium. It does little — open a page, read it, run a
// script, submit a form — because the pages need nothing more: they are
// server-rendered and work without JavaScript.
type Firefox struct {
	t    testing.TB
	ws   *websocket.Conn
	page string // the browsing context (the tab)

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan bidiAnswer
}

// firefoxBinary is Debian's firefox-esr package's launcher.
const firefoxBinary = "firefox-esr"

// firefoxPrefs keep Firefox on loopback and quiet: every request to a host
// but localhost and 127.0.0.1 goes to a proxy at 127.0.0.1:9, where nothing
// listens, so it fails without a DNS lookup or a connection leaving the
// machine (as --host-resolver-rules does for Chromium); and no update,
// telemetry, safe-browsing, remote-settings or captive-portal calls, no
// first-run pages (beside what Firefox's remote agent turns off by itself).
var firefoxPrefs = map[string]any{
	"network.proxy.type":                                1,
	"network.proxy.http":                                "127.0.0.1",
	"network.proxy.http_port":                           9,
	"network.proxy.ssl":                                 "127.0.0.1",
	"network.proxy.ssl_port":                            9,
	"network.proxy.share_proxy_settings":                true,
	"network.proxy.no_proxies_on":                       "localhost, 127.0.0.1",
	"network.proxy.allow_hijacking_localhost":           false,
	"network.proxy.socks_remote_dns":                    true,
	"app.update.enabled":                                false,
	"app.update.auto":                                   false,
	"app.normandy.enabled":                              false,
	"browser.shell.checkDefaultBrowser":                 false,
	"browser.startup.homepage_override.mstone":          "ignore",
	"browser.startup.page":                              0,
	"browser.newtabpage.enabled":                        false,
	"browser.safebrowsing.malware.enabled":              false,
	"browser.safebrowsing.phishing.enabled":             false,
	"browser.safebrowsing.downloads.enabled":            false,
	"browser.safebrowsing.update.enabled":               false,
	"browser.search.update":                             false,
	"datareporting.policy.dataSubmissionEnabled":        false,
	"datareporting.healthreport.uploadEnabled":          false,
	"toolkit.telemetry.enabled":                         false,
	"toolkit.telemetry.unified":                         false,
	"extensions.update.enabled":                         false,
	"extensions.getAddons.cache.enabled":                false,
	"network.captive-portal-service.enabled":            false,
	"network.connectivity-service.enabled":              false,
	"network.dns.disablePrefetch":                       true,
	"network.prefetch-next":                             false,
	"services.settings.server":                          "http://127.0.0.1:9/",
	"media.gmp-manager.url":                             "http://127.0.0.1:9/",
	"security.OCSP.enabled":                             0,
	"browser.aboutwelcome.enabled":                      false,
	"trailhead.firstrun.didSeeAboutWelcome":             true,
	"browser.region.network.url":                        "",
	"geo.provider.network.url":                          "",
	"network.trr.mode":                                  5,
	"browser.topsites.contile.enabled":                  false,
	"browser.newtabpage.activity-stream.feeds.topsites": false,
}

// FindFirefox is Debian's firefox-esr on PATH.
func FindFirefox() (string, error) {
	if p, err := exec.LookPath(firefoxBinary); err == nil {
		return p, nil
	}
	return "", errors.New("firefox-esr is not installed: run `make browser` (it installs it with `./scripts/install-tools.sh --browser`), or `sudo apt-get install -y firefox-esr`")
}

// NewFirefox starts a headless Firefox with a fresh profile for the test,
// closed when the test ends. Without firefox-esr the test fails saying how
// to install it.
func NewFirefox(t testing.TB) *Firefox {
	t.Helper()
	Require(t)
	bin, err := FindFirefox()
	if err != nil {
		t.Fatal(err)
	}
	profile := t.TempDir()
	var prefs strings.Builder
	for name, v := range firefoxPrefs {
		raw, _ := json.Marshal(v)
		fmt.Fprintf(&prefs, "user_pref(%q, %s);\n", name, raw)
	}
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(prefs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-remote", "--profile", profile,
		"--remote-debugging-port=0", "--remote-allow-hosts=127.0.0.1", "--remote-allow-origins=http://127.0.0.1", "about:blank")
	cmd.Env = append(os.Environ(), "HOME="+profile, "MOZ_CRASHREPORTER_DISABLE=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("firefox: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	// Firefox says where BiDi listens: "WebDriver BiDi listening on ws://127.0.0.1:PORT".
	listening := regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)
	found := make(chan string, 1)
	var output strings.Builder
	var outputMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			outputMu.Lock()
			output.WriteString(sc.Text() + "\n")
			outputMu.Unlock()
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	var wsURL string
	select {
	case wsURL = <-found:
	case <-time.After(60 * time.Second):
		outputMu.Lock()
		defer outputMu.Unlock()
		t.Fatalf("firefox did not start WebDriver BiDi within 60 s:\n%s", output.String())
	}
	ws, err := websocket.Dial(strings.TrimRight(wsURL, "/")+"/session", "", "http://127.0.0.1")
	if err != nil {
		t.Fatalf("firefox: connect to WebDriver BiDi at %s: %v", wsURL, err)
	}
	f := &Firefox{t: t, ws: ws, waiting: map[int]chan bidiAnswer{}}
	go f.read()
	t.Cleanup(func() { _ = ws.Close() })

	if _, err := f.call("session.new", map[string]any{"capabilities": map[string]any{}}); err != nil {
		t.Fatalf("firefox: new session: %v", err)
	}
	raw, err := f.call("browsingContext.getTree", map[string]any{})
	if err != nil {
		t.Fatalf("firefox: %v", err)
	}
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := json.Unmarshal(raw, &tree); err != nil || len(tree.Contexts) == 0 {
		t.Fatalf("firefox: no tab: %s", raw)
	}
	f.page = tree.Contexts[0].Context
	return f
}

// bidiAnswer is the answer to one command: its result, or its error.
type bidiAnswer struct {
	Type    string          `json:"type"`
	ID      *int            `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
}

// read hands each answer to the command waiting for it (events are
// ignored: nothing here needs them).
func (f *Firefox) read() {
	for {
		var a bidiAnswer
		if err := websocket.JSON.Receive(f.ws, &a); err != nil {
			f.mu.Lock()
			for id, ch := range f.waiting {
				ch <- bidiAnswer{Type: "error", Error: "connection closed", Message: err.Error()}
				delete(f.waiting, id)
			}
			f.mu.Unlock()
			if errors.Is(err, io.EOF) {
				return
			}
			return
		}
		if a.ID == nil {
			continue
		}
		f.mu.Lock()
		ch := f.waiting[*a.ID]
		delete(f.waiting, *a.ID)
		f.mu.Unlock()
		if ch != nil {
			ch <- a
		}
	}
}

// call sends a command and waits up to 30 s for its answer.
func (f *Firefox) call(method string, params any) (json.RawMessage, error) {
	f.mu.Lock()
	f.nextID++
	id := f.nextID
	ch := make(chan bidiAnswer, 1)
	f.waiting[id] = ch
	f.mu.Unlock()
	if err := websocket.JSON.Send(f.ws, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case a := <-ch:
		if a.Type == "error" {
			return nil, fmt.Errorf("%s: %s: %s", method, a.Error, a.Message)
		}
		return a.Result, nil
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("%s: no answer within 30 s", method)
	}
}

// Open loads url in the tab and waits until it is loaded.
func (f *Firefox) Open(url string) {
	f.t.Helper()
	if err := f.TryOpen(url); err != nil {
		f.t.Fatalf("firefox: open %s: %v", url, err)
	}
}

// TryOpen is Open that returns the error of a page that could not be
// loaded instead of failing the test.
func (f *Firefox) TryOpen(url string) error {
	_, err := f.call("browsingContext.navigate", map[string]any{"context": f.page, "url": url, "wait": "complete"})
	return err
}

// Eval runs a JavaScript expression in the page (awaiting a promise) and
// decodes its JSON-serialisable result into T. The expression's value is
// passed through JSON.stringify, so any plain value comes back whole.
func FirefoxEval[T any](f *Firefox, expr string) T {
	f.t.Helper()
	var zero T
	raw, err := f.call("script.evaluate", map[string]any{
		"expression":   "(async () => JSON.stringify(await (async () => (" + expr + "))()))()",
		"target":       map[string]any{"context": f.page},
		"awaitPromise": true,
	})
	if err != nil {
		f.t.Fatalf("firefox: evaluate %s: %v", expr, err)
	}
	var res struct {
		Type             string `json:"type"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
		Result struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"result"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		f.t.Fatalf("firefox: evaluate %s: %v: %s", expr, err, raw)
	}
	if res.Type == "exception" {
		text := ""
		if res.ExceptionDetails != nil {
			text = res.ExceptionDetails.Text
		}
		f.t.Fatalf("firefox: evaluate %s: %s", expr, text)
	}
	if res.Result.Type != "string" {
		return zero // undefined
	}
	var out T
	if err := json.Unmarshal([]byte(res.Result.Value), &out); err != nil {
		f.t.Fatalf("firefox: evaluate %s: %v", expr, err)
	}
	return out
}

// Text is the visible text of the first element matching selector ("" when
// none does).
func (f *Firefox) Text(selector string) string {
	f.t.Helper()
	return FirefoxEval[string](f, fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText.trim()`, selector))
}

// Location is the tab's URL.
func (f *Firefox) Location() string {
	f.t.Helper()
	return FirefoxEval[string](f, `location.href`)
}

// Type sets the value of the field matching selector.
func (f *Firefox) Type(selector, value string) {
	f.t.Helper()
	if !FirefoxEval[bool](f, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.focus(); e.value = %q; return true })()`, selector, value)) {
		f.t.Fatalf("firefox: no field %s on %s", selector, f.Location())
	}
}

// Submit clicks the submit button matching selector, as a person would, and
// waits for the page the form's answer loads.
func (f *Firefox) Submit(selector string) {
	f.t.Helper()
	if !FirefoxEval[bool](f, fmt.Sprintf(`(() => { const b = document.querySelector(%q); if (!b) return false; window.__referflowBefore = true; b.click(); return true })()`, selector)) {
		f.t.Fatalf("firefox: no button %s on %s", selector, f.Location())
	}
	// While the next page loads, a script may find no document to run in:
	// such an answer means "not yet".
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		raw, err := f.call("script.evaluate", map[string]any{
			"expression":   `window.__referflowBefore !== true && document.readyState === "complete"`,
			"target":       map[string]any{"context": f.page},
			"awaitPromise": false,
		})
		var res struct {
			Result struct {
				Value any `json:"value"`
			} `json:"result"`
		}
		if err == nil && json.Unmarshal(raw, &res) == nil && res.Result.Value == true {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.t.Fatalf("firefox: the form of %s loaded no page within 30 s", selector)
}
