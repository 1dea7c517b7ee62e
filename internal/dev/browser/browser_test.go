package browser

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoopback(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]bool{
		"http://localhost:8080/r/ABC":       true,
		"http://app.localhost/":             true,
		"http://127.0.0.1:9000/welcome":     true,
		"http://127.8.9.10/":                true,
		"https://[::1]:443/":                true,
		"ws://localhost/socket":             true,
		"data:text/html,hello":              true,
		"about:blank":                       true,
		"blob:http://localhost/1234":        true,
		"http://0.0.0.0:1/":                 false,
		"https://example.com/":              false,
		"http://localhost.example.com/":     false,
		"http://10.0.0.1/":                  false,
		"http://192.168.1.1/":               false,
		"http://169.254.169.254/latest":     false,
		"https://[2001:db8::1]/":            false,
		"ftp://localhost/file":              false,
		"chrome://settings":                 false,
		"http://127.0.0.1.nip.io/":          false,
		"http://[::ffff:10.0.0.1]/":         false,
		"::not a url":                       false,
		"https://fonts.googleapis.com/css2": false,
	} {
		if got := Loopback(raw); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", raw, got, want)
		}
	}
}

// The harness itself, in a real Chromium: a loopback page loads and runs
// its script, a request elsewhere is refused before it leaves the
// browser, and JavaScript can be turned off.
func TestBrowserStaysOnLoopback(t *testing.T) {
	t.Parallel()
	b := New(t)
	// 0.0.0.0 is not loopback by the rule, yet traffic to it never leaves
	// this machine: were the guard to let it through, nothing would go out.
	const elsewhere = "http://0.0.0.0:9/pixel.png"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><title>t</title><h1 id="h">static</h1>
<img src=%q alt="">
<script>document.getElementById("h").textContent = "scripted";</script></html>`, elsewhere)
	}))
	t.Cleanup(srv.Close)

	if status := b.Open(srv.URL + "/page"); status != http.StatusOK {
		t.Fatalf("a loopback page answered %d through the guard", status)
	}
	if h := b.Text("#h"); h != "scripted" {
		t.Fatalf("the page's script did not run: heading %q", h)
	}
	deadline := time.Now().Add(ActionTimeout)
	for {
		b.mu.Lock()
		refused := slices.Clone(b.refused)
		b.refused = nil // seen here; not a failure of this test
		b.mu.Unlock()
		if slices.Contains(refused, elsewhere) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the request for %s was not refused (refused: %v)", elsewhere, refused)
		}
		time.Sleep(50 * time.Millisecond)
	}

	b.DisableJavaScript()
	b.Open(srv.URL + "/again")
	if h := b.Text("#h"); h != "static" {
		t.Fatalf("with JavaScript disabled the page's script still ran: heading %q", h)
	}
	// The test itself still reads the page.
	if n, err := Eval[int](b, `document.querySelectorAll("h1").length`); err != nil || n != 1 {
		t.Fatalf("reading the page with JavaScript disabled: %d, %v", n, err)
	}
	b.mu.Lock()
	b.refused = nil
	b.mu.Unlock()
}

// The Firefox harness: a loopback page loads and runs its script, and a
// page of any other host is refused by the dead proxy on 127.0.0.1 before
// a name is looked up or a connection leaves the machine.
func TestFirefoxStaysOnLoopback(t *testing.T) {
	t.Parallel()
	f := NewFirefox(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>t</title><h1 id="h">static</h1>
<script>document.getElementById("h").textContent = "scripted";</script></html>`)
	}))
	t.Cleanup(srv.Close)

	f.Open(srv.URL + "/page")
	if h := f.Text("#h"); h != "scripted" {
		t.Fatalf("the page's script did not run in Firefox: heading %q", h)
	}
	// .invalid never resolves anywhere (RFC 2606), so even a broken guard
	// sends nothing out.
	const elsewhere = "http://off-loopback.invalid/"
	err := f.TryOpen(elsewhere)
	if loc := f.Location(); err == nil && strings.HasPrefix(loc, elsewhere) && f.Text("h1") != "" {
		t.Fatalf("Firefox loaded %s (at %s): %s", elsewhere, loc, f.Text("body"))
	}
	// Refused by the proxy: without it the error would be an unknown host,
	// after a DNS lookup.
	if err == nil || !strings.Contains(err.Error(), "NS_ERROR_PROXY_CONNECTION_REFUSED") {
		t.Fatalf("opening %s: %v, want it refused by the loopback proxy", elsewhere, err)
	}
}

// The accessibility check (axe-core from npm, and our own two rules) finds
// each kind of problem, on a page whose JavaScript is off too, and passes a
// good page.
func TestAccessibilityCheckFindsEachKind(t *testing.T) {
	t.Parallel()
	b := New(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Path == "/good" {
			fmt.Fprint(w, `<!doctype html><html lang="en"><title>Good</title><main><h1>Join</h1>
<form><label for="e">Email</label><input id="e" name="email">
<div aria-hidden="true" style="position:absolute;left:-9999px"><input name="website" tabindex="-1"></div>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">
<p style="color:#595959">Fine print, dark enough.</p><button>Send</button></form></main></html>`)
			return
		}
		fmt.Fprint(w, `<!doctype html><html><title></title><h1>One</h1><h1>Two</h1>
<form><input name="email"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<p style="color:#aaaaaa">Pale grey on white.</p><button tabindex="-1">Send</button></form></html>`)
	}))
	t.Cleanup(srv.Close)

	b.Open(srv.URL + "/good")
	for _, v := range b.AxeViolations() {
		if v.Blocking() {
			t.Errorf("a good page breaks a rule: %s", v)
		}
	}
	if p := b.OwnAccessibilityProblems(); len(p) != 0 {
		t.Fatalf("a good page has problems: %q", p)
	}

	b.DisableJavaScript()
	b.Open(srv.URL + "/bad")
	found := map[string]string{}
	for _, v := range b.AxeViolations() {
		found[v.ID] = v.Impact
	}
	for id, impact := range map[string]string{"html-has-lang": "serious", "document-title": "serious", "label": "critical",
		"image-alt": "critical", "color-contrast": "serious"} {
		if found[id] != impact {
			t.Errorf("axe-core on a bad page: rule %s found as %q, want %q (all: %v)", id, found[id], impact, found)
		}
	}
	got := strings.Join(b.OwnAccessibilityProblems(), "\n")
	for _, want := range []string{"2 <h1>", "the keyboard cannot reach button"} {
		if !strings.Contains(got, want) {
			t.Errorf("the problems of a bad page do not say %q:\n%s", want, got)
		}
	}
}
