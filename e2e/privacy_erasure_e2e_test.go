package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/personaldata"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/workflows"
)

// The person of the privacy tests: a lead whose email is written in
// another case and with a +tag, with a first and last name no one else
// has.
const (
	privacyEmail = "Zebulon.Quill+promo@Example.org"
	privacyFirst = "Zebulon"
	privacyLast  = "Quillfeather"
)

// privacyTerms are what must be found nowhere after an erasure: the email
// as given, in lower case and normalized, and the names.
func privacyTerms() []string {
	return []string{privacyEmail, strings.ToLower(privacyEmail), referral.NormalizeEmail(privacyEmail), privacyFirst, privacyLast}
}

// privacyLead makes the person a lead in HubSpot (a contact and a deal; the
// contact's creation and email reach referflow as sales entries that carry
// the email) and a referral of the stack's member, whose workflow runs and
// listens for HubSpot. It returns the referral's and the contact's IDs.
func privacyLead(t *testing.T, ctx context.Context, st *salesReceiverStack) (referralID string, contactID int64) {
	t.Helper()
	for _, sub := range [][2]string{{"contact.creation", ""}, {"contact.propertyChange", "email"}, {"contact.propertyChange", "firstname"},
		{"contact.deletion", ""}, {"contact.privacyDeletion", ""}, {"deal.propertyChange", "dealstage"}} {
		if _, err := st.hs.Sim.Subscribe(sub[0], sub[1]); err != nil {
			t.Fatal(err)
		}
	}
	contact, err := st.hs.Sim.CreateObject(st.hs.PortalID, "contacts", map[string]string{"email": privacyEmail, "firstname": privacyFirst, "lastname": privacyLast})
	if err != nil {
		t.Fatal(err)
	}
	deal, err := st.hs.Sim.CreateObject(st.hs.PortalID, "deals", map[string]string{"dealname": "Referral of " + privacyFirst, "pipeline": "default", "dealstage": "appointmentscheduled"})
	if err != nil {
		t.Fatal(err)
	}
	contactID, _ = strconv.ParseInt(contact, 10, 64)
	dealID, _ := strconv.ParseInt(deal, 10, 64)
	first, last := privacyFirst, privacyLast
	r, err := st.d.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
		WorkspaceID: st.fx.Workspace.ID, CampaignID: st.fx.Campaign.ID, MemberID: st.fx.Member.ID,
		LeadEmail: privacyEmail, LeadEmailNormalized: referral.NormalizeEmail(privacyEmail), LeadFirstName: &first, LeadLastName: &last,
		Source: "api", HubspotContactID: &contactID, HubspotDealID: &dealID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.d.Queries.MemberAddToReferralCounts(ctx, db.MemberAddToReferralCountsParams{ID: st.fx.Member.ID, Referrals: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := workflows.StartReferralWorkflow(ctx, st.tc.Client, st.tc.TaskQueue, st.tc.HubSpotTaskQueue, r.ID.String()); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "the referral's workflow listens", 1, `SELECT count(*) FROM referral_events WHERE referral_id = $1 AND kind = 'lead_not_sent'`, r.ID)
	// HubSpot's events about the contact are recorded, email and all.
	st.waitCount(t, ctx, "the contact's events recorded", 2, `SELECT count(*) FROM sales_entries WHERE object_type = 'contact' AND object_id = $1`, contactID)
	// Sales move the deal to a stage no rule names: the referral hears of
	// it (an audit event) and stays pending.
	if err := st.hs.Sim.UpdateObject(st.hs.PortalID, "deals", deal, map[string]string{"dealstage": "qualifiedtobuy"}); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "the deal's change reached the referral", 1, `SELECT count(*) FROM referral_events
		WHERE referral_id = $1 AND kind = 'hubspot_change' AND details->>'value' = 'qualifiedtobuy'`, r.ID)
	return r.ID.String(), contactID
}

// privacyCounts are the numbers an erasure must not change: the member's
// referral count and the campaign's referrals by status.
func privacyCounts(t *testing.T, ctx context.Context, st *salesReceiverStack) string {
	t.Helper()
	var counts string
	if err := st.d.Pool.QueryRow(ctx, `SELECT (SELECT referral_count || '/' || converted_referral_count FROM members WHERE id = $1) || ' ' ||
		(SELECT string_agg(status || '=' || n, ',' ORDER BY status) FROM (SELECT status, count(*) n FROM referrals WHERE campaign_id = $2 GROUP BY status) s) || ' ' ||
		(SELECT count(*) FROM members WHERE campaign_id = $2)`, st.fx.Member.ID, st.fx.Campaign.ID).Scan(&counts); err != nil {
		t.Fatal(err)
	}
	return counts
}

