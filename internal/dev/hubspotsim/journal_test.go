package hubspotsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

type journalClient struct {
	t     *testing.T
	base  string
	token string
}

func (j *journalClient) do(method, path string, body any) (int, map[string]any, []byte) {
	j.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, j.base+path, rd)
	if j.token != "" {
		req.Header.Set("Authorization", "Bearer "+j.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		j.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, raw
}

func getAppToken(t *testing.T, base string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth/2026-03/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// file fetches an entry's file (without the token, as a pre-signed URL is).
func journalFile(t *testing.T, fileURL string) []JournalEvent {
	t.Helper()
	resp, err := http.Get(fileURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("file %s: %d", fileURL, resp.StatusCode)
	}
	var evs []JournalEvent
	if err := json.NewDecoder(resp.Body).Decode(&evs); err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestJournalReportsListMembership(t *testing.T) {
	t.Parallel()
	sim := New(Options{})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	p := sim.CreatePortal("Journal")
	ada, _ := sim.CreateObject(p.ID, "contacts", map[string]string{"email": "ada@example.org", "lifecyclestage": "lead"})
	bo, _ := sim.CreateObject(p.ID, "contacts", map[string]string{"email": "bo@example.org"})
	static, err := sim.CreateList(p.ID, "VIPs", "contacts", "MANUAL", nil, bo)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := sim.CreateList(p.ID, "Customers", "contacts", "DYNAMIC", json.RawMessage(`{"filterBranchType":"OR","filters":[],"filterBranches":[{"filterBranchType":"AND","filterBranches":[],"filters":[{"filterType":"PROPERTY","property":"lifecyclestage","operation":{"operationType":"ENUMERATION","operator":"IS_ANY_OF","values":["customer"]}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := sim.CreateList(p.ID, "Others", "contacts", "MANUAL", nil)

	// The client-credentials token: the app's credentials and journal scopes only.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {"wrong"}, "scope": {ScopeJournalRead}}
	if code, body := getAppToken(t, srv.URL, form); code != 400 || body["error"] != "invalid_client" {
		t.Fatalf("bad secret: %d %v", code, body)
	}
	form.Set("client_secret", DefaultClientSecret)
	form.Set("scope", "crm.objects.contacts.read")
	if code, body := getAppToken(t, srv.URL, form); code != 400 || body["error"] != "invalid_scope" {
		t.Fatalf("CRM scope: %d %v", code, body)
	}
	form.Set("scope", ScopeJournalRead)
	_, readOnly := getAppToken(t, srv.URL, form)
	form.Set("scope", ScopeJournalRead+" "+ScopeJournalSubscriptionsRead+" "+ScopeJournalSubscriptionsWrite)
	code, tok := getAppToken(t, srv.URL, form)
	if code != 200 || tok["access_token"] == "" || tok["expires_in"] == nil || tok["refresh_token"] != nil {
		t.Fatalf("token: %d %v", code, tok)
	}
	j := &journalClient{t: t, base: srv.URL}
	if code, body, _ := j.do("GET", "/webhooks-journal/subscriptions/2026-03", nil); code != 401 || body["category"] != "INVALID_AUTHENTICATION" {
		t.Fatalf("no token: %d %v", code, body)
	}
	j.token = readOnly["access_token"].(string)
	sub := map[string]any{"subscriptionType": "LIST_MEMBERSHIP", "portalId": p.ID, "listIds": []string{static, dyn}, "objectIds": []int64{}, "actions": []string{"ADDED_TO_LIST", "REMOVED_FROM_LIST"}}
	if code, body, _ := j.do("POST", "/webhooks-journal/subscriptions/2026-03", sub); code != 403 || body["category"] != "MISSING_SCOPES" {
		t.Fatalf("read-only token subscribing: %d %v", code, body)
	}
	j.token = tok["access_token"].(string)

	for _, bad := range []map[string]any{
		{"subscriptionType": "LIST_MEMBERSHIP", "portalId": p.ID, "listIds": []json.Number{json.Number(static)}, "actions": []string{"ADDED_TO_LIST"}},
		{"subscriptionType": "LIST_MEMBERSHIP", "portalId": p.ID, "listIds": []json.Number{"999"}, "objectIds": []int64{}, "actions": []string{"ADDED_TO_LIST"}},
		{"subscriptionType": "LIST_MEMBERSHIP", "portalId": p.ID, "listIds": []json.Number{json.Number(static)}, "objectIds": []int64{}, "actions": []string{"CREATE"}},
		{"subscriptionType": "NOPE", "portalId": p.ID},
	} {
		if code, body, _ := j.do("POST", "/webhooks-journal/subscriptions/2026-03", bad); code != 400 || body["category"] != "VALIDATION_ERROR" || body["correlationId"] == "" {
			t.Fatalf("subscription %v: %d %v", bad, code, body)
		}
	}
	// listIds as numbers, as HubSpot's schema has them.
	sub["listIds"] = []json.Number{json.Number(static), json.Number(dyn)}
	code, created, raw := j.do("POST", "/webhooks-journal/subscriptions/2026-03", sub)
	if code != 201 || created["subscriptionType"] != "LIST_MEMBERSHIP" {
		t.Fatalf("subscribe: %d %s", code, raw)
	}
	// Upserting again updates the same subscription.
	if code, again, _ := j.do("POST", "/webhooks-journal/subscriptions/2026-03", sub); code != 200 || again["id"] != created["id"] {
		t.Fatalf("upsert: %d %v", code, again)
	}
	if code, list, _ := j.do("GET", "/webhooks-journal/subscriptions/2026-03", nil); code != 200 || len(list["results"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, list)
	}

	local := fmt.Sprintf("/webhooks-journal/journal-local/2026-03/batch/earliest/10?installPortalId=%d", p.ID)
	if code, body, _ := j.do("GET", local, nil); code != 200 || len(body["results"].([]any)) != 0 {
		t.Fatalf("members of the list when subscribed made events: %d %v", code, body)
	}

	// Ada joins the static list, then a list not subscribed to; Bo leaves;
	// Ada becomes a customer (the dynamic list's filters match her).
	if err := sim.AddToList(p.ID, static, ada); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddToList(p.ID, other, ada); err != nil {
		t.Fatal(err)
	}
	if err := sim.RemoveFromList(p.ID, static, bo); err != nil {
		t.Fatal(err)
	}
	if err := sim.UpdateObject(p.ID, "contacts", ada, map[string]string{"lifecyclestage": "customer"}); err != nil {
		t.Fatal(err)
	}

	code, batch, raw := j.do("GET", local, nil)
	if code != 200 || batch["status"] != "COMPLETE" {
		t.Fatalf("batch earliest: %d %s", code, raw)
	}
	results := batch["results"].([]any)
	if len(results) != 3 {
		t.Fatalf("want 3 entries (static add, static removal, dynamic add), got %s", raw)
	}
	var got []string
	for _, r := range results {
		for _, ev := range journalFile(t, r.(map[string]any)["url"].(string)) {
			if ev.PortalID != p.ID || ev.SubscriptionType != "LIST_MEMBERSHIP" || ev.ObjectTypeID != "0-1" || ev.EventID == 0 || ev.OccurredAt == 0 {
				t.Fatalf("event: %+v", ev)
			}
			got = append(got, fmt.Sprintf("%s %d %d", ev.Action, ev.ObjectID, ev.ListID))
		}
	}
	want := []string{"ADDED_TO_LIST " + ada + " " + static, "REMOVED_FROM_LIST " + bo + " " + static, "ADDED_TO_LIST " + ada + " " + dyn}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}

	// Reading on from an offset.
	first := results[0].(map[string]any)["currentOffset"].(string)
	last := results[2].(map[string]any)["currentOffset"].(string)
	if code, body, _ := j.do("GET", "/webhooks-journal/journal-local/2026-03/offset/"+first+"/next?installPortalId="+fmt.Sprint(p.ID), nil); code != 200 || body["currentOffset"] != results[1].(map[string]any)["currentOffset"] {
		t.Fatalf("next: %d %v", code, body)
	}
	if code, _, _ := j.do("GET", "/webhooks-journal/journal/2026-03/offset/"+last+"/next", nil); code != 204 {
		t.Fatalf("next after the last: %d, want 204", code)
	}
	if code, body, _ := j.do("GET", fmt.Sprintf("/webhooks-journal/journal-local/2026-03/batch/%s/next/10?installPortalId=%d", first, p.ID), nil); code != 200 || len(body["results"].([]any)) != 2 {
		t.Fatalf("batch next: %d %v", code, body)
	}
	if code, body, _ := j.do("GET", "/webhooks-journal/journal/2026-03/offset/00000000-0000-0000-0000-000000000000/next", nil); code != 404 || body["category"] != "OBJECT_NOT_FOUND" {
		t.Fatalf("unknown offset: %d %v", code, body)
	}
	if code, _, _ := j.do("GET", "/webhooks-journal/journal/2026-03/batch/earliest/101", nil); code != 400 {
		t.Fatalf("count 101: %d", code)
	}
	if code, body, _ := j.do("POST", "/webhooks-journal/journal/2026-03/batch/read", map[string]any{"inputs": []string{first, "nope"}}); code != 207 || body["numErrors"] != float64(1) || len(body["results"].([]any)) != 1 {
		t.Fatalf("batch read: %d %v", code, body)
	}

	// An outage of the journal: reads answer 503, then work again.
	if _, err := sim.SetMode(p.ID, Mode{Kind: ModeJournalOutage}); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := j.do("GET", local, nil); code != 503 || body["status"] != "error" {
		t.Fatalf("outage: %d %v", code, body)
	}
	sim.ClearMode(p.ID, ModeJournalOutage)
	if code, _, _ := j.do("GET", local, nil); code != 200 {
		t.Fatalf("after the outage: %d", code)
	}
	if n := len(sim.JournalEvents(p.ID)); n != 3 {
		t.Fatalf("JournalEvents: %d", n)
	}
	if code, _, _ := j.do("DELETE", "/webhooks-journal/subscriptions/2026-03/"+fmt.Sprint(created["id"]), nil); code != 204 || len(sim.JournalSubscriptions(p.ID)) != 0 {
		t.Fatalf("delete: %d", code)
	}
}
