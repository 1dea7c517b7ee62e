package outgoing_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/referflow/referflow/internal/outgoing"
)

// hostileURLs are URLs a workspace admin might save to make the worker call
// something it must not. internal says the refusal is for the address
// (errors.Is ErrInternalAddress), not for the URL's form. Each is refused
// even with plain http allowed.
var hostileURLs = []struct {
	url      string
	internal bool
}{
	// The issue's own examples.
	{"http://169.254.169.254/latest/meta-data/", true},
	{"http://[::1]:8090/", true},
	{"http://0x7f000001:9911/", true},
	{"http://127.0.0.1:5432/", true},
	{"http://localhost:8080/api/v1/campaigns", true},
	{"http://user:pass@127.0.0.1/x", false},
	{"http://:80/x", false},
	// Loopback, spelled every way a parser might read it.
	{"http://LOCALHOST./", true},
	{"http://app.localhost/", true},
	{"http://2130706433/", true},
	{"http://0177.0.0.1/", true},
	{"http://127.1/", true},
	{"http://0x7f.1/", true},
	{"http://017700000001/", true},
	{"http://127.000.000.001/", true},
	{"http://[::ffff:127.0.0.1]/", true},
	{"http://[::ffff:7f00:1]/", true},
	{"http://[::127.0.0.1]/", true},
	{"http://[::ffff:0:127.0.0.1]/", true},
	// Unspecified: "this host" to most stacks.
	{"http://0/", true},
	{"http://0.0.0.0:8080/", true},
	{"http://[::]/", true},
	// Private, shared and link-local networks, and cloud metadata.
	{"http://10.0.0.1/", true},
	{"http://172.16.5.4/", true},
	{"http://192.168.1.1/admin", true},
	{"http://100.64.0.1/", true},
	{"http://[fd00::1]/", true},
	{"http://[fe80::1]/", true},
	{"http://[::ffff:a9fe:a9fe]/", true},
	{"http://[64:ff9b::10.0.0.1]/", true},
	{"http://[2002:a9fe:a9fe::1]/", true},
	{"http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", true},
	{"http://198.18.0.1/", true},
	// Multicast and broadcast.
	{"http://224.0.0.1/", true},
	{"http://255.255.255.255/", true},
	{"http://[ff02::1]/", true},
	// Tricks with the form of the URL.
	{"https://hooks.example.com:0/", false},
	{"https://hooks.example.com:65536/", false},
	{"https://hooks.example.com:/", false},
	{"https://hooks.example.com:00443/", false},
	{"https://@hooks.example.com/", false},
	{"https://hooks.example.com@127.0.0.1/", false},
	{"https://[fe80::1%25eth0]/", false},
	{`https://hooks.example.com\@127.0.0.1/`, false},
	{`https:\\hooks.example.com/`, false},
	{" https://hooks.example.com/", false},
	{"https://hooks.exa\tmple.com/", false},
	{"https://hooks.example.com/\n", false},
	{"https://hooks.example.com\x00.evil.test/", false},
	{"https://exаmple.com/", false}, // Cyrillic а
	{"https://%31%32%37.0.0.1/", false},
	{"https://1.2.3.4.5/", false},
	{"https://hooks.example.99999999999/", false},
	{"https://-hooks.example.com/", false},
	{"https://hooks..example.com/", false},
	{"https:hooks.example.com/x", false},
	{"//hooks.example.com/x", false},
	{"/relative", false},
	{"ftp://hooks.example.com/", false},
	{"file:///etc/passwd", false},
	{"gopher://127.0.0.1:6379/_FLUSHALL", false},
	{"javascript:alert(1)", false},
	{"https://" + strings.Repeat("a", outgoing.MaxURLLength) + ".example.com/", false},
}

