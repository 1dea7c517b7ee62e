package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/api"
	"github.com/referflow/referflow/internal/dev/devstack"
	"github.com/referflow/referflow/internal/dev/testenv"
)

// devEnv is one checkout's `referflow dev`: its data folder and ports, with
// no DATABASE_URL, so it finds its own database as a newcomer's would.
type devEnv struct {
	t                               *testing.T
	dataDir, binDir                 string
	httpPort, temporalPort, simPort int
	uiPort, metricsPort             int
	api, sim                        string
}

// newDevEnv is a checkout of its own: a folder with referflow's go.mod and
// the data folder .data in it.
func newDevEnv(t *testing.T, binDir string) *devEnv {
	checkout := t.TempDir()
	if err := os.WriteFile(filepath.Join(checkout, "go.mod"), []byte("module github.com/referflow/referflow\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := &devEnv{t: t, dataDir: filepath.Join(checkout, ".data"), binDir: binDir,
		httpPort: freePort(t), temporalPort: freePort(t), simPort: freePort(t), uiPort: freePort(t), metricsPort: freePort(t)}
	e.api = "http://127.0.0.1:" + strconv.Itoa(e.httpPort)
	e.sim = "http://localhost:" + strconv.Itoa(e.simPort)
	return e
}

// start runs `referflow dev` until the returned stop is called, which
// returns its output.
func (e *devEnv) start() (stop func() string, output *testenv.LogBuffer) {
	t := e.t
	t.Helper()
	t.Setenv("REFERFLOW_HTTP_ADDR", "127.0.0.1:"+strconv.Itoa(e.httpPort))
	t.Setenv("REFERFLOW_PUBLIC_URL", e.api)
	t.Setenv("REFERFLOW_WORKER_METRICS_ADDR", "127.0.0.1:"+strconv.Itoa(e.metricsPort))
	args := []string{"dev", "--data-dir", e.dataDir, "--bin-dir", e.binDir,
		"--temporal-port", strconv.Itoa(e.temporalPort), "--temporal-ui-port", strconv.Itoa(e.uiPort),
		"--hubspot-sim-port", strconv.Itoa(e.simPort)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	out := &testenv.LogBuffer{}
	var code int
	go func() {
		defer close(done)
		code = run(ctx, args, out, out)
	}()
	waitReady(t, e.api+"/readyz", done)
	for !strings.Contains(out.String(), "referflow is running") {
		time.Sleep(20 * time.Millisecond)
	}
	return func() string {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("referflow dev did not stop within 60 s of cancel")
		}
		if code != 0 {
			t.Fatalf("referflow dev: exit %d\n%s", code, out)
		}
		return out.String()
	}, out
}

var devDatabaseLine = regexp.MustCompile(`PostgreSQL +\S+/(referflow_[0-9a-f]{10})\?`)

// database is the database dev's output names.
func database(t *testing.T, out string) string {
	t.Helper()
	m := devDatabaseLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("dev's output names no referflow_<hash> database:\n%s", out)
	}
	return m[1]
}

