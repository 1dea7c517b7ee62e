package email

import (
	"bytes"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// Message is one email to a member, ready to be written as MIME.
type Message struct {
	From, To mail.Address
	// Subject is one line (line breaks are folded into spaces).
	Subject string
	// Text and HTML are the two versions of the body; mail clients show the
	// HTML one when they can.
	Text, HTML string
	// MessageID is the Message-ID header without its angle brackets: the
	// same for every attempt at one email, so a receiving system that sees
	// it twice can tell.
	MessageID string
	// UnsubscribeURL goes into List-Unsubscribe (with One-Click, RFC 8058),
	// so mail clients offer their own unsubscribe button.
	UnsubscribeURL string
	Date           time.Time
}

// Bytes is the message as sent with DATA: headers, then a
// multipart/alternative body with the text part first and the HTML part
// last (the one clients prefer), each quoted-printable UTF-8.
func (m Message) Bytes() ([]byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ contentType, content string }{
		{"text/plain; charset=utf-8", m.Text},
		{"text/html; charset=utf-8", m.HTML},
	} {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", part.contentType)
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		pw, err := mw.CreatePart(h)
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write([]byte(crlf(part.content))); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	var out bytes.Buffer
	header := func(name, value string) { fmt.Fprintf(&out, "%s: %s\r\n", name, value) }
	header("From", m.From.String())
	header("To", m.To.String())
	header("Subject", mime.QEncoding.Encode("utf-8", OneLine(m.Subject)))
	header("Date", m.Date.Format(time.RFC1123Z))
	header("Message-ID", "<"+m.MessageID+">")
	if m.UnsubscribeURL != "" {
		header("List-Unsubscribe", "<"+m.UnsubscribeURL+">")
		header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	}
	// RFC 3834: no vacation auto-replies to an automatic message.
	header("Auto-Submitted", "auto-generated")
	header("MIME-Version", "1.0")
	header("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	out.WriteString("\r\n")
	out.Write(body.Bytes())
	return out.Bytes(), nil
}

// OneLine folds a header value onto one line: no template can add a header.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// crlf ends every line with CRLF, as SMTP wants.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}
