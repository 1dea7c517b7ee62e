package testenv

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// HubSpotConsent does what a person does on the HubSpot simulator's
// authorize page: it opens authorizeURL with client (a browser: its cookie
// jar and redirect policy are used), reads the consent form, submits it
// choosing the portal ("allow") or cancelling ("deny"), and returns where
// the simulator sends the browser back (the OAuth callback URL with code and
// state, or error=access_denied) without following it.
func HubSpotConsent(t testing.TB, client *http.Client, authorizeURL string, portalID int64, decision string) string {
	t.Helper()
	resp, err := client.Get(authorizeURL)
	if err != nil {
		t.Fatalf("open the authorize page: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authorize page %s = %d: %s", authorizeURL, resp.StatusCode, page)
	}
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if form.Get("state") == "" || form.Get("redirect_uri") == "" {
		t.Fatalf("the authorize page has no consent form with state and redirect_uri:\n%s", page)
	}
	form.Set("portal_id", strconv.FormatInt(portalID, 10))
	form.Set("decision", decision)

	u, err := url.Parse(authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	action := u.Scheme + "://" + u.Host + "/oauth/authorize"
	noFollow := *client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = noFollow.PostForm(action, form)
	if err != nil {
		t.Fatalf("submit the consent form: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, form.Get("redirect_uri")) {
		t.Fatalf("consent form answered %d, Location %q: %s", resp.StatusCode, loc, body)
	}
	return loc
}
