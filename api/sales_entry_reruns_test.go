package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/salesreceiver"
)

// rerunWorld is an admin's workspace connected to a HubSpot portal, with
// one deal-stage change HubSpot sent, recorded by the intake and routed
// (ignored: the value matched nothing), and another workspace with its own
// portal and entry.
type rerunWorld struct {
	adminWorld
	portal     int64
	event      string // the event as HubSpot sent it
	entry      db.SalesEntry
	otherEntry db.SalesEntry
}

func newRerunWorld(t *testing.T) rerunWorld {
	t.Helper()
	w := rerunWorld{adminWorld: newAdminWorld(t), portal: 880000 + time.Now().UnixNano()%100000}
	ctx := context.Background()
	if _, err := w.d.Queries.HubSpotConnectionUpsert(ctx, db.HubSpotConnectionUpsertParams{WorkspaceID: w.fx.Workspace.ID, PortalID: w.portal, Scopes: []string{}}); err != nil {
		t.Fatal(err)
	}
	w.event = fmt.Sprintf(`{"eventId":71,"subscriptionId":9,"portalId":%d,"appId":5,"occurredAt":1764000000000,"subscriptionType":"deal.propertyChange","attemptNumber":0,"objectId":501,"propertyName":"dealstage","propertyValue":"closed won","changeSource":"CRM_UI"}`, w.portal)
	w.entry = recordRoutedEntry(t, w.d, w.event)

	other := w.d.SeedReferral(t)
	if _, err := w.d.Queries.HubSpotConnectionUpsert(ctx, db.HubSpotConnectionUpsertParams{WorkspaceID: other.Workspace.ID, PortalID: w.portal + 1, Scopes: []string{}}); err != nil {
		t.Fatal(err)
	}
	w.otherEntry = recordRoutedEntry(t, w.d, strings.Replace(w.event, strconv.FormatInt(w.portal, 10), strconv.FormatInt(w.portal+1, 10), 1))
	return w
}

