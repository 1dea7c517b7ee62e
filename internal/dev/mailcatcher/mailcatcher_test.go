package mailcatcher_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/dev/mailcatcher"
	"github.com/referflow/referflow/internal/email"
)

// TestCatcherKeepsAndShowsWhatItIsSent: a message sent over SMTP is kept
// with its parts and listed on the page, its HTML served sandboxed.
func TestCatcherKeepsAndShowsWhatItIsSent(t *testing.T) {
	c, err := mailcatcher.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := email.Message{
		From: mail.Address{Address: "referrals@acme.test"}, To: mail.Address{Name: "Zoë", Address: "zoe@example.com"},
		Subject: "Votre lien", Text: "Bonjour Zoë", HTML: "<p>Bonjour <b>Zoë</b></p><script>alert(1)</script>",
		MessageID: "m1@acme.test", Date: time.Now(),
	}.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	changed := c.Changed()
	if err := smtp.SendMail(c.Addr(), nil, "referrals@acme.test", []string{"zoe@example.com"}, raw); err != nil {
		t.Fatal(err)
	}
	<-changed
	msgs := c.Messages()
	if len(msgs) != 1 || msgs[0].ID != 1 || msgs[0].Subject != "Votre lien" || msgs[0].Text != "Bonjour Zoë" || !strings.Contains(msgs[0].HTML, "<b>Zoë</b>") ||
		msgs[0].From != "referrals@acme.test" || msgs[0].To[0] != "zoe@example.com" {
		t.Fatalf("caught %+v", msgs)
	}

	page := httptest.NewServer(c.Handler())
	defer page.Close()
	get := func(path string) (*http.Response, string) {
		res, err := http.Get(page.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	if res, body := get("/"); res.StatusCode != 200 || !strings.Contains(body, `<a href="/messages/1">Votre lien</a>`) || !strings.Contains(body, "zoe@example.com") {
		t.Fatalf("list = %d %s", res.StatusCode, body)
	}
	if res, body := get("/messages/1"); res.StatusCode != 200 || !strings.Contains(body, "Bonjour Zoë") || !strings.Contains(body, `src="/messages/1/html"`) {
		t.Fatalf("message = %d %s", res.StatusCode, body)
	}
	if res, _ := get("/messages/1/html"); !strings.HasPrefix(res.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("HTML part served without a sandbox: %q", res.Header.Get("Content-Security-Policy"))
	}
	if res, _ := get("/messages/2"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown message = %d", res.StatusCode)
	}

	// Down refuses connections; Up takes mail again on the same address.
	c.Down()
	if err := smtp.SendMail(c.Addr(), nil, "a@acme.test", []string{"b@example.com"}, raw); err == nil {
		t.Fatal("sent while down")
	}
	if err := c.Up(); err != nil {
		t.Fatal(err)
	}
	if err := smtp.SendMail(c.Addr(), nil, "a@acme.test", []string{"b@example.com"}, raw); err != nil || len(c.Messages()) != 2 {
		t.Fatalf("after Up: %v, %d caught", err, len(c.Messages()))
	}
}
