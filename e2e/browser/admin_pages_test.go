package browser_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/browser"
)

// adminPageShots is where the admin pages' walk saves its screenshots:
// REFERFLOW_SCREENSHOTS when set (docs/screenshots for the README), else the
// test's own folder.
func adminPageShots(t *testing.T) string {
	if dir := os.Getenv("REFERFLOW_SCREENSHOTS"); dir != "" {
		return dir
	}
	return t.TempDir()
}

// TestAdminMembersReferralsAndReview: a program admin signs in, adds a
// member, opens them, adds a referral for them, opens it, is told on the
// page why a denial without a reason is refused, denies it with a reason
// and sees it in the audit trail; then reads the review queue, an entry
// with what HubSpot sent, and the Sales Receiver's log, where re-running an
// entry still in flight is refused on the page — every page with no
// accessibility problem, each saved as a screenshot.
func TestAdminMembersReferralsAndReview(t *testing.T) {
	t.Parallel()
	browser.Require(t)
	st := newStack(t)
	ctx := context.Background()
	_, key, err := adminauth.CreateAdmin(ctx, st.d.Queries, st.fx.Workspace.ID, "ops@acme.test", "Ops")
	if err != nil {
		t.Fatal(err)
	}
	b := browser.New(t)
	dir := adminPageShots(t)
	page := func(name, wantH1 string) {
		t.Helper()
		if h1 := b.Text("h1"); h1 != wantH1 {
			t.Fatalf("%s: the page's heading is %q, want %q (at %s): %s", name, h1, wantH1, b.Location(), b.Text("main"))
		}
		b.CheckAccessible(name)
		b.Screenshot(filepath.Join(dir, "admin-"+name+".png"))
	}

	b.Open(st.url + "/admin/members")
	b.Type(`input[name="api_key"]`, key)
	if status := b.Submit(`form [type="submit"]`); status != http.StatusOK {
		t.Fatalf("sign in answered %d", status)
	}
	page("members", "Members")
	if !strings.Contains(b.Text("main"), st.fx.Member.Email) {
		t.Fatalf("the members page does not list Maya: %s", b.Text("main"))
	}

	// Add a member, and open them.
	b.Type(`#f-email`, "nora@example.org")
	b.Type(`#f-first_name`, "Nora")
	if status := b.Submit(`form[method="post"][action="/admin/members"] [type="submit"]`); status != http.StatusOK {
		t.Fatalf("add a member answered %d: %s", status, b.Text("main"))
	}
	page("member", "Nora")
	if body := b.Text("main"); !strings.Contains(body, "nora@example.org was added") || !b.Exists(`img[alt*="QR"]`) {
		t.Fatalf("the new member's page: %s", body)
	}

	// Add a referral from her page; it opens.
	b.Type(`#f-lead_email`, "otto@example.org")
	b.Type(`#f-lead_first_name`, "Otto")
	if status := b.Submit(`form[action$="/referrals"] [type="submit"]`); status != http.StatusOK {
		t.Fatalf("add a referral answered %d: %s", status, b.Text("main"))
	}
	page("referral", "Referral of otto@example.org")
	refID := strings.TrimPrefix(strings.SplitN(b.Location(), "/admin/referrals/", 2)[1], "")
	waitWorkflowStarted(t, st.d.Queries, refID)

	// A denial without a reason: the workflow refuses, the page says why.
	b.Select(`#f-status`, "denied")
	if status := b.Submit(`form[action$="/decision"] [type="submit"]`); status != http.StatusUnprocessableEntity {
		t.Fatalf("a denial without a reason answered %d, want 422", status)
	}
	if body := b.Text("main"); !strings.Contains(body, "reason") {
		t.Fatalf("the refused denial does not say what to fix: %s", body)
	}
	page("referral-refused", "Referral of otto@example.org")
	b.Select(`#f-status`, "denied")
	b.Type(`#f-reason`, "a colleague, not a customer")
	if status := b.Submit(`form[action$="/decision"] [type="submit"]`); status != http.StatusOK {
		t.Fatalf("the denial answered %d: %s", status, b.Text("main"))
	}
	if body := b.Text("main"); !strings.Contains(body, "The referral is now denied.") || !strings.Contains(body, "a colleague, not a customer") {
		t.Fatalf("after the denial the page says: %s", body)
	}
	page("referral-denied", "Referral of otto@example.org")

	b.Open(st.url + "/admin/referrals?status=denied")
	page("referrals", "Referrals")
	if !strings.Contains(b.Text("main"), "otto@example.org") {
		t.Fatalf("the denied referrals do not list Otto: %s", b.Text("main"))
	}

	// The review queue and the Sales Receiver's log, with an entry of each.
	entry, err := st.d.Queries.SalesEntryInsert(ctx, db.SalesEntryInsertParams{
		PortalID: 4242, WorkspaceID: &st.fx.Workspace.ID, DedupeKey: uuid.NewString(), SubscriptionType: "contact.creation",
		ObjectType: "contact", ObjectID: 777, OccurredAt: time.Now().UTC(),
		Payload: json.RawMessage(`{"subscriptionType":"contact.creation","objectId":777,"portalId":4242}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.d.Queries.ReviewEntryCreate(ctx, db.ReviewEntryCreateParams{
		WorkspaceID: st.fx.Workspace.ID, CampaignID: &st.fx.Campaign.ID, SalesEntryID: &entry.ID,
		Reason: "no_member_match", Data: json.RawMessage(`{"email":"pia@example.net"}`),
	}); err != nil {
		t.Fatal(err)
	}
	b.Open(st.url + "/admin/review")
	page("review-queue", "Review queue")
	if status := b.Follow(`a[href^="/admin/review/"]`); status != http.StatusOK {
		t.Fatalf("the review entry answered %d", status)
	}
	page("review-entry", "Review entry")
	if body := b.Text("main"); !strings.Contains(body, "pia@example.net") || !strings.Contains(body, `"objectId": 777`) {
		t.Fatalf("the review entry does not show the proposal and what HubSpot sent: %s", body)
	}
	b.Open(st.url + "/admin/sales-receiver")
	page("sales-receiver", "Sales Receiver log")
	if status := b.Follow(`a[href="/admin/sales-receiver/` + strconv.FormatInt(entry.ID, 10) + `"]`); status != http.StatusOK {
		t.Fatalf("the sales entry answered %d", status)
	}
	page("sales-entry", "HubSpot change "+strconv.FormatInt(entry.ID, 10))
	// The entry is not routed yet: the edit-and-re-run form says so, on
	// the page, next to the payload it keeps.
	if !b.Exists(`form[action$="/rerun"] textarea#f-rerun-payload`) {
		t.Fatalf("the entry's page has no edit-and-re-run form: %s", b.Text("main"))
	}
	if status := b.Submit(`form[action$="/rerun"] [type="submit"]`); status != http.StatusConflict {
		t.Fatalf("re-running an entry in flight answered %d, want 409: %s", status, b.Text("main"))
	}
	if body := b.Text("#f-rerun-payload-error"); !strings.Contains(body, "still being processed") {
		t.Fatalf("the refused re-run does not say why next to the payload: %s", b.Text("main"))
	}
	page("sales-entry-rerun-refused", "HubSpot change "+strconv.FormatInt(entry.ID, 10))
}

// waitWorkflowStarted waits until the referral's workflow has recorded its
// start: decisions are workflow updates, which need it running.
func waitWorkflowStarted(t *testing.T, q *db.Queries, referralID string) {
	t.Helper()
	id, err := uuid.Parse(referralID)
	if err != nil {
		t.Fatalf("referral ID %q: %v", referralID, err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		events, err := q.ReferralEventListByReferral(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			if ev.Kind == "workflow_started" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("referral %s: its workflow never started", referralID)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
