package api

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestSyncsPages: from the syncs page an admin starts a one-time sync of
// all contacts and watches its progress, then a scheduled one (every 15
// minutes by default), runs it now, pauses and resumes it, changes its
// schedule (a wrong one says what to fix), and deletes it — all through
// the functions the JSON API uses. Forms need their CSRF token.
func TestSyncsPages(t *testing.T) {
	t.Parallel()
	w := newSyncWorkspace(t)
	ids := w.contacts(t, 0, 3)
	listID, err := w.h.sim.CreateList(w.h.portal.ID, "Partners", "contacts", "MANUAL", nil, ids[:1]...)
	if err != nil {
		t.Fatal(err)
	}
	campaignID := w.fx.Campaign.ID.String()
	client := *w.browser
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := w.browser.Get(w.h.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	token := func() string {
		t.Helper()
		_, page := get("/admin/syncs")
		m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF token on the syncs page:\n%s", page)
		}
		return m[1]
	}
	post := func(path string, form url.Values) (int, string, string) {
		t.Helper()
		if form.Get(csrfField) == "" && form.Get("no_token") == "" {
			form.Set(csrfField, token())
		}
		form.Del("no_token")
		req, err := http.NewRequest(http.MethodPost, w.h.url+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", w.h.url)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(b)
	}

	code, page := get("/admin/syncs")
	if code != http.StatusOK || !strings.Contains(page, w.fx.Campaign.Name) || !strings.Contains(page, `value="*/15 * * * *"`) || !strings.Contains(page, "All contacts") ||
		!strings.Contains(page, `<option value="`+listID+`">List: Partners</option>`) {
		t.Fatalf("syncs page = %d\n%s", code, page)
	}
	if code, _, _ := post("/admin/syncs", url.Values{"campaign_id": {campaignID}, "no_token": {"1"}}); code != http.StatusForbidden {
		t.Fatalf("start without a CSRF token = %d", code)
	}
	if code, _, body := post("/admin/syncs", url.Values{"campaign_id": {campaignID}, "mode": {"ongoing"}, "cron_spec": {"every minute"}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "must be a cron spec of five fields") {
		t.Fatalf("start with a bad schedule = %d\n%s", code, body)
	}
	if code, _, body := post("/admin/syncs", url.Values{"campaign_id": {"nope"}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "pick a campaign") {
		t.Fatalf("start without a campaign = %d\n%s", code, body)
	}

	// Once, all contacts: the progress shows the contacts seen and created.
	code, loc, body := post("/admin/syncs", url.Values{"campaign_id": {campaignID}, "mode": {"one_time"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/syncs/") {
		t.Fatalf("start a one-time sync = %d %q\n%s", code, loc, body)
	}
	oneTime := strings.TrimPrefix(loc, "/admin/syncs/")
	w.waitForRuns(t, oneTime, 1)
	if code, page := get(loc); code != http.StatusOK || !regexp.MustCompile(`<td>3</td><td>3</td>`).MatchString(page) {
		t.Fatalf("one-time sync page = %d\n%s", code, page)
	}

	// Once, the contacts of a list picked from the portal's lists.
	code, loc, body = post("/admin/syncs", url.Values{"campaign_id": {campaignID}, "mode": {"one_time"}, "list_id": {listID}})
	if code != http.StatusSeeOther {
		t.Fatalf("start a list sync = %d\n%s", code, body)
	}
	if v := w.waitForRuns(t, strings.TrimPrefix(loc, "/admin/syncs/"), 1); v.ListID != listID || v.LastRun.Stats.Seen != 1 {
		t.Fatalf("the list sync = %+v %+v", v, v.LastRun)
	}

	// On a schedule, by default every 15 minutes.
	code, loc, body = post("/admin/syncs", url.Values{"campaign_id": {campaignID}, "mode": {"ongoing"}, "cron_spec": {"*/15 * * * *"}})
	if code != http.StatusSeeOther {
		t.Fatalf("start a scheduled sync = %d\n%s", code, body)
	}
	ongoing := strings.TrimPrefix(loc, "/admin/syncs/")
	if v := w.sync(t, ongoing); v.CronSpec != "*/15 * * * *" || v.Mode != "ongoing" {
		t.Fatalf("the scheduled sync = %+v", v)
	}
	if code, _, body := post(loc+"/run", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("run now = %d\n%s", code, body)
	}
	w.waitForRuns(t, ongoing, 1)
	if code, _, _ := post(loc+"/pause", url.Values{}); code != http.StatusSeeOther || w.sync(t, ongoing).Status != "paused" {
		t.Fatalf("pause = %d, status %s", code, w.sync(t, ongoing).Status)
	}
	if code, _, body := post(loc+"/run", url.Values{}); code != http.StatusConflict || !strings.Contains(body, "paused") {
		t.Fatalf("run a paused sync = %d\n%s", code, body)
	}
	if code, _, _ := post(loc+"/resume", url.Values{}); code != http.StatusSeeOther || w.sync(t, ongoing).Status != "active" {
		t.Fatalf("resume = %d, status %s", code, w.sync(t, ongoing).Status)
	}
	if code, _, body := post(loc+"/schedule", url.Values{"cron_spec": {"* *"}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "five fields") || !strings.Contains(body, `aria-invalid="true"`) {
		t.Fatalf("a wrong schedule = %d\n%s", code, body)
	}
	if code, _, _ := post(loc+"/schedule", url.Values{"cron_spec": {"0 * * * *"}}); code != http.StatusSeeOther || w.sync(t, ongoing).CronSpec != "0 * * * *" {
		t.Fatalf("change the schedule = %d, cron %q", code, w.sync(t, ongoing).CronSpec)
	}
	if code, _, _ := post(loc+"/delete", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("delete = %d", code)
	}
	if code, _ := get(loc); code != http.StatusNotFound {
		t.Fatalf("the deleted sync's page = %d", code)
	}
}