// adminCall calls the stack's API as an admin with key ("" for none) and
// returns the status and body.
func adminCall(t *testing.T, ctx context.Context, st *salesReceiverStack, key, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, st.apiURL+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// erasureSubject is the subject hash an erasure recorded.
func erasureSubject(t *testing.T, ctx context.Context, st *salesReceiverStack, id string) string {
	t.Helper()
	var subject string
	if err := st.d.Pool.QueryRow(ctx, `SELECT subject_hash FROM privacy_erasures WHERE id = $1`, id).Scan(&subject); err != nil {
		t.Fatal(err)
	}
	return subject
}

type erasureView struct {
	ID          string           `json:"id"`
	Status      string           `json:"status"`
	Source      string           `json:"source"`
	CompletedAt *time.Time       `json:"completed_at"`
	Counts      map[string]int64 `json:"counts"`
}

// eraseThroughAPI asks for an erasure and waits for it to complete,
// returning it and how long it took.
func eraseThroughAPI(t *testing.T, ctx context.Context, st *salesReceiverStack, key, email string) (erasureView, time.Duration) {
	t.Helper()
	start := time.Now()
	code, body := adminCall(t, ctx, st, key, "POST", "/api/v1/privacy/erasures", `{"email":"`+email+`"}`)
	var e erasureView
	if code != http.StatusAccepted || json.Unmarshal(body, &e) != nil || e.ID == "" || e.Status != "requested" || e.Source != "admin_api" {
		t.Fatalf("POST /privacy/erasures = %d %s", code, body)
	}
	if strings.Contains(strings.ToLower(string(body)), "zebulon") {
		t.Fatalf("the erasure's answer names the person: %s", body)
	}
	for e.Status != "completed" {
		select {
		case <-ctx.Done():
			t.Fatalf("erasure %s still %s", e.ID, e.Status)
		case <-time.After(100 * time.Millisecond):
		}
		code, body = adminCall(t, ctx, st, key, "GET", "/api/v1/privacy/erasures/"+e.ID, "")
		if code != http.StatusOK || json.Unmarshal(body, &e) != nil {
			t.Fatalf("GET /privacy/erasures/%s = %d %s", e.ID, code, body)
		}
	}
	return e, time.Since(start)
}

// TestPrivacyErasureThroughTheAPIMidFlow: a lead whose referral is pending,
// its workflow running, is exported (everything about them is there) and
// erased through the admin API. Within 60 seconds no table of the database
// holds their email (in any spelling) or names; the member's and the
// campaign's counts are unchanged; the export is empty. The referral's
// workflow goes on: the deal is won, the referral approved and rewarded,
// and still nothing about the lead is written — not to Postgres, not to
// HubSpot (no status write is queued for their records). Erasing again is
// harmless; a caller without an API key gets 401 and a bad email a 400 JSON
// error.
func TestPrivacyErasureThroughTheAPIMidFlow(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := newSalesReceiverStack(t, ctx, hubspotsim.WebhookOptions{RetryBase: 20 * time.Millisecond})
	_, key, err := adminauth.CreateAdmin(ctx, st.d.Queries, st.fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	referralID, _ := privacyLead(t, ctx, st)
	before := privacyCounts(t, ctx, st)
	if found := st.d.FindText(t, privacyTerms()...); len(found) < 3 {
		t.Fatalf("the person should be in the referral, its events and the sales entries first; found %v", found)
	}

	// Who may ask, and how.
	if code, body := adminCall(t, ctx, st, "", "POST", "/api/v1/privacy/erasures", `{"email":"`+privacyEmail+`"}`); code != http.StatusUnauthorized || !strings.Contains(string(body), `"code"`) {
		t.Fatalf("without an API key: %d %s, want 401 JSON", code, body)
	}
	if code, body := adminCall(t, ctx, st, "", "POST", "/api/v1/privacy/exports", `{"email":"`+privacyEmail+`"}`); code != http.StatusUnauthorized {
		t.Fatalf("export without an API key: %d %s, want 401", code, body)
	}
	for _, bad := range []string{`{"email":"not-an-email"}`, `{"email":""}`, `{"mail":"x@y.z"}`, `not json`} {
		code, body := adminCall(t, ctx, st, key, "POST", "/api/v1/privacy/erasures", bad)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		want := http.StatusBadRequest
		if strings.Contains(bad, "mail\"") && !strings.Contains(bad, "email") {
			want = http.StatusUnprocessableEntity // an unknown field, as everywhere in the API
		}
		if code != want || json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
			t.Errorf("POST %s = %d %s, want a %d JSON error saying what is wrong", bad, code, body, want)
		}
	}

	// The export before: everything about them.
	code, body := adminCall(t, ctx, st, key, "POST", "/api/v1/privacy/exports", `{"email":"zebulon.quill@example.org"}`)
	var export struct {
		ReferralsAsLead []map[string]any `json:"referrals_as_lead"`
		SalesEntries    []map[string]any `json:"sales_entries"`
		AuditEvents     []map[string]any `json:"audit_events"`
		Members         []map[string]any `json:"members"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &export) != nil || len(export.ReferralsAsLead) != 1 || len(export.SalesEntries) < 2 ||
		len(export.AuditEvents) < 2 || !strings.Contains(string(body), privacyEmail) || !strings.Contains(string(body), privacyLast) {
		t.Fatalf("export before the erasure = %d %s", code, body)
	}

	// Sealed in Temporal: not readable as stored, readable with the keys.
	if export := strings.ToLower(string(st.historyExport(t, ctx, nil))); strings.Contains(export, strings.ToLower(privacyEmail)) {
		t.Fatal("the histories hold the lead's email readable before any erasure")
	}
	if export := strings.ToLower(string(st.historyExport(t, ctx, &personaldata.Codec{Keys: st.keys}))); !strings.Contains(export, strings.ToLower(privacyEmail)) {
		t.Fatal("with the keys the histories should show the lead's email: the search below would find nothing either way")
	}

	erasure, took := eraseThroughAPI(t, ctx, st, key, strings.ToUpper(privacyEmail))
	if took > 60*time.Second {
		t.Fatalf("the erasure took %s, over a minute", took)
	}
	t.Logf("erased in %s: %v", took.Round(time.Millisecond), erasure.Counts)
	if erasure.Counts["referrals"] != 1 || erasure.Counts["sales_entries"] < 2 {
		t.Fatalf("counts = %v", erasure.Counts)
	}
	if found := st.d.FindText(t, privacyTerms()...); len(found) > 0 {
		t.Fatalf("after the erasure the person is still in %v", found)
	}
	// Their payload key is gone, in the same transaction: a tombstone.
	subject, err := st.keys.Subject(ctx, privacyEmail)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := st.d.Queries.PersonKeyGet(ctx, subject); err != nil || k.SealedKey != nil || k.ErasedAt == nil {
		t.Fatalf("the person's payload key after the erasure: %+v (%v), want a tombstone", k, err)
	}
	if after := privacyCounts(t, ctx, st); after != before {
		t.Fatalf("counts changed: %s, before %s", after, before)
	}
	code, body = adminCall(t, ctx, st, key, "POST", "/api/v1/privacy/exports", `{"email":"`+privacyEmail+`"}`)
	for _, list := range []string{"members", "referrals_as_lead", "referrals_as_referrer", "rewards", "emails", "sales_entries", "review_entries", "webhook_deliveries", "audit_events"} {
		if !strings.Contains(string(body), `"`+list+`":[]`) {
			t.Errorf("export after the erasure: %s is not empty: %d %s", list, code, body)
		}
	}

	// The workflow goes on: the deal is won, the referral approved and
	// rewarded; nothing about the lead comes back.
	desc, err := st.tc.Client.DescribeWorkflowExecution(ctx, workflows.ReferralWorkflowID(referralID), "")
	if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("the referral's workflow after the erasure: %v %v", desc.GetWorkflowExecutionInfo().GetStatus(), err)
	}
	var deal string
	if err := st.d.Pool.QueryRow(ctx, `SELECT hubspot_deal_id::text FROM referrals WHERE id = $1`, referralID).Scan(&deal); err != nil {
		t.Fatal(err)
	}
	if err := st.hs.Sim.UpdateObject(st.hs.PortalID, "deals", deal, map[string]string{"dealstage": "closedwon"}); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "reward issued after the erasure", 1, `SELECT count(*) FROM rewards WHERE referral_id = $1 AND status = 'issued'`, referralID)
	st.waitCount(t, ctx, "reward webhook queued", 1, `SELECT count(*) FROM webhook_deliveries WHERE event_type = 'reward.issued'`)
	var status string
	var writes int
	if err := st.d.Pool.QueryRow(ctx, `SELECT status, (SELECT count(*) FROM referral_hubspot_writes WHERE referral_id = $1) FROM referrals WHERE id = $1`, referralID).Scan(&status, &writes); err != nil ||
		status != "approved" || writes != 0 {
		t.Fatalf("after the win: referral %s, %d HubSpot status writes queued (%v); want approved, none", status, writes, err)
	}
	if found := st.d.FindText(t, privacyTerms()...); len(found) > 0 {
		t.Fatalf("the person came back: %v", found)
	}

	// Nor is it in any Temporal history of the stack: the referral's (its
	// workflow still running, its payloads sealed under the erased key), the
	// Sales Receiver's, the erasure's own (which never carried the email),
	// searched inside every payload as stored and as an operator's codec
	// server decodes it.
	codec := &personaldata.Codec{Keys: personaldata.NewKeyring(st.d.Pool, mustBox(t))}
	for name, dec := range map[string]converter.PayloadCodec{"as stored": nil, "through the codec server": codec} {
		export := strings.ToLower(string(st.historyExport(t, ctx, dec)))
		for _, term := range privacyTerms() {
			if strings.Contains(export, strings.ToLower(term)) {
				t.Errorf("%s, the histories name the person (%q)", name, term)
			}
		}
	}
	if _, err := st.tc.Client.DescribeWorkflowExecution(ctx, workflows.PrivacyErasureWorkflowID(erasureSubject(t, ctx, st, erasure.ID)), ""); err != nil {
		t.Fatalf("the erasure's workflow: %v", err)
	}

	// Again: harmless, nothing left to erase.
	again, _ := eraseThroughAPI(t, ctx, st, key, privacyEmail)
	for table, n := range again.Counts {
		if n != 0 {
			t.Errorf("a second erasure changed %d rows of %s", n, table)
		}
	}
}

// TestPrivacyErasureFromHubSpotGDPRDelete: the lead's contact is deleted in
// HubSpot for privacy. HubSpot's contact.privacyDeletion erases them within
// 60 seconds, from every table, counts unchanged; the contact.deletion that
// comes with it (in either order) still reaches the referral's workflow.
func TestPrivacyErasureFromHubSpotGDPRDelete(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := newSalesReceiverStack(t, ctx, hubspotsim.WebhookOptions{RetryBase: 20 * time.Millisecond, Shuffle: true})
	referralID, contactID := privacyLead(t, ctx, st)
	before := privacyCounts(t, ctx, st)

	start := time.Now()
	if err := st.hs.Sim.GDPRDeleteContact(st.hs.PortalID, strconv.FormatInt(contactID, 10)); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "the erasure completed", 1, `SELECT count(*) FROM privacy_erasures WHERE source = 'hubspot_privacy_deletion' AND status = 'completed'`)
	took := time.Since(start)
	if took > 60*time.Second {
		t.Fatalf("the erasure took %s, over a minute", took)
	}
	t.Logf("erased %s after HubSpot's deletion", took.Round(time.Millisecond))
	// The deletion reaches the referral too, whichever came first.
	st.waitCount(t, ctx, "the deletion reached the referral", 1, `SELECT count(*) FROM sales_entries
		WHERE subscription_type = 'contact.deletion' AND object_id = $1 AND status = 'processed' AND referral_id = $2`, contactID, referralID)
	var privacyEntry string
	if err := st.d.Pool.QueryRow(ctx, `SELECT status || ' ' || actions::text FROM sales_entries WHERE subscription_type = 'contact.privacyDeletion' AND object_id = $1`,
		contactID).Scan(&privacyEntry); err != nil || !strings.HasPrefix(privacyEntry, "processed") || !strings.Contains(privacyEntry, "erasure_requested") {
		t.Fatalf("the privacy deletion's entry: %s (%v)", privacyEntry, err)
	}
	if found := st.d.FindText(t, privacyTerms()...); len(found) > 0 {
		t.Fatalf("after HubSpot's privacy deletion the person is still in %v", found)
	}
	if after := privacyCounts(t, ctx, st); after != before {
		t.Fatalf("counts changed: %s, before %s", after, before)
	}
	var erasures int
	if err := st.d.Pool.QueryRow(ctx, `SELECT count(*) FROM privacy_erasures`).Scan(&erasures); err != nil || erasures != 1 {
		t.Fatalf("%d erasures recorded (%v), want 1", erasures, err)
	}
}
