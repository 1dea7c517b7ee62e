package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
)

// seedSalesEntry records a HubSpot event as the webhook receiver does, then
// what processing made of it (status, links, actions, workflow), and when it
// was received.
type seededEntry struct {
	workspace  *uuid.UUID
	objectType string
	objectID   int64
	status     string
	campaign   *uuid.UUID
	referral   *uuid.UUID
	workflowID string
	receivedAt time.Time
}

func seedSalesEntry(t *testing.T, d *testenv.Database, e seededEntry) db.SalesEntry {
	t.Helper()
	ctx := context.Background()
	q := d.Queries
	prop, value := "dealstage", "closedwon"
	payload := fmt.Sprintf(`{"objectId":%d,"subscriptionType":"%s.propertyChange","propertyName":"dealstage","propertyValue":"closedwon"}`, e.objectID, e.objectType)
	row, err := q.SalesEntryInsert(ctx, db.SalesEntryInsertParams{
		PortalID: 4242, WorkspaceID: e.workspace, DedupeKey: uuid.NewString(), SubscriptionType: e.objectType + ".propertyChange",
		ObjectType: e.objectType, ObjectID: e.objectID, PropertyName: &prop, PropertyValue: &value,
		OccurredAt: e.receivedAt.Add(-time.Second), Payload: json.RawMessage(payload),
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.status != "" && e.status != "received" {
		actions := json.RawMessage(`[{"action":"matched","how":"direct"}]`)
		if row, err = q.SalesEntryUpdateResult(ctx, db.SalesEntryUpdateResultParams{
			ID: row.ID, Status: e.status, CampaignID: e.campaign, ReferralID: e.referral, Actions: actions,
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Pool.Exec(ctx, `UPDATE sales_entries SET received_at = $2, workflow_id = NULLIF($3, ''),
		dispatched_at = CASE WHEN $3 = '' THEN NULL ELSE $2::timestamptz END WHERE id = $1`,
		row.ID, e.receivedAt, e.workflowID); err != nil {
		t.Fatal(err)
	}
	row, err = q.SalesEntryGetByID(ctx, row.ID)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

func listSalesEntries(t *testing.T, api adminClient, query string) SalesEntryList {
	t.Helper()
	rec := api.call("GET", "/api/v1/sales-entries?"+query, "")
	var l SalesEntryList
	if err := json.Unmarshal(rec.Body.Bytes(), &l); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("list sales entries?%s = %d %s", query, rec.Code, rec.Body)
	}
	return l
}

func salesEntryIDs(l SalesEntryList) []int64 {
	var out []int64
	for _, e := range l.SalesEntries {
		out = append(out, e.ID)
	}
	return out
}

// TestSalesEntriesLog lists the Sales Receiver log of a workspace with each
// filter and keyset pages, reads one entry with its payload, actions, Web UI
// link and review entry, and refuses bad parameters naming them.
func TestSalesEntriesLog(t *testing.T) {
	t.Parallel()
	f := newListFixture(t)
	ctx := context.Background()
	ws := &f.fx.Workspace.ID
	camp := &f.fx.Campaign.ID
	ref := &f.fx.Referral.ID
	day := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	e1 := seedSalesEntry(t, f.d, seededEntry{workspace: ws, objectType: "deal", objectID: 501, status: "processed", campaign: camp, referral: ref, workflowID: "referral/" + ref.String(), receivedAt: day})
	e2 := seedSalesEntry(t, f.d, seededEntry{workspace: ws, objectType: "contact", objectID: 601, status: "ignored", receivedAt: day.Add(time.Hour)})
	e3 := seedSalesEntry(t, f.d, seededEntry{workspace: ws, objectType: "contact", objectID: 602, status: "review", campaign: camp, workflowID: "", receivedAt: day.Add(2 * time.Hour)})
	e4 := seedSalesEntry(t, f.d, seededEntry{workspace: ws, objectType: "deal", objectID: 501, status: "failed", campaign: camp, receivedAt: day.Add(24 * time.Hour)})
	e5 := seedSalesEntry(t, f.d, seededEntry{workspace: ws, objectType: "company", objectID: 701, receivedAt: day.Add(25 * time.Hour)})
	// Not listed: another workspace's entry and one of a portal no workspace has.
	otherEntry := seedSalesEntry(t, f.d, seededEntry{workspace: &f.other.Workspace.ID, objectType: "deal", objectID: 501, status: "processed", receivedAt: day})
	orphan := seedSalesEntry(t, f.d, seededEntry{objectType: "deal", objectID: 501, receivedAt: day})
	if _, err := f.d.Pool.Exec(ctx, `UPDATE sales_entries SET workflow_id = 'sales-entry/' || id WHERE id = $1`, e3.ID); err != nil {
		t.Fatal(err)
	}
	review, err := f.d.Queries.ReviewEntryCreate(ctx, db.ReviewEntryCreateParams{
		WorkspaceID: *ws, CampaignID: camp, SalesEntryID: &e3.ID, Reason: "no_member_match", Data: json.RawMessage(`{"email":"x@example.com"}`),
	})
	if err != nil {
		t.Fatal(err)
	}

	newestFirst := []int64{e5.ID, e4.ID, e3.ID, e2.ID, e1.ID}
	if got := salesEntryIDs(listSalesEntries(t, f.api, "")); !slices.Equal(got, newestFirst) {
		t.Fatalf("all = %v, want %v (newest first, this workspace only)", got, newestFirst)
	}
	since := url.QueryEscape(day.Add(time.Hour).Format(time.RFC3339))
	until := url.QueryEscape(day.Add(24 * time.Hour).Format(time.RFC3339))
	for query, want := range map[string][]int64{
		"status=review":                               {e3.ID},
		"status=received":                             {e5.ID},
		"campaign_id=" + camp.String():                {e4.ID, e3.ID, e1.ID},
		"object_type=deal":                            {e4.ID, e1.ID},
		"object_type=deal&object_id=501":              {e4.ID, e1.ID},
		"object_id=601":                               {e2.ID},
		"object_type=company&status=processed":        nil,
		"since=" + since:                              {e5.ID, e4.ID, e3.ID, e2.ID},
		"until=" + until:                              {e3.ID, e2.ID, e1.ID},
		"since=" + since + "&until=" + until:          {e3.ID, e2.ID},
		"since=" + since + "&object_type=contact":     {e3.ID, e2.ID},
		"campaign_id=" + f.other.Campaign.ID.String(): nil,
		"status=processed&object_type=deal&limit=200": {e1.ID},
		"since=2026-11-21T09:00:00.000001%2B00:00":    {e5.ID},
	} {
		if got := salesEntryIDs(listSalesEntries(t, f.api, query)); !slices.Equal(got, want) {
			t.Errorf("?%s = %v, want %v", query, got, want)
		}
	}

	// Pages of 2: 2, 2, 1, the same order as one page.
	var paged []int64
	query := "limit=2"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		l := listSalesEntries(t, f.api, query)
		paged = append(paged, salesEntryIDs(l)...)
		if l.NextCursor == nil {
			break
		}
		query = "limit=2&cursor=" + url.QueryEscape(*l.NextCursor)
	}
	if !slices.Equal(paged, newestFirst) {
		t.Fatalf("paged = %v, want %v", paged, newestFirst)
	}

	// One entry: the raw payload, what was done, the Web UI link of the
	// workflow that handled it, and its review entry.
	rec := f.api.call("GET", "/api/v1/sales-entries/"+strconv.FormatInt(e3.ID, 10), "")
	var one SalesEntryView
	if err := json.Unmarshal(rec.Body.Bytes(), &one); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("get sales entry = %d %s", rec.Code, rec.Body)
	}
	wantURL := "http://localhost:8233/namespaces/default/workflows/sales-entry%2F" + strconv.FormatInt(e3.ID, 10)
	if one.Status != "review" || one.WorkflowURL != wantURL || *one.CampaignID != camp.String() ||
		!strings.Contains(string(one.Payload), `"objectId":602`) || !strings.Contains(string(one.Actions), `"matched"`) {
		t.Fatalf("one entry = %+v", one)
	}
	if one.ReviewEntry == nil || one.ReviewEntry.ID != review.ID.String() || one.ReviewEntry.Reason != "no_member_match" ||
		!strings.Contains(string(one.ReviewEntry.Data), "x@example.com") {
		t.Fatalf("review entry of the sales entry = %+v", one.ReviewEntry)
	}
	rec = f.api.call("GET", "/api/v1/sales-entries/"+strconv.FormatInt(e1.ID, 10), "")
	one = SalesEntryView{}
	_ = json.Unmarshal(rec.Body.Bytes(), &one)
	if one.ReviewEntry != nil || one.ReferralID == nil || *one.ReferralID != ref.String() ||
		one.WorkflowURL != "http://localhost:8233/namespaces/default/workflows/referral%2F"+ref.String() ||
		one.Dispatch.DispatchedAt == nil || one.Dispatch.NextAt != nil {
		t.Fatalf("processed entry = %+v", one)
	}
	rec = f.api.call("GET", "/api/v1/sales-entries/"+strconv.FormatInt(e5.ID, 10), "")
	one = SalesEntryView{}
	_ = json.Unmarshal(rec.Body.Bytes(), &one)
	if one.Status != "received" || one.WorkflowURL != "" || one.Dispatch.NextAt == nil || string(one.Actions) != "[]" {
		t.Fatalf("entry not yet dispatched = %+v", one)
	}
	for _, id := range []string{strconv.FormatInt(otherEntry.ID, 10), strconv.FormatInt(orphan.ID, 10), "9223372036854775807", "abc", "-1"} {
		rec := f.api.call("GET", "/api/v1/sales-entries/"+id, "")
		if e := decodeError(t, rec); rec.Code != http.StatusNotFound || e.Code != "not_found" {
			t.Errorf("sales entry %s = %d %+v, want 404", id, rec.Code, e)
		}
	}

	for query, fields := range map[string][]string{
		"status=done":                        {"status"},
		"object_type=ticket":                 {"object_type"},
		"object_id=-5":                       {"object_id"},
		"object_id=12abc":                    {"object_id"},
		"campaign_id=spring":                 {"campaign_id"},
		"since=yesterday":                    {"since"},
		"until=2026-11-20":                   {"until"},
		"since=" + until + "&until=" + since: {"until"},
		"limit=500":                          {"limit"},
		"cursor=" + *pageCursor{Kind: "referrals", ID: "x"}.encode():     {"cursor"},
		"cursor=" + *pageCursor{Kind: "sales_entries", ID: "x"}.encode(): {"cursor"},
		"portal_id=4242": {"portal_id"},
	} {
		rec := f.api.call("GET", "/api/v1/sales-entries?"+query, "")
		e := decodeError(t, rec)
		if rec.Code != http.StatusBadRequest || len(e.Fields) != len(fields) {
			t.Errorf("?%s = %d %+v, want 400 naming %v", query, rec.Code, e, fields)
			continue
		}
		for _, field := range fields {
			if e.Fields[field] == "" {
				t.Errorf("?%s: error %+v does not name %s", query, e, field)
			}
		}
	}
}