// recordRoutedEntry records a delivery of one event as the webhook endpoint
// does, then marks it routed (ignored) as the dispatcher would.
func recordRoutedEntry(t *testing.T, d *testenv.Database, event string) db.SalesEntry {
	t.Helper()
	ctx := context.Background()
	evs, err := salesreceiver.Parse([]byte("[" + event + "]"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := salesreceiver.Record(ctx, d.Pool, evs)
	if err != nil || len(res.EntryIDs) != 1 {
		t.Fatalf("record: %+v %v", res, err)
	}
	id := res.EntryIDs[0]
	if err := d.Queries.SalesEntryMarkDispatched(ctx, db.SalesEntryMarkDispatchedParams{
		Ids: []int64{id}, Statuses: []string{"ignored"}, ReferralIds: []string{""}, CampaignIds: []string{""},
		Actions: []string{`[{"key":"dispatch:ignored:0","step":"ignored","detail":"no rule reads deal.dealstage"}]`}, Errors: []string{""}, WorkflowIds: []string{""},
	}); err != nil {
		t.Fatal(err)
	}
	e, err := d.Queries.SalesEntryGetByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (w rerunWorld) countEntries(t *testing.T) int {
	t.Helper()
	var n int
	if err := w.d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sales_entries WHERE portal_id = $1`, w.portal).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func rerunPath(id int64) string {
	return "/api/v1/sales-entries/" + strconv.FormatInt(id, 10) + "/rerun"
}

// TestSalesEntryRerunAPI: an admin corrects an entry's payload and re-runs
// it: a new entry waiting for the dispatcher, linked to the original, its
// first action the admin's re-run; the original is unchanged but lists the
// re-run; HubSpot's redelivery of the original is still a duplicate. A bad
// payload is a 400 saying what is wrong, with nothing recorded; another
// workspace's entry is 404; an entry still being processed is 409.
func TestSalesEntryRerunAPI(t *testing.T) {
	t.Parallel()
	w := newRerunWorld(t)
	ctx := context.Background()
	before := w.countEntries(t)

	for _, c := range []struct{ name, body, want string }{
		{"body not JSON", `{"payload": {`, "not valid JSON"},
		{"payload not an object", `{"payload": [1, 2]}`, "must be a JSON object"},
		{"unknown subscription type", `{"payload": ` + strings.Replace(w.event, "deal.propertyChange", "ticket.propertyChange", 1) + `}`, "payload.subscriptionType"},
		{"kind referflow does not act on", `{"payload": ` + strings.Replace(w.event, "deal.propertyChange", "deal.restore", 1) + `}`, "payload.subscriptionType"},
		{"ill-formed subscription type", `{"payload": ` + strings.Replace(w.event, "deal.propertyChange", "dealstage changed", 1) + `}`, "payload.subscriptionType"},
		{"missing objectId", `{"payload": ` + strings.Replace(w.event, `"objectId":501,`, "", 1) + `}`, "payload.objectId"},
		{"objectId a string", `{"payload": ` + strings.Replace(w.event, `"objectId":501`, `"objectId":"501"`, 1) + `}`, "payload.objectId"},
		{"another portal", `{"payload": ` + strings.Replace(w.event, strconv.FormatInt(w.portal, 10), "12", 1) + `}`, "payload.portalId"},
		{"NUL in a value", `{"payload": ` + strings.Replace(w.event, "closed won", `closed\u0000won`, 1) + `}`, "payload.propertyValue"},
	} {
		rec := w.api.call("POST", rerunPath(w.entry.ID), c.body)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), c.want) || !strings.Contains(rec.Body.String(), `"code":"bad_request"`) {
			t.Errorf("%s: %d %s, want 400 naming %s", c.name, rec.Code, rec.Body, c.want)
		}
	}
	if n := w.countEntries(t); n != before {
		t.Fatalf("%d entries after refused re-runs, want %d: nothing recorded", n, before)
	}

	// Another workspace's entry, or none, is not found.
	for _, id := range []string{strconv.FormatInt(w.otherEntry.ID, 10), "99999999999", "abc"} {
		if rec := w.api.call("POST", "/api/v1/sales-entries/"+id+"/rerun", ""); rec.Code != http.StatusNotFound {
			t.Errorf("re-run of entry %s = %d %s, want 404", id, rec.Code, rec.Body)
		}
	}
	if n := w.countEntries(t); n != before {
		t.Fatalf("%d entries after refused re-runs, want %d", n, before)
	}

	// The admin corrects the stage and re-runs the entry.
	edited := strings.Replace(w.event, "closed won", "closedwon", 1)
	rec := w.api.call("POST", rerunPath(w.entry.ID), `{"payload": `+edited+`}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("re-run = %d %s, want 201", rec.Code, rec.Body)
	}
	var rerun SalesEntryView
	if err := json.Unmarshal(rec.Body.Bytes(), &rerun); err != nil {
		t.Fatal(err)
	}
	if rerun.ID == w.entry.ID || rerun.RerunOf == nil || *rerun.RerunOf != w.entry.ID || rerun.Status != "received" ||
		rerun.PropertyValue != "closedwon" || rerun.ObjectID != 501 || rerun.Dispatch.DispatchedAt != nil || !strings.Contains(string(rerun.Payload), `"closedwon"`) {
		t.Fatalf("re-run entry = %+v, want a new received entry of closedwon, linked to %d", rerun, w.entry.ID)
	}
	var actions []map[string]any
	_ = json.Unmarshal(rerun.Actions, &actions)
	if len(actions) != 1 || actions[0]["step"] != "rerun" || actions[0]["actor"] != "admin:"+w.admin.ID.String() {
		t.Fatalf("re-run's actions = %s, want the admin's re-run", rerun.Actions)
	}
	row, err := w.d.Queries.SalesEntryGetByID(ctx, rerun.ID)
	if err != nil || row.DedupeKey != w.entry.DedupeKey+":rerun:1" || row.WorkspaceID == nil || *row.WorkspaceID != w.fx.Workspace.ID {
		t.Fatalf("re-run row = %+v %v, want dedupe key %s:rerun:1 in the workspace", row, err, w.entry.DedupeKey)
	}

	// The original is as it was, and says it was re-run.
	orig, err := w.d.Queries.SalesEntryGetByID(ctx, w.entry.ID)
	if err != nil || orig.Status != w.entry.Status || string(orig.Actions) != string(w.entry.Actions) ||
		string(orig.Payload) != string(w.entry.Payload) || !orig.UpdatedAt.Equal(w.entry.UpdatedAt) || orig.RerunOf != nil {
		t.Fatalf("original after the re-run = %+v %v, want it unchanged", orig, err)
	}
	var got SalesEntryView
	if rec := w.api.call("GET", "/api/v1/sales-entries/"+strconv.FormatInt(w.entry.ID, 10), ""); rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &got) != nil ||
		len(got.RerunAs) != 1 || got.RerunAs[0] != rerun.ID {
		t.Fatalf("original = %d %s, want rerun_as [%d]", rec.Code, rec.Body, rerun.ID)
	}

	// HubSpot redelivers the original: still a duplicate.
	evs, _ := salesreceiver.Parse([]byte("[" + strings.Replace(w.event, `"attemptNumber":0`, `"attemptNumber":1`, 1) + "]"))
	if res, err := salesreceiver.Record(ctx, w.d.Pool, evs); err != nil || res.Duplicates != 1 || res.Recorded != 0 {
		t.Fatalf("redelivery of the original = %+v %v, want a duplicate", res, err)
	}

	// The re-run is not routed yet: re-running it is refused, saying why.
	rec = w.api.call("POST", rerunPath(rerun.ID), "")
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "still being processed") {
		t.Fatalf("re-run of an entry in flight = %d %s, want 409 saying it is still being processed", rec.Code, rec.Body)
	}

	// The original again, unchanged (no body): a second re-run, its own key.
	rec = w.api.call("POST", rerunPath(w.entry.ID), "")
	var second SalesEntryView
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &second) != nil || second.PropertyValue != "closed won" || second.ID == rerun.ID {
		t.Fatalf("unchanged re-run = %d %s", rec.Code, rec.Body)
	}
	if row, _ := w.d.Queries.SalesEntryGetByID(ctx, second.ID); row.DedupeKey != w.entry.DedupeKey+":rerun:2" {
		t.Fatalf("second re-run's key = %s, want %s:rerun:2", row.DedupeKey, w.entry.DedupeKey)
	}
	if rec := w.api.call("POST", rerunPath(w.entry.ID), `{"payload": null}`); rec.Code != http.StatusCreated {
		t.Fatalf("re-run with a null payload = %d %s, want 201 (unchanged)", rec.Code, rec.Body)
	}

	// Admins re-running the same entry at once each get their own entry.
	codes := make(chan int, 4)
	for range 4 {
		go func() { codes <- w.api.call("POST", rerunPath(w.entry.ID), "").Code }()
	}
	for range 4 {
		if code := <-codes; code != http.StatusCreated {
			t.Errorf("concurrent re-run = %d, want 201", code)
		}
	}
	var keys []string
	rows, err := w.d.Pool.Query(ctx, `SELECT dedupe_key FROM sales_entries WHERE rerun_of = $1 ORDER BY id`, w.entry.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		_ = rows.Scan(&k)
		keys = append(keys, strings.TrimPrefix(k, w.entry.DedupeKey))
	}
	if want := ":rerun:1 :rerun:2 :rerun:3 :rerun:4 :rerun:5 :rerun:6 :rerun:7"; strings.Join(keys, " ") != want {
		t.Fatalf("re-runs' keys = %v, want %s", keys, want)
	}
}

// TestAdminSalesEntryRerunPage: the entry's page in the Sales Receiver log
// offers the raw payload to edit; a payload with a mistake comes back with
// the problem next to it; a corrected one leads to the new entry, and each
// page links to the other.
func TestAdminSalesEntryRerunPage(t *testing.T) {
	t.Parallel()
	w := newRerunWorld(t)
	b := signInAdmin(t, w.srv, w.d, w.fx.Workspace, "ui@acme.test")
	page := "/admin/sales-receiver/" + strconv.FormatInt(w.entry.ID, 10)
	action := page + "/rerun"

	body := b.get(page, http.StatusOK)
	if !strings.Contains(body, `action="`+action+`"`) || !strings.Contains(body, "Edit and re-run") ||
		!regexp.MustCompile(`<textarea id="f-rerun-payload" name="payload"[^>]*>\{\n  &#34;[^<]*\n  &#34;propertyValue&#34;: &#34;closed won&#34;,\n`).MatchString(body) {
		t.Fatalf("the entry's page has no edit-and-re-run form prefilled with the pretty payload:\n%s", body)
	}

	// Without the page's CSRF token nothing is done.
	if rec := b.send(http.MethodPost, action, url.Values{"payload": {w.event}}); rec.Code != http.StatusForbidden {
		t.Fatalf("re-run without a CSRF token = %d, want 403", rec.Code)
	}
	before := w.countEntries(t)

	// A payload with a mistake: the page again, the problem next to it.
	wrong := strings.Replace(w.event, `"objectId":501,`, "", 1)
	rec := b.post(page, action, url.Values{"payload": {wrong}})
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `class="admin-field-error" id="f-rerun-payload-error"`) ||
		!strings.Contains(rec.Body.String(), "payload.objectId is required") || !strings.Contains(rec.Body.String(), "The entry was not re-run.") {
		t.Fatalf("re-run of a wrong payload = %d, want 400 with the problem shown by the payload:\n%s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `&#34;changeSource&#34;:&#34;CRM_UI&#34;}</textarea>`) {
		t.Fatalf("the form lost what the admin sent:\n%s", rec.Body)
	}
	if rec := b.post(page, action, url.Values{"payload": {"  "}}); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "the payload is empty") {
		t.Fatalf("re-run of an empty payload = %d, want 400 saying so", rec.Code)
	}
	if n := w.countEntries(t); n != before {
		t.Fatalf("%d entries after refused re-runs, want %d", n, before)
	}

	// Corrected: the new entry's page, which says what it re-ran.
	rec = b.post(page, action, url.Values{"payload": {strings.Replace(w.event, "closed won", "closedwon", 1)}})
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/sales-receiver/") || loc == page {
		t.Fatalf("re-run = %d to %q, want a redirect to the new entry", rec.Code, loc)
	}
	newBody := b.get(loc, http.StatusOK)
	if !strings.Contains(newBody, "was re-run as this entry") || !strings.Contains(newBody, `<a href="`+page+`">#`+strconv.FormatInt(w.entry.ID, 10)+`</a>`) ||
		!strings.Contains(newBody, "closedwon") {
		t.Fatalf("the new entry's page does not say what it re-ran:\n%s", newBody)
	}
	if body := b.get(page, http.StatusOK); !strings.Contains(body, "Re-run as") || !strings.Contains(body, `<a href="`+loc+`">#`) {
		t.Fatalf("the original's page does not link its re-run:\n%s", body)
	}

	// Another workspace's entry: not found, page and form alike.
	other := "/admin/sales-receiver/" + strconv.FormatInt(w.otherEntry.ID, 10)
	b.get(other, http.StatusNotFound)
	if rec := b.post(page, other+"/rerun", url.Values{"payload": {w.event}}); rec.Code != http.StatusNotFound {
		t.Fatalf("re-run of another workspace's entry from the UI = %d, want 404", rec.Code)
	}
}
