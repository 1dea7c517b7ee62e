package browser_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/browser"
)

// The campaign's join link: a person gives their email and first name,
// becomes a member, sees their referral link and its QR code, and opens
// their personal page from the link given; joining again is the same member
// with the same link — with JavaScript, and in a browser where it is off.
func TestJoinPage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, email, firstName string
		noJavaScript           bool
	}{
		{name: "with JavaScript", email: "nina@example.org", firstName: "Nina"},
		{name: "without JavaScript", email: "omar@example.org", firstName: "Omar", noJavaScript: true},
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

			join := st.url + "/c/spring/join"
			if status := b.Open(join); status != http.StatusOK {
				t.Fatalf("the join page answered %d", status)
			}
			if lang := b.Attribute("html", "lang"); lang == "" {
				t.Error("the join page has no <html lang>")
			}
			b.Type(`input[name="email"]`, tc.email)
			b.Type(`input[name="first_name"]`, tc.firstName)
			if status := b.Submit(`form:has(input[name="email"]) [type="submit"]`); status != http.StatusOK {
				t.Fatalf("joining answered %d; the page says: %s", status, b.Text("body"))
			}

			var code string
			if err := st.d.Pool.QueryRow(context.Background(),
				`SELECT referral_code FROM members WHERE campaign_id = $1 AND email = $2`, st.fx.Campaign.ID, tc.email).Scan(&code); err != nil {
				t.Fatalf("no member %s after joining: %v; the page says: %s", tc.email, err, b.Text("body"))
			}
			link := st.url + "/r/" + code
			// The link is shown as text, as a field to copy it from, or as a
			// link.
			shown := strings.Contains(b.Text("body"), link) ||
				b.Exists(`input[value="`+link+`"]`) || b.Exists(`a[href="`+link+`"]`)
			if !shown {
				t.Fatalf("after joining the page does not show the member's link %s; it says: %s", link, b.Text("body"))
			}
			const qr = `img[alt*="QR" i]`
			if !b.Exists(qr) {
				t.Fatalf("after joining the page shows no QR code of the link; it is: %s", b.Text("body"))
			}
			// The picture itself loaded (a broken image would have no size).
			loaded, err := browser.Eval[bool](b, `(() => { const i = document.querySelector('`+qr+`'); return i.complete && i.naturalWidth > 0; })()`)
			if err != nil || !loaded {
				t.Fatalf("the QR code's image did not load (%v): %s", err, b.Attribute(qr, "src"))
			}

			// The new member's personal page opens from the link they are
			// given.
			if status := b.Follow(`a[href*="/m/"]`); status != http.StatusOK {
				t.Fatalf("the new member's personal page answered %d", status)
			}
			if h := b.Text("h1"); h != "Hello "+tc.firstName {
				t.Fatalf("the new member's personal page greets %q, want %q", h, "Hello "+tc.firstName)
			}

			// Joining again with the same email is the same member, with the
			// same link.
			b.Open(join)
			b.Type(`input[name="email"]`, tc.email)
			b.Type(`input[name="first_name"]`, tc.firstName)
			b.Submit(`form:has(input[name="email"]) [type="submit"]`)
			again := strings.Contains(b.Text("body"), link) ||
				b.Exists(`input[value="`+link+`"]`) || b.Exists(`a[href="`+link+`"]`)
			if !again {
				t.Fatalf("joining again with %s does not show the same link %s; the page says: %s", tc.email, link, b.Text("body"))
			}
			var members int
			if err := st.d.Pool.QueryRow(context.Background(),
				`SELECT count(*) FROM members WHERE campaign_id = $1 AND email = $2`, st.fx.Campaign.ID, tc.email).Scan(&members); err != nil || members != 1 {
				t.Fatalf("after joining twice %s is %d members (%v), want 1", tc.email, members, err)
			}
		})
	}
}

// With JavaScript the result page's "Copy link" button shows, and a click
// puts the member's link on the clipboard; without JavaScript it stays
// hidden (the link is there to select by hand).
func TestJoinPageCopyButton(t *testing.T) {
	t.Parallel()
	browser.Require(t)
	st := newStack(t)
	st.setPublic(t, campaign.Public{Slug: "spring"})
	const copyButton = `button[data-copy]`

	b := browser.New(t)
	b.AllowClipboard(st.url)
	b.Open(st.url + "/c/spring/join")
	b.Type(`input[name="email"]`, "vera@example.org")
	b.Type(`input[name="first_name"]`, "Vera")
	b.Submit(`form:has(input[name="email"]) [type="submit"]`)
	b.WaitVisible(copyButton)
	b.Click(copyButton)
	var link string
	waitFor(t, "the link on the clipboard", func() bool {
		link = b.Clipboard()
		return strings.HasPrefix(link, st.url+"/r/")
	})
	if !b.Exists(`input[value="` + link + `"]`) {
		t.Fatalf("the clipboard holds %q, not the link the page shows", link)
	}

	off := browser.New(t)
	off.DisableJavaScript()
	off.Open(st.url + "/c/spring/join")
	off.Type(`input[name="email"]`, "vera@example.org")
	off.Type(`input[name="first_name"]`, "Vera")
	off.Submit(`form:has(input[name="email"]) [type="submit"]`)
	if shown, err := browser.Eval[bool](off, `(() => { const e = document.querySelector('`+copyButton+`'); return !!e && !e.hidden && e.offsetWidth > 0; })()`); err != nil || shown {
		t.Fatalf("without JavaScript the copy button, which cannot work, is shown (%v)", err)
	}
}
