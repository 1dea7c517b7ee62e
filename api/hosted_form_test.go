package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/workflows"
)

var leadFields = map[string]string{
	"email": "Lena@Example.org", "first_name": "Lena", "last_name": "Ortiz",
	"company": "Ortiz & Co", "phone": "+1 (555) 010-0199", "note": "Looking for a new CRM\nbefore March.",
}

func TestHostedFormRefersThroughTheLinkWithoutJavaScript(t *testing.T) {
	t.Parallel()
	w := newFormWorld(t, PublicLimits{})
	maya := w.fx.Member
	b := w.browser(t, "203.0.113.7")

	// The referral link lands on the form, which names who referred.
	form := b.get("/r/" + maya.ReferralCode)
	if form.status != http.StatusOK || !strings.Contains(form.url, "/c/spring/refer?referflow_ref="+maya.ReferralCode) {
		t.Fatalf("referral link ended at %d %s", form.status, form.url)
	}
	if !strings.Contains(form.body, "<h1>Maya referred you to Acme</h1>") {
		t.Fatalf("form does not say who referred:\n%s", form.body)
	}
	checkAccessible(t, form)
	for _, name := range []string{"email", "first_name", "last_name", "company", "phone", "note"} {
		if !strings.Contains(form.body, `name="`+name+`"`) {
			t.Errorf("form has no %s field", name)
		}
	}
	if strings.Contains(form.body, "<script") {
		t.Error("the hosted form has a script; it must work without")
	}
	if form.header.Get("Cache-Control") != "no-store" {
		t.Errorf("form page Cache-Control %q", form.header.Get("Cache-Control"))
	}

	thanks := b.submit(form, leadFields)
	if thanks.status != http.StatusOK || !strings.HasSuffix(thanks.url, "/c/spring/refer/thanks") || !strings.Contains(thanks.body, "Thank you") {
		t.Fatalf("after sending: %d %s\n%s", thanks.status, thanks.url, thanks.body)
	}
	checkAccessible(t, thanks)

	rows := w.referralsOf(t, "lena@example.org")
	if len(rows) != 1 {
		t.Fatalf("%d referrals of the lead, want 1", len(rows))
	}
	r := rows[0]
	if r.MemberID != maya.ID || r.Source != referral.SourceColumnForm || r.LeadEmail != "Lena@Example.org" ||
		deref(r.LeadFirstName) != "Lena" || deref(r.LeadLastName) != "Ortiz" || deref(r.LeadCompany) != "Ortiz & Co" ||
		deref(r.LeadPhone) != "+1 (555) 010-0199" || deref(r.Note) != "Looking for a new CRM\nbefore March." || len(r.VisitorHash) != 32 {
		t.Fatalf("referral kept: %+v", r)
	}
	if string(r.VisitorHash) != string(w.srv.visitorHash("203.0.113.7", "referflow-test-browser")) {
		t.Error("the referral's visitor hash is not the visitor's")
	}
	ctx := context.Background()
	if _, err := w.tc.Client.DescribeWorkflowExecution(ctx, workflows.ReferralWorkflowID(r.ID.String()), ""); err != nil {
		t.Fatalf("the referral's workflow was not started: %v", err)
	}

	// The same lead again, from another visitor: thanked the same way, not
	// added twice.
	again := w.browser(t, "203.0.113.8")
	second := again.submit(again.get("/r/"+maya.ReferralCode), map[string]string{"email": "lena@example.org", "first_name": "L"})
	if second.status != http.StatusOK || !strings.HasSuffix(second.url, "/c/spring/refer/thanks") {
		t.Fatalf("a lead sent twice: %d %s", second.status, second.url)
	}
	if n := len(w.referralsOf(t, "lena@example.org")); n != 1 {
		t.Fatalf("a lead sent twice is %d referrals", n)
	}
}

