package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/db/migrate"
	"github.com/referflow/referflow/internal/dev/devstack"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/workflows"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.WithSearchAttributes(workflows.SearchAttributes)))
}

func runCmd(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestUsage(t *testing.T) {
	code, out, _ := runCmd(t, context.Background())
	if code != 0 || !strings.Contains(out, "Commands:") {
		t.Fatalf("no arguments: exit %d, %q", code, out)
	}
	code, _, errOut := runCmd(t, context.Background(), "serve")
	if code != 2 || !strings.Contains(errOut, `unknown command "serve"`) {
		t.Fatalf("unknown command: exit %d, %q", code, errOut)
	}
	for _, c := range commands() {
		code, _, errOut := runCmd(t, context.Background(), c.name, "--help")
		if code != 0 || !strings.Contains(errOut, "Usage: referflow "+c.name) {
			t.Errorf("%s --help: exit %d, %q", c.name, code, errOut)
		}
	}
	code, _, errOut = runCmd(t, context.Background(), "api", "extra")
	if code != 1 || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Fatalf("stray argument: exit %d, %q", code, errOut)
	}
}

func TestInvalidConfigurationStopsStartup(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("REFERFLOW_ENCRYPTION_KEY", "too-short")
	t.Setenv("REFERFLOW_HTTP_ADDR", "no-port")
	for _, cmd := range []string{"api", "worker"} {
		code, _, errOut := runCmd(t, context.Background(), cmd)
		if code != 2 {
			t.Fatalf("%s: exit %d, want 2", cmd, code)
		}
		for _, want := range []string{"DATABASE_URL: is required", "REFERFLOW_ENCRYPTION_KEY:", "REFERFLOW_HTTP_ADDR:"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s: message lacks %q:\n%s", cmd, want, errOut)
			}
		}
	}
}

func TestMigrateAndStatus(t *testing.T) {
	d := testenv.NewEmptyDatabase(t)
	t.Setenv("DATABASE_URL", d.URL)
	ctx := context.Background()

	code, out, errOut := runCmd(t, ctx, "migrate", "status")
	if code != 0 || !strings.Contains(squash(out), "0001 initial pending") {
		t.Fatalf("status before: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCmd(t, ctx, "migrate")
	if code != 0 || !strings.Contains(out, "applied 0001 initial") {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCmd(t, ctx, "migrate")
	if code != 0 || !strings.Contains(out, "database is up to date") {
		t.Fatalf("second migrate: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, ctx, "migrate", "status")
	if code != 0 || !strings.Contains(squash(out), "0001 initial applied") {
		t.Fatalf("status after: exit %d\n%s", code, out)
	}
	code, _, errOut = runCmd(t, ctx, "migrate", "down")
	if code != 1 || !strings.Contains(errOut, "the only subcommand is `status`") {
		t.Fatalf("migrate down: exit %d %q", code, errOut)
	}
}

func TestAPIRefusesAnUnmigratedDatabase(t *testing.T) {
	d := testenv.NewEmptyDatabase(t)
	t.Setenv("DATABASE_URL", d.URL)
	t.Setenv("REFERFLOW_ENCRYPTION_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	code, _, errOut := runCmd(t, context.Background(), "api")
	if code != 1 || !strings.Contains(errOut, "pending migration") || !strings.Contains(errOut, "referflow migrate") {
		t.Fatalf("api on an empty database: exit %d %q", code, errOut)
	}
}

// TestDevRunsEverythingAndKeepsItsData runs `referflow dev` twice on one
// data folder: it starts the pinned Temporal dev server, migrates, registers
// search attributes, serves /readyz, stops cleanly on cancel, and the second
// run finds what the first left in Temporal.
func TestDevRunsEverythingAndKeepsItsData(t *testing.T) {
	d := testenv.NewEmptyDatabase(t)
	wd, _ := filepath.Abs(".")
	root, err := devstack.FindRepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	httpPort, temporalPort, uiPort, simPort, metricsPort := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	t.Setenv("DATABASE_URL", d.URL)
	t.Setenv("TEMPORAL_ADDRESS", "")
	t.Setenv("REFERFLOW_ENCRYPTION_KEY", "")
	t.Setenv("REFERFLOW_PUBLIC_URL", "")
	t.Setenv("REFERFLOW_HTTP_ADDR", "127.0.0.1:"+strconv.Itoa(httpPort))
	t.Setenv("REFERFLOW_WORKER_METRICS_ADDR", "127.0.0.1:"+strconv.Itoa(metricsPort))
	t.Setenv("HUBSPOT_CLIENT_ID", "")
	t.Setenv("HUBSPOT_CLIENT_SECRET", "")
	args := []string{"dev", "--data-dir", dataDir, "--bin-dir", filepath.Join(root, "bin"),
		"--temporal-port", strconv.Itoa(temporalPort), "--temporal-ui-port", strconv.Itoa(uiPort),
		"--hubspot-sim-port", strconv.Itoa(simPort)}
	temporalAddr := "127.0.0.1:" + strconv.Itoa(temporalPort)

	startDev := func() (stop func() (int, string)) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		var code int
		var errOut string
		go func() {
			defer close(done)
			code, _, errOut = runCmd(t, ctx, args...)
		}()
		waitReady(t, "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/readyz", done)
		return func() (int, string) {
			cancel()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("referflow dev did not stop within 60 s of cancel")
			}
			return code, errOut
		}
	}

	stop := startDev()
	c, err := client.Dial(client.Options{HostPort: temporalAddr})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := c.OperatorService().ListSearchAttributes(context.Background(), &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for name := range workflows.SearchAttributes {
		if _, ok := sa.GetCustomAttributes()[name]; !ok {
			t.Errorf("search attribute %s not registered", name)
		}
	}
	states, err := migrate.Status(context.Background(), d.Pool)
	if err != nil || len(states) == 0 || !states[len(states)-1].Applied {
		t.Fatalf("dev did not migrate the database: %+v %v", states, err)
	}
	// A first admin exists, with its key in a file only the user can read.
	keyFile := filepath.Join(dataDir, "admin-api-key")
	key, err := os.ReadFile(keyFile)
	if info, statErr := os.Stat(keyFile); err != nil || statErr != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("admin API key file: %v %v", err, statErr)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(key)))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the first admin's key does not work: %v %v", resp, err)
	}
	// With no HubSpot app configured, dev runs the simulator and "Connect
	// HubSpot" leads to its authorize page.
	req, _ = http.NewRequest(http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/oauth/hubspot/connect", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(key)))
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	simURL := "http://localhost:" + strconv.Itoa(simPort)
	if resp, err := noFollow.Do(req); err != nil || resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), simURL+"/oauth/authorize?") {
		t.Fatalf("connect HubSpot in dev: %v %v", resp, err)
	}
	if resp, err := http.Get(simURL + "/oauth/authorize?client_id=x"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the HubSpot simulator does not answer on its port: %v %v", resp, err)
	}
	if resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(uiPort) + "/"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Temporal Web UI not served on its port: %v %v", resp, err)
	}
	// The worker serves its metrics on its own address, the API on its.
	workerMetrics := getBody(t, "http://127.0.0.1:"+strconv.Itoa(metricsPort)+"/metrics")
	if !strings.Contains(workerMetrics, `referflow_ops_source_up{source="postgres"} 1`) || !strings.Contains(workerMetrics, "temporal_request_total{") {
		t.Errorf("the worker's /metrics lacks referflow's gauges or the SDK's metrics:\n%.3000s", workerMetrics)
	}
	if api := getBody(t, "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/metrics"); !strings.Contains(api, "referflow_http_requests_total") {
		t.Errorf("the API's /metrics lacks its request counts")
	}
	// A workflow nobody works on, to look for after a restart.
	run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: "kept-across-restarts", TaskQueue: "nobody-polls"}, "Nothing")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if code, errOut := stop(); code != 0 || !strings.Contains(errOut, "referflow is running") || !strings.Contains(errOut, "Temporal Web UI") ||
		!strings.Contains(errOut, "HubSpot (simulator) http://localhost:"+strconv.Itoa(simPort)) {
		t.Fatalf("first run: exit %d\n%s", code, errOut)
	}
	if conn, err := net.DialTimeout("tcp", temporalAddr, time.Second); err == nil {
		conn.Close()
		t.Fatal("the Temporal dev server still listens after dev stopped")
	}

	stop = startDev()
	c, err = client.Dial(client.Options{HostPort: temporalAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.DescribeWorkflowExecution(context.Background(), "kept-across-restarts", run.GetRunID()); err != nil {
		t.Fatalf("the second run lost the first run's Temporal data: %v", err)
	}
	if code, errOut := stop(); code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, errOut)
	}
}

