package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// tWriter sends log lines to t.Log so they show up with -v or on failure.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func connect(t *testing.T, ctx context.Context, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// dropDatabase removes a database a test created on a shared server.
func dropDatabase(t *testing.T, dbURL, name string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = "postgres"
	// DROP DATABASE waits for a checkpoint; on a busy machine running every
	// package's tests at once that can take well over ten seconds.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Errorf("drop database %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("drop database %s: %v", name, err)
	}
}

func requireLocalServer(t *testing.T, targets []pgTarget) {
	t.Helper()
	for _, tg := range targets {
		if conn, err := tg.connect(context.Background(), "postgres", time.Second); err == nil {
			conn.Close(context.Background())
			return
		}
	}
	t.Skip("no local PostgreSQL server accepts user postgres or the current user without a password; nothing to discover")
}

func TestEnsurePostgresFindsLocalServer(t *testing.T) {
	t.Parallel()
	requireLocalServer(t, defaultLocalTargets())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	name := randomName("devstack_local")
	started := time.Now()
	p, err := EnsurePostgres(ctx, PostgresOptions{Database: name, DataDir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(t, p.URL, name) })
	t.Logf("found %s in %v: %s", p.Source, time.Since(started).Round(time.Millisecond), p.URL)
	if !strings.HasPrefix(p.Source, "local server at ") {
		t.Errorf("Source = %q, want a local server", p.Source)
	}
	var db string
	if err := connect(t, ctx, p.URL).QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	if db != name {
		t.Errorf("connected to %q, want %q", db, name)
	}
	if err := p.Stop(ctx); err != nil { // a server we did not start: no-op
		t.Errorf("Stop: %v", err)
	}
}

// The brief's machine runs PostgreSQL on 127.0.0.1:5432; check the TCP
// candidate on its own, since EnsurePostgres prefers a unix socket.
func TestLocalServerOverTCP(t *testing.T) {
	t.Parallel()
	targets := []pgTarget{{Host: "127.0.0.1", Port: 5432, User: "postgres"}}
	if u := currentUserName(); u != "postgres" {
		targets = append(targets, pgTarget{Host: "127.0.0.1", Port: 5432, User: u})
	}
	requireLocalServer(t, targets)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	name := randomName("devstack_tcp")
	p, err := useLocalServer(ctx, PostgresOptions{Database: name, Logger: testLogger(t)}, targets)
	if err != nil || p == nil {
		t.Fatalf("useLocalServer = %v, %v", p, err)
	}
	t.Cleanup(func() { dropDatabase(t, p.URL, name) })
	if p.Source != "local server at 127.0.0.1:5432" {
		t.Errorf("Source = %q", p.Source)
	}
	if !strings.Contains(p.URL, "@127.0.0.1:5432/"+name+"?") || !strings.Contains(p.URL, "sslmode=disable") {
		t.Errorf("URL = %q", p.URL)
	}
	var one int
	if err := connect(t, ctx, p.URL).QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
}

// Two processes starting at once (`referflow dev` and a test run) both try to
// create the database; both must succeed.
func TestEnsurePostgresConcurrentCreate(t *testing.T) {
	t.Parallel()
	requireLocalServer(t, defaultLocalTargets())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	name := randomName("devstack_race")
	const n = 6
	var wg sync.WaitGroup
	urls := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			p, err := EnsurePostgres(ctx, PostgresOptions{Database: name})
			if err == nil {
				urls[i] = p.URL
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("EnsurePostgres #%d: %v", i, err)
		}
	}
	if urls[0] != "" {
		dropDatabase(t, urls[0], name)
	}
}