func TestHostedFormAttributionFollowsTheCampaignModel(t *testing.T) {
	t.Parallel()
	w := newFormWorld(t, PublicLimits{})
	maya := w.fx.Member
	noah := w.addMember(t, "Noah")

	for _, tc := range []struct {
		model string
		want  string
	}{
		// The cookie holds Maya's link, followed first; the URL names Noah's.
		{campaign.FirstTouch, "Maya"},
		{campaign.LastTouch, "Noah"},
	} {
		w.setPublic(t, campaign.Public{Slug: testSlug, Attribution: campaign.Attribution{WindowDays: 30, Model: tc.model}})
		b := w.browser(t, "198.51.100.1")
		b.get("/r/" + maya.ReferralCode)
		p := b.get("/c/spring/refer?referflow_ref=" + noah.ReferralCode)
		if !strings.Contains(p.body, "<h1>"+tc.want+" referred you to Acme</h1>") {
			t.Fatalf("%s: page credits someone else than %s:\n%s", tc.model, tc.want, p.body)
		}
		email := "lead-" + tc.model + "@example.org"
		b.submit(p, map[string]string{"email": email, "first_name": "Lead"})
		rows := w.referralsOf(t, email)
		wantID := maya.ID
		if tc.want == "Noah" {
			wantID = noah.ID
		}
		if len(rows) != 1 || rows[0].MemberID != wantID {
			t.Fatalf("%s: referral credited to %+v, want %s", tc.model, rows, tc.want)
		}

		// A code in the URL that names no member leaves the cookie's.
		p = b.get("/c/spring/refer?referflow_ref=NOBODY-1234")
		if !strings.Contains(p.body, "<h1>Maya referred you to Acme</h1>") {
			t.Fatalf("%s: an unknown code in the URL hid the cookie's member:\n%s", tc.model, p.body)
		}
	}

	// The URL alone is enough (cookies off, or a link retyped), in lower case.
	b := w.browser(t, "198.51.100.2")
	b.client.Jar = nil
	p := b.get("/c/spring/refer?referflow_ref=" + strings.ToLower(noah.ReferralCode))
	if !strings.Contains(p.body, "<h1>Noah referred you to Acme</h1>") {
		t.Fatalf("URL-only attribution:\n%s", p.body)
	}
}

func TestHostedFormWithoutAReferralLinkKeepsNothing(t *testing.T) {
	t.Parallel()
	w := newFormWorld(t, PublicLimits{})
	b := w.browser(t, "198.51.100.3")
	p := b.get("/c/spring/refer")
	if p.status != http.StatusOK || !strings.Contains(p.body, "This form needs a referral link") || strings.Contains(p.body, "<form") {
		t.Fatalf("form without attribution: %d\n%s", p.status, p.body)
	}
	checkAccessible(t, p)

	// A post anyway (with a token from a real page of another link).
	b.get("/r/" + w.fx.Member.ReferralCode)
	real := b.get("/c/spring/refer?referflow_ref=" + w.fx.Member.ReferralCode)
	_, form := formOf(t, real)
	form.Set("email", "orphan@example.org")
	form.Set("first_name", "Orphan")
	stranger := w.browser(t, "198.51.100.4")
	resp := stranger.do(http.MethodPost, "/c/spring/refer?referflow_ref=NOBODY-1", form, false)
	if resp.status != http.StatusUnprocessableEntity || !strings.Contains(resp.body, "needs a referral link") {
		t.Fatalf("post without attribution: %d\n%s", resp.status, resp.body)
	}
	if n := len(w.referralsOf(t, "orphan@example.org")); n != 0 {
		t.Fatalf("a post without attribution kept %d referrals", n)
	}
}