func waitReady(t *testing.T, url string, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatal("referflow dev exited before it was ready")
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered 200", url)
}

// getBody GETs url and returns its body, failing on anything but 200.
func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(body)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// squash folds runs of spaces, so table output compares without its padding.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestAdminCreate(t *testing.T) {
	d := testenv.NewDatabase(t)
	t.Setenv("DATABASE_URL", d.URL)
	ctx := context.Background()
	code, out, errOut := runCmd(t, ctx, "admin", "create", "--workspace", "Acme", "--email", "ops@acme.test")
	if code != 0 || !strings.Contains(out, "API key (shown once): rfk_") {
		t.Fatalf("admin create: exit %d\n%s%s", code, out, errOut)
	}
	// The new workspace's signing secret is shown, with what it is for.
	ws, err := d.Queries.WorkspaceGetByName(ctx, "Acme")
	if err != nil || !strings.Contains(out, "webhook signing secret (shown once here): "+ws.WebhookSigningSecret+"\n") || !strings.Contains(out, "Referflow-Signature") {
		t.Fatalf("admin create does not show the signing secret %v:\n%s", err, out)
	}
	// A second admin of the workspace: the secret is not shown again.
	code, out, errOut = runCmd(t, ctx, "admin", "create", "--workspace", "Acme", "--email", "second@acme.test")
	if code != 0 || strings.Contains(out, ws.WebhookSigningSecret) {
		t.Fatalf("second admin: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCmd(t, ctx, "admin", "create", "--workspace", "Acme", "--email", "OPS@acme.test")
	if code != 1 || !strings.Contains(errOut, "already has an admin with email") {
		t.Fatalf("same email again: exit %d %q", code, errOut)
	}
	code, _, errOut = runCmd(t, ctx, "admin", "create", "--email", "nope")
	if code != 1 || !strings.Contains(errOut, "--workspace is required") || !strings.Contains(errOut, "--email must be") {
		t.Fatalf("bad flags: exit %d %q", code, errOut)
	}
	admins, err := d.Queries.AdminCount(ctx)
	if err != nil || admins != 2 {
		t.Fatalf("admins = %d %v, want 2", admins, err)
	}
}
