package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// referrersCampaign is an active campaign with a join page whose members
// become HubSpot contacts (referrers), with the rows given; its leads are
// contacts too.
func referrersCampaign(t *testing.T, referrers map[string]any) string {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal(ExampleCampaignJSON(), &c); err != nil {
		t.Fatal(err)
	}
	c["status"] = "active"
	s := c["settings"].(map[string]any)
	s["referrers"] = referrers
	s["public"] = map[string]any{"slug": testSlug}
	body, _ := json.Marshal(c)
	return string(body)
}

var referrerContactRows = []map[string]string{
	{"object": "contact", "source": "email", "property": "email"},
	{"object": "contact", "source": "first_name", "property": "firstname"},
	{"object": "contact", "value": "Advocate", "property": "jobtitle"},
}

func (a apiClient) createCampaign(body string) CampaignView {
	a.t.Helper()
	code, out := a.do("POST", "/api/v1/campaigns", body)
	var c CampaignView
	if code != http.StatusCreated || json.Unmarshal(out, &c) != nil {
		a.t.Fatalf("create campaign = %d %s", code, out)
	}
	return c
}

func (a apiClient) addMember(campaignID, body string) MemberView {
	a.t.Helper()
	code, out := a.do("POST", "/api/v1/campaigns/"+campaignID+"/members", body)
	var m MemberView
	if code != http.StatusCreated || json.Unmarshal(out, &m) != nil {
		a.t.Fatalf("add member = %d %s", code, out)
	}
	return m
}

