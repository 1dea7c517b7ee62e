package browser_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/browser"
	"github.com/referflow/referflow/internal/referral"
)

// A campaign without a landing page: Maya's link lands on referflow's
// hosted lead form, the visitor sends it, sees the thank-you page, and the
// referral is Maya's, through the hosted form — with JavaScript, and in a
// browser where it is off.
func TestHostedForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, email, firstName string
		noJavaScript           bool
	}{
		{name: "with JavaScript", email: "piet@example.org", firstName: "Piet"},
		{name: "without JavaScript", email: "rosa@example.org", firstName: "Rosa", noJavaScript: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			browser.Require(t)
			st := newStack(t)
			st.setPublic(t, campaign.Public{Slug: "spring"})
			b := browser.New(t)
			if tc.noJavaScript {
				b.DisableJavaScript()
			}

			if status := b.Open(st.link()); status != http.StatusOK {
				t.Fatalf("the referral link ended on a page answering %d, want the hosted form", status)
			}
			if got := b.Location(); !strings.HasPrefix(got, st.url+"/c/spring/refer") {
				t.Fatalf("the referral link of a campaign without a landing page landed on %s, want the hosted form /c/spring/refer", got)
			}
			if lang := b.Attribute("html", "lang"); lang == "" {
				t.Error("the hosted form has no <html lang>")
			}
			b.Type(`input[name="email"]`, tc.email)
			b.Type(`input[name="first_name"]`, tc.firstName)
			if status := b.Submit(`form:has(input[name="email"]) [type="submit"]`); status != http.StatusOK {
				t.Fatalf("sending the hosted form answered %d; the page says: %s", status, b.Text("body"))
			}
			if body := b.Text("body"); !strings.Contains(strings.ToLower(body), "thank") {
				t.Fatalf("after sending the hosted form the visitor sees no thank-you page: %s", body)
			}
			st.waitReferral(t, tc.email, referral.SourceHostedForm)
		})
	}
}

// Opened without a referral link, the hosted form says the link is needed
// and keeps nothing.
func TestHostedFormWithoutReferralLinkSaysTheLinkIsNeeded(t *testing.T) {
	t.Parallel()
	browser.Require(t)
	st := newStack(t)
	st.setPublic(t, campaign.Public{Slug: "spring"})
	b := browser.New(t)
	before := st.countReferrals(t)

	b.Open(st.url + "/c/spring/refer")
	body := b.Text("body")
	if !strings.Contains(strings.ToLower(body), "referral link") {
		t.Fatalf("the hosted form without a referral link does not say the link is needed: %s", body)
	}
	if b.Exists(`input[name="email"]`) {
		// A form is shown anyway: sending it must keep nothing.
		b.Type(`input[name="email"]`, "nobody@example.org")
		if b.Exists(`input[name="first_name"]`) {
			b.Type(`input[name="first_name"]`, "No")
		}
		b.Submit(`form:has(input[name="email"]) [type="submit"]`)
	}
	if n := st.countReferrals(t); n != before {
		t.Fatalf("the hosted form without a referral link kept a referral (%d, were %d)", n, before)
	}
}
