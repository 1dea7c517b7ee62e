package email_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/internal/dev/mailcatcher"
	"github.com/referflow/referflow/internal/email"
)

func TestParseServerURL(t *testing.T) {
	s, err := email.ParseServerURL("smtp://ops%40acme.com:p%40ss@mail.acme.com?from=Acme%20Referrals%20%3Creferrals%40acme.com%3E")
	if err != nil {
		t.Fatal(err)
	}
	if s.Host != "mail.acme.com" || s.Port != 587 || s.ImplicitTLS || s.NoSTARTTLS || s.Username != "ops@acme.com" || s.Password != "p@ss" ||
		s.From.Name != "Acme Referrals" || s.From.Address != "referrals@acme.com" || s.Security() != "starttls" {
		t.Fatalf("parsed %+v", s)
	}
	if strings.Contains(s.String(), "p@ss") {
		t.Fatalf("String() shows the password: %s", s)
	}
	s, err = email.ParseServerURL("smtps://mail.acme.com?from=referrals@acme.com")
	if err != nil || s.Port != 465 || !s.ImplicitTLS || s.Security() != "tls" {
		t.Fatalf("smtps: %+v %v", s, err)
	}
	s, err = email.ParseServerURL("smtp://relay.internal:25?from=referrals@acme.com&starttls=off")
	if err != nil || s.Port != 25 || !s.NoSTARTTLS || s.Security() != "none" {
		t.Fatalf("starttls=off: %+v %v", s, err)
	}
	for raw, want := range map[string]string{
		"http://mail.acme.com?from=a@b.c":                 "smtp://",
		"smtp://mail.acme.com":                            "needs the sender",
		"smtp://mail.acme.com?from=nobody":                "not an email address",
		"smtp://:587?from=a@b.c":                          "no host",
		"smtp://mail.acme.com:99999?from=a@b.c":           "invalid port",
		"smtp://mail.acme.com/x?from=a@b.c":               "path",
		"smtp://mail.acme.com?from=a@b.c&tls=yes":         "unknown parameter",
		"smtps://mail.acme.com?from=a@b.c&starttls=off":   "smtps://",
		"smtp://user:secret@mail.acme.com?from=a@b.c&x=1": "unknown parameter",
	} {
		_, err := email.ParseServerURL(raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want it to say %q", raw, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: the error repeats the password: %v", raw, err)
		}
	}
}

// TestDefaultTemplatesRender: every kind's default writes its subject,
// text and HTML with the member's links; HTML escapes what it inserts.
func TestDefaultTemplatesRender(t *testing.T) {
	for _, kind := range email.Kinds {
		d := email.SampleData(kind)
		d.FirstName = "Ada <b>"
		r, err := email.Render(kind, email.Template{}, d)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if r.Subject == "" || strings.Contains(r.Subject, "\n") {
			t.Errorf("%s subject %q", kind, r.Subject)
		}
		for _, part := range []string{r.Text, r.HTML} {
			for _, want := range []string{d.ReferralLink, d.PortalLink, d.UnsubscribeLink, d.CampaignName} {
				if !strings.Contains(part, want) {
					t.Errorf("%s lacks %q:\n%s", kind, want, part)
				}
			}
		}
		if !strings.Contains(r.Text, "Hi Ada <b>,") || !strings.Contains(r.HTML, "Hi Ada &lt;b&gt;,") {
			t.Errorf("%s greeting: text %q, HTML escaped?", kind, r.Text[:20])
		}
		if problems := email.CheckTemplate(kind, email.Defaults[kind]); len(problems) > 0 {
			t.Errorf("the default %s template fails its own check: %+v", kind, problems)
		}
	}
	r, _ := email.Render(email.RewardEarned, email.Template{}, email.SampleData(email.RewardEarned))
	if r.Subject != "You earned a reward: 50.00 USD" {
		t.Fatalf("reward subject %q", r.Subject)
	}
	// A custom subject may not add a header.
	r, err := email.Render(email.Welcome, email.Template{Subject: "Hi\r\nBcc: everyone@example.com"}, email.SampleData(email.Welcome))
	if err != nil || r.Subject != "Hi Bcc: everyone@example.com" {
		t.Fatalf("folded subject %q %v", r.Subject, err)
	}
}