// awaitMember polls the campaign's member with email until ok holds.
func (a apiClient) awaitMember(ctx context.Context, campaignID, email, what string, ok func(MemberView) bool) MemberView {
	a.t.Helper()
	for {
		code, out := a.do("GET", "/api/v1/campaigns/"+campaignID+"/members", "")
		var list struct{ Members []MemberView }
		if code != http.StatusOK || json.Unmarshal(out, &list) != nil {
			a.t.Fatalf("list members = %d %s", code, out)
		}
		var m MemberView
		for _, v := range list.Members {
			if strings.EqualFold(v.Email, email) {
				m = v
			}
		}
		if m.ID != "" && ok(m) {
			return m
		}
		select {
		case <-ctx.Done():
			raw, _ := json.MarshalIndent(m, "", "  ")
			a.t.Fatalf("member %s never %s:\n%s", email, what, raw)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// crmContact reads the contact with email through the simulator's CRM API,
// as a HubSpot user's integration would: nil when HubSpot has none.
func (h *hubspotAPI) crmContact(t *testing.T, email string) map[string]string {
	t.Helper()
	token, _ := h.sim.IssueTokens(h.portal.ID)
	props := []string{"email", "firstname", "jobtitle", hubspotobject.PropReferralCode, hubspotobject.PropReferralLink,
		hubspotobject.PropReferralCount, hubspotobject.PropConvertedReferralCount}
	req, _ := http.NewRequest("GET", h.simURL+"/crm/v3/objects/contacts/"+url.PathEscape(email)+"?idProperty=email&properties="+strings.Join(props, ","), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var c struct {
		ID         string            `json:"id"`
		Properties map[string]string `json:"properties"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &c) != nil {
		t.Fatalf("CRM API: contact %s = %d %s", email, resp.StatusCode, body)
	}
	c.Properties["id"] = c.ID
	return c.Properties
}

// checkContact says what is wrong with a member's contact as HubSpot has it.
func checkContact(t *testing.T, got map[string]string, m MemberView, want map[string]string) {
	t.Helper()
	if got == nil {
		t.Fatalf("HubSpot has no contact %s", m.Email)
	}
	for prop, v := range map[string]string{
		"id": m.HubSpotContactID, hubspotobject.PropReferralCode: m.ReferralCode, hubspotobject.PropReferralLink: m.ReferralLink,
		hubspotobject.PropReferralCount: strconv.Itoa(int(m.ReferralCount)), hubspotobject.PropConvertedReferralCount: strconv.Itoa(int(m.ConvertedReferralCount)),
	} {
		want[prop] = v
	}
	for prop, v := range want {
		if got[prop] != v {
			t.Errorf("contact %s: %s = %q, want %q", m.Email, prop, got[prop], v)
		}
	}
}

// A member who joins a campaign that sends referrers to HubSpot — through
// the admin API or the join page — gets their contact, carrying their
// referral code and link, through the real API, Postgres, Temporal and the
// HubSpot simulator. Joining before HubSpot is connected loses nothing: the
// member waits, saying why, and is sent once HubSpot is connected.
func TestAMemberWhoJoinsIsSentToHubSpot(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := newHubSpotAPI(t, hubspotsim.DefaultClientID)
	_, admin, key := h.admin(t, h.workspace(t, "Acme"), "ops@acme.test")
	a := apiClient{t: t, url: h.url, key: key}
	c := a.createCampaign(referrersCampaign(t, map[string]any{
		"action": "create_contact", "duplicate_handling": "update_existing", "field_mapping": referrerContactRows,
	}))
	if len(c.SetupRequired) != 0 {
		t.Fatalf("setup required: %v", c.SetupRequired)
	}

	// Through the admin API, before HubSpot is connected: the member waits
	// and says why.
	m := a.addMember(c.ID, `{"email":"maya@example.com","first_name":"Maya","referral_code":"MAYA"}`)
	m = a.awaitMember(ctx, c.ID, m.Email, "waits for HubSpot", func(m MemberView) bool { return m.Waiting != nil })
	if m.Waiting.Step != string(referral.MemberWaitSendToHubSpot) || m.Waiting.Cause != "HubSpotConnectionBroken" || !strings.Contains(m.Waiting.Reason, "not connected") {
		t.Fatalf("waiting = %+v", m.Waiting)
	}
	if got := h.crmContact(t, m.Email); got != nil {
		t.Fatalf("a contact before HubSpot was connected: %v", got)
	}

	// Connecting HubSpot wakes it (retry-waiting): the contact is created
	// with the mapped fields and the member's code and link.
	if code, page := open(t, admin, h.startConnect(t, admin, "allow")); code != http.StatusOK {
		t.Fatalf("connect HubSpot = %d\n%s", code, page)
	}
	m = a.awaitMember(ctx, c.ID, m.Email, "is sent to HubSpot", func(m MemberView) bool { return m.HubSpotContactID != "" && m.Waiting == nil })
	run := h.tc.Client.GetWorkflow(ctx, workflows.MemberWorkflowID(m.ID), "")
	var done workflows.MemberState
	if err := run.Get(ctx, &done); err != nil || !done.Done || done.ContactID != m.HubSpotContactID {
		t.Fatalf("member workflow ended with %+v, %v", done, err)
	}
	checkContact(t, h.crmContact(t, m.Email), m, map[string]string{"firstname": "Maya", "jobtitle": "Advocate"})

	// Through the join page, HubSpot connected: at once.
	jar, _ := cookiejar.New(nil)
	visitor := &browser{t: t, w: &formWorld{linkWorld: &linkWorld{url: h.url}}, ip: "203.0.113.30", header: http.Header{}, client: &http.Client{Jar: jar}}
	joined := visitor.submit(visitor.get("/c/"+testSlug+"/join"), map[string]string{"email": "sam@example.com", "first_name": "Sam"})
	if joined.status != http.StatusOK || !strings.Contains(joined.url, "/joined/") {
		t.Fatalf("join page: %d %s\n%s", joined.status, joined.url, joined.body)
	}
	sam := a.awaitMember(ctx, c.ID, "sam@example.com", "is sent to HubSpot", func(m MemberView) bool { return m.HubSpotContactID != "" })
	// The write-back follows the contact's creation: wait for the link.
	for got := h.crmContact(t, sam.Email); got[hubspotobject.PropReferralLink] == ""; got = h.crmContact(t, sam.Email) {
		if ctx.Err() != nil {
			t.Fatalf("sam's contact never got the link: %v", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkContact(t, h.crmContact(t, sam.Email), sam, map[string]string{"firstname": "Sam", "jobtitle": "Advocate"})
	if n := len(h.sim.Objects(h.portal.ID, "contacts")); n != 2 {
		t.Fatalf("%d contacts in HubSpot, want 2", n)
	}
}

// An incomplete referrers mapping holds back only the members: each waits
// saying "campaign setup required" and what is missing, while the
// campaign's leads go to HubSpot; saving complete settings sends the member
// at once. A campaign whose referrers action is none sends nothing.
func TestAnIncompleteReferrersMappingHoldsBackMembersNotLeads(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := newHubSpotAPI(t, hubspotsim.DefaultClientID)
	_, admin, key := h.admin(t, h.workspace(t, "Acme"), "ops@acme.test")
	a := apiClient{t: t, url: h.url, key: key}
	if code, page := open(t, admin, h.startConnect(t, admin, "allow")); code != http.StatusOK {
		t.Fatalf("connect HubSpot = %d\n%s", code, page)
	}
	body := referrersCampaign(t, map[string]any{
		"action": "create_contact", "duplicate_handling": "do_nothing", "field_mapping": referrerContactRows[:1], // no firstname row
	})
	c := a.createCampaign(body)
	if len(c.SetupRequired) != 1 || !strings.Contains(c.SetupRequired[0], "referrers") {
		t.Fatalf("setup required = %v, want the referrers' firstname row", c.SetupRequired)
	}

	m := a.addMember(c.ID, `{"email":"maya@example.com","first_name":"Maya"}`)
	m = a.awaitMember(ctx, c.ID, m.Email, "waits on the setup", func(m MemberView) bool { return m.Waiting != nil })
	if m.Waiting.Cause != "CampaignSetupRequired" || !strings.Contains(m.Waiting.Reason, "campaign setup required") || !strings.Contains(m.Waiting.Reason, "firstname") {
		t.Fatalf("waiting = %+v", m.Waiting)
	}

	// The member's lead goes to HubSpot all the same.
	code, out := a.do("POST", "/api/v1/campaigns/"+c.ID+"/referrals", `{"member_id":"`+m.ID+`","lead":{"email":"nia@example.org","first_name":"Nia"}}`)
	var r ReferralView
	if code != http.StatusCreated || json.Unmarshal(out, &r) != nil {
		t.Fatalf("add referral = %d %s", code, out)
	}
	a.await(ctx, r.ID, "sends its lead", func(v ReferralView) bool { return v.HubSpotDealID != "" })
	if got := h.crmContact(t, m.Email); got != nil {
		t.Fatalf("the member was sent with an incomplete mapping: %v", got)
	}

	// HubSpot failing for a moment meanwhile costs nothing but a retry.
	if _, err := h.sim.SetMode(h.portal.ID, hubspotsim.Mode{Kind: hubspotsim.ModeServerErrors, Calls: 2}); err != nil {
		t.Fatal(err)
	}
	// Saving complete settings sends the member at once.
	var full map[string]any
	_ = json.Unmarshal([]byte(referrersCampaign(t, map[string]any{
		"action": "create_contact", "duplicate_handling": "do_nothing", "field_mapping": referrerContactRows,
	})), &full)
	settings, _ := json.Marshal(full["settings"])
	if code, out := a.do("PUT", "/api/v1/campaigns/"+c.ID+"/settings", string(settings)); code != http.StatusOK {
		t.Fatalf("save settings = %d %s", code, out)
	}
	m = a.awaitMember(ctx, c.ID, m.Email, "is sent once the settings are saved", func(m MemberView) bool { return m.HubSpotContactID != "" && m.Waiting == nil })
	var done workflows.MemberState
	if err := h.tc.Client.GetWorkflow(ctx, workflows.MemberWorkflowID(m.ID), "").Get(ctx, &done); err != nil || !done.Done {
		t.Fatalf("member workflow ended with %+v, %v", done, err)
	}
	checkContact(t, h.crmContact(t, m.Email), m, map[string]string{"firstname": "Maya", "jobtitle": "Advocate"})

	// Action none: the member's workflow ends without a call to HubSpot.
	if _, err := h.db.Pool.Exec(ctx, `UPDATE campaigns SET referrer_settings = '{"action":"none","field_mapping":[]}' WHERE id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	calls := h.sim.Requests(h.portal.ID)
	leo := a.addMember(c.ID, `{"email":"leo@example.com","first_name":"Leo"}`)
	var skipped workflows.MemberState
	if err := h.tc.Client.GetWorkflow(ctx, workflows.MemberWorkflowID(leo.ID), "").Get(ctx, &skipped); err != nil || !skipped.Done || skipped.Skipped == "" || skipped.ContactID != "" {
		t.Fatalf("member workflow of action none ended with %+v, %v", skipped, err)
	}
	if got := h.crmContact(t, leo.Email); got != nil {
		t.Fatalf("action none made a contact: %v", got)
	}
	if n := h.sim.Requests(h.portal.ID) - calls; n != 1 { // the CRM API read just above
		t.Fatalf("%d HubSpot calls for a member of action none, want none", n-1)
	}
}

// A CSV import's members are sent to HubSpot by the worker's reconciler,
// which starts the workflow of every member without one; members a contact
// sync adds (they write back themselves) get none.
func TestCSVImportedMembersAreSentByTheReconciler(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := newHubSpotAPI(t, hubspotsim.DefaultClientID)
	ws := h.workspace(t, "Acme")
	_, admin, key := h.admin(t, ws, "ops@acme.test")
	a := apiClient{t: t, url: h.url, key: key}
	if code, page := open(t, admin, h.startConnect(t, admin, "allow")); code != http.StatusOK {
		t.Fatalf("connect HubSpot = %d\n%s", code, page)
	}
	c := a.createCampaign(referrersCampaign(t, map[string]any{
		"action": "create_contact", "duplicate_handling": "do_nothing", "field_mapping": referrerContactRows,
	}))

	req, _ := http.NewRequest("POST", h.url+"/api/v1/campaigns/"+c.ID+"/imports?kind=members",
		strings.NewReader("email,first_name\nada@example.com,Ada\nbo@example.com,Bo\n"))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var imp ImportView
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(raw, &imp) != nil {
		t.Fatalf("import = %d %s", resp.StatusCode, raw)
	}
	for imp.Status != referral.ImportCompleted {
		if imp.Status == referral.ImportFailed || ctx.Err() != nil {
			t.Fatalf("import: %+v", imp)
		}
		time.Sleep(100 * time.Millisecond)
		code, out := a.do("GET", "/api/v1/imports/"+imp.ID, "")
		if code != http.StatusOK || json.Unmarshal(out, &imp) != nil {
			t.Fatalf("get import = %d %s", code, out)
		}
	}
	campaignID, _ := uuid.Parse(c.ID)
	if _, err := activities.AddMember(ctx, h.db.Pool, activities.NewMember{
		WorkspaceID: ws.ID, CampaignID: campaignID, Email: "cy@example.com", FirstName: "Cy", Source: referral.MemberSourceSync,
	}); err != nil {
		t.Fatal(err)
	}

	r := &worker.Reconciler{Pool: h.db.Pool, Temporal: h.tc.Client, TaskQueue: h.tc.TaskQueue, HubSpotTaskQueue: h.tc.HubSpotTaskQueue, Grace: time.Millisecond}
	if n, err := r.OnceMembers(ctx); err != nil || n != 2 {
		t.Fatalf("reconciler started %d, %v; want the 2 imported members", n, err)
	}
	for _, email := range []string{"ada@example.com", "bo@example.com"} {
		m := a.awaitMember(ctx, c.ID, email, "is sent to HubSpot", func(m MemberView) bool { return m.HubSpotContactID != "" })
		var done workflows.MemberState
		if err := h.tc.Client.GetWorkflow(ctx, workflows.MemberWorkflowID(m.ID), "").Get(ctx, &done); err != nil || !done.Done {
			t.Fatalf("member workflow ended with %+v, %v", done, err)
		}
		checkContact(t, h.crmContact(t, email), m, map[string]string{"jobtitle": "Advocate"})
	}
	if n, err := r.OnceMembers(ctx); err != nil || n != 0 {
		t.Fatalf("second pass started %d, %v; want none", n, err)
	}
	if got := h.crmContact(t, "cy@example.com"); got != nil {
		t.Fatalf("a synced member was sent by a member workflow: %v", got)
	}
}
