package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"time"
)

// DefaultSendTimeout bounds one SMTP conversation, connection included.
const DefaultSendTimeout = 30 * time.Second

// Sender sends messages through the configured SMTP server, one connection
// per message: emails to members are few (a handful per referral), and a
// fresh connection has no state to go stale between them.
type Sender struct {
	Server *Server
	// HelloName is the name given in EHLO (default "localhost"); the
	// public URL's host is a good one.
	HelloName string
	// Timeout bounds one conversation (default DefaultSendTimeout).
	Timeout time.Duration
	// TLSConfig, when set, replaces the default TLS settings (tests
	// trusting their own certificate).
	TLSConfig *tls.Config
}

// NewSender is a Sender for server, or nil when email is not configured.
func NewSender(server *Server, helloName string) *Sender {
	if server == nil {
		return nil
	}
	return &Sender{Server: server, HelloName: helloName}
}

// SendError is an attempt the SMTP server did not take.
type SendError struct {
	Err error
	// Permanent: the server refused this message for good (a 5xx reply to
	// the recipient or to the message): trying again gets the same answer.
	// A 5xx anywhere else (the sender, the password) is the configuration's
	// to fix and is not permanent: the email waits for the fix.
	Permanent bool
	// MaybeDelivered: the conversation broke after the message was handed
	// over with DATA and before the server's answer: it may have been
	// accepted.
	MaybeDelivered bool
}

func (e *SendError) Error() string { return e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// Send delivers msg from the configured sender to the address to.
// beforeData runs right before the DATA command, after the server accepted
// the sender and the recipient: from then on the message may be delivered,
// so the caller records that first (and Send stops if it cannot). Every
// failure is a *SendError.
func (s *Sender) Send(ctx context.Context, to string, msg []byte, beforeData func() error) error {
	c, err := s.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(s.Server.From.Address); err != nil {
		return replyError("the SMTP server refused the sender", err, false, false)
	}
	if err := c.Rcpt(to); err != nil {
		return replyError("the SMTP server refused the recipient", err, false, true)
	}
	if beforeData != nil {
		if err := beforeData(); err != nil {
			return &SendError{Err: fmt.Errorf("not sent: %w", err)}
		}
	}
	w, err := c.Data()
	if err != nil {
		return replyError("the SMTP server refused the message", err, true, true)
	}
	if _, err := w.Write(msg); err != nil {
		return replyError("sending the message failed", err, true, true)
	}
	if err := w.Close(); err != nil {
		return replyError("the SMTP server did not accept the message", err, true, true)
	}
	_ = c.Quit() // accepted: a failed goodbye changes nothing
	return nil
}

// Check connects, greets, upgrades to TLS and authenticates as Send would,
// then says goodbye: what `referflow doctor` runs.
func (s *Sender) Check(ctx context.Context) error {
	c, err := s.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Quit()
}

// open connects and greets the server, upgrades to TLS and authenticates.
func (s *Sender) open(ctx context.Context) (*smtp.Client, error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultSendTimeout
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	srv := s.Server
	tlsConfig := s.tlsConfig()
	var conn net.Conn
	var err error
	dialer := &net.Dialer{}
	if srv.ImplicitTLS {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsConfig}).DialContext(ctx, "tcp", srv.Address())
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", srv.Address())
	}
	if err != nil {
		return nil, &SendError{Err: fmt.Errorf("cannot reach the SMTP server %s: %w", srv.Address(), err)}
	}
	_ = conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, srv.Host)
	if err != nil {
		conn.Close()
		return nil, replyError("the SMTP server "+srv.Address()+" did not greet", err, false, false)
	}
	hello := s.HelloName
	if hello == "" {
		hello = "localhost"
	}
	if err := c.Hello(hello); err != nil {
		c.Close()
		return nil, replyError("the SMTP server refused EHLO", err, false, false)
	}
	if !srv.ImplicitTLS && !srv.NoSTARTTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConfig); err != nil {
				c.Close()
				return nil, replyError("STARTTLS with the SMTP server failed", err, false, false)
			}
		}
	}
	if srv.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			c.Close()
			return nil, &SendError{Err: errors.New("the SMTP server offers no authentication (AUTH), but REFERFLOW_SMTP_URL has a user name")}
		}
		_, encrypted := c.TLSConnectionState()
		if !encrypted && !loopback(srv.Host) {
			c.Close()
			return nil, &SendError{Err: errors.New("the SMTP server offers no TLS: referflow does not send the password unencrypted (use smtps://, or a server with STARTTLS)")}
		}
		if err := c.Auth(plainAuth{username: srv.Username, password: srv.Password}); err != nil {
			c.Close()
			return nil, replyError("the SMTP server refused the user name or password", err, false, false)
		}
	}
	return c, nil
}

func (s *Sender) tlsConfig() *tls.Config {
	if s.TLSConfig != nil {
		return s.TLSConfig.Clone()
	}
	return &tls.Config{ServerName: s.Server.Host, MinVersion: tls.VersionTLS12}
}

// plainAuth is SMTP AUTH PLAIN. net/smtp's PlainAuth refuses a connection
// without TLS to any host but "localhost"; open makes that check itself
// (loopback addresses count as this machine too), so this one does not.
type plainAuth struct{ username, password string }

func (a plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.username + "\x00" + a.password), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge")
	}
	return nil, nil
}

// replyError classifies a failure: a 5xx reply about the message itself
// (messageStage) is permanent; a reply of any code after DATA means the
// message was not taken; anything else after DATA (a broken connection) may
// have delivered it.
func replyError(what string, err error, afterData, messageStage bool) *SendError {
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return &SendError{Err: fmt.Errorf("%s: %d %s", what, reply.Code, reply.Msg), Permanent: messageStage && reply.Code >= 500}
	}
	return &SendError{Err: fmt.Errorf("%s: %w", what, err), MaybeDelivered: afterData}
}