func TestCheckTemplate(t *testing.T) {
	problems := email.CheckTemplate(email.Welcome, email.Template{
		Subject: "{{.Frist}}",
		Text:    "no link here",
		HTML:    "<p>{{.FirstName}",
	})
	got := map[string]string{}
	for _, p := range problems {
		got[p.Part] = p.Message
	}
	if !strings.Contains(got["subject"], "Frist") || !strings.Contains(got["subject"], ".FirstName") ||
		!strings.Contains(got["text"], "{{.UnsubscribeLink}}") || !strings.Contains(got["html"], "bad character") {
		t.Fatalf("problems %+v", got)
	}
	// The reward's amount is there for reward_earned only.
	if len(email.CheckTemplate(email.RewardEarned, email.Template{Subject: "{{.Reward.Amount}}"})) != 0 {
		t.Fatal("reward_earned refused {{.Reward.Amount}}")
	}
	long := email.Template{Text: strings.Repeat("x", email.MaxBodyBytes+1)}
	if p := email.CheckTemplate(email.Welcome, long); len(p) != 1 || !strings.Contains(p[0].Message, "at most") {
		t.Fatalf("long body: %+v", p)
	}
}

// TestMessageBytes: multipart/alternative with the text part first, UTF-8
// quoted-printable, the unsubscribe headers, an encoded subject.
func TestMessageBytes(t *testing.T) {
	m := email.Message{
		From: mail.Address{Name: "Acme", Address: "referrals@acme.test"}, To: mail.Address{Name: "Zoë", Address: "zoe@example.com"},
		Subject: "Ça marche", Text: "Bonjour Zoë\nline two", HTML: "<p>Bonjour Zoë</p>", MessageID: "welcome.1@acme.test",
		UnsubscribeURL: "https://acme.test/u/x", Date: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC),
	}
	raw, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if subject != "Ça marche" || msg.Header.Get("Message-ID") != "<welcome.1@acme.test>" ||
		msg.Header.Get("List-Unsubscribe") != "<https://acme.test/u/x>" || msg.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Fatalf("headers %v", msg.Header)
	}
	mediaType, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q", mediaType)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types, bodies []string
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		types, bodies = append(types, p.Header.Get("Content-Type")), append(bodies, string(b))
	}
	if len(types) != 2 || types[0] != "text/plain; charset=utf-8" || types[1] != "text/html; charset=utf-8" ||
		bodies[0] != "Bonjour Zoë\r\nline two" || bodies[1] != "<p>Bonjour Zoë</p>" {
		t.Fatalf("parts %q %q", types, bodies)
	}
}

func TestUnsubscribeToken(t *testing.T) {
	u := email.NewUnsubscriber([]byte("0123456789abcdef0123456789abcdef"))
	id := uuid.New()
	tok := u.Token(id)
	if got, err := u.Parse(tok); err != nil || got != id {
		t.Fatalf("parse = %v %v", got, err)
	}
	if !strings.HasSuffix(u.URL("https://acme.test", id), "/u/"+tok) {
		t.Fatal("URL")
	}
	other := email.NewUnsubscriber([]byte("another-key-0123456789abcdef0123"))
	if _, err := other.Parse(tok); err != email.ErrUnsubscribeInvalid {
		t.Fatalf("another key: %v", err)
	}
	b := []byte(tok)
	b[5] ^= 1
	for _, bad := range []string{string(b), tok + "A", "", "not a token"} {
		if _, err := u.Parse(bad); err != email.ErrUnsubscribeInvalid {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestSenderTalksSMTP sends through the mail catcher over loopback, and
// reports an SMTP server that is down as a retryable failure.
func TestSenderTalksSMTP(t *testing.T) {
	c, err := mailcatcher.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, err := email.ParseServerURL(c.SMTPURL("Acme <referrals@acme.test>"))
	if err != nil {
		t.Fatal(err)
	}
	s := email.NewSender(srv, "acme.test")
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	msg := email.Message{From: srv.From, To: mail.Address{Address: "zoe@example.com"}, Subject: "Hello", Text: "hi", HTML: "<p>hi</p>", MessageID: "x@acme.test", Date: time.Now()}
	raw, _ := msg.Bytes()
	marked := false
	if err := s.Send(context.Background(), "zoe@example.com", raw, func() error { marked = true; return nil }); err != nil || !marked {
		t.Fatalf("send = %v (marked before DATA: %v)", err, marked)
	}
	if got := c.Messages(); len(got) != 1 || got[0].Subject != "Hello" || got[0].To[0] != "zoe@example.com" || got[0].From != "referrals@acme.test" {
		t.Fatalf("caught %+v", got)
	}
	// Nothing is sent when the mark before DATA cannot be written.
	if err := s.Send(context.Background(), "zoe@example.com", raw, func() error { return io.ErrClosedPipe }); err == nil || len(c.Messages()) != 1 {
		t.Fatalf("send without its mark = %v, %d caught", err, len(c.Messages()))
	}
	c.Down()
	err = s.Send(context.Background(), "zoe@example.com", raw, nil)
	var se *email.SendError
	if !errors.As(err, &se) || se.Permanent || se.MaybeDelivered || !strings.Contains(err.Error(), "cannot reach the SMTP server") {
		t.Fatalf("server down: %v", err)
	}
}