// The hostile URLs are refused when saved, each for the right reason, even
// with plain http allowed; ordinary URLs are accepted.
func TestCheckURLRefusesHostileURLs(t *testing.T) {
	t.Parallel()
	if len(hostileURLs) < 30 {
		t.Fatalf("only %d hostile URLs", len(hostileURLs))
	}
	p := outgoing.Policy{AllowHTTP: true}
	for _, tc := range hostileURLs {
		err := p.CheckURL(tc.url)
		if !errors.Is(err, outgoing.ErrUnsupportedURL) {
			t.Errorf("%q: %v, want it refused", tc.url, err)
			continue
		}
		if errors.Is(err, outgoing.ErrInternalAddress) != tc.internal {
			t.Errorf("%q: %v; refused as internal: %v, want %v", tc.url, err, !tc.internal, tc.internal)
		}
	}
	for _, ok := range []string{
		"https://hooks.example.com/referflow",
		"https://hooks.example.com:8443/referflow?token=abc",
		"https://HOOKS.example.com./x",
		"https://8.8.8.8/hook",
		"https://[2606:4700::1111]/hook",
		"https://[64:ff9b::808:808]/hook", // NAT64 of a public address
		"https://xn--exmple-cua.com/",
		"https://fulfilment_service.internal/", // a name: checked when resolved
		"http://hooks.example.com/",
	} {
		if err := p.CheckURL(ok); err != nil {
			t.Errorf("%q: %v, want it accepted", ok, err)
		}
	}
}

// Without the operator's REFERFLOW_WEBHOOK_ALLOW_HTTP, plain http is refused.
func TestCheckURLWantsHTTPS(t *testing.T) {
	t.Parallel()
	err := outgoing.Policy{}.CheckURL("http://hooks.example.com/")
	if !errors.Is(err, outgoing.ErrUnsupportedURL) || !strings.Contains(err.Error(), "must use https") {
		t.Fatalf("http: %v, want a refusal asking for https", err)
	}
	if err := (outgoing.Policy{}).CheckURL("https://hooks.example.com/"); err != nil {
		t.Fatal(err)
	}
}

// What the operator's allow-list names is accepted; nothing else is.
func TestCheckURLAllowList(t *testing.T) {
	t.Parallel()
	networks, hosts, err := outgoing.ParseAllowList("127.0.0.0/8, ::1, 10.20.0.0/16, Fulfilment.Internal.")
	if err != nil {
		t.Fatal(err)
	}
	p := outgoing.Policy{AllowHTTP: true, AllowedNetworks: networks, AllowedHosts: hosts}
	for _, ok := range []string{
		"http://127.0.0.1:9911/", "http://[::1]:9911/", "http://localhost:8080/", "http://[::ffff:127.0.0.1]/",
		"http://10.20.3.4/", "http://fulfilment.internal/",
	} {
		if err := p.CheckURL(ok); err != nil {
			t.Errorf("%q: %v, want it allowed", ok, err)
		}
	}
	// localhost may resolve to either loopback address: both must be allowed.
	onlyV4 := outgoing.Policy{AllowHTTP: true, AllowedNetworks: networks[:1]}
	if err := onlyV4.CheckURL("http://localhost:8080/"); !errors.Is(err, outgoing.ErrInternalAddress) {
		t.Errorf("localhost with only 127.0.0.0/8 allowed: %v, want it refused", err)
	}
	for _, refused := range []string{"http://10.21.0.1/", "http://169.254.169.254/", "http://127.1/", "http://2130706433/"} {
		if err := p.CheckURL(refused); !errors.Is(err, outgoing.ErrUnsupportedURL) {
			t.Errorf("%q: %v, want it refused", refused, err)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "fe80::1%eth0", "127.1", "not a host", "*.internal"} {
		if _, _, err := outgoing.ParseAllowList(bad); err == nil {
			t.Errorf("ParseAllowList(%q) accepted it", bad)
		}
	}
}

// stubNet is a resolver and dialer for tests: it answers host names from a
// table and never dials anything but the loopback receiver it is given. A
// dial the test did not expect fails the test.
type stubNet struct {
	t        *testing.T
	answers  func(host string) []netip.Addr
	receiver string // a loopback host:port every allowed dial goes to

	mu     sync.Mutex
	dialed []string
}

func (s *stubNet) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a := s.answers(host); a != nil {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (s *stubNet) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	s.mu.Lock()
	s.dialed = append(s.dialed, address)
	s.mu.Unlock()
	if s.receiver == "" {
		s.t.Errorf("dialed %s: the policy should have refused before connecting", address)
		return nil, errors.New("stub: no dial expected")
	}
	var d net.Dialer
	return d.DialContext(ctx, network, s.receiver)
}

func (s *stubNet) dials() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.dialed...)
}