func TestPrivateCluster(t *testing.T) {
	t.Parallel()
	if _, ok := findPostgresBins(""); !ok {
		t.Skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine and Install is false in tests; install the postgresql package to run this test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := PostgresOptions{
		Database:        "referflow_test",
		DataDir:         t.TempDir(),
		Port:            freePort(t),
		SkipLocalServer: true,
		Logger:          testLogger(t),
	}

	started := time.Now()
	p1, err := EnsurePostgres(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p1.Stop(context.Background()) })
	t.Logf("first start (initdb + start): %v; %s", time.Since(started).Round(time.Millisecond), p1.Source)
	if !strings.HasPrefix(p1.Source, "private cluster in "+filepath.Join(opts.DataDir, "postgres")) {
		t.Errorf("Source = %q", p1.Source)
	}
	for _, f := range []string{"postgres/PG_VERSION", "postgres.log"} {
		if _, err := os.Stat(filepath.Join(opts.DataDir, f)); err != nil {
			t.Error(err)
		}
	}
	conn := connect(t, ctx, p1.URL)
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	// A second caller while it runs reuses it and must not stop it.
	p2, err := EnsurePostgres(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p2.Source, "already running") {
		t.Errorf("second Source = %q, want it to reuse the running cluster", p2.Source)
	}
	if err := p2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := connect(t, ctx, p1.URL).Ping(ctx); err != nil {
		t.Fatalf("the reusing caller's Stop stopped the cluster: %v", err)
	}

	if err := p1.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if c, err := pgx.Connect(ctx, p1.URL); err == nil {
		c.Close(ctx)
		t.Fatal("cluster still answers after Stop")
	}

	// Restart on the same folder: no initdb, data kept.
	started = time.Now()
	p3, err := EnsurePostgres(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p3.Stop(context.Background()) })
	t.Logf("restart on existing folder: %v", time.Since(started).Round(time.Millisecond))
	var v int
	if err := connect(t, ctx, p3.URL).QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != 42 {
		t.Fatalf("data after restart: v=%d err=%v", v, err)
	}

	// `dev reset`: the running cluster is stopped and deleted, with its
	// socket folder, log and lock file.
	removed, err := RemovePostgres(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removed %v", removed)
	if c, err := pgx.Connect(ctx, p3.URL); err == nil {
		c.Close(ctx)
		t.Fatal("cluster still answers after RemovePostgres")
	}
	for _, f := range []string{"postgres", "postgres.log", "postgres.lock", "postgres-run"} {
		if _, err := os.Stat(filepath.Join(opts.DataDir, f)); !os.IsNotExist(err) {
			t.Errorf("%s after RemovePostgres: %v", f, err)
		}
	}
}

// Each data folder names its own database, the same every time, never the
// tests' (referflow_test) nor the one checkouts used to share (referflow);
// RemovePostgres drops it from the local server.
func TestCheckoutDatabase(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	dbA, err := CheckoutDatabase(a)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := CheckoutDatabase(a + "/.")
	dbB, _ := CheckoutDatabase(b)
	if dbA != again || dbA == dbB || !regexp.MustCompile(`^referflow_[0-9a-f]{10}$`).MatchString(dbA) {
		t.Fatalf("CheckoutDatabase: %q, again %q, another folder %q", dbA, again, dbB)
	}

	requireLocalServer(t, defaultLocalTargets())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := EnsurePostgres(ctx, PostgresOptions{Database: dbA, DataDir: a, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(t, p.URL, dbA) })
	removed, err := RemovePostgres(ctx, PostgresOptions{Database: dbA, DataDir: a})
	if err != nil || len(removed) != 1 || !strings.Contains(removed[0], dbA) {
		t.Fatalf("RemovePostgres = %v, %v", removed, err)
	}
	if exists, err := HasDatabase(ctx, p.URL, dbA); err != nil || exists {
		t.Fatalf("database %s after RemovePostgres: %v %v", dbA, exists, err)
	}
}

func TestPrivateClusterPortTakenByAnotherServer(t *testing.T) {
	t.Parallel()
	requireLocalServer(t, []pgTarget{{Host: "127.0.0.1", Port: 5432, User: "postgres"}})
	if _, ok := findPostgresBins(""); !ok {
		t.Skip("no PostgreSQL server binaries on this machine and Install is false in tests")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := EnsurePostgres(ctx, PostgresOptions{DataDir: t.TempDir(), Port: 5432, SkipLocalServer: true})
	if err == nil || !strings.Contains(err.Error(), "another port") {
		t.Fatalf("err = %v, want one saying the port is taken", err)
	}
}

func TestFindRepoRoot(t *testing.T) {
	t.Parallel()
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if filepath.Join(root, "internal", "dev", "devstack") != wd {
		t.Errorf("FindRepoRoot = %s, working folder %s", root, wd)
	}
	if _, err := FindRepoRoot(t.TempDir()); err == nil {
		t.Error("FindRepoRoot outside the checkout: want an error")
	}
}

func TestGoModModule(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"module github.com/referflow/referflow\n\ngo 1.26\n":      "github.com/referflow/referflow",
		"// c\nmodule \"github.com/referflow/referflow\" // x\n":  "github.com/referflow/referflow",
		"modulex foo\nmodule github.com/referflow/referflow/v2\n": "github.com/referflow/referflow/v2",
		"go 1.26\n": "",
	} {
		if got := goModModule([]byte(in)); got != want {
			t.Errorf("goModModule(%q) = %q, want %q", in, got, want)
		}
	}
}
