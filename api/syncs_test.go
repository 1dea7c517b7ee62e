package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/contactsync"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/workflows"
)

// syncWorkspace is a workspace connected to the simulator's portal, with an
// active campaign and an admin's API client.
type syncWorkspace struct {
	h       *hubspotAPI
	fx      testenv.ReferralFixture
	browser *http.Client
	a       apiClient
}

func newSyncWorkspace(t *testing.T) *syncWorkspace {
	t.Helper()
	w := &syncWorkspace{h: newHubSpotAPI(t, hubspotsim.DefaultClientID)}
	w.fx = w.h.db.SeedReferral(t)
	var key string
	_, w.browser, key = w.h.admin(t, &w.fx.Workspace, "ops@acme.test")
	w.a = apiClient{t: t, url: w.h.url, key: key}
	w.connect(t)
	return w
}

// connect connects in the browser and waits for referflow's properties to
// exist in the portal (the return fields go there).
func (w *syncWorkspace) connect(t *testing.T) string {
	t.Helper()
	code, page := open(t, w.browser, w.h.startConnect(t, w.browser, "allow"))
	if code != http.StatusOK || !strings.Contains(page, "HubSpot connected") {
		t.Fatalf("connect: %d\n%s", code, page)
	}
	waitFor(t, "the property setup", func() bool {
		st := w.h.status(t, w.browser)
		return st.PropertySetup != nil && st.PropertySetup.Status == hubspotconn.SetupDone
	})
	return page
}

