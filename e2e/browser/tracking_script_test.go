package browser_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/browser"
	"github.com/referflow/referflow/internal/referral"
)

// The tracking script on a customer's own page, on another origin than
// referflow: a visitor follows Maya's link, lands on the page, and sends
// its lead form; the customer's own server gets the form as usual, and
// referflow gets the referral, Maya's, through the tracking script. Back
// later without referflow_ref in the URL, the code the script kept on the
// customer's domain still attributes a conversion; and a page on an origin
// the campaign does not allow is refused.
func TestTrackingScriptOnTheCustomersPage(t *testing.T) {
	t.Parallel()
	browser.Require(t)
	st := newStack(t)
	key := st.campaign(t).PublishableKey
	site := newCustomerSite(t, st.url, key)
	elsewhere := newCustomerSite(t, st.url, key) // another port: another origin
	st.setPublic(t, campaign.Public{
		Slug:           "spring",
		LandingURL:     site.url + "/welcome",
		AllowedOrigins: []string{site.url},
	})
	b := browser.New(t)

	b.Open(st.link())
	if got, want := b.Location(), site.url+"/welcome?referflow_ref="+st.fx.Member.ReferralCode; got != want {
		t.Fatalf("the referral link landed on %s, want %s", got, want)
	}
	b.Type("#email", "lena@northwind.example")
	b.Type("#first_name", "Lena")
	b.Type("#last_name", "Park")
	b.Type("#company", "Northwind")
	if status := b.Submit("#send"); status != http.StatusOK {
		t.Fatalf("the customer's form answered %d", status)
	}
	if h := b.Text("h1"); h != "Thanks, we will be in touch" {
		t.Fatalf("after sending the form the visitor sees %q, want the customer's own thank-you page", h)
	}
	got := site.received()
	if len(got) != 1 || got[0].Get("email") != "lena@northwind.example" {
		t.Fatalf("the customer's server got %v, want Lena's form: the script must not block it", got)
	}
	st.waitReferral(t, "lena@northwind.example", referral.SourceTrackingScript)

	// Another day, straight to the page: the code is in the customer's
	// cookie now, and the page converts through the script's API.
	b.Open(site.url + "/welcome")
	if kept, err := browser.Eval[bool](b, `document.cookie.includes(`+jsString(st.fx.Member.ReferralCode)+`)`); err != nil || !kept {
		t.Fatalf("the customer's page keeps no cookie with Maya's code (%v)", err)
	}
	if err := convert(b, "sam@contoso.example", "Sam"); err != nil {
		t.Fatalf("window.referflow.convert on the customer's page, the code kept from the first visit, rejected: %v", err)
	}
	st.waitReferral(t, "sam@contoso.example", referral.SourceTrackingScript)

	// The same script on an origin the campaign does not list.
	before := st.countReferrals(t)
	b.Open(elsewhere.url + "/welcome?referflow_ref=" + st.fx.Member.ReferralCode)
	if err := convert(b, "eve@fabrikam.example", "Eve"); err == nil {
		t.Fatalf("window.referflow.convert on %s, an origin the campaign does not allow, resolved; want it rejected", elsewhere.url)
	} else {
		t.Logf("refused on an origin not allowed, as it should be: %v", err)
	}
	if n := st.countReferrals(t); n != before || st.findReferral(t, "eve@fabrikam.example") != nil {
		t.Fatalf("a conversion from an origin not allowed was kept (%d referrals, were %d)", n, before)
	}
}

// convert calls window.referflow.convert in the page and waits for its
// promise: nil when it resolved, its rejection otherwise.
func convert(b *browser.Browser, email, firstName string) error {
	js := `window.referflow.convert({email: ` + jsString(email) + `, first_name: ` + jsString(firstName) + `}).then(() => true)`
	_, err := browser.Eval[chromedp.Void](b, js)
	return err
}

// jsString quotes s as a JavaScript string literal (the tests' values are
// plain ASCII).
func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// On the customer's page, a visitor who came through no referral link, or
// through a link whose code referflow does not know, converts nothing: the
// script's promise rejects saying why, and referflow keeps nothing.
func TestTrackingScriptWithoutAKnownCodeConvertsNothing(t *testing.T) {
	t.Parallel()
	browser.Require(t)
	st := newStack(t)
	key := st.campaign(t).PublishableKey
	site := newCustomerSite(t, st.url, key)
	st.setPublic(t, campaign.Public{Slug: "spring", LandingURL: site.url + "/welcome", AllowedOrigins: []string{site.url}})
	b := browser.New(t)
	before := st.countReferrals(t)

	b.Open(site.url + "/welcome")
	err := convert(b, "walk-in@example.org", "Wanda")
	if err == nil || !strings.Contains(err.Error(), "no referral code") {
		t.Fatalf("convert without a referral code = %v, want it rejected saying there is no referral code", err)
	}

	b.Open(site.url + "/welcome?referflow_ref=NOBODY-404")
	err = convert(b, "stranger@example.org", "Sven")
	if err == nil || !strings.Contains(err.Error(), "no member of this campaign has this referral code") {
		t.Fatalf("convert with an unknown referral code = %v, want it rejected with referflow's reason", err)
	}
	if n := st.countReferrals(t); n != before {
		t.Fatalf("conversions without a known code were kept (%d referrals, were %d)", n, before)
	}
}
