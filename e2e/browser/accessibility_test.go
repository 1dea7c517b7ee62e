package browser_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/browser"
)

// Every public page a visitor meets, with JavaScript off (as the pages
// must work without it): a language, a title, one heading, every field
// labelled, every image described, every control in the keyboard's reach,
// and text of enough contrast (WCAG AA).
func TestPublicPagesAreAccessible(t *testing.T) {
	t.Parallel()
	browser.Require(t)
	st := newStack(t)
	st.setPublic(t, campaign.Public{Slug: "spring"})
	portal := st.accessLink(t)
	b := browser.New(t)
	b.DisableJavaScript()

	check := func(page string) {
		t.Helper()
		b.CheckAccessible(page)
	}
	b.Open(st.url + "/r/NOBODY-123")
	check("the not-valid link page")
	b.Open(st.url + "/c/spring/refer")
	check("the hosted form without a link")
	b.Open(st.link())
	check("the hosted form")
	// The browser's own checks would stop a wrong email before it is sent:
	// turned off, the server's answer is seen.
	b.Type(`input[name="email"]`, "not an email")
	if _, err := browser.Eval[bool](b, `document.querySelector('form:has(input[name="email"])').noValidate = true`); err != nil {
		t.Fatal(err)
	}
	if status := b.Submit(`form:has(input[name="email"]) [type="submit"]`); status != http.StatusUnprocessableEntity {
		t.Fatalf("the hosted form with a wrong email answered %d, want 422 and the form again", status)
	}
	check("the hosted form with a mistake")
	b.Open(st.link())
	b.Type(`input[name="email"]`, "yara@example.org")
	b.Type(`input[name="first_name"]`, "Yara")
	b.Submit(`form:has(input[name="email"]) [type="submit"]`)
	check("the hosted form's thank-you page")
	b.Open(st.url + "/c/spring/join")
	check("the join page")
	b.Type(`input[name="email"]`, "zoe@example.org")
	b.Type(`input[name="first_name"]`, "Zoe")
	b.Submit(`form:has(input[name="email"]) [type="submit"]`)
	check("the join page's result")
	b.Open(portal)
	check("the member portal")
}

// The join page and the hosted form used with the keyboard alone: Tab
// reaches the email field (passing over the honeypot), Tab goes on to the
// first name, Enter sends the form.
func TestPublicFormsByKeyboard(t *testing.T) {
	t.Parallel()
	browser.Require(t)
	st := newStack(t)
	st.setPublic(t, campaign.Public{Slug: "spring"})
	b := browser.New(t)

	fill := func(page, email, firstName string) {
		t.Helper()
		for range 20 {
			if b.Focused() == "email" {
				break
			}
			if f := b.Focused(); f == "website" || strings.Contains(f, "honeypot") {
				t.Fatalf("%s: Tab reached the honeypot field %q", page, f)
			}
			b.Press("\t")
		}
		if f := b.Focused(); f != "email" {
			t.Fatalf("%s: 20 presses of Tab did not reach the email field (focus on %q)", page, f)
		}
		b.Press(email + "\t")
		if f := b.Focused(); f != "first_name" {
			t.Fatalf("%s: Tab from the email field went to %q, want the first name", page, f)
		}
		b.Press(firstName)
		if status := b.PressToPage("\r"); status != http.StatusOK {
			t.Fatalf("%s: Enter sent the form, answered %d: %s", page, status, b.Text("body"))
		}
	}

	b.Open(st.url + "/c/spring/join")
	fill("the join page", "ines@example.org", "Ines")
	if !b.Exists(`img[alt*="QR" i]`) {
		t.Fatalf("joining by keyboard did not lead to the member's link: %s", b.Text("body"))
	}
	b.Open(st.link())
	fill("the hosted form", "jon@example.org", "Jon")
	if !strings.Contains(strings.ToLower(b.Text("body")), "thank") {
		t.Fatalf("sending the hosted form by keyboard did not lead to the thank-you page: %s", b.Text("body"))
	}
}