func post(c *http.Client, u string) error {
	resp, err := c.Post(u, "application/json", strings.NewReader("{}"))
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// The client refuses every hostile URL before any connection, even when
// something other than CheckURL on save let it through.
func TestClientRefusesHostileURLsBeforeConnecting(t *testing.T) {
	t.Parallel()
	stub := &stubNet{t: t, answers: func(string) []netip.Addr {
		t.Error("a hostile URL was resolved: it should have been refused first")
		return nil
	}}
	c := outgoing.NewClient(outgoing.Policy{AllowHTTP: true, Resolver: stub, Dial: stub.Dial})
	for _, tc := range hostileURLs {
		u, err := url.Parse(tc.url)
		if err != nil {
			continue // net/http cannot even build it: nothing to send
		}
		req, err := http.NewRequest(http.MethodPost, "https://placeholder.example.com/", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.URL, req.Host = u, u.Host // as parsed, not normalised by NewRequest
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, outgoing.ErrUnsupportedURL) {
			t.Errorf("%q: %v, want it refused", tc.url, err)
		}
	}
	if d := stub.dials(); len(d) > 0 {
		t.Errorf("dialed %v", d)
	}
}

// A public-looking name that resolves to an internal address passes the
// check on save (names are not resolved there) and is refused by the dialer,
// before connecting, whatever the address's form.
func TestDialerRefusesNamesResolvingToInternalAddresses(t *testing.T) {
	t.Parallel()
	for _, answer := range [][]string{
		{"127.0.0.1"}, {"::1"}, {"10.1.2.3"}, {"172.20.0.1"}, {"192.168.0.10"}, {"169.254.169.254"},
		{"100.100.100.200"}, {"0.0.0.0"}, {"::"}, {"::ffff:127.0.0.1"}, {"::ffff:10.0.0.1"}, {"fd12:3456::1"},
		{"fe80::1"}, {"64:ff9b::a9fe:a9fe"}, {"2002:7f00:1::1"}, {"224.0.0.251"}, {"255.255.255.255"},
		{"93.184.216.34", "10.0.0.7"}, // one public, one internal: refused
	} {
		var addrs []netip.Addr
		for _, a := range answer {
			addrs = append(addrs, netip.MustParseAddr(a))
		}
		stub := &stubNet{t: t, answers: func(host string) []netip.Addr {
			if host == "hooks.example.com" {
				return addrs
			}
			return nil
		}}
		p := outgoing.Policy{Resolver: stub, Dial: stub.Dial}
		const u = "https://hooks.example.com/referflow"
		if err := p.CheckURL(u); err != nil {
			t.Fatalf("on save: %v", err)
		}
		err := post(outgoing.NewClient(p), u)
		if !errors.Is(err, outgoing.ErrInternalAddress) {
			t.Errorf("resolving to %v: %v, want an internal-address refusal", answer, err)
		}
	}
}

// DNS rebinding: the name answers a public address, then an internal one.
// The first connection goes through, the second is refused: the dialer
// checks the address it is about to connect to, every time.
func TestDialerChecksEveryResolution(t *testing.T) {
	t.Parallel()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close") // the next request must connect again
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	var mu sync.Mutex
	answers := []string{"93.184.216.34", "127.0.0.1"}
	stub := &stubNet{t: t, receiver: receiver.Listener.Addr().String(), answers: func(host string) []netip.Addr {
		mu.Lock()
		defer mu.Unlock()
		a := netip.MustParseAddr(answers[0])
		answers = answers[1:]
		return []netip.Addr{a}
	}}
	c := outgoing.NewClient(outgoing.Policy{AllowHTTP: true, Resolver: stub, Dial: stub.Dial})
	if err := post(c, "http://rebind.example.com/hook"); err != nil {
		t.Fatalf("first request (public answer): %v", err)
	}
	if err := post(c, "http://rebind.example.com/hook"); !errors.Is(err, outgoing.ErrInternalAddress) {
		t.Fatalf("second request (internal answer): %v, want an internal-address refusal", err)
	}
	if d := stub.dials(); len(d) != 1 || d[0] != "93.184.216.34:80" {
		t.Fatalf("dialed %v, want only the public address, once", d)
	}
}

// A host name the operator allows may resolve to an internal address; the
// connection goes to the address resolved.
func TestDialerAllowsTheOperatorsHosts(t *testing.T) {
	t.Parallel()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer receiver.Close()
	stub := &stubNet{t: t, receiver: receiver.Listener.Addr().String(), answers: func(host string) []netip.Addr {
		if host == "fulfilment.internal" || host == "other.internal" {
			return []netip.Addr{netip.MustParseAddr("10.1.2.3")}
		}
		return nil
	}}
	p := outgoing.Policy{AllowHTTP: true, AllowedHosts: []string{"fulfilment.internal"}, Resolver: stub, Dial: stub.Dial}
	if err := post(outgoing.NewClient(p), "http://fulfilment.internal:8080/hook"); err != nil {
		t.Fatal(err)
	}
	if err := post(outgoing.NewClient(p), "http://other.internal:8080/hook"); !errors.Is(err, outgoing.ErrInternalAddress) {
		t.Fatalf("a host not on the list: %v, want it refused", err)
	}
	if d := stub.dials(); len(d) != 1 || d[0] != "10.1.2.3:8080" {
		t.Fatalf("dialed %v", d)
	}
}

// HTTP_PROXY and HTTPS_PROXY are not used: through a proxy the dialer would
// check the proxy's address, not the receiver's.
func TestClientIgnoresProxyEnvironment(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the proxy was used for %s", r.URL)
	}))
	defer proxy.Close()
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer receiver.Close()
	stub := &stubNet{t: t, receiver: receiver.Listener.Addr().String(), answers: func(string) []netip.Addr {
		return []netip.Addr{netip.MustParseAddr("93.184.216.34")}
	}}
	c := outgoing.NewClient(outgoing.Policy{AllowHTTP: true, Resolver: stub, Dial: stub.Dial})
	if err := post(c, "http://hooks.example.com/hook"); err != nil {
		t.Fatal(err)
	}
	if d := stub.dials(); len(d) != 1 || d[0] != "93.184.216.34:80" {
		t.Fatalf("dialed %v, want the receiver's address", d)
	}
}

