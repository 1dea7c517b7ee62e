package hubspotsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a simulator with one portal and a helper to call it in-process.
type env struct {
	t     *testing.T
	sim   *Simulator
	h     http.Handler
	p     *Portal
	clock *fakeClock
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	clock := newClock()
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	sim := New(opts)
	return &env{t: t, sim: sim, h: sim.Handler(), p: sim.CreatePortal("Test portal"), clock: clock}
}

type resp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.status, r.raw) }

// get reads a dotted path ("errors.0.code") out of the JSON body.
func (r resp) get(path string) any {
	var cur any = r.body
	for _, part := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			cur = v[part]
		case []any:
			var i int
			if _, err := fmt.Sscanf(part, "%d", &i); err != nil || i >= len(v) {
				return nil
			}
			cur = v[i]
		default:
			return nil
		}
	}
	return cur
}

func (r resp) str(path string) string {
	v := r.get(path)
	if v == nil {
		return ""
	}
	if f, ok := v.(float64); ok {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprint(v)
}

// do calls the simulator with a bearer token (the portal's private-app
// token when token is "") and a JSON body (a string or a value to encode).
func (e *env) do(method, path, token string, body any) resp {
	e.t.Helper()
	if token == "" {
		token = e.p.PrivateAppToken
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "-" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return e.serve(req)
}

func (e *env) form(path string, vals url.Values) resp {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.serve(req)
}

func (e *env) serve(req *http.Request) resp {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	r := resp{status: rec.Code, header: rec.Header(), raw: rec.Body.Bytes()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		var v any
		if err := json.Unmarshal(r.raw, &v); err != nil {
			e.t.Fatalf("%s %s: invalid JSON %q: %v", req.Method, req.URL, r.raw, err)
		}
		if m, ok := v.(map[string]any); ok {
			r.body = m
		} else {
			r.body = map[string]any{"_": v}
		}
	}
	return r
}

// must fails unless the answer has the status.
func (e *env) must(r resp, status int) resp {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("want %d, got %s", status, r)
	}
	return r
}

// hubspotError checks HubSpot's error body shape and returns it.
func (e *env) hubspotError(r resp, status int, category string) resp {
	e.t.Helper()
	e.must(r, status)
	if r.str("status") != "error" || r.str("message") == "" || r.str("correlationId") == "" {
		e.t.Fatalf("not HubSpot's error body: %s", r)
	}
	if category != "" && r.str("category") != category {
		e.t.Fatalf("want category %s: %s", category, r)
	}
	return r
}

func (e *env) createContact(email string, extra map[string]string) string {
	e.t.Helper()
	props := map[string]string{"email": email}
	for k, v := range extra {
		props[k] = v
	}
	r := e.must(e.do("POST", "/crm/objects/2026-03/contacts", "", map[string]any{"properties": props}), 201)
	return r.str("id")
}
