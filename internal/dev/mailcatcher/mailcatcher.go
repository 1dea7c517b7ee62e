// Package mailcatcher is the mail catcher of `referflow dev` and of the
// tests: an SMTP server on loopback (github.com/emersion/go-smtp) that
// keeps every message it is given in memory instead of delivering it, and
// a page listing them, so a newcomer sees the emails members would get and
// a test reads exactly what was sent. It is dev tooling: product code never
// imports it.
package mailcatcher

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// MaxMessages is how many messages the catcher keeps; older ones are
// dropped first.
const MaxMessages = 1000

// Message is one caught email.
type Message struct {
	// ID numbers the messages in the order they were caught, from 1.
	ID         int
	CaughtAt   time.Time
	From       string
	To         []string
	Subject    string
	Header     mail.Header
	Text, HTML string
	Raw        []byte
}

// Catcher is a running mail catcher.
type Catcher struct {
	addr string

	mu       sync.Mutex
	server   *smtp.Server
	ln       net.Listener
	messages []Message
	nextID   int
	changed  chan struct{}
}

// Start listens on addr (host:port; port 0 picks one) and catches mail
// until Close.
func Start(addr string) (*Catcher, error) {
	c := &Catcher{changed: make(chan struct{}), nextID: 1}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mail catcher: listen on %s: %w", addr, err)
	}
	c.addr = ln.Addr().String()
	c.serve(ln)
	return c, nil
}

func (c *Catcher) serve(ln net.Listener) {
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{c: c}, nil }))
	s.Domain = "localhost"
	s.ReadTimeout = 30 * time.Second
	s.WriteTimeout = 30 * time.Second
	s.MaxMessageBytes = 10 << 20
	s.MaxRecipients = 50
	s.ErrorLog = nopLogger{}
	c.mu.Lock()
	c.server, c.ln = s, ln
	c.mu.Unlock()
	go func() { _ = s.Serve(ln) }()
}

// Addr is where the catcher listens (host:port).
func (c *Catcher) Addr() string { return c.addr }

// SMTPURL is a REFERFLOW_SMTP_URL pointing at the catcher, sending from
// from.
func (c *Catcher) SMTPURL(from string) string {
	return "smtp://" + c.addr + "?from=" + url.QueryEscape(from)
}

// Down stops listening, as an SMTP server that is down: connections are
// refused until Up.
func (c *Catcher) Down() {
	c.mu.Lock()
	s, ln := c.server, c.ln
	c.server, c.ln = nil, nil
	c.mu.Unlock()
	if s != nil {
		// The listener first: Serve may not have taken it yet, and then
		// the server's Close would not close it.
		_ = ln.Close()
		_ = s.Close()
	}
}

// Up listens again on the same address after Down.
func (c *Catcher) Up() error {
	c.mu.Lock()
	up := c.server != nil
	c.mu.Unlock()
	if up {
		return nil
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("mail catcher: listen again on %s: %w", c.addr, err)
	}
	c.serve(ln)
	return nil
}

// Close stops the catcher.
func (c *Catcher) Close() { c.Down() }

// Messages is every message kept, oldest first.
func (c *Catcher) Messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.messages...)
}

// Changed is closed when the next message is caught: wait on it, then read
// Messages again.
func (c *Catcher) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *Catcher) add(m Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m.ID, m.CaughtAt = c.nextID, time.Now()
	c.nextID++
	c.messages = append(c.messages, m)
	if len(c.messages) > MaxMessages {
		c.messages = c.messages[len(c.messages)-MaxMessages:]
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// session is one SMTP conversation.
type session struct {
	c    *Catcher
	from string
	to   []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := Message{From: s.from, To: append([]string(nil), s.to...), Raw: raw}
	parse(&m)
	s.c.add(m)
	return nil
}

// parse reads the headers and the text and HTML parts of a caught message;
// what it cannot read stays empty (Raw has everything).
func parse(m *Message) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return
	}
	m.Header = msg.Header
	dec := new(mime.WordDecoder)
	if subj, err := dec.DecodeHeader(msg.Header.Get("Subject")); err == nil {
		m.Subject = subj
	}
	readPart(m, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
}

func readPart(m *Message, contentType, encoding string, body io.Reader) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			readPart(m, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
		}
	}
	if strings.EqualFold(encoding, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return
	}
	switch mediaType {
	case "text/plain":
		m.Text = strings.ReplaceAll(string(b), "\r\n", "\n")
	case "text/html":
		m.HTML = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// errNotFound is a message no longer kept.
var errNotFound = errors.New("no such message")
