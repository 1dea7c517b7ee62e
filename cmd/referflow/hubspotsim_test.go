package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/dev/testenv"
)

// TestHubSpotSimModeFlags: --mode switches misbehaviour on for the portals
// at start, the control API shows and switches it off, and a bad --mode or
// --time-zone stops the command saying what is wrong.
func TestHubSpotSimModeFlags(t *testing.T) {
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--mode", "floods"}, `unknown mode "floods"`},
		{[]string{"--mode", "slow_answers"}, "delay is required"},
		{[]string{"--time-zone", "Mars/Olympus"}, "--time-zone"},
	} {
		code, _, errOut := runCmd(t, context.Background(), append([]string{"hubspot-sim", "--addr", "127.0.0.1:0"}, bad.args...)...)
		if code == 0 || !strings.Contains(errOut, bad.want) {
			t.Errorf("%v: exit %d, %q; want an error naming %q", bad.args, code, errOut, bad.want)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testenv.LogBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"hubspot-sim", "--addr", addr, "--private-app-token", "pat-test", "--time-zone", "Europe/Paris",
			"--mode", "rate_limit", "--mode", "server_errors,status=502,calls=2,after_write"}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	}()
	base := "http://" + addr
	call := func(method, path string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("Authorization", "Bearer pat-test")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := call("GET", "/portals/100001/modes"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the simulator did not answer on %s: %s", addr, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, body := call("GET", "/portals/100001/modes")
	if modes, _ := body["modes"].([]any); code != 200 || len(modes) != 2 || body["time_zone"] != "Europe/Paris" {
		t.Fatalf("modes at start: %d %v", code, body)
	}
	if code, body := call("GET", "/crm/v3/objects/contacts"); code != http.StatusTooManyRequests || body["policyName"] != "TEN_SECONDLY_ROLLING" {
		t.Fatalf("with rate_limit on: %d %v", code, body)
	}
	if code, _ := call("DELETE", "/portals/100001/modes/rate_limit"); code != http.StatusOK {
		t.Fatalf("switch off: %d", code)
	}
	if code, _ := call("GET", "/crm/v3/objects/contacts"); code != http.StatusBadGateway {
		t.Fatalf("with server_errors on: %d", code)
	}
	if out := stdout.String(); !strings.Contains(out, "mode on: rate_limit") || !strings.Contains(out, "/portals/{id}/modes") {
		t.Fatalf("printed:\n%s", out)
	}
}

// TestHubSpotSimCardURLs: app cards may fetch the --card-url list, or the
// webhook URL's origin (referflow's API) when the list is empty.
func TestHubSpotSimCardURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		list, webhook string
		want          []string
	}{
		{"", "http://localhost:8080/webhooks/hubspot", []string{"http://localhost:8080"}},
		{"https://a.example, https://b.example/card", "http://localhost:8080/webhooks/hubspot", []string{"https://a.example", "https://b.example/card"}},
		{"", "", nil},
	} {
		if got := cardURLs(tc.list, tc.webhook); !slices.Equal(got, tc.want) {
			t.Errorf("cardURLs(%q, %q) = %v, want %v", tc.list, tc.webhook, got, tc.want)
		}
	}
}
