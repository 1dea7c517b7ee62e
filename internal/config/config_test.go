package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

const validKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes

func TestDefaults(t *testing.T) {
	c, err := LoadFrom(env(nil), Requirement{})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.TemporalAddress != "localhost:7233" || c.TemporalNamespace != "default" {
		t.Fatalf("defaults: %+v", c)
	}
	if c.PublicURL.String() != "http://localhost:8080" || c.HubSpotBaseURL.String() != DefaultHubSpotBaseURL {
		t.Fatalf("URL defaults: public %s, hubspot %s", c.PublicURL, c.HubSpotBaseURL)
	}
	if c.TemporalAddressSet || c.HubSpotAppConfigured() {
		t.Fatal("nothing was set, yet config says it was")
	}
}

func TestPublicURLFollowsHTTPPort(t *testing.T) {
	c, err := LoadFrom(env(map[string]string{"REFERFLOW_HTTP_ADDR": "127.0.0.1:9999"}), Requirement{})
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL.String() != "http://localhost:9999" {
		t.Fatalf("public URL = %s", c.PublicURL)
	}
	c, err = LoadFrom(env(map[string]string{"REFERFLOW_PUBLIC_URL": "https://refer.example.com/base/"}), Requirement{})
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL.String() != "https://refer.example.com/base" {
		t.Fatalf("public URL keeps a trailing slash: %s", c.PublicURL)
	}
}

func TestEveryProblemIsReportedAtOnceWithItsVariable(t *testing.T) {
	_, err := LoadFrom(env(map[string]string{
		"DATABASE_URL":                  "mysql://secret-password@db/x",
		"TEMPORAL_ADDRESS":              "no-port",
		"REFERFLOW_HTTP_ADDR":           "8080",
		"REFERFLOW_WORKER_METRICS_ADDR": "9091",
		"REFERFLOW_PUBLIC_URL":          "example.com",
		"REFERFLOW_ENCRYPTION_KEY":      "c2hvcnQ=",
		"REFERFLOW_LOG_LEVEL":           "loud",
		"REFERFLOW_WORKFLOW_CACHE_SIZE": "0",
		"HUBSPOT_APP_ID":                "-4",
		"HUBSPOT_CLIENT_SECRET":         "s3cr3t",
		"HUBSPOT_BASE_URL":              "https://api.hubapi.com?x=1",
	}), Requirement{DatabaseURL: true, EncryptionKey: true})
	cfgErr, ok := err.(*Error)
	if !ok {
		t.Fatalf("err = %v, want *Error", err)
	}
	want := []string{"DATABASE_URL", "TEMPORAL_ADDRESS", "REFERFLOW_HTTP_ADDR", "REFERFLOW_WORKER_METRICS_ADDR", "REFERFLOW_PUBLIC_URL",
		"REFERFLOW_ENCRYPTION_KEY", "REFERFLOW_LOG_LEVEL", "REFERFLOW_WORKFLOW_CACHE_SIZE", "HUBSPOT_APP_ID", "HUBSPOT_CLIENT_ID", "HUBSPOT_BASE_URL"}
	if len(cfgErr.Problems) != len(want) {
		t.Fatalf("problems = %q, want one for each of %v", cfgErr.Problems, want)
	}
	for i, name := range want {
		if !strings.HasPrefix(cfgErr.Problems[i], name+": ") {
			t.Errorf("problem %d = %q, want it to name %s", i, cfgErr.Problems[i], name)
		}
	}
	for _, secret := range []string{"secret-password", "s3cr3t"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error message reveals %q: %v", secret, err)
		}
	}
}

func TestRequiredVariables(t *testing.T) {
	_, err := LoadFrom(env(nil), Requirement{DatabaseURL: true, EncryptionKey: true})
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL: is required") || !strings.Contains(err.Error(), "REFERFLOW_ENCRYPTION_KEY: is required") {
		t.Fatalf("err = %v", err)
	}
	c, err := LoadFrom(env(map[string]string{
		"DATABASE_URL":             "postgres://u:p@db:5432/referflow",
		"REFERFLOW_ENCRYPTION_KEY": validKey,
		"HUBSPOT_CLIENT_ID":        "id", "HUBSPOT_CLIENT_SECRET": "secret", "HUBSPOT_APP_ID": "123",
	}), Requirement{DatabaseURL: true, EncryptionKey: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.EncryptionKeys) != 1 || len(c.EncryptionKeys[0]) != 32 || c.HubSpotAppID != 123 || !c.HubSpotAppConfigured() {
		t.Fatalf("parsed: %+v", c)
	}
}

func TestEncryptionKeysRotate(t *testing.T) {
	keys, err := ParseEncryptionKeys(validKey + ", " + strings.TrimRight(validKey, "="))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("got %d keys, want 2 (the first encrypts, both decrypt)", len(keys))
	}
	if _, err := ParseEncryptionKeys(validKey + ",not base64!"); err == nil || !strings.Contains(err.Error(), "key 2") {
		t.Fatalf("err = %v, want it to name key 2", err)
	}
}

