package browser_test

import (
	"context"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/browser"
)

// The admin UI works in Firefox as in Chromium: an admin signs in, the
// pages come styled (the stylesheet passes the Content-Security-Policy),
// a form adds a member (its CSRF token accepted), a refused form says what
// to fix, and signing out ends the session. The other browser tests walk
// the whole job in Chromium; this one is the same pages in the second engine.
func TestAdminUIInFirefox(t *testing.T) {
	t.Parallel()
	browser.Require(t)
	st := newStack(t)
	_, key, err := adminauth.CreateAdmin(context.Background(), st.d.Queries, st.fx.Workspace.ID, "ops@acme.test", "Ops")
	if err != nil {
		t.Fatal(err)
	}
	f := browser.NewFirefox(t)
	heading := func(want string) {
		t.Helper()
		if h1 := f.Text("h1"); h1 != want {
			t.Fatalf("the page's heading is %q, want %q (at %s): %s", h1, want, f.Location(), f.Text("main"))
		}
	}

	f.Open(st.url + "/admin/members")
	heading("Sign in to referflow")
	f.Type(`input[name="api_key"]`, key)
	f.Submit(`form [type="submit"]`)
	heading("Members")
	if !strings.Contains(f.Text("main"), st.fx.Member.Email) {
		t.Fatalf("the members page does not list Maya: %s", f.Text("main"))
	}
	if !browser.FirefoxEval[bool](f, `[...document.styleSheets].some(s => s.href && s.cssRules.length > 0)`) {
		t.Fatal("the admin stylesheet did not load in Firefox (refused by the page's Content-Security-Policy?)")
	}

	f.Type(`#f-email`, "nora@example.org")
	f.Type(`#f-first_name`, "Nora")
	f.Submit(`form[method="post"][action="/admin/members"] [type="submit"]`)
	heading("Nora")
	if body := f.Text("main"); !strings.Contains(body, "nora@example.org was added") {
		t.Fatalf("the new member's page: %s", body)
	}

	f.Open(st.url + "/admin/members")
	f.Type(`#f-email`, "nora@example.org")
	f.Submit(`form[method="post"][action="/admin/members"] [type="submit"]`)
	heading("Members")
	if body := f.Text("main"); !strings.Contains(body, "is already a member") {
		t.Fatalf("adding Nora again does not say what is wrong: %s", body)
	}

	f.Submit(`form[action="/logout"] [type="submit"]`)
	f.Open(st.url + "/admin/members")
	heading("Sign in to referflow")
}
