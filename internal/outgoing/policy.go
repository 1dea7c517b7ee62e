package outgoing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Policy says where webhooks may go. Its zero value is the strictest: https
// only, and only to public addresses. The operator widens it with
// REFERFLOW_WEBHOOK_ALLOW_HTTP and REFERFLOW_WEBHOOK_ALLOWED_NETWORKS
// (internal/config); `referflow dev` allows http and loopback.
//
// The same Policy checks a URL when a campaign is saved (CheckURL) and when
// a webhook is sent: NewClient's client checks the URL again before any
// connection and its dialer checks every address the host name resolves to,
// so a DNS answer that changes between the two cannot reach an internal
// address.
type Policy struct {
	// AllowHTTP accepts plain http URLs besides https.
	AllowHTTP bool
	// AllowedNetworks are internal addresses webhooks may reach anyway
	// (e.g. 10.20.0.0/16 for a fulfilment service on the private network,
	// 127.0.0.0/8 for one on this machine).
	AllowedNetworks []netip.Prefix
	// AllowedHosts are host names (lowercase, no trailing dot) trusted
	// whatever they resolve to, e.g. "fulfilment.internal".
	AllowedHosts []string

	// Resolver answers host names' addresses for the dialer; nil is the
	// system's (net.DefaultResolver). Tests inject one.
	Resolver Resolver
	// Dial opens a connection to an address ("ip:port") the policy has
	// accepted; nil is a net.Dialer that checks the address once more just
	// before connecting. Tests inject one that never leaves loopback.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Resolver looks up a host name's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ErrUnsupportedURL is wrapped by every refusal of a webhook URL, on save
// and when sending: retrying does not help, changing the URL (or the
// operator's policy) does.
var ErrUnsupportedURL = errors.New("outgoing: webhook URL refused")

// ErrInternalAddress is wrapped by a refusal because the URL's host is, or
// resolves to, an internal address the policy does not allow.
var ErrInternalAddress = errors.New("outgoing: webhook URL points to an internal address")

// URLError is a refused webhook URL. Reason completes a sentence about the
// URL ("must use https", "points to 127.0.0.1, a loopback address"), so the
// admin API shows it after the field's name.
type URLError struct {
	Reason   string
	Internal bool // the host is or resolves to an internal address
}

func (e *URLError) Error() string { return "webhook URL " + e.Reason }

// Is makes errors.Is(err, ErrUnsupportedURL) hold for every URLError, and
// errors.Is(err, ErrInternalAddress) for the internal-address ones.
func (e *URLError) Is(target error) bool {
	return target == ErrUnsupportedURL || (e.Internal && target == ErrInternalAddress)
}

func refuse(format string, args ...any) error {
	return &URLError{Reason: fmt.Sprintf(format, args...)}
}

// MaxURLLength bounds a webhook URL.
const MaxURLLength = 2048

// CheckURL says whether raw may receive webhooks under p: nil, or a
// *URLError saying why not. It is the one check of a webhook URL: the admin
// API runs it when a campaign is saved, and NewClient's client before every
// request. Host names other than localhost are not resolved here; the dialer
// checks what they resolve to when sending.
func (p Policy) CheckURL(raw string) error {
	if len(raw) > MaxURLLength {
		return refuse("must be at most %d characters", MaxURLLength)
	}
	for _, r := range raw {
		switch {
		case r <= ' ' || r == 0x7f:
			return refuse("must not contain spaces or control characters")
		case r == '\\':
			return refuse("must not contain backslashes")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return refuse("is not a valid URL")
	}
	switch {
	case u.Scheme == "" || u.Opaque != "" || !strings.HasPrefix(raw[len(u.Scheme)+1:], "//"):
		return refuse("must be an absolute URL such as https://fulfilment.example.com/referflow")
	case u.Scheme == "http" && !p.AllowHTTP:
		return refuse("must use https (plain http is allowed only when the operator sets REFERFLOW_WEBHOOK_ALLOW_HTTP)")
	case u.Scheme != "https" && u.Scheme != "http":
		return refuse("must use https, not %s", u.Scheme)
	case u.User != nil:
		return refuse("must not contain a user name or password")
	}
	authority := raw[len(u.Scheme)+3:]
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if strings.Contains(authority, "%") {
		return refuse("must not percent-encode its host or hold an IPv6 zone")
	}
	if strings.HasSuffix(authority, ":") {
		return refuse("has a colon but no port after its host")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return refuse("has port %q; a port is a number from 1 to 65535", port)
		}
	}
	host := u.Hostname()
	if host == "" {
		return refuse("has no host")
	}
	if strings.HasPrefix(authority, "[") {
		addr, err := netip.ParseAddr(host)
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return refuse("has an invalid IPv6 address")
		}
		return p.checkAddr(addr, "")
	}
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			return refuse("must write an internationalised host name in its ASCII (xn--) form")
		}
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if endsInNumber(name) {
		// Browsers, curl and the C resolver read such a host as an IPv4
		// address, in decimal, octal or hex and with parts left out
		// (127.1, 0x7f000001, 2130706433): only a.b.c.d is accepted.
		addr, ok := legacyIPv4(name)
		if !ok {
			return refuse("has host %q, which is neither a host name nor an IPv4 address", host)
		}
		if addr.String() != name {
			if kind := internalKind(addr); kind != "" && !p.networkAllows(addr) {
				return &URLError{Internal: true, Reason: fmt.Sprintf("has host %q, which is %s, %s", host, addr, kind)}
			}
			return refuse("must write its IPv4 address as four decimal numbers (%s, not %s)", addr, host)
		}
		return p.checkAddr(addr, "")
	}
	if !validHostName(name) {
		return refuse("has host %q, which is not a valid host name", host)
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		// Always this machine (RFC 6761), whatever DNS says; it may resolve
		// to both loopback addresses, and the dialer wants every address
		// allowed.
		if p.hostAllowed(name) || p.networkAllows(netip.AddrFrom4([4]byte{127, 0, 0, 1})) && p.networkAllows(netip.IPv6Loopback()) {
			return nil
		}
		return &URLError{Internal: true, Reason: fmt.Sprintf("points to %s, this machine (a loopback address); the operator may allow it with REFERFLOW_WEBHOOK_ALLOWED_NETWORKS", host)}
	}
	return nil
}