func TestHostedFormShowsWhatToFixAndKeepsTheValues(t *testing.T) {
	t.Parallel()
	w := newFormWorld(t, PublicLimits{})
	b := w.browser(t, "198.51.100.5")
	form := b.get("/r/" + w.fx.Member.ReferralCode)
	p := b.submit(form, map[string]string{
		"email": "lena@example", "first_name": "", "last_name": "Ortiz <b>", "phone": "call me", "note": "Hello\x00there",
	})
	if p.status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid fields answered %d, want 422\n%s", p.status, p.body)
	}
	checkAccessible(t, p)
	for name, want := range map[string]string{
		"email":      "Enter an email address like name@example.com.",
		"first_name": "Enter your first name.",
		"phone":      "Enter a phone number with digits, spaces and + - ( ) only, like +1 555 010 0199.",
		"note":       "Remove the invisible control characters from this field.",
		"last_name":  "",
	} {
		if got := fieldError(p, name); got != want {
			t.Errorf("%s's message %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(p.body, `aria-invalid="true" aria-describedby="f-email-error"`) {
		t.Error("the email field is not marked invalid and described by its message")
	}
	if fieldValue(p, "email") != "lena@example" || fieldValue(p, "last_name") != "Ortiz <b>" || fieldValue(p, "phone") != "call me" {
		t.Errorf("values not kept: email %q, last name %q, phone %q", fieldValue(p, "email"), fieldValue(p, "last_name"), fieldValue(p, "phone"))
	}
	if strings.Contains(p.body, "Ortiz <b>") {
		t.Error("a value is shown unescaped")
	}
	if n := len(w.referralsOf(t, "lena@example")); n != 0 {
		t.Fatalf("an invalid post kept %d referrals", n)
	}

	// Fixed, the same page's form goes through.
	fixed := b.submit(p, map[string]string{"email": "lena@example.org", "first_name": "Lena", "phone": "", "note": "Hello there"})
	if !strings.HasSuffix(fixed.url, "/refer/thanks") || len(w.referralsOf(t, "lena@example.org")) != 1 {
		t.Fatalf("after fixing: %d %s", fixed.status, fixed.url)
	}
}

func TestHostedFormRefusesForgedPosts(t *testing.T) {
	t.Parallel()
	w := newFormWorld(t, PublicLimits{})
	b := w.browser(t, "198.51.100.6")
	form := b.get("/r/" + w.fx.Member.ReferralCode)
	action, fields := formOf(t, form)

	for name, post := range map[string]func() page{
		"no token": func() page {
			f := cloneValues(fields)
			f.Del(CSRFField)
			f.Set("email", "forged@example.org")
			f.Set("first_name", "Forged")
			return b.do(http.MethodPost, action, f, false)
		},
		"another origin": func() page {
			f := cloneValues(fields)
			f.Set("email", "forged@example.org")
			f.Set("first_name", "Forged")
			b.header.Set("Origin", "https://evil.example")
			defer b.header.Del("Origin")
			return b.do(http.MethodPost, action, f, false)
		},
		"another browser's token": func() page {
			f := cloneValues(fields)
			f.Set("email", "forged@example.org")
			f.Set("first_name", "Forged")
			other := w.browser(t, "198.51.100.6")
			other.get("/r/" + w.fx.Member.ReferralCode)
			return other.do(http.MethodPost, action, f, false)
		},
	} {
		p := post()
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "This form has expired or did not come from this site") {
			t.Fatalf("%s: %d\n%s", name, p.status, p.body)
		}
		if fieldValue(p, "email") != "forged@example.org" {
			t.Errorf("%s: the refused form lost its values", name)
		}
	}
	if n := len(w.referralsOf(t, "forged@example.org")); n != 0 {
		t.Fatalf("forged posts kept %d referrals", n)
	}
}

func TestHostedFormHoneypotThanksAndKeepsNothing(t *testing.T) {
	t.Parallel()
	w := newFormWorld(t, PublicLimits{})
	b := w.browser(t, "198.51.100.7")
	p := b.submit(b.get("/r/"+w.fx.Member.ReferralCode), map[string]string{
		"email": "bot@example.org", "first_name": "Bot", HoneypotField: "https://spam.example",
	})
	if !strings.HasSuffix(p.url, "/c/spring/refer/thanks") || !strings.Contains(p.body, "Thank you") {
		t.Fatalf("honeypot post: %d %s", p.status, p.url)
	}
	if n := len(w.referralsOf(t, "bot@example.org")); n != 0 {
		t.Fatalf("a honeypot post kept %d referrals", n)
	}
}

func TestHostedFormRateLimitsVisitorsAndMembers(t *testing.T) {
	t.Parallel()
	w := newFormWorld(t, PublicLimits{
		PerVisitor: Rate{Burst: 2, Every: time.Hour},
		PerMember:  Rate{Burst: 3, Every: time.Hour},
	})
	code := w.fx.Member.ReferralCode
	b := w.browser(t, "192.0.2.10")
	form := b.get("/r/" + code)
	for i, email := range []string{"a@example.org", "b@example.org"} {
		if p := b.submit(form, map[string]string{"email": email, "first_name": "A"}); !strings.HasSuffix(p.url, "/thanks") {
			t.Fatalf("post %d within the limit: %d %s", i+1, p.status, p.url)
		}
	}
	limited := b.submit(form, map[string]string{"email": "c@example.org", "first_name": "C"})
	if limited.status != http.StatusTooManyRequests || limited.header.Get("Retry-After") == "" ||
		!strings.Contains(limited.body, "Please wait 60 minutes") || fieldValue(limited, "email") != "c@example.org" {
		t.Fatalf("third post of a visitor: %d Retry-After %q\n%s", limited.status, limited.header.Get("Retry-After"), limited.body)
	}
	checkAccessible(t, limited)

	// Another visitor may still send, until the member's link has brought
	// its share (3): then anyone is told to wait.
	c := w.browser(t, "192.0.2.11")
	if p := c.submit(c.get("/r/"+code), map[string]string{"email": "d@example.org", "first_name": "D"}); !strings.HasSuffix(p.url, "/thanks") {
		t.Fatalf("another visitor: %d %s", p.status, p.url)
	}
	d := w.browser(t, "192.0.2.12")
	p := d.submit(d.get("/r/"+code), map[string]string{"email": "e@example.org", "first_name": "E"})
	if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "through this referral link") {
		t.Fatalf("a member's 4th referral: %d\n%s", p.status, p.body)
	}
	for _, email := range []string{"c@example.org", "e@example.org"} {
		if n := len(w.referralsOf(t, email)); n != 0 {
			t.Fatalf("a limited post kept %s", email)
		}
	}
}

