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

	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
)

// TestAnEditedSalesEntryRerunMovesTheReferral: sales moves a referral's
// deal to a stage no status rule names; HubSpot's webhook reaches the
// referral, which stays pending. The admin edits that entry's payload to
// the winning stage and re-runs it through the JSON API: the re-run is a
// new entry, linked to the original, routed by the dispatcher like any
// other, and the referral is approved and rewarded. The original entry is
// left exactly as it was.
func TestAnEditedSalesEntryRerunMovesTheReferral(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := newSalesReceiverStack(t, ctx, hubspotsim.WebhookOptions{RetryBase: 20 * time.Millisecond})
	ids, deals := st.addReferrals(t, ctx, 1)
	referralID, deal := ids[0], deals[0]
	_, key, err := adminauth.CreateAdmin(ctx, st.d.Queries, st.fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string, out any) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, st.apiURL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if out != nil && json.Unmarshal(b, out) != nil {
			t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, b)
		}
		return resp.StatusCode
	}

	// Sales moves the deal to a stage no rule names: the referral hears of
	// it and stays pending.
	if err := st.hs.Sim.UpdateObject(st.hs.PortalID, "deals", deal, map[string]string{"dealstage": "qualifiedtobuy"}); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "the change reached the referral", 1, `SELECT count(*) FROM referral_events
		WHERE referral_id = $1 AND kind = 'hubspot_change' AND details->>'value' = 'qualifiedtobuy'`, referralID)
	var origID int64
	if err := st.d.Pool.QueryRow(ctx, `SELECT id FROM sales_entries WHERE object_id::text = $1 AND property_value = 'qualifiedtobuy'`, deal).Scan(&origID); err != nil {
		t.Fatal(err)
	}
	before, err := st.d.Queries.SalesEntryGetByID(ctx, origID)
	if err != nil || before.Status != "processed" || before.DispatchedAt == nil {
		t.Fatalf("original entry = %+v %v, want processed", before, err)
	}
	var status string
	if err := st.d.Pool.QueryRow(ctx, `SELECT status FROM referrals WHERE id = $1`, referralID).Scan(&status); err != nil || status != "pending" {
		t.Fatalf("referral %q (%v), want pending", status, err)
	}

	// The admin reads the entry, sets the winning stage and re-runs it.
	var entry struct {
		Payload map[string]any `json:"payload"`
	}
	if code := call("GET", "/api/v1/sales-entries/"+strconv.FormatInt(origID, 10), "", &entry); code != http.StatusOK {
		t.Fatalf("read entry = %d", code)
	}
	entry.Payload["propertyValue"] = "closedwon"
	body, _ := json.Marshal(map[string]any{"payload": entry.Payload})
	var rerun struct {
		ID      int64  `json:"id"`
		RerunOf *int64 `json:"rerun_of"`
	}
	if code := call("POST", "/api/v1/sales-entries/"+strconv.FormatInt(origID, 10)+"/rerun", string(body), &rerun); code != http.StatusCreated || rerun.RerunOf == nil || *rerun.RerunOf != origID {
		t.Fatalf("re-run = %d %+v, want 201 linked to %d", code, rerun, origID)
	}

	// The dispatcher routes the re-run; the rule approves the referral.
	st.waitCount(t, ctx, "reward issued", 1, `SELECT count(*) FROM rewards WHERE referral_id = $1 AND status = 'issued'`, referralID)
	if err := st.d.Pool.QueryRow(ctx, `SELECT status FROM referrals WHERE id = $1`, referralID).Scan(&status); err != nil || status != "approved" {
		t.Fatalf("referral %q (%v), want approved", status, err)
	}
	var moved int
	if err := st.d.Pool.QueryRow(ctx, `SELECT count(*) FROM referral_events WHERE referral_id = $1 AND sales_entry_id = $2 AND to_status = 'approved'`,
		referralID, rerun.ID).Scan(&moved); err != nil || moved != 1 {
		t.Fatalf("%d approvals caused by the re-run entry (%v), want 1", moved, err)
	}
	after, err := st.d.Queries.SalesEntryGetByID(ctx, rerun.ID)
	if err != nil || after.Status != "processed" || after.DispatchedAt == nil || after.RerunOf == nil || *after.RerunOf != origID ||
		!strings.Contains(string(after.Actions), `"step": "rerun"`) || !strings.Contains(string(after.Actions), `"step": "signalled"`) {
		t.Fatalf("re-run entry = %+v %v, want processed: re-run, then signalled", after, err)
	}

	// The original is exactly as it was.
	orig, err := st.d.Queries.SalesEntryGetByID(ctx, origID)
	if err != nil || orig.Status != before.Status || string(orig.Actions) != string(before.Actions) || string(orig.Payload) != string(before.Payload) ||
		!orig.UpdatedAt.Equal(before.UpdatedAt) || deref(orig.PropertyValue) != "qualifiedtobuy" {
		t.Fatalf("original after the re-run = %+v %v, want it unchanged", orig, err)
	}
}