// checkAddr refuses an internal address the policy does not allow; name is
// the host name it was resolved from, "" for a literal address.
func (p Policy) checkAddr(addr netip.Addr, name string) error {
	addr = addr.Unmap()
	if name != "" && p.hostAllowed(name) || p.networkAllows(addr) {
		return nil
	}
	kind := internalKind(addr)
	if kind == "" {
		return nil
	}
	if name != "" {
		return &URLError{Internal: true, Reason: fmt.Sprintf("has host %s, which resolves to %s, %s; the operator may allow it with REFERFLOW_WEBHOOK_ALLOWED_NETWORKS", name, addr, kind)}
	}
	return &URLError{Internal: true, Reason: fmt.Sprintf("points to %s, %s; the operator may allow it with REFERFLOW_WEBHOOK_ALLOWED_NETWORKS", addr, kind)}
}

func (p Policy) networkAllows(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, n := range p.AllowedNetworks {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

func (p Policy) hostAllowed(name string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for _, h := range p.AllowedHosts {
		if h == name {
			return true
		}
	}
	return false
}

// block is an address block that is not the public internet.
type block struct {
	prefix netip.Prefix
	kind   string
}

// special lists the address blocks that are not the public internet (IANA's
// special-purpose registries), with what they are. The first match names it.
var special = func() []block {
	var out []block
	for _, s := range [][2]string{
		{"0.0.0.0/8", "an unspecified (\"this network\") address"},
		{"10.0.0.0/8", "a private address"},
		{"100.64.0.0/10", "a carrier-grade NAT address"},
		{"127.0.0.0/8", "a loopback address"},
		{"169.254.0.0/16", "a link-local address (where cloud metadata services answer)"},
		{"172.16.0.0/12", "a private address"},
		{"192.0.0.0/24", "an IETF protocol address"},
		{"192.0.2.0/24", "a documentation address"},
		{"192.88.99.0/24", "a 6to4 relay address"},
		{"192.168.0.0/16", "a private address"},
		{"198.18.0.0/15", "a benchmarking address"},
		{"198.51.100.0/24", "a documentation address"},
		{"203.0.113.0/24", "a documentation address"},
		{"224.0.0.0/4", "a multicast address"},
		{"240.0.0.0/4", "a reserved or broadcast address"},
		{"::/128", "the unspecified address"},
		{"::1/128", "a loopback address"},
		{"::/96", "an IPv4-compatible address"},
		{"::ffff:0:0:0/96", "an IPv4-translated address"},
		{"100::/64", "a discard-only address"},
		{"64:ff9b:1::/48", "a local-use NAT64 address"},
		{"2001::/32", "a Teredo address"},
		{"2001::/23", "an IETF protocol address"},
		{"2001:db8::/32", "a documentation address"},
		{"fc00::/7", "a unique-local address"},
		{"fe80::/10", "a link-local address"},
		{"fec0::/10", "a site-local address"},
		{"ff00::/8", "a multicast address"},
	} {
		out = append(out, block{netip.MustParsePrefix(s[0]), s[1]})
	}
	return out
}()

// IPv6 blocks that carry an IPv4 address: NAT64 (RFC 6052) in the last 32
// bits, 6to4 (RFC 3056) in bits 16 to 48.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// internalKind says what kind of internal address addr is, or "" for a
// public one. IPv6 addresses carrying an IPv4 address (IPv4-mapped, NAT64,
// 6to4) are judged by the IPv4 address they reach.
func internalKind(addr netip.Addr) string {
	addr = addr.Unmap()
	if addr.Is6() {
		b := addr.As16()
		var embedded netip.Addr
		switch {
		case nat64.Contains(addr):
			embedded = netip.AddrFrom4([4]byte(b[12:16]))
		case sixToFour.Contains(addr):
			embedded = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if embedded.IsValid() {
			if k := internalKind(embedded); k != "" {
				return fmt.Sprintf("an IPv6 address of %s, %s", embedded, k)
			}
			return ""
		}
	}
	for _, s := range special {
		if s.prefix.Contains(addr) {
			return s.kind
		}
	}
	return ""
}

// endsInNumber says whether a host's last label is a number (decimal or
// 0x hex), which makes the whole host an IPv4 address to URL parsers.
func endsInNumber(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") {
		return strings.Trim(last[2:], "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// legacyIPv4 reads an IPv4 address the way inet_aton and URL parsers do:
// one to four parts, each decimal, 0-prefixed octal or 0x-prefixed hex, the
// last filling the remaining bytes.
func legacyIPv4(name string) (netip.Addr, bool) {
	parts := strings.Split(name, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var nums []uint64
	for _, part := range parts {
		base, digits := 10, part
		switch {
		case strings.HasPrefix(part, "0x"):
			base, digits = 16, part[2:]
			if digits == "" {
				digits = "0"
			}
		case len(part) > 1 && part[0] == '0':
			base, digits = 8, part[1:]
		}
		n, err := strconv.ParseUint(digits, base, 32)
		if part == "" || err != nil {
			return netip.Addr{}, false
		}
		nums = append(nums, n)
	}
	var v uint64
	for i, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false
		}
		v |= n << (24 - 8*i)
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false
	}
	v |= last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// validHostName accepts DNS names: labels of letters, digits, hyphens (not
// at either end) and underscores (common in internal service names), 1 to 63
// characters each, 253 in all.
func validHostName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		if strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return false
		}
	}
	return true
}

// NewClient is the HTTP client webhooks are sent with under p. It
//   - refuses, before any connection, a request whose URL p.CheckURL refuses;
//   - resolves host names itself and connects only when every address the
//     name resolves to is allowed, to the very address it checked, so a DNS
//     answer that changes after the check (DNS rebinding) cannot slip
//     through;
//   - never uses a proxy (HTTPS_PROXY and friends are ignored: through a
//     proxy, the address checked would be the proxy's, not the receiver's);
//   - does not follow redirects (a 3xx is a failed delivery), and gives up
//     after Timeout.
func NewClient(p Policy) *http.Client {
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           p.dialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   Timeout,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: Timeout,
	}
	return &http.Client{
		Timeout:   Timeout,
		Transport: &checkedTransport{policy: p, next: t},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// checkBeforeSending is what every sender of this package does first: it
// returns the client to send with (nil: the strictest policy's) after
// checking rawURL under that client's policy. A client not made by
// NewClient is refused: it would not check the addresses it connects to.
func checkBeforeSending(client *http.Client, rawURL string) (*http.Client, error) {
	if client == nil {
		client = defaultClient
	}
	ct, ok := client.Transport.(*checkedTransport)
	if !ok {
		return nil, errors.New("outgoing: webhooks need a client from NewClient, which enforces the webhook URL policy")
	}
	return client, ct.policy.CheckURL(rawURL)
}

// refusedOnDial returns the policy's refusal inside a failed request's
// error (the host resolved to a refused address: nothing was sent), or nil.
func refusedOnDial(err error) *URLError {
	var refused *URLError
	if errors.As(err, &refused) {
		return refused
	}
	return nil
}

// checkedTransport runs the policy's URL check before every request.
type checkedTransport struct {
	policy Policy
	next   http.RoundTripper
}

func (t *checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.policy.CheckURL(req.URL.String()); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// dialContext resolves address's host, refuses it when any of its addresses
// is internal and not allowed, and connects to the checked addresses.
func (p Policy) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	name := ""
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		name = host
		r := p.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		if addrs, err = r.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("outgoing: %s has no address", host)
		}
	}
	for _, a := range addrs {
		if a.Zone() != "" {
			return nil, refuse("has host %s, which resolves to an address with a zone (%s)", host, a)
		}
		if err := p.checkAddr(a, name); err != nil {
			return nil, err
		}
	}
	dial := p.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: Timeout, KeepAlive: 30 * time.Second, Control: p.controlConnect(name)}
		dial = d.DialContext
	}
	var errs []error
	for _, a := range addrs {
		conn, err := dial(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// controlConnect checks, just before the socket connects, the address it
// connects to: a last guard should anything between the check and the
// connection resolve again.
func (p Policy) controlConnect(name string) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return refuse("connects to %q, which is not an address", host)
		}
		return p.checkAddr(a, name)
	}
}

// ParseAllowList reads REFERFLOW_WEBHOOK_ALLOWED_NETWORKS: a comma-separated
// list of networks (10.20.0.0/16, fd00::/8), single addresses (10.20.0.5,
// ::1) and host names (fulfilment.internal).
func ParseAllowList(raw string) (networks []netip.Prefix, hosts []string, err error) {
	for _, item := range strings.Split(raw, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.Contains(item, "/") {
			n, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, nil, fmt.Errorf("%q is not a network such as 10.20.0.0/16", item)
			}
			networks = append(networks, n.Masked())
			continue
		}
		if a, err := netip.ParseAddr(strings.Trim(item, "[]")); err == nil {
			if a.Zone() != "" {
				return nil, nil, fmt.Errorf("%q: an address with a zone is not accepted", item)
			}
			a = a.Unmap()
			networks = append(networks, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		name := strings.TrimSuffix(strings.ToLower(item), ".")
		if endsInNumber(name) || !validHostName(name) {
			return nil, nil, fmt.Errorf("%q is neither a network (10.20.0.0/16), an address nor a host name", item)
		}
		hosts = append(hosts, name)
	}
	return networks, hosts, nil
}
