package api

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/referral"
)

// membersOf lists the campaign's members of an email (any case).
func (w *formWorld) membersOf(t *testing.T, email string) []db.Member {
	t.Helper()
	rows, err := w.d.Queries.MemberListByCampaign(context.Background(), w.fx.Campaign.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []db.Member
	for _, m := range rows {
		if strings.EqualFold(m.Email, email) {
			out = append(out, m)
		}
	}
	return out
}

var scriptRE = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

func TestJoinPageMakesAMemberAndShowsTheirLinkWithoutJavaScript(t *testing.T) {
	t.Parallel()
	w := newFormWorld(t, PublicLimits{})
	b := w.browser(t, "203.0.113.20")

	form := b.get("/c/spring/join")
	if form.status != http.StatusOK || !strings.Contains(form.body, "<h1>Refer people to Acme</h1>") {
		t.Fatalf("join page: %d\n%s", form.status, form.body)
	}
	checkAccessible(t, form)
	for _, name := range []string{"email", "first_name", "last_name"} {
		if !strings.Contains(form.body, `name="`+name+`"`) {
			t.Errorf("join form has no %s field", name)
		}
	}

	result := b.submit(form, map[string]string{"email": "Sam@Example.com", "first_name": "Sam", "last_name": "Lee"})
	members := w.membersOf(t, "sam@example.com")
	if len(members) != 1 {
		t.Fatalf("%d members of the email after joining, want 1", len(members))
	}
	sam := members[0]
	if sam.Source != string(referral.MemberSourceJoinPage) || deref(sam.FirstName) != "Sam" || deref(sam.LastName) != "Lee" || sam.Email != "Sam@Example.com" {
		t.Fatalf("member kept: %+v", sam)
	}
	if result.status != http.StatusOK || !strings.HasSuffix(result.url, "/c/spring/joined/"+sam.ReferralCode) {
		t.Fatalf("after joining: %d %s", result.status, result.url)
	}
	checkAccessible(t, result)
	link := w.url + "/r/" + sam.ReferralCode
	for _, want := range []string{
		"<h1>Welcome, Sam: here is your referral link</h1>",
		`<input id="referral-link" type="text" readonly value="` + link + `"`,
		`<button type="button" data-copy="referral-link" hidden>Copy link</button>`,
		`<img class="public-qr" src="/r/` + sam.ReferralCode + `/qr.png"`,
		`alt="QR code that opens your referral link ` + link + `"`,
		`href="/r/` + sam.ReferralCode + `/qr.svg" download=`,
		`href="mailto:?subject=An%20introduction%20to%20Acme&amp;body=`,
		`href="https://www.linkedin.com/sharing/share-offsite/?url=` + url.QueryEscape(link) + `"`,
		`href="https://x.com/intent/tweet?text=`,
		`href="https://wa.me/?text=`,
	} {
		if !strings.Contains(result.body, want) {
			t.Errorf("result page lacks %s", want)
		}
	}
	// The new member gets their personal page's link, and it opens.
	portal := regexp.MustCompile(`<a href="(` + regexp.QuoteMeta(w.url) + `/m/[^"]+)">Open your personal page</a>`).FindStringSubmatch(result.body)
	if portal == nil {
		t.Fatalf("a new member's result page has no link to their personal page:\n%s", result.body)
	}
	if p := b.get(portal[1]); p.status != http.StatusOK || !strings.Contains(p.body, link) {
		t.Fatalf("the personal page link: %d\n%s", p.status, p.body)
	}

	// The copy button's script is the only one, and the page's CSP allows
	// exactly it.
	scripts := scriptRE.FindAllStringSubmatch(result.body, -1)
	if len(scripts) != 1 || !strings.Contains(result.header.Get("Content-Security-Policy"), "script-src '"+scriptHash(scripts[0][1])+"'") {
		t.Fatalf("scripts %d; CSP %q", len(scripts), result.header.Get("Content-Security-Policy"))
	}

	// The QR code the page shows is the member's link.
	img := b.get("/r/" + sam.ReferralCode + "/qr.png")
	if got := decodeQR(t, []byte(img.body)); img.status != http.StatusOK || got != link {
		t.Fatalf("the page's QR code: %d, reads %q, want %q", img.status, got, link)
	}

	// Joining again with the same email (another case, another browser) is
	// the same member: the same link, no second member.
	other := w.browser(t, "203.0.113.21")
	again := other.submit(other.get("/c/spring/join"), map[string]string{"email": "sam@EXAMPLE.com", "first_name": "Samuel"})
	if !strings.HasSuffix(again.url, "/c/spring/joined/"+sam.ReferralCode) ||
		!strings.Contains(again.body, "<h1>Welcome back: here is your referral link</h1>") ||
		!strings.Contains(again.body, `value="`+link+`"`) {
		t.Fatalf("returning member: %d %s\n%s", again.status, again.url, again.body)
	}
	if strings.Contains(again.body, "Sam") || strings.Contains(again.body, "/m/") {
		t.Error("the returning page shows the member's name or personal page to whoever typed their email")
	}
	if n := len(w.membersOf(t, "sam@example.com")); n != 1 {
		t.Fatalf("joining twice made %d members", n)
	}

	// Someone opening the result page without having joined sees the link
	// (it is public) but no welcome.
	stranger := w.browser(t, "203.0.113.22")
	seen := stranger.get("/c/spring/joined/" + sam.ReferralCode)
	if seen.status != http.StatusOK || !strings.Contains(seen.body, "<h1>Your referral link for Acme</h1>") || strings.Contains(seen.body, "Sam") || strings.Contains(seen.body, "/m/") {
		t.Fatalf("result page opened by another browser: %d\n%s", seen.status, seen.body)
	}
	if p := stranger.get("/c/spring/joined/NOBODY-1234"); p.status != http.StatusNotFound {
		t.Fatalf("result page of an unknown code: %d", p.status)
	}
}

func TestJoinedCookieIsTheMembersAndExpires(t *testing.T) {
	t.Parallel()
	s := guardServer()
	a, b := [16]byte{1}, [16]byte{2}
	v := s.signJoined(a, joinedNew, time.Now().Add(time.Minute))
	if got := s.checkJoined(v, a); got != joinedNew {
		t.Fatalf("own cookie reads %q", got)
	}
	if got := s.checkJoined(v, b); got != "" {
		t.Fatalf("another member's cookie reads %q", got)
	}
	if got := s.checkJoined(strings.Replace(v, joinedNew, joinedReturning, 1), a); got != "" {
		t.Fatalf("an altered cookie reads %q", got)
	}
	if got := s.checkJoined(s.signJoined(a, joinedNew, time.Now().Add(-time.Second)), a); got != "" {
		t.Fatalf("an expired cookie reads %q", got)
	}
}

func TestJoinPageShowsWhatToFixAndRefusesForgedPosts(t *testing.T) {
	t.Parallel()
	w := newFormWorld(t, PublicLimits{PerVisitor: Rate{Burst: 4, Every: time.Hour}})
	b := w.browser(t, "203.0.113.30")
	form := b.get("/c/spring/join")

	p := b.submit(form, map[string]string{"email": "not-an-email", "first_name": "Ada", "last_name": strings.Repeat("x", 201)})
	if p.status != http.StatusUnprocessableEntity || fieldError(p, "email") != "Enter an email address like name@example.com." ||
		fieldError(p, "last_name") != "Use at most 200 characters (this has 201)." || fieldError(p, "first_name") != "" ||
		fieldValue(p, "email") != "not-an-email" || fieldValue(p, "first_name") != "Ada" {
		t.Fatalf("invalid join: %d\n%s", p.status, p.body)
	}
	checkAccessible(t, p)

	action, fields := formOf(t, form)
	fields.Set("email", "forged@example.com")
	fields.Set("first_name", "Forged")
	b.header.Set("Origin", "https://evil.example")
	forged := b.do(http.MethodPost, action, fields, false)
	b.header.Del("Origin")
	noToken := cloneValues(fields)
	noToken.Del(CSRFField)
	missing := b.do(http.MethodPost, action, noToken, false)
	for _, r := range []page{forged, missing} {
		if r.status != http.StatusForbidden || fieldValue(r, "email") != "forged@example.com" {
			t.Fatalf("forged join: %d\n%s", r.status, r.body)
		}
	}

	bot := b.submit(form, map[string]string{"email": "bot@example.com", "first_name": "Bot", HoneypotField: "x"})
	if bot.status != http.StatusOK || !strings.Contains(bot.body, "Thank you") || strings.Contains(bot.body, "/r/") {
		t.Fatalf("honeypot join: %d\n%s", bot.status, bot.body)
	}

	// Two posts taken (invalid, honeypot; the forged ones never reached the
	// limit): two more, then the visitor waits.
	b.submit(form, map[string]string{"email": "one@example.com", "first_name": "One"})
	b.submit(form, map[string]string{"email": "two@example.com", "first_name": "Two"})
	limited := b.submit(form, map[string]string{"email": "three@example.com", "first_name": "Three"})
	if limited.status != http.StatusTooManyRequests || limited.header.Get("Retry-After") == "" || !strings.Contains(limited.body, "Please wait") {
		t.Fatalf("5th join of a visitor: %d\n%s", limited.status, limited.body)
	}
	for email, want := range map[string]int{"forged@example.com": 0, "bot@example.com": 0, "one@example.com": 1, "two@example.com": 1, "three@example.com": 0} {
		if n := len(w.membersOf(t, email)); n != want {
			t.Errorf("%s: %d members, want %d", email, n, want)
		}
	}
}
