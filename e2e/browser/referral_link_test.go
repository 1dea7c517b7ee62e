package browser_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/browser"
)

// A visitor opens a member's referral link and lands on the customer's own
// page, on another origin, with the code in referflow_ref and the page's own
// query kept; the click is recorded for the member.
func TestReferralLinkLandsOnTheCustomersPage(t *testing.T) {
	t.Parallel()
	browser.Require(t)
	st := newStack(t)
	b := browser.New(t)
	site := newCustomerSite(t, st.url, "")
	st.setPublic(t, campaign.Public{LandingURL: site.url + "/welcome?utm_source=partner"})

	if status := b.Open(st.link()); status != http.StatusOK {
		t.Fatalf("the referral link ended on a page answering %d, want the landing page (200)", status)
	}
	want := site.url + "/welcome?utm_source=partner&referflow_ref=" + st.fx.Member.ReferralCode
	if got := b.Location(); got != want {
		t.Fatalf("the referral link landed on %s, want %s", got, want)
	}
	if h := b.Text("h1"); h != "Book a demo of Acme" {
		t.Fatalf("the landing page shows %q, want the customer's page", h)
	}
	waitFor(t, "the click on Maya's link to be recorded", func() bool {
		var n int
		if err := st.d.Pool.QueryRow(context.Background(),
			`SELECT count(*) FROM clicks WHERE member_id = $1 AND campaign_id = $2`, st.fx.Member.ID, st.fx.Campaign.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
}

// An unknown code, and the link of a campaign that is paused, show the
// friendly "not valid" page (404) and send the visitor nowhere.
func TestReferralLinkUnknownOrPausedShowsNotValidPage(t *testing.T) {
	t.Parallel()
	browser.Require(t)
	st := newStack(t)
	b := browser.New(t)
	site := newCustomerSite(t, st.url, "")
	st.setPublic(t, campaign.Public{LandingURL: site.url + "/welcome"})

	unknown := st.url + "/r/NOBODY-123"
	if status := b.Open(unknown); status != http.StatusNotFound {
		t.Fatalf("an unknown referral code answered %d, want 404", status)
	}
	if got := b.Location(); got != unknown {
		t.Fatalf("an unknown referral code went on to %s, want to stay on %s", got, unknown)
	}
	if h := b.Text("h1"); h != "This referral link is not valid" {
		t.Fatalf("an unknown referral code shows %q, want the friendly not-valid page", h)
	}
	if lang := b.Attribute("html", "lang"); lang == "" {
		t.Fatal("the not-valid page has no <html lang>")
	}

	if _, err := st.d.Pool.Exec(context.Background(), `UPDATE campaigns SET status = 'paused' WHERE id = $1`, st.fx.Campaign.ID); err != nil {
		t.Fatal(err)
	}
	if status := b.Open(st.link()); status != http.StatusNotFound {
		t.Fatalf("the link of a paused campaign answered %d, want 404", status)
	}
	if got := b.Location(); !strings.HasPrefix(got, st.url+"/r/") {
		t.Fatalf("the link of a paused campaign went on to %s", got)
	}
	if h := b.Text("h1"); h != "This referral link is not valid" {
		t.Fatalf("the link of a paused campaign shows %q, want the friendly not-valid page", h)
	}
}
