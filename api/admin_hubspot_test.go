package api

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// pageClient is a real browser's cookie jar on a real server: it reads
// pages and sends their forms with the page's CSRF token.
type pageClient struct {
	t       *testing.T
	base    string
	browser *http.Client
}

func (p pageClient) get(path string) (int, string) {
	p.t.Helper()
	return open(p.t, p.browser, p.base+path)
}

// submit sends a form of the page at from to path; redirects are followed.
func (p pageClient) submit(from, path string, form url.Values) (int, string) {
	p.t.Helper()
	code, page := p.get(from)
	m := regexp.MustCompile(`<form method="post" action="` + regexp.QuoteMeta(path) + `"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)">`).FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		p.t.Fatalf("%s (%d) has no form posting to %s with a CSRF token:\n%s", from, code, path, page)
	}
	if form == nil {
		form = url.Values{}
	}
	form.Set(csrfField, m[1])
	resp, err := p.browser.PostForm(p.base+path, form)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The HubSpot page shows the connection and connects with a private app's
// token through the same function as the JSON API: a refused token is shown
// next to the field and never echoed, the portal's token connects, the
// status then names the portal, the scopes and the webhook URL to paste;
// disconnect ends it.
func TestAdminHubSpotPage(t *testing.T) {
	t.Parallel()
	h := newHubSpotAPI(t, "") // no OAuth app: private app only
	ws := h.workspace(t, "Acme")
	_, browser, _ := h.admin(t, ws, "ops@acme.test")
	p := pageClient{t: t, base: h.url, browser: browser}

	code, page := p.get("/admin/hubspot")
	if code != http.StatusOK || !strings.Contains(page, "Not connected") || !strings.Contains(page, `name="access_token"`) ||
		strings.Contains(page, `href="/oauth/hubspot/connect"`) || !strings.Contains(page, h.url+"/webhooks/hubspot") {
		t.Fatalf("HubSpot page before connecting = %d:\n%s", code, page)
	}
	if _, dash := p.get("/admin"); !strings.Contains(dash, "HubSpot is not connected") || !strings.Contains(dash, `href="/admin/hubspot"`) {
		t.Fatalf("the dashboard does not say HubSpot needs connecting:\n%s", dash)
	}

	wrong := "pat-na1-00000000-0000-0000-0000-000000000000"
	code, page = p.submit("/admin/hubspot", "/admin/hubspot/private-app-token", url.Values{"access_token": {wrong}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, `id="f-access_token-error"`) || !strings.Contains(page, "HTTP 401") ||
		strings.Contains(page, wrong) {
		t.Fatalf("a wrong token = %d:\n%s", code, page)
	}

	code, page = p.submit("/admin/hubspot", "/admin/hubspot/private-app-token", url.Values{"access_token": {h.portal.PrivateAppToken}})
	if code != http.StatusOK || !strings.Contains(page, "HubSpot is connected with the private app") || !strings.Contains(page, ">Connected<") ||
		!regexp.MustCompile(`id="hubspot-portal">\d+<`).MatchString(page) || strings.Contains(page, h.portal.PrivateAppToken) {
		t.Fatalf("the portal's token = %d:\n%s", code, page)
	}
	if st := h.status(t, browser); st.Status != "connected" {
		t.Fatalf("status after connecting on the page: %+v", st)
	}
	if _, dash := p.get("/admin"); strings.Contains(dash, "HubSpot is not connected") {
		t.Fatal("the dashboard still says HubSpot is not connected")
	}

	code, page = p.submit("/admin/hubspot", "/admin/hubspot/disconnect", nil)
	if code != http.StatusOK || !strings.Contains(page, "HubSpot is disconnected") || !strings.Contains(page, ">Disconnected<") {
		t.Fatalf("disconnect = %d:\n%s", code, page)
	}
	if strings.Contains(h.logs.String(), h.portal.PrivateAppToken) {
		t.Fatal("the token reached the logs")
	}
}
