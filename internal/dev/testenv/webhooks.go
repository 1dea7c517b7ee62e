package testenv

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/config"
	"github.com/referflow/referflow/internal/outgoing"
)

// LoopbackWebhookEnv is what an operator sets so that fulfilment webhooks may
// go over plain http to this machine, where the tests' receivers listen
// (httptest servers on 127.0.0.1). Processes started by tests get it in
// their environment.
var LoopbackWebhookEnv = []string{
	"REFERFLOW_WEBHOOK_ALLOW_HTTP=true",
	"REFERFLOW_WEBHOOK_ALLOWED_NETWORKS=" + config.LoopbackNetworks,
}

// LoopbackWebhooks is the webhook policy a process reads from
// LoopbackWebhookEnv, for tests that run the api or the worker in process.
func LoopbackWebhooks(t testing.TB) outgoing.Policy {
	t.Helper()
	env := map[string]string{}
	for _, kv := range LoopbackWebhookEnv {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	cfg, err := config.LoadFrom(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.Requirement{})
	if err != nil {
		t.Fatalf("loopback webhook configuration: %v", err)
	}
	return cfg.WebhookPolicy
}

// GuardedWebhooks is LoopbackWebhooks with host names answered from names
// (host → addresses) instead of DNS, and a dialer that connects only to
// loopback addresses and fails the test on any other: a test of where
// webhooks may go never reaches the network, even by mistake.
func GuardedWebhooks(t testing.TB, names map[string][]netip.Addr) outgoing.Policy {
	t.Helper()
	p := LoopbackWebhooks(t)
	p.Resolver = stubResolver(names)
	p.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		if a, err := netip.ParseAddr(host); err != nil || !a.Unmap().IsLoopback() {
			t.Errorf("a webhook dialed %s: only loopback receivers may be reached in tests", address)
			return nil, fmt.Errorf("testenv: dialing %s refused", address)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}
	return p
}

type stubResolver map[string][]netip.Addr

func (r stubResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[strings.TrimSuffix(strings.ToLower(host), ".")]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host (the test's resolver)", Name: host, IsNotFound: true}
}