func TestHostedFormOfACampaignNotRunningIsNotFound(t *testing.T) {
	t.Parallel()
	w := newFormWorld(t, PublicLimits{})
	b := w.browser(t, "192.0.2.20")
	form := b.get("/r/" + w.fx.Member.ReferralCode)
	w.setStatus(t, campaign.Paused)
	for _, path := range []string{"/c/spring/refer?referflow_ref=" + w.fx.Member.ReferralCode, "/c/spring/join", "/c/unknown/refer", "/c/Not_A_Slug/join"} {
		p := b.get(path)
		if p.status != http.StatusNotFound || !strings.Contains(p.body, "This page is not available") {
			t.Fatalf("%s of a paused or unknown campaign: %d\n%s", path, p.status, p.body)
		}
		checkAccessible(t, p)
	}
	p := b.submit(form, map[string]string{"email": "late@example.org", "first_name": "Late"})
	if p.status != http.StatusNotFound || len(w.referralsOf(t, "late@example.org")) != 0 {
		t.Fatalf("post to a paused campaign: %d", p.status)
	}
}

func TestHostedFormThanksWhenTemporalIsDown(t *testing.T) {
	t.Parallel()
	down, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Namespace: testenv.TemporalNamespace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Close)
	w := newFormWorld(t, PublicLimits{}, func(d *Deps) { d.Temporal = down })
	b := w.browser(t, "192.0.2.30")
	p := b.submit(b.get("/r/"+w.fx.Member.ReferralCode), map[string]string{"email": "kept@example.org", "first_name": "Kept"})
	if !strings.HasSuffix(p.url, "/refer/thanks") {
		t.Fatalf("with Temporal down: %d %s\n%s", p.status, p.url, p.body)
	}
	if n := len(w.referralsOf(t, "kept@example.org")); n != 1 {
		t.Fatalf("with Temporal down %d referrals kept, want 1 (its workflow is the reconciler's)", n)
	}
}

func TestHostedPagesAnswerErrorsAsPages(t *testing.T) {
	t.Parallel()
	w := newFormWorld(t, PublicLimits{})
	b := w.browser(t, "192.0.2.40")
	form := b.get("/r/" + w.fx.Member.ReferralCode)
	p := b.submit(form, map[string]string{"email": "big@example.org", "first_name": "Big", "note": strings.Repeat("x", maxPublicFormBytes)})
	if p.status != http.StatusRequestEntityTooLarge || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(p.body, "The form was too large to send") {
		t.Fatalf("a body over the limit: %d %q\n%s", p.status, p.header.Get("Content-Type"), p.body)
	}
	checkAccessible(t, p)
	if n := len(w.referralsOf(t, "big@example.org")); n != 0 {
		t.Fatalf("a body over the limit kept %d referrals", n)
	}
}

func TestHostedPagesWithTheDatabaseDownSayTryAgain(t *testing.T) {
	t.Parallel()
	var logs testenv.LogBuffer
	srv := New(Deps{Pool: unreachablePool(t), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	t.Cleanup(srv.clicks.close)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/c/spring/join", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(rec.Body.String(), "Something went wrong on our side") {
		t.Fatalf("join page with Postgres down: %d %q\n%s", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
	if !strings.Contains(logs.String(), `"route":"/c/:slug/join"`) {
		t.Fatalf("the failure is not logged: %s", logs.String())
	}
}