// TestReadmeDocumentsEveryVariable keeps README.md's configuration table true.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Variables {
		if !strings.Contains(string(readme), "| `"+v.Name+"` |") {
			t.Errorf("README.md's configuration table has no row for %s", v.Name)
		}
	}
}

func TestTemporalUIURL(t *testing.T) {
	c, err := LoadFrom(env(nil), Requirement{})
	if err != nil {
		t.Fatal(err)
	}
	if c.TemporalUIURL.String() != DefaultTemporalUIURL || c.TemporalUIURLSet {
		t.Fatalf("default Temporal UI URL = %s (set %v)", c.TemporalUIURL, c.TemporalUIURLSet)
	}
	c, err = LoadFrom(env(map[string]string{"TEMPORAL_UI_URL": "https://temporal.example.com/ui/"}), Requirement{})
	if err != nil {
		t.Fatal(err)
	}
	if c.TemporalUIURL.String() != "https://temporal.example.com/ui" || !c.TemporalUIURLSet {
		t.Fatalf("Temporal UI URL = %s (set %v)", c.TemporalUIURL, c.TemporalUIURLSet)
	}
	_, err = LoadFrom(env(map[string]string{"TEMPORAL_UI_URL": "temporal:8233"}), Requirement{})
	if err == nil || !strings.Contains(err.Error(), "TEMPORAL_UI_URL: must start with http") {
		t.Fatalf("a URL without scheme: %v", err)
	}
}

// The worker's metrics answer on this host unless told otherwise, and can be
// switched off.
func TestWorkerMetricsAddr(t *testing.T) {
	for raw, want := range map[string]string{"": DefaultWorkerMetricsAddr, ":9100": ":9100", "OFF": "", "off": ""} {
		c, err := LoadFrom(env(map[string]string{"REFERFLOW_WORKER_METRICS_ADDR": raw}), Requirement{})
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if c.WorkerMetricsAddr != want {
			t.Errorf("REFERFLOW_WORKER_METRICS_ADDR=%q gives %q, want %q", raw, c.WorkerMetricsAddr, want)
		}
	}
	_, err := LoadFrom(env(map[string]string{"REFERFLOW_WORKER_METRICS_ADDR": "localhost"}), Requirement{})
	if err == nil || !strings.Contains(err.Error(), "REFERFLOW_WORKER_METRICS_ADDR: must be [host]:port") {
		t.Fatalf("an address without port: %v", err)
	}
}

// Fulfilment webhooks go over https to public addresses unless the operator
// allows plain http or names internal networks and hosts.
func TestWebhookPolicy(t *testing.T) {
	c, err := LoadFrom(env(nil), Requirement{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WebhookPolicy.CheckURL("http://127.0.0.1:9911/hook"); err == nil {
		t.Fatal("by default a loopback http URL is accepted")
	}
	c, err = LoadFrom(env(map[string]string{
		"REFERFLOW_WEBHOOK_ALLOW_HTTP":       "true",
		"REFERFLOW_WEBHOOK_ALLOWED_NETWORKS": "10.20.0.0/16, ::1, fulfilment.internal",
	}), Requirement{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://10.20.1.2/hook", "http://[::1]:9911/", "http://fulfilment.internal/hook"} {
		if err := c.WebhookPolicy.CheckURL(u); err != nil {
			t.Errorf("%s: %v, want it allowed", u, err)
		}
	}
	if err := c.WebhookPolicy.CheckURL("http://10.21.0.1/hook"); err == nil {
		t.Error("a network not named is allowed")
	}
	_, err = LoadFrom(env(map[string]string{
		"REFERFLOW_WEBHOOK_ALLOW_HTTP":       "sometimes",
		"REFERFLOW_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/40",
	}), Requirement{})
	if err == nil || !strings.Contains(err.Error(), "REFERFLOW_WEBHOOK_ALLOW_HTTP: must be true or false") ||
		!strings.Contains(err.Error(), "REFERFLOW_WEBHOOK_ALLOWED_NETWORKS: ") {
		t.Fatalf("bad values: %v", err)
	}
	c, _ = LoadFrom(env(nil), Requirement{})
	c.AllowLoopbackWebhooks()
	if err := c.WebhookPolicy.CheckURL("http://localhost:9911/hook"); err != nil {
		t.Fatalf("dev's policy refuses a local receiver: %v", err)
	}
}

func TestTrustedProxies(t *testing.T) {
	env := map[string]string{"REFERFLOW_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7,fd00::/8"}
	c, err := LoadFrom(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Requirement{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.TrustedProxies {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 192.0.2.7/32 fd00::/8" {
		t.Fatalf("trusted proxies %v", got)
	}
	env["REFERFLOW_TRUSTED_PROXIES"] = "10.0.0.0/8, proxy.internal"
	if _, err := LoadFrom(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Requirement{}); err == nil || !strings.Contains(err.Error(), `REFERFLOW_TRUSTED_PROXIES: "proxy.internal" is neither`) {
		t.Fatalf("a host name among trusted proxies: %v", err)
	}
}
