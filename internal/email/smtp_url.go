package email

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
)

// Server is the SMTP server emails go through, read from
// REFERFLOW_SMTP_URL:
//
//	smtp://[user[:password]@]host[:port]?from=<sender>[&starttls=off]
//	smtps://[user[:password]@]host[:port]?from=<sender>
//
// smtp:// (default port 587) upgrades the connection with STARTTLS whenever
// the server offers it, and refuses to send credentials over a connection
// that is not encrypted unless the server is on this machine;
// starttls=off never upgrades (a relay on a private network without TLS).
// smtps:// (default port 465) speaks TLS from the first byte. from is the
// sender, an address or "Name <address>", URL-encoded
// (from=Acme%20Referrals%20%3Creferrals%40acme.com%3E). The user name and
// password are URL-encoded too (%40 for @).
type Server struct {
	// Host and Port are where to connect.
	Host string
	Port int
	// ImplicitTLS: smtps://, TLS from the first byte.
	ImplicitTLS bool
	// NoSTARTTLS: starttls=off.
	NoSTARTTLS bool
	// Username and Password authenticate (PLAIN), when set.
	Username, Password string
	// From is the sender of every email.
	From mail.Address
}

// Address is host:port.
func (s *Server) Address() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Securities are the words Security answers.
var Securities = []string{"starttls", "tls", "none"}

// Security says in words how the connection is protected: one of
// Securities.
func (s *Server) Security() string {
	switch {
	case s.ImplicitTLS:
		return "tls"
	case s.NoSTARTTLS:
		return "none"
	default:
		return "starttls"
	}
}

// String describes the server without its password.
func (s *Server) String() string {
	user := ""
	if s.Username != "" {
		user = s.Username + "@"
	}
	scheme := "smtp"
	if s.ImplicitTLS {
		scheme = "smtps"
	}
	return scheme + "://" + user + s.Address()
}

// ParseServerURL reads REFERFLOW_SMTP_URL. Its errors never repeat the
// value: it may hold a password.
func ParseServerURL(raw string) (*Server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("is not a URL (write it as smtp://user:password@host:587?from=referrals%40example.com; URL-encode the user, the password and the sender)")
	}
	s := &Server{}
	switch u.Scheme {
	case "smtp":
		s.Port = 587
	case "smtps":
		s.Port, s.ImplicitTLS = 465, true
	default:
		return nil, errors.New("must start with smtp:// (STARTTLS) or smtps:// (TLS)")
	}
	s.Host = u.Hostname()
	if s.Host == "" {
		return nil, errors.New("has no host (smtp://host:587?from=...)")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("has an invalid port %q", p)
		}
		s.Port = n
	}
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("must not have a path: the sender goes in ?from=")
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	q := u.Query()
	for name := range q {
		if name != "from" && name != "starttls" {
			return nil, fmt.Errorf("has an unknown parameter %q (known: from, starttls)", name)
		}
	}
	switch v := q.Get("starttls"); v {
	case "", "auto":
	case "off":
		if s.ImplicitTLS {
			return nil, errors.New("starttls=off only applies to smtp://; smtps:// is TLS from the start")
		}
		s.NoSTARTTLS = true
	default:
		return nil, fmt.Errorf("starttls must be auto or off, not %q", v)
	}
	from := q.Get("from")
	if from == "" {
		return nil, errors.New("needs the sender: add ?from=referrals%40example.com (or a URL-encoded \"Name <address>\")")
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("from %q is not an email address or \"Name <address>\"", from)
	}
	s.From = *addr
	return s, nil
}

// loopback tells whether host is this machine, where credentials may go
// over a connection without TLS.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
