package browser_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/browser"
	"github.com/referflow/referflow/internal/referral"
)

// Maya opens the access link an admin made her, sees her referral link,
// and refers someone from the portal's form; the portal thanks her and
// lists the lead, masked, and the referral is hers, through the portal —
// with JavaScript, and in a browser where it is off.
func TestMemberPortalReferSomeone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, email, firstName string
		noJavaScript           bool
	}{
		{name: "with JavaScript", email: "tomas@example.org", firstName: "Tomas"},
		{name: "without JavaScript", email: "ulla@example.org", firstName: "Ulla", noJavaScript: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			browser.Require(t)
			st := newStack(t)
			st.setPublic(t, campaign.Public{Slug: "spring"})
			portal := st.accessLink(t)
			b := browser.New(t)
			if tc.noJavaScript {
				b.DisableJavaScript()
			}

			if status := b.Open(portal); status != http.StatusOK {
				t.Fatalf("Maya's access link answered %d", status)
			}
			link := st.link()
			if !strings.Contains(b.Text("body"), link) && !b.Exists(`input[value="`+link+`"]`) && !b.Exists(`a[href="`+link+`"]`) {
				t.Fatalf("Maya's portal does not show her referral link %s: %s", link, b.Text("body"))
			}
			b.Type(`input[name="email"]`, tc.email)
			b.Type(`input[name="first_name"]`, tc.firstName)
			if status := b.Submit(`form:has(input[name="email"]) [type="submit"]`); status != http.StatusOK {
				t.Fatalf("referring from the portal answered %d; the page says: %s", status, b.Text("body"))
			}
			body := b.Text("body")
			if !strings.Contains(strings.ToLower(body), "thank") {
				t.Fatalf("after referring, the portal does not confirm it: %s", body)
			}
			masked := tc.email[:1] + "***@example.org"
			if !strings.Contains(body, masked) || strings.Contains(body, tc.email) {
				t.Fatalf("the portal should list the lead as %s, never in full: %s", masked, body)
			}
			st.waitReferral(t, tc.email, referral.SourceMemberPortal)
		})
	}
}