// contacts creates n contacts in the portal, c<from>..c<from+n-1>, and
// returns their IDs.
func (w *syncWorkspace) contacts(t *testing.T, from, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := from; i < from+n; i++ {
		id, err := w.h.sim.CreateObject(w.h.portal.ID, "contacts", map[string]string{
			"email": fmt.Sprintf("c%05d@contacts.test", i), "firstname": fmt.Sprintf("First%d", i), "lastname": "Contact",
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func (w *syncWorkspace) createSync(t *testing.T, campaignID, body string) SyncView {
	t.Helper()
	code, out := w.a.do("POST", "/api/v1/campaigns/"+campaignID+"/syncs", body)
	var v SyncView
	if code != http.StatusCreated || json.Unmarshal(out, &v) != nil {
		t.Fatalf("create sync = %d %s", code, out)
	}
	return v
}

func (w *syncWorkspace) sync(t *testing.T, id string) SyncView {
	t.Helper()
	code, out := w.a.do("GET", "/api/v1/syncs/"+id, "")
	var v SyncView
	if code != http.StatusOK || json.Unmarshal(out, &v) != nil {
		t.Fatalf("GET sync = %d %s", code, out)
	}
	return v
}

// waitForRuns waits until the sync has completed n runs, the last one
// succeeded, and returns it.
func (w *syncWorkspace) waitForRuns(t *testing.T, id string, n int32) SyncView {
	t.Helper()
	var v SyncView
	defer func() {
		if t.Failed() {
			t.Logf("sync %s: status %s, runs %d, last run %+v", id, v.Status, v.RunsCompleted, v.LastRun)
		}
	}()
	waitFor(t, fmt.Sprintf("run %d of sync %s", n, id), func() bool {
		v = w.sync(t, id)
		if v.LastRun != nil && v.LastRun.Status == contactsync.RunFailed {
			t.Fatalf("the run failed: %+v", v.LastRun)
		}
		return v.RunsCompleted >= n && v.LastRun != nil && v.LastRun.Status == contactsync.RunSucceeded
	})
	return v
}

// members reads a campaign's members by email.
func (w *syncWorkspace) members(t *testing.T, campaignID string) map[string]db.Member {
	t.Helper()
	rows, err := w.h.db.Queries.MemberListByCampaign(context.Background(), uuid.MustParse(campaignID))
	if err != nil {
		t.Fatal(err)
	}
	byEmail := map[string]db.Member{}
	for _, m := range rows {
		byEmail[m.Email] = m
	}
	return byEmail
}

// checkSynced checks, through the simulator's CRM API (as a HubSpot user's
// integration would read them), that every contact of ids is exactly one
// member of the campaign (by contact ID, with the contact's email and first
// name) and carries that member's link in linkProperty.
func (w *syncWorkspace) checkSynced(t *testing.T, campaignID string, ids []string, linkProperty string) {
	t.Helper()
	members := w.members(t, campaignID)
	contacts := w.h.crmContactsByID(t, ids, "email", "firstname", linkProperty)
	for _, id := range ids {
		props, ok := contacts[id]
		if !ok {
			t.Fatalf("contact %s is gone", id)
		}
		m, ok := members[props["email"]]
		switch {
		case !ok:
			t.Fatalf("contact %s (%s) is not a member", id, props["email"])
		case m.HubspotContactID == nil || fmt.Sprint(*m.HubspotContactID) != id:
			t.Fatalf("member %s is not linked to contact %s: %v", m.ID, id, m.HubspotContactID)
		case deref(m.FirstName) != props["firstname"]:
			t.Fatalf("member %s is named %q; the contact %q", m.ID, deref(m.FirstName), props["firstname"])
		case m.Source != string(referral.MemberSourceSync):
			t.Fatalf("member %s has source %q", m.ID, m.Source)
		case m.WorkflowStartedAt == nil:
			// The sync writes its members back itself: no member/<id>
			// workflow is started for them (workflows/member.go).
			t.Fatalf("member %s would get a member workflow", m.ID)
		}
		if want := w.h.url + "/r/" + m.ReferralCode; props[linkProperty] != want {
			t.Fatalf("contact %s has %s = %q, want %q", id, linkProperty, props[linkProperty], want)
		}
	}
}

// crmContactsByID reads contacts by ID through the simulator's CRM API, in
// batch reads of 100 (HubSpot's limit): their properties by contact ID,
// without the contacts HubSpot does not have.
func (h *hubspotAPI) crmContactsByID(t *testing.T, ids []string, properties ...string) map[string]map[string]string {
	t.Helper()
	token, _ := h.sim.IssueTokens(h.portal.ID)
	out := map[string]map[string]string{}
	for start := 0; start < len(ids); start += 100 {
		batch := ids[start:min(start+100, len(ids))]
		inputs := make([]map[string]string, len(batch))
		for i, id := range batch {
			inputs[i] = map[string]string{"id": id}
		}
		body, _ := json.Marshal(map[string]any{"properties": properties, "inputs": inputs})
		req, _ := http.NewRequest("POST", h.simURL+"/crm/v3/objects/contacts/batch/read", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got struct {
			Results []struct {
				ID         string            `json:"id"`
				Properties map[string]string `json:"properties"`
			} `json:"results"`
		}
		// 207: some of the batch is missing, which the caller reports.
		if (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusMultiStatus) || json.Unmarshal(raw, &got) != nil {
			t.Fatalf("CRM API: batch read of %d contacts = %d %s", len(batch), resp.StatusCode, raw)
		}
		for _, r := range got.Results {
			out[r.ID] = r.Properties
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A thousand contacts synced once, then by an ongoing sync of all contacts
// whose second run picks up new contacts and changed names, and an ongoing
// sync of a list in another campaign whose second run picks up the contacts
// added to the list: exactly the right members, and every contact holds its
// member's link, read back from the simulator.
func TestContactSyncOneTimeThenOngoing(t *testing.T) {
	t.Parallel()
	w := newSyncWorkspace(t)
	campaignID := w.fx.Campaign.ID.String()
	ids := w.contacts(t, 0, 1000)

	once := w.createSync(t, campaignID, `{"source":"all_contacts","mode":"one_time"}`)
	if once.Status != contactsync.StatusActive || once.WorkflowID != workflows.ContactSyncWorkflowID(once.ID) {
		t.Fatalf("created: %+v", once)
	}
	once = w.waitForRuns(t, once.ID, 1)
	if s := once.LastRun.Stats; s.Seen != 1000 || s.Created != 1000 || s.WrittenBack != 1000 || s.Failed != 0 || once.Status != contactsync.StatusCompleted {
		t.Fatalf("one-time run: %+v, status %s", s, once.Status)
	}
	w.checkSynced(t, campaignID, ids, hubspotobject.PropReferralLink)
	if n := len(w.members(t, campaignID)); n != 1001 { // and the seeded member
		t.Fatalf("%d members after the one-time sync, want 1001", n)
	}

	// The same contacts, ongoing: nothing to create, nothing to write.
	ongoing := w.createSync(t, campaignID, `{"source":"all_contacts","mode":"ongoing","cron_spec":"0 3 * * *"}`)
	if ongoing.ScheduleID != workflows.ContactSyncScheduleID(ongoing.ID) || ongoing.CronSpec != "0 3 * * *" {
		t.Fatalf("created: %+v", ongoing)
	}
	ongoing = w.waitForRuns(t, ongoing.ID, 1)
	if s := ongoing.LastRun.Stats; s.Seen != 1000 || s.Created != 0 || s.Unchanged != 1000 || s.WrittenBack != 0 || ongoing.Watermark == nil {
		t.Fatalf("first ongoing run: %+v, watermark %v", s, ongoing.Watermark)
	}

	// Between runs: 20 new contacts, 10 renamed, one without an email.
	added := w.contacts(t, 1000, 20)
	for _, id := range ids[:10] {
		if err := w.h.sim.UpdateObject(w.h.portal.ID, "contacts", id, map[string]string{"firstname": "Renamed" + id}); err != nil {
			t.Fatal(err)
		}
	}
	noEmail, err := w.h.sim.CreateObject(w.h.portal.ID, "contacts", map[string]string{"firstname": "Nomail"})
	if err != nil {
		t.Fatal(err)
	}
	if code, out := w.a.do("POST", "/api/v1/syncs/"+ongoing.ID+"/run", ""); code != http.StatusAccepted {
		t.Fatalf("run now = %d %s", code, out)
	}
	ongoing = w.waitForRuns(t, ongoing.ID, 2)
	if s := ongoing.LastRun.Stats; s.Created != 20 || s.Updated != 10 || s.Failed != 1 || s.WrittenBack != 20 {
		t.Fatalf("second ongoing run: %+v", s)
	}
	if len(ongoing.Failures) != 1 || ongoing.Failures[0].HubSpotContactID != noEmail || !strings.Contains(ongoing.Failures[0].Reason, "no email") {
		t.Fatalf("failures: %+v", ongoing.Failures)
	}
	w.checkSynced(t, campaignID, append(append([]string{}, ids...), added...), hubspotobject.PropReferralLink)
	if n := len(w.members(t, campaignID)); n != 1021 {
		t.Fatalf("%d members after the second run, want 1021", n)
	}

	// A list, in another campaign, with its own return property.
	other := w.campaign(t, "Partners")
	if err := w.h.sim.CreateProperty(w.h.portal.ID, "contacts", map[string]any{
		"name": "partner_link", "label": "Partner link", "type": "string", "fieldType": "text", "groupName": "contactinformation",
	}); err != nil {
		t.Fatal(err)
	}
	listID, err := w.h.sim.CreateList(w.h.portal.ID, "Partners", "contacts", "MANUAL", nil, ids[100:300]...)
	if err != nil {
		t.Fatal(err)
	}
	fromList := w.createSync(t, other, `{"source":"list","list_id":"`+listID+`","mode":"ongoing",
		"return_fields":{"referral_link":"partner_link"}}`)
	fromList = w.waitForRuns(t, fromList.ID, 1)
	if s := fromList.LastRun.Stats; s.Seen != 200 || s.Created != 200 || s.WrittenBack != 200 {
		t.Fatalf("first list run: %+v", s)
	}
	if err := w.h.sim.AddToList(w.h.portal.ID, listID, append(ids[300:350], added...)...); err != nil {
		t.Fatal(err)
	}
	if code, out := w.a.do("POST", "/api/v1/syncs/"+fromList.ID+"/run", ""); code != http.StatusAccepted {
		t.Fatalf("run now = %d %s", code, out)
	}
	fromList = w.waitForRuns(t, fromList.ID, 2)
	if s := fromList.LastRun.Stats; s.Seen != 270 || s.Created != 70 || s.Unchanged != 200 || s.WrittenBack != 70 {
		t.Fatalf("second list run: %+v", s)
	}
	inList := append(append([]string{}, ids[100:350]...), added...)
	w.checkSynced(t, other, inList, "partner_link")
	if n := len(w.members(t, other)); n != len(inList) {
		t.Fatalf("%d members from the list, want %d", n, len(inList))
	}
	// The first campaign's links stayed.
	w.checkSynced(t, campaignID, ids[:5], hubspotobject.PropReferralLink)
}

// campaign creates an active campaign through the API and returns its ID.
func (w *syncWorkspace) campaign(t *testing.T, name string) string {
	t.Helper()
	code, out := w.a.do("POST", "/api/v1/campaigns", `{"name":"`+name+`","status":"active"}`)
	var c struct {
		ID string `json:"id"`
	}
	if code != http.StatusCreated || json.Unmarshal(out, &c) != nil {
		t.Fatalf("create campaign = %d %s", code, out)
	}
	return c.ID
}

// An ongoing sync's schedule is paused, resumed, changed and deleted
// through the API; disconnecting HubSpot pauses it with a note saying why,
// the reconnected status says so, and resuming it then runs it again.
func TestContactSyncSchedule(t *testing.T) {
	t.Parallel()
	w := newSyncWorkspace(t)
	campaignID := w.fx.Campaign.ID.String()
	w.contacts(t, 0, 30)
	ctx := context.Background()
	s := w.createSync(t, campaignID, `{"source":"all_contacts","mode":"ongoing"}`)
	if s.CronSpec != contactsync.DefaultCronSpec || !strings.Contains(s.ScheduleURL, "/schedules/sync%2F") {
		t.Fatalf("created: %+v", s)
	}
	w.waitForRuns(t, s.ID, 1)
	// Temporal describes a cron spec as calendars: the minutes' step
	// tells */15 from */5.
	schedule := func() (paused bool, note string, minuteStep int) {
		t.Helper()
		d, err := workflows.DescribeContactSyncSchedule(ctx, w.h.tc.Client, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c := d.Schedule.Spec.Calendars; len(c) == 1 && len(c[0].Minute) == 1 {
			minuteStep = c[0].Minute[0].Step
		}
		return d.Schedule.State.Paused, d.Schedule.State.Note, minuteStep
	}
	patch := func(body string, want int) SyncView {
		t.Helper()
		code, out := w.a.do("PATCH", "/api/v1/syncs/"+s.ID, body)
		var v SyncView
		if code != want || (want == http.StatusOK && json.Unmarshal(out, &v) != nil) {
			t.Fatalf("PATCH %s = %d %s", body, code, out)
		}
		return v
	}

	if _, _, step := schedule(); step != 15 {
		t.Fatalf("the schedule runs every %d minutes, want 15", step)
	}
	if v := patch(`{"paused":true}`, http.StatusOK); v.Status != contactsync.StatusPaused {
		t.Fatalf("paused: %+v", v)
	}
	if paused, note, _ := schedule(); !paused || note != "paused by an admin" {
		t.Fatalf("schedule paused=%v note=%q", paused, note)
	}
	if code, _ := w.a.do("POST", "/api/v1/syncs/"+s.ID+"/run", ""); code != http.StatusConflict {
		t.Fatalf("run of a paused sync = %d", code)
	}
	if v := patch(`{"paused":false,"cron_spec":"*/5 * * * *"}`, http.StatusOK); v.Status != contactsync.StatusActive || v.CronSpec != "*/5 * * * *" {
		t.Fatalf("resumed: %+v", v)
	}
	if paused, _, step := schedule(); paused || step != 5 {
		t.Fatalf("schedule paused=%v, every %d minutes", paused, step)
	}
	patch(`{"cron_spec":"every day"}`, http.StatusUnprocessableEntity)
	patch(`{"return_fields":{"referral_code":"referflow_referral_code"}}`, http.StatusUnprocessableEntity)

	// Disconnecting pauses it, saying why.
	if code, out := w.a.do("POST", "/api/v1/hubspot/disconnect", ""); code != http.StatusOK {
		t.Fatalf("disconnect = %d %s", code, out)
	}
	if v := w.sync(t, s.ID); v.Status != contactsync.StatusPaused || v.PausedReason != contactsync.PausedOnDisconnect {
		t.Fatalf("after disconnect: %+v", v)
	}
	if paused, note, _ := schedule(); !paused || note != contactsync.PausedOnDisconnect {
		t.Fatalf("schedule after disconnect paused=%v note=%q", paused, note)
	}
	if code, out := w.a.do("PATCH", "/api/v1/syncs/"+s.ID, `{"paused":false}`); code != http.StatusConflict || !strings.Contains(string(out), "connect") {
		t.Fatalf("resume while disconnected = %d %s", code, out)
	}

	// Reconnecting says it is paused; it stays paused until resumed.
	page := w.connect(t)
	if !strings.Contains(page, "1 contact sync(s) were paused") {
		t.Fatalf("the connected page does not say a sync is paused:\n%s", page)
	}
	st := w.h.status(t, w.browser)
	if len(st.PausedSyncs) != 1 || st.PausedSyncs[0].ID != s.ID || st.PausedSyncsNote == "" {
		t.Fatalf("status: %+v", st)
	}
	if paused, _, _ := schedule(); !paused {
		t.Fatal("the schedule was resumed by reconnecting")
	}
	w.contacts(t, 30, 5)
	patch(`{"paused":false}`, http.StatusOK)
	if paused, _, _ := schedule(); paused {
		t.Fatal("the schedule is still paused")
	}
	if st := w.h.status(t, w.browser); len(st.PausedSyncs) != 0 {
		t.Fatalf("status still lists paused syncs: %+v", st.PausedSyncs)
	}
	if code, out := w.a.do("POST", "/api/v1/syncs/"+s.ID+"/run", ""); code != http.StatusAccepted {
		t.Fatalf("run now = %d %s", code, out)
	}
	if v := w.waitForRuns(t, s.ID, 2); v.LastRun.Stats.Created != 5 {
		t.Fatalf("the resumed run: %+v", v.LastRun.Stats)
	}

	// Deleted: the schedule goes, the sync too.
	if code, out := w.a.do("DELETE", "/api/v1/syncs/"+s.ID, ""); code != http.StatusNoContent {
		t.Fatalf("delete = %d %s", code, out)
	}
	if _, err := workflows.DescribeContactSyncSchedule(ctx, w.h.tc.Client, s.ID); err == nil {
		t.Fatal("the schedule outlived its sync")
	}
	if code, _ := w.a.do("GET", "/api/v1/syncs/"+s.ID, ""); code != http.StatusNotFound {
		t.Fatalf("GET deleted sync = %d", code)
	}
}

// Bad input is a 4xx saying what is wrong.
func TestContactSyncRefusals(t *testing.T) {
	t.Parallel()
	w := newSyncWorkspace(t)
	path := "/api/v1/campaigns/" + w.fx.Campaign.ID.String() + "/syncs"
	for _, tc := range []struct{ body, field string }{
		{`{"source":"everyone"}`, "source"},
		{`{"source":"list"}`, "list_id"},
		{`{"source":"list","list_id":"999"}`, "list_id"},
		{`{"source":"all_contacts","mode":"sometimes"}`, "mode"},
		{`{"source":"all_contacts","cron_spec":"* * * * *"}`, "cron_spec"},
		{`{"source":"all_contacts","mode":"ongoing","cron_spec":"soon"}`, "cron_spec"},
		{`{"source":"all_contacts","mapping":{"email":"email"}}`, "mapping.first_name"},
		{`{"source":"all_contacts","mapping":{"email":"email","first_name":"First Name"}}`, "mapping.first_name"},
		{`{"source":"all_contacts","return_fields":{"referral_code":"x"}}`, "return_fields.referral_link"},
		{`{"source":"all_contacts","return_fields":{"referral_link":"x","referral_code":"x"}}`, "return_fields.referral_link"},
	} {
		code, out := w.a.do("POST", path, tc.body)
		var e struct {
			Error APIError `json:"error"`
		}
		if code != http.StatusUnprocessableEntity || json.Unmarshal(out, &e) != nil || e.Error.Fields[tc.field] == "" {
			t.Errorf("%s = %d %s; want 422 naming %s", tc.body, code, out, tc.field)
		}
	}
	var rows []db.Sync
	rows, err := w.h.db.Queries.SyncListByCampaign(context.Background(), w.fx.Campaign.ID)
	if err != nil || len(rows) != 0 {
		t.Fatalf("refused syncs were kept: %d %v", len(rows), err)
	}
}

// A one-time sync started while HubSpot refuses the app's tokens waits,
// saying why, and goes on by itself once an admin reconnects.
func TestContactSyncWaitsOnABrokenConnection(t *testing.T) {
	t.Parallel()
	w := newSyncWorkspace(t)
	ids := w.contacts(t, 0, 50)
	if _, err := w.h.sim.SetMode(w.h.portal.ID, hubspotsim.Mode{Kind: hubspotsim.ModeRevokedTokens}); err != nil {
		t.Fatal(err)
	}
	s := w.createSync(t, w.fx.Campaign.ID.String(), `{"source":"all_contacts"}`)
	waitFor(t, "the run to wait", func() bool {
		v := w.sync(t, s.ID)
		return v.LastRun != nil && v.LastRun.Status == contactsync.RunWaiting && strings.Contains(v.LastRun.Error, "BAD_REFRESH_TOKEN")
	})
	w.connect(t)
	v := w.waitForRuns(t, s.ID, 1)
	if st := v.LastRun.Stats; st.Created != 50 || st.WrittenBack != 50 {
		t.Fatalf("the run after reconnecting: %+v", st)
	}
	w.checkSynced(t, w.fx.Campaign.ID.String(), ids, hubspotobject.PropReferralLink)
}

// A dynamic list's members are the contacts its filters match when the run
// reads it.
func TestContactSyncOfADynamicList(t *testing.T) {
	t.Parallel()
	w := newSyncWorkspace(t)
	w.contacts(t, 0, 20)
	var matching []string
	for i := 0; i < 15; i++ {
		id, err := w.h.sim.CreateObject(w.h.portal.ID, "contacts", map[string]string{
			"email": fmt.Sprintf("dyn%02d@contacts.test", i), "firstname": fmt.Sprintf("Dyn%d", i), "lastname": "Dynamic",
		})
		if err != nil {
			t.Fatal(err)
		}
		matching = append(matching, id)
	}
	filter := json.RawMessage(`{"filterBranchType":"OR","filterBranches":[{"filterBranchType":"AND","filters":[
		{"filterType":"PROPERTY","property":"lastname","operation":{"operationType":"STRING","operator":"IS_EQUAL_TO","value":"Dynamic"}}]}]}`)
	listID, err := w.h.sim.CreateList(w.h.portal.ID, "Dynamic ones", "contacts", "DYNAMIC", filter)
	if err != nil {
		t.Fatal(err)
	}
	s := w.createSync(t, w.fx.Campaign.ID.String(), `{"source":"list","list_id":"`+listID+`"}`)
	v := w.waitForRuns(t, s.ID, 1)
	if st := v.LastRun.Stats; st.Seen != 15 || st.Created != 15 || st.WrittenBack != 15 {
		t.Fatalf("the run: %+v", st)
	}
	w.checkSynced(t, w.fx.Campaign.ID.String(), matching, hubspotobject.PropReferralLink)
	if n := len(w.members(t, w.fx.Campaign.ID.String())); n != 16 { // and the seeded member
		t.Fatalf("%d members, want 16", n)
	}
}
