package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/email"
)

// An admin can see whether members get emails and through which server,
// and never the server's password.
func TestEmailStatusSaysWhereEmailsGo(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)
	status := func() (EmailStatusView, string) {
		t.Helper()
		rec := w.api.call("GET", "/api/v1/email/status", "")
		var v EmailStatusView
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
			t.Fatalf("email status = %d %s", rec.Code, rec.Body)
		}
		return v, rec.Body.String()
	}

	v, _ := status()
	if v.Configured || v.Server != "" || !strings.Contains(v.Message, "REFERFLOW_SMTP_URL is not set") {
		t.Fatalf("without SMTP: %+v", v)
	}

	server, err := email.ParseServerURL("smtps://mailer:s3cret-pass@smtp.acme.test:465?from=Acme%20referrals%20%3Creferrals%40acme.test%3E")
	if err != nil {
		t.Fatal(err)
	}
	w.srv.deps.SMTP = server
	v, raw := status()
	if !v.Configured || v.Server != "smtp.acme.test:465" || v.Security != "tls" || v.From != "referrals@acme.test" {
		t.Fatalf("with SMTP: %+v", v)
	}
	if strings.Contains(raw, "s3cret-pass") || strings.Contains(w.logs.String(), "s3cret-pass") {
		t.Fatal("the SMTP password is shown or logged")
	}

	// Admins only.
	rec := do(t, w.srv.Handler(), http.MethodGet, "/api/v1/email/status", nil)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("without a key = %d", rec.Code)
	}
}