// Post refuses through the policy too, counts it as invalid_url, and never
// puts the receiver's answer into its error: that text reaches logs. The
// answer's start is the attempt's Excerpt, for the delivery record admins
// read.
func TestPostKeepsTheAnswerOutOfErrors(t *testing.T) {
	t.Parallel()
	const internal = "postgres version 16.4 internal-secret"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, internal, http.StatusBadRequest)
	}))
	defer srv.Close()
	body := []byte(`{"id":"e"}`)
	a := outgoing.Post(context.Background(), outgoing.NewClient(loopback), srv.URL, [][]byte{secret}, "e", "t", body)
	var se *outgoing.StatusError
	if !errors.As(a.Err, &se) || se.StatusCode != http.StatusBadRequest {
		t.Fatalf("%v, want a StatusError with status 400", a.Err)
	}
	if strings.Contains(a.Err.Error(), "internal-secret") || strings.Contains(fmt.Sprintf("%+v", a.Err), "internal-secret") {
		t.Fatalf("the error carries the answer: %v", a.Err)
	}
	if !strings.Contains(a.Excerpt, "internal-secret") {
		t.Fatalf("excerpt %q, want the start of the answer for the delivery record", a.Excerpt)
	}
	// The strict default refuses the same loopback receiver, sending nothing.
	if a := outgoing.Post(context.Background(), nil, srv.URL, [][]byte{secret}, "e", "t", body); !errors.Is(a.Err, outgoing.ErrUnsupportedURL) {
		t.Fatalf("default policy: %v, want the loopback http URL refused", a.Err)
	}
	// A client that does not enforce a policy is not used.
	if a := outgoing.Post(context.Background(), srv.Client(), srv.URL, [][]byte{secret}, "e", "t", body); a.Err == nil {
		t.Fatal("Post used a client without the URL policy")
	}
}