func (e *devEnv) key() string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dataDir, "admin-api-key"))
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// call calls dev's admin API with key.
func (e *devEnv) call(key, method, path, body string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.api+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// connectHubSpot signs in with key and connects the simulator's portal, as
// a person does in a browser.
func (e *devEnv) connectHubSpot(key string) {
	t := e.t
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := browser.PostForm(e.api+"/login", url.Values{"api_key": {key}, "next": {"/api/v1/me"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = browser.Get(e.api + "/oauth/hubspot/connect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callback := testenv.HubSpotConsent(t, browser, resp.Request.URL.String(), 100001, "allow")
	resp, err = browser.Get(callback)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HubSpot connect callback: %s", resp.Status)
	}
}

// sendLead adds a referral to the example campaign and returns the ID of
// the deal it became in HubSpot: it fails on a lead that cannot be sent
// (a 401 from HubSpot, for one).
func (e *devEnv) sendLead(key, campaignID, email string) int64 {
	t := e.t
	t.Helper()
	code, body := e.call(key, "POST", "/api/v1/campaigns/"+campaignID+"/referrals", `{"member_code":"MAYA","lead":{"email":"`+email+`","first_name":"Nia"}}`)
	var r api.ReferralView
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &r) != nil {
		t.Fatalf("add referral = %d %s", code, body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body = e.call(key, "GET", "/api/v1/referrals/"+r.ID, "")
		if err := json.Unmarshal([]byte(body), &r); code != http.StatusOK || err != nil {
			t.Fatalf("GET referral = %d %s", code, body)
		}
		if r.HubSpotDealID != "" {
			id, _ := strconv.ParseInt(r.HubSpotDealID, 10, 64)
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lead %s never reached HubSpot: %s", email, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The first run, and the next ones, of a checkout as a newcomer meets them:
// each checkout has its own database, found again at the next start; the
// simulator's portal, tokens and IDs survive a restart (a lead sent after
// the restart goes through, as a new deal ID); a data folder without its
// admin key gets a ready command that works pasted; `dev reset` drops the
// database and deletes what README.md says.
func TestDevFirstRunPerCheckout(t *testing.T) {
	root, err := devstack.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABASE_URL", "")
	t.Setenv("TEMPORAL_ADDRESS", "")
	t.Setenv("REFERFLOW_ENCRYPTION_KEY", "")
	t.Setenv("HUBSPOT_CLIENT_ID", "")
	t.Setenv("HUBSPOT_CLIENT_SECRET", "")
	a := newDevEnv(t, filepath.Join(root, "bin"))
	t.Cleanup(func() { devReset(t, a.dataDir) })

	// First run: a database of its own, an admin, the example campaign, a
	// connected portal and a lead sent as a deal.
	stop, _ := a.start()
	key := a.key()
	a.connectHubSpot(key)
	code, body := a.call(key, "POST", "/api/v1/campaigns", string(api.ExampleCampaignJSON()))
	var c api.CampaignView
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &c) != nil {
		t.Fatalf("create the example campaign = %d %s", code, body)
	}
	if code, body := a.call(key, "POST", "/api/v1/campaigns/"+c.ID+"/members", `{"email":"maya@example.com","first_name":"Maya","referral_code":"MAYA"}`); code != http.StatusCreated {
		t.Fatalf("add member = %d %s", code, body)
	}
	deal1 := a.sendLead(key, c.ID, "nia@example.org")
	out := stop()
	db1 := database(t, out)
	if !strings.Contains(out, "API key in "+filepath.Join(a.dataDir, "admin-api-key")) ||
		!strings.Contains(out, "deal pipeline  default, stages appointmentscheduled qualifiedtobuy") {
		t.Fatalf("first run's output lacks the key file or the pipeline IDs:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(a.dataDir, "hubspot-sim.json")); err != nil {
		t.Fatalf("the simulator's state was not kept: %v", err)
	}

	// Second run: the same database (the key works, the campaign is there),
	// the same portal with its tokens, and new IDs.
	stop, _ = a.start()
	if code, _ := a.call(key, "GET", "/api/v1/campaigns/"+c.ID, ""); code != http.StatusOK {
		t.Fatalf("the second run lost the campaign: %d", code)
	}
	deal2 := a.sendLead(key, c.ID, "omar@example.org")
	out = stop()
	if db2 := database(t, out); db2 != db1 {
		t.Fatalf("second run used database %s, first %s", db2, db1)
	}
	if deal2 <= deal1 {
		t.Fatalf("deal ID %d after the restart, %d before: the simulator handed out an ID again", deal2, deal1)
	}

	// Without the key file: dev says so and prints a command that works pasted.
	if err := os.Remove(filepath.Join(a.dataDir, "admin-api-key")); err != nil {
		t.Fatal(err)
	}
	stop, running := a.start()
	command := regexp.MustCompile(`(?m)^ +(DATABASE_URL=\S+ \S+ admin create .*)$`).FindStringSubmatch(running.String())
	if !strings.Contains(running.String(), "admin API key    none in "+filepath.Join(a.dataDir, "admin-api-key")) || command == nil {
		t.Fatalf("dev without its key file says nothing useful:\n%s", running)
	}
	newKey := runPrinted(t, command[1], filepath.Join(root, "bin", "referflow"))
	if code, body := a.call(newKey, "GET", "/api/v1/me", ""); code != http.StatusOK {
		t.Fatalf("the key of the printed command does not work: %d %s", code, body)
	}
	// And `admin create` typed bare in the checkout finds its database.
	t.Chdir(filepath.Dir(a.dataDir))
	code, created, errOut := runCmd(t, context.Background(), "admin", "create", "--workspace", "Demo workspace", "--email", "bare@localhost")
	bare := regexp.MustCompile(`API key \(shown once\): (\S+)`).FindStringSubmatch(created)
	if code != 0 || bare == nil || !strings.Contains(errOut, "using this checkout's dev database "+db1) {
		t.Fatalf("admin create without DATABASE_URL in the checkout: exit %d\n%s%s", code, created, errOut)
	}
	if code, body := a.call(bare[1], "GET", "/api/v1/me", ""); code != http.StatusOK {
		t.Fatalf("the key of a bare admin create does not work: %d %s", code, body)
	}
	stop()

	// Another checkout: another database, where the first one's key is unknown.
	b := newDevEnv(t, filepath.Join(root, "bin"))
	t.Cleanup(func() { devReset(t, b.dataDir) })
	stop, _ = b.start()
	if code, _ := b.call(key, "GET", "/api/v1/me", ""); code != http.StatusUnauthorized {
		t.Errorf("another checkout accepts the first one's key: %d", code)
	}
	if db := database(t, stop()); db == db1 {
		t.Fatalf("two data folders share database %s", db)
	}

	// Reset: the database and every file dev made are gone.
	server := devServerURL(t, out, db1)
	code, resetOut, errOut := runCmd(t, context.Background(), "dev", "reset", "--data-dir", a.dataDir, "--temporal-port", strconv.Itoa(a.temporalPort))
	if code != 0 || !strings.Contains(resetOut, "database "+db1) {
		t.Fatalf("dev reset: exit %d\n%s%s", code, resetOut, errOut)
	}
	if exists, err := devstack.HasDatabase(context.Background(), server, db1); err != nil || exists {
		t.Fatalf("database %s after reset: exists %v, %v", db1, exists, err)
	}
	if _, err := os.Stat(a.dataDir); !os.IsNotExist(err) {
		entries, _ := os.ReadDir(a.dataDir)
		t.Fatalf("the data folder survives reset: %v %v", err, entries)
	}
}

// devServerURL is a URL of the server dev's output names.
func devServerURL(t *testing.T, out, database string) string {
	t.Helper()
	m := regexp.MustCompile(`PostgreSQL +(\S+/` + database + `\S*)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no URL of %s in:\n%s", database, out)
	}
	return m[1]
}

// runPrinted runs a command dev printed through a shell, as pasted, with
// the referflow binary it names standing in for this test's `run`: the
// shell parses the quoting, a stand-in records what it received, and the
// test runs that. It returns the API key the command printed.
func runPrinted(t *testing.T, command, bin string) string {
	t.Helper()
	dir := t.TempDir()
	record := filepath.Join(dir, "args")
	stand := filepath.Join(dir, "referflow")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$DATABASE_URL\" > %q\nfor a; do printf '%%s\\n' \"$a\" >> %q; done\n", record, record)
	if err := os.WriteFile(stand, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", "-c", strings.Replace(command, bin, stand, 1)).CombinedOutput(); err != nil {
		t.Fatalf("the printed command does not run in a shell: %v\n%s\n%s", err, command, out)
	}
	raw, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("the printed command %q does not run %s: %v", command, bin, err)
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	t.Setenv("DATABASE_URL", lines[0])
	code, out, errOut := runCmd(t, context.Background(), lines[1:]...)
	t.Setenv("DATABASE_URL", "")
	m := regexp.MustCompile(`API key \(shown once\): (\S+)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("the printed command %q: exit %d\n%s%s", command, code, out, errOut)
	}
	return m[1]
}

// devReset runs `referflow dev reset` on a data folder a test used.
func devReset(t *testing.T, dataDir string) {
	if code, out, errOut := runCmd(t, context.Background(), "dev", "reset", "--data-dir", dataDir); code != 0 {
		t.Errorf("dev reset %s: exit %d\n%s%s", dataDir, code, out, errOut)
	}
}

// README.md says exactly what `dev reset` deletes: every file of
// devDataFiles and the private cluster's.
func TestREADMEListsWhatDevResetDeletes(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "**`referflow dev reset`**")
	section, _, _ = strings.Cut(section, "**`make test`**")
	names := []string{"referflow_<hash>", ".data/postgres/", ".data/postgres-run/", ".data/postgres.log", ".data/postgres.lock", "--force"}
	for _, f := range devDataFiles {
		names = append(names, f.name)
	}
	for _, n := range names {
		if !strings.Contains(section, "`"+n+"`") {
			t.Errorf("README.md's `referflow dev reset` paragraph does not name `%s`", n)
		}
	}
}

// With DATABASE_URL set, reset deletes nothing unless --force: that
// database may be anyone's. With --force, it is dropped and the folder goes.
func TestDevResetRefusesDATABASE_URLWithoutForce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dataDir := filepath.Join(t.TempDir(), ".data")
	name, err := devstack.CheckoutDatabase(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := devstack.EnsurePostgres(ctx, devstack.PostgresOptions{Database: name + "_url", DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = devstack.DropDatabase(context.Background(), pg.URL); _ = pg.Stop(context.Background()) })
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "admin-api-key"), []byte("rfk_x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABASE_URL", pg.URL)

	code, out, errOut := runCmd(t, ctx, "dev", "reset", "--data-dir", dataDir)
	if code != 1 || !strings.Contains(errOut, "--force") || !strings.Contains(errOut, "nothing was deleted") {
		t.Fatalf("reset with DATABASE_URL: exit %d\n%s%s", code, out, errOut)
	}
	if exists, err := devstack.HasDatabase(ctx, pg.URL, name+"_url"); err != nil || !exists {
		t.Fatalf("the database after a refused reset: %v %v", exists, err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "admin-api-key")); err != nil {
		t.Fatalf("a refused reset deleted a file: %v", err)
	}

	code, out, errOut = runCmd(t, ctx, "dev", "reset", "--force", "--data-dir", dataDir)
	if code != 0 || !strings.Contains(out, "the database DATABASE_URL names") {
		t.Fatalf("reset --force: exit %d\n%s%s", code, out, errOut)
	}
	if exists, err := devstack.HasDatabase(ctx, pg.URL, name+"_url"); err != nil || exists {
		t.Fatalf("the database after reset --force: %v %v", exists, err)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("the data folder after reset --force: %v", err)
	}
}
