package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/testenv"
)

// newTestServer is the server over a real Postgres schema and a real
// Temporal dev server, logging into buf.
func newTestServer(t *testing.T, buf *bytes.Buffer) (*Server, *testenv.Database) {
	t.Helper()
	database := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	logger := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return New(Deps{
		Pool: database.Pool, Temporal: tc.Client, Logger: logger,
		Auth: &adminauth.Authenticator{Queries: database.Queries, Sessions: adminauth.NewSessions([]byte("test-key-0123456789abcdef0123456"))},
	}), database
}

func do(t *testing.T, h http.Handler, method, target string, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) ErrorDetail {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error answer has Content-Type %q, want JSON; body %s", ct, rec.Body)
	}
	var body ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, rec.Body)
	}
	return body.Error
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, _ := newTestServer(t, &logs)

	rec := do(t, srv.Handler(), http.MethodGet, "/healthz", nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"ok"`) {
		t.Fatalf("/healthz = %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get(echo.HeaderXRequestID) == "" {
		t.Fatal("answers carry no X-Request-ID")
	}

	rec = do(t, srv.Handler(), http.MethodGet, "/readyz", nil)
	var st HealthStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusOK || st.Checks["postgres"] != "ok" || st.Checks["temporal"] != "ok" {
		t.Fatalf("/readyz with Postgres and Temporal up = %d %+v", rec.Code, st)
	}
}

func TestReadinessFailsWhenPostgresIsDown(t *testing.T) {
	t.Parallel()
	tc := testenv.NewTemporal(t)
	srv := New(Deps{Pool: unreachablePool(t), Temporal: tc.Client, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})

	rec := do(t, srv.Handler(), http.MethodGet, "/readyz", nil)
	var st HealthStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusServiceUnavailable || !strings.HasPrefix(st.Checks["postgres"], "unreachable") || st.Checks["temporal"] != "ok" {
		t.Fatalf("/readyz with Postgres down = %d %+v", rec.Code, st)
	}
	// Liveness does not depend on the database.
	if rec := do(t, srv.Handler(), http.MethodGet, "/healthz", nil); rec.Code != http.StatusOK {
		t.Fatalf("/healthz with Postgres down = %d", rec.Code)
	}
}

// A request that needs the database while it is out of reach (down,
// restarting) is answered 503 — try again — not 500: a script retries it,
// and nothing is wrong with referflow.
func TestDatabaseOutageAnswers503(t *testing.T) {
	t.Parallel()
	tc := testenv.NewTemporal(t)
	pool := unreachablePool(t)
	var logs bytes.Buffer
	srv := New(Deps{Pool: pool, Temporal: tc.Client, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Auth: &adminauth.Authenticator{Queries: db.New(pool), Sessions: adminauth.NewSessions([]byte("test-key-0123456789abcdef0123456"))}})
	srv.echo.GET("/test/restarting", func(echo.Context) error {
		return fmt.Errorf("load campaign: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"})
	})
	srv.echo.GET("/test/broken", func(echo.Context) error {
		return fmt.Errorf("load campaign: %w", &pgconn.PgError{Code: "42703", Message: "column does not exist"})
	})

	req := httptest.NewRequest(http.MethodGet, "/api/v1/campaigns", nil)
	req.Header.Set("Authorization", "Bearer rfk_whatever")
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if e := decodeError(t, rec); rec.Code != http.StatusServiceUnavailable || e.Code != "unavailable" || !strings.Contains(e.Message, "try again") {
		t.Fatalf("admin API with Postgres down = %d %+v", rec.Code, e)
	}
	rec = do(t, srv.Handler(), http.MethodGet, "/test/restarting", nil)
	if e := decodeError(t, rec); rec.Code != http.StatusServiceUnavailable || e.Code != "unavailable" {
		t.Fatalf("Postgres shutting down = %d %+v", rec.Code, e)
	}
	// Any other database error is still ours: 500.
	rec = do(t, srv.Handler(), http.MethodGet, "/test/broken", nil)
	if e := decodeError(t, rec); rec.Code != http.StatusInternalServerError || e.Code != "internal" {
		t.Fatalf("a broken query = %d %+v", rec.Code, e)
	}
	if !strings.Contains(logs.String(), "57P01") {
		t.Fatalf("the outage is not in the logs: %s", logs.String())
	}
}

func TestErrorsAreJSON(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, _ := newTestServer(t, &logs)
	srv.echo.GET("/test/panic", func(echo.Context) error { panic("boom") })
	srv.echo.POST("/test/echo", func(c echo.Context) error {
		var v map[string]any
		if err := c.Bind(&v); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, v)
	})

	rec := do(t, srv.Handler(), http.MethodGet, "/no/such/route", nil)
	if e := decodeError(t, rec); rec.Code != http.StatusNotFound || e.Code != "not_found" || e.RequestID == "" {
		t.Fatalf("unknown route = %d %+v", rec.Code, e)
	}

	rec = do(t, srv.Handler(), http.MethodPost, "/healthz", nil)
	if e := decodeError(t, rec); rec.Code != http.StatusMethodNotAllowed || e.Code != "method_not_allowed" {
		t.Fatalf("wrong method = %d %+v", rec.Code, e)
	}

	rec = do(t, srv.Handler(), http.MethodGet, "/test/panic", nil)
	e := decodeError(t, rec)
	if rec.Code != http.StatusInternalServerError || e.Code != "internal" || strings.Contains(e.Message, "boom") {
		t.Fatalf("panic = %d %+v (the panic value must stay in the logs)", rec.Code, e)
	}
	if !strings.Contains(logs.String(), `"panic":"boom"`) || !strings.Contains(logs.String(), e.RequestID) {
		t.Fatalf("panic not logged with its request ID: %s", logs.String())
	}

	big := bytes.Repeat([]byte("x"), MaxBodyBytes+1)
	rec = do(t, srv.Handler(), http.MethodPost, "/test/echo", bytes.NewReader(big))
	if e := decodeError(t, rec); rec.Code != http.StatusRequestEntityTooLarge || e.Code != "body_too_large" {
		t.Fatalf("oversized body = %d %+v", rec.Code, e)
	}

	rec = do(t, srv.Handler(), http.MethodPost, "/test/echo", strings.NewReader(`{"a":`))
	if e := decodeError(t, rec); rec.Code != http.StatusBadRequest || e.Message == "" {
		t.Fatalf("malformed JSON = %d %+v", rec.Code, e)
	}
}

func TestRequestLogsCarryNoQueryStrings(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, _ := newTestServer(t, &logs)
	do(t, srv.Handler(), http.MethodGet, "/healthz?code=SECRET-OAUTH-CODE&state=xyz", nil)
	if strings.Contains(logs.String(), "SECRET-OAUTH-CODE") {
		t.Fatalf("a query string reached the logs: %s", logs.String())
	}
	if !strings.Contains(logs.String(), `"route":"/healthz"`) {
		t.Fatalf("request not logged: %s", logs.String())
	}
}

func TestMetricsCountRequestsByRoute(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, _ := newTestServer(t, &logs)
	do(t, srv.Handler(), http.MethodGet, "/healthz", nil)
	do(t, srv.Handler(), http.MethodGet, "/nope/123", nil)
	rec := do(t, srv.Handler(), http.MethodGet, "/metrics", nil)
	body := rec.Body.String()
	for _, want := range []string{
		`referflow_http_requests_total{code="200",method="GET",route="/healthz"} 1`,
		`referflow_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

func TestGracefulShutdownFinishesRequestsInFlight(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, _ := newTestServer(t, &logs)
	started := make(chan struct{})
	srv.echo.GET("/test/slow", func(c echo.Context) error {
		close(started)
		time.Sleep(300 * time.Millisecond)
		return c.String(http.StatusOK, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln, 5*time.Second) }()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/test/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel()
	if body := <-got; body != "done" {
		t.Fatalf("request in flight during shutdown got %q", body)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after shutdown: %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Fatal("server still accepts connections after shutdown")
	}
}
