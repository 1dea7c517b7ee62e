package api

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/workflows"
)

// pageContains fails unless the page shows each of want.
func pageContains(t *testing.T, what, page string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

// follow opens where a successful form sent the browser (303), and fails
// on any other answer.
func (b *adminBrowser) follow(rec interface {
	Result() *http.Response
}, what string) (string, string) {
	b.t.Helper()
	res := rec.Result()
	if res.StatusCode != http.StatusSeeOther {
		body := make([]byte, 2000)
		n, _ := res.Body.Read(body)
		b.t.Fatalf("%s = %d, want 303: %s", what, res.StatusCode, body[:n])
	}
	loc := res.Header.Get("Location")
	return loc, b.get(loc, http.StatusOK)
}

// TestAdminMemberAndReferralPages walks the members and referrals pages as
// an admin would, over real Postgres, Temporal and the worker: the list and
// its search, adding a member (and what is wrong with a bad one), the
// member's page, an access link, adding a referral, its page with the audit
// trail and the Temporal link, a decision the workflow refuses (shown on
// the page) and one it takes; every form needs the CSRF token.
func TestAdminMemberAndReferralPages(t *testing.T) {
	t.Parallel()
	r := newReviewAPI(t)
	b := signInAdmin(t, r.srv, r.d, r.fx.Workspace, "pages@acme.test")
	camp := r.fx.Campaign.ID.String()

	page := b.get("/admin/members", http.StatusOK)
	pageContains(t, "the members page", page, `aria-current="page">Members</a>`, r.fx.Campaign.Name, r.fx.Member.Email,
		`href="/admin/members/`+r.fx.Member.ID.String()+`"`, `action="/admin/members"`, `name="csrf_token"`)
	if n := strings.Count(page, "<h1"); n != 1 {
		t.Errorf("the members page has %d h1", n)
	}

	// Without the token nothing is added.
	form := url.Values{"campaign_id": {camp}, "email": {"ana@example.com"}, "first_name": {"Ana"}}
	if rec := b.send(http.MethodPost, "/admin/members", form); rec.Code != http.StatusForbidden {
		t.Fatalf("add member without the CSRF token = %d", rec.Code)
	}
	// A bad email: the form again, saying what to fix next to the field.
	rec := b.post("/admin/members", "/admin/members", url.Values{"campaign_id": {camp}, "email": {"not an email"}, "first_name": {"Ana"}})
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("add member with a bad email = %d %s", rec.Code, rec.Body)
	}
	pageContains(t, "the refused form", rec.Body.String(), `role="alert"`, `aria-invalid="true"`, `id="f-email-error"`, `value="Ana"`)
	// Another workspace's campaign is not found.
	other := r.d.SeedReferral(t)
	if rec := b.post("/admin/members", "/admin/members", url.Values{"campaign_id": {other.Campaign.ID.String()}, "email": {"x@example.com"}}); rec.Code != http.StatusNotFound {
		t.Fatalf("add member to another workspace's campaign = %d", rec.Code)
	}

	loc, page := b.follow(b.post("/admin/members", "/admin/members", form), "add member")
	memberPath := loc
	pageContains(t, "the new member's page", page, "ana@example.com was added", "ana@example.com", "/r/", `src="/r/`, "qr.svg",
		"No referrals yet.", `action="`+memberPath+`/referrals"`, `action="`+memberPath+`/access-link"`)
	// The same email again: refused, naming the field.
	rec = b.post("/admin/members", "/admin/members", form)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "is already a member") {
		t.Fatalf("the same member again = %d", rec.Code)
	}

	// Search by email, name and code; paging keeps the search.
	for _, q := range []string{"ana@", "ANA", "Ana"} {
		if page := b.get("/admin/members?campaign_id="+camp+"&q="+url.QueryEscape(q), http.StatusOK); !strings.Contains(page, "ana@example.com") || strings.Contains(page, r.fx.Member.Email) {
			t.Errorf("search %q does not find only Ana", q)
		}
	}
	if page := b.get("/admin/members?campaign_id="+camp+"&q=nobody-like-this", http.StatusOK); !strings.Contains(page, "No member matches") {
		t.Error("a search without results does not say so")
	}
	if rec := b.send(http.MethodGet, "/admin/members?campaign_id="+camp+"&cursor=nonsense", nil); rec.Code != http.StatusBadRequest {
		t.Errorf("a bad cursor = %d, want 400", rec.Code)
	}

	// An access link.
	rec = b.post(memberPath, memberPath+"/access-link", url.Values{"expires_in_hours": {"9999"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "90 days") {
		t.Fatalf("a too long access link = %d", rec.Code)
	}
	rec = b.post(memberPath, memberPath+"/access-link", url.Values{"expires_in_hours": {"24"}})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), memberPortalPrefix) {
		t.Fatalf("access link = %d", rec.Code)
	}

	// A referral: a bad email is refused on the member's page; a good one
	// opens the referral's page.
	rec = b.post(memberPath, memberPath+"/referrals", url.Values{"lead_email": {"nope"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `id="f-lead_email-error"`) {
		t.Fatalf("a referral with a bad email = %d", rec.Code)
	}
	refPath, page := b.follow(b.post(memberPath, memberPath+"/referrals", url.Values{"lead_email": {"bo@example.org"}, "lead_first_name": {"Bo"}}), "add referral")
	pageContains(t, "the referral's page", page, "bo@example.org was added", "Audit trail", "https://temporal.example.com/namespaces/refer%20flow/workflows/referral%2F",
		`action="`+refPath+`/decision"`)
	refID := strings.TrimPrefix(refPath, "/admin/referrals/")
	waitForEvent(t, r.api, refID, "workflow_started")

	// Nothing waits: retry and give up are refused, on the page.
	for path, form := range map[string]url.Values{refPath + "/retry": {}, refPath + "/give-up": {"give_up_reason": {"enough"}}} {
		rec := b.post(refPath, path, form)
		if rec.Code != http.StatusUnprocessableEntity && rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), `role="alert"`) {
			t.Errorf("%s with nothing waiting = %d %s", path, rec.Code, rec.Body)
		}
	}
	if rec := b.post(refPath, refPath+"/give-up", url.Values{}); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "say why you give up") {
		t.Errorf("give up without a reason = %d", rec.Code)
	}

	// The workflow's validator refuses a denial without a reason: shown on
	// the page, nothing changes.
	rec = b.post(refPath, refPath+"/decision", url.Values{"status": {"denied"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "needs a reason") {
		t.Fatalf("denial without a reason = %d %s", rec.Code, rec.Body)
	}
	rec = b.post(refPath, refPath+"/decision", url.Values{"status": {"shipped"}})
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("an unknown status = %d", rec.Code)
	}
	_, page = b.follow(b.post(refPath, refPath+"/decision", url.Values{"status": {"denied"}, "reason": {"looked like a test"}}), "deny")
	pageContains(t, "the denied referral's page", page, "The referral is now denied.", "looked like a test")
	got := waitForStatus(t, r.api, refID, "denied")
	if last := got.Events[len(got.Events)-1]; last.ToStatus != "denied" || last.Actor != "admin:"+b.admin.ID.String() {
		t.Fatalf("the audit trail's last event = %+v", last)
	}

	// The list: filters and what is wrong with them.
	page = b.get("/admin/referrals?campaign_id="+camp+"&status=denied", http.StatusOK)
	pageContains(t, "the denied referrals", page, "bo@example.org", `href="`+refPath+`"`)
	if strings.Contains(page, r.fx.Referral.LeadEmail) {
		t.Error("the denied filter shows a pending referral")
	}
	if rec := b.send(http.MethodGet, "/admin/referrals?status=shipped", nil); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "must be one of") {
		t.Fatalf("a bad status filter = %d", rec.Code)
	}
	page = b.get(memberPath, http.StatusOK)
	pageContains(t, "the member's page after the referral", page, `href="`+refPath+`"`, "denied")
}

// TestAdminReviewAndSalesReceiverPages: the review queue shows an entry with
// what HubSpot sent and the proposal; a decision the workflow's validator
// refuses is shown on the page; an accepted one reaches the workflow as the
// JSON API's update. The Sales Receiver log shows the entry, its payload,
// and what is wrong with a filter.
func TestAdminReviewAndSalesReceiverPages(t *testing.T) {
	t.Parallel()
	r := newReviewAPI(t)
	ctx := context.Background()
	ws := r.fx.Workspace.ID
	b := signInAdmin(t, r.srv, r.d, r.fx.Workspace, "pages@acme.test")
	entry := seedSalesEntry(t, r.d, seededEntry{workspace: &ws, objectType: "deal", objectID: 9001, status: "review", receivedAt: time.Now()})
	wfID := workflows.SalesEntryWorkflowID(entry.ID)
	run, err := r.tc.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wfID, TaskQueue: r.fakeQueue},
		workflows.SalesEntryWorkflowType, workflows.SalesEntryInput{SalesEntryID: entry.ID})
	if err != nil {
		t.Fatal(err)
	}
	held := r.reviewEntry(t, ws, &entry.ID, nil, "no_member_match", wfID)
	entryPath := "/admin/review/" + held.ID.String()

	page := b.get("/admin/review", http.StatusOK)
	pageContains(t, "the review queue", page, `aria-current="page">Review queue</a>`, `href="`+entryPath+`"`, "no_member_match")
	page = b.get(entryPath, http.StatusOK)
	pageContains(t, "the review entry", page, "new.lead@example.org", "What HubSpot sent", "closedwon", "Dismiss", "Attach to a referral", "Edit and match again",
		`value="new.lead@example.org"`)

	if rec := b.send(http.MethodPost, entryPath+"/decision", url.Values{"action": {"dismiss"}, "reason": {"spam"}}); rec.Code != http.StatusForbidden {
		t.Fatalf("a decision without the CSRF token = %d", rec.Code)
	}
	rec := b.post(entryPath, entryPath+"/decision", url.Values{"action": {"approve"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "nothing to approve") {
		t.Fatalf("an approval the validator refuses = %d %s", rec.Code, rec.Body)
	}
	rec = b.post(entryPath, entryPath+"/decision", url.Values{"action": {"attach_referral"}, "referral_id": {"not-a-uuid"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `id="f-referral_id-error"`) {
		t.Fatalf("attach to a malformed referral ID = %d", rec.Code)
	}
	_, page = b.follow(b.post(entryPath, entryPath+"/decision", url.Values{"action": {"dismiss"}, "reason": {"a test deal"}}), "dismiss")
	pageContains(t, "the page after the decision", page, "Your decision (dismiss) was sent.")
	var st fakeSalesEntryState
	if err := run.Get(ctx, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Decisions) != 1 || st.Decisions[0].Reason != "a test deal" || st.Decisions[0].Actor != "admin:"+b.admin.ID.String() {
		t.Fatalf("the workflow received %+v", st.Decisions)
	}

	logPath := "/admin/sales-receiver/" + strconv.FormatInt(entry.ID, 10)
	page = b.get("/admin/sales-receiver?object_type=deal", http.StatusOK)
	pageContains(t, "the Sales Receiver log", page, `href="`+logPath+`"`, "deal 9001")
	page = b.get(logPath, http.StatusOK)
	pageContains(t, "the sales entry", page, "What HubSpot sent", "closedwon", "What was done", `href="`+entryPath+`"`)
	if rec := b.send(http.MethodGet, "/admin/sales-receiver?since=yesterday", nil); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "since") {
		t.Fatalf("a bad date filter = %d", rec.Code)
	}
	if rec := b.send(http.MethodGet, "/admin/sales-receiver/99999999999", nil); rec.Code != http.StatusNotFound {
		t.Fatalf("an unknown entry = %d", rec.Code)
	}
}

// upload sends a CSV file with the members page's import form (multipart,
// with the page's CSRF token unless csrf is false).
func (b *adminBrowser) upload(campaignID, kind, name, content string, csrf bool) *httptest.ResponseRecorder {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if csrf {
		_ = mw.WriteField(csrfField, b.csrf("/admin/members"))
	}
	_ = mw.WriteField("campaign_id", campaignID)
	_ = mw.WriteField("kind", kind)
	if name != "" {
		fw, _ := mw.CreateFormFile("file", name)
		_, _ = fw.Write([]byte(content))
	}
	_ = mw.Close()
	req := httptest.NewRequest(http.MethodPost, "http://localhost:8080/admin/imports", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", "http://localhost:8080")
	req.Header.Set("Accept", "text/html")
	req.AddCookie(b.session)
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == adminFlashName && c.MaxAge > 0 {
			b.flash = c
		}
	}
	return rec
}

// TestAdminMembersImport: a CSV file uploaded from the members page is
// imported by the JSON API's import (its workflow adds the members); the
// import's page shows the progress and links the rows with errors; a file
// without an email column, no file, or no CSRF token are refused on the
// page.
func TestAdminMembersImport(t *testing.T) {
	t.Parallel()
	r := newReviewAPI(t)
	b := signInAdmin(t, r.srv, r.d, r.fx.Workspace, "pages@acme.test")
	camp := r.fx.Campaign.ID.String()

	if rec := b.upload(camp, "members", "m.csv", "email\nx@example.com\n", false); rec.Code != http.StatusForbidden {
		t.Fatalf("an upload without the CSRF token = %d", rec.Code)
	}
	rec := b.upload(camp, "members", "m.csv", "name\nx\n", true)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "The header lacks the column email") {
		t.Fatalf("a file without an email column = %d %s", rec.Code, rec.Body)
	}
	if rec := b.upload(camp, "members", "", "", true); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `id="f-file-error"`) {
		t.Fatalf("no file = %d", rec.Code)
	}
	other := r.d.SeedReferral(t)
	if rec := b.upload(other.Campaign.ID.String(), "members", "m.csv", "email\nx@example.com\n", true); rec.Code != http.StatusNotFound {
		t.Fatalf("an upload into another workspace's campaign = %d", rec.Code)
	}

	rec = b.upload(camp, "members", "spring.csv", "email,first_name\numa@example.com,Uma\nnot an email,Vic\nwes@example.com,Wes\n", true)
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/admin/imports/") {
		t.Fatalf("upload = %d %s", rec.Code, rec.Body)
	}
	importPath := rec.Header().Get("Location")
	page := b.get(importPath, http.StatusOK)
	pageContains(t, "the import's page", page, "3 rows to import", "spring.csv")
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(page, "completed"); page = b.get(importPath, http.StatusOK) {
		if time.Now().After(deadline) {
			t.Fatalf("the import never completed: %s", page)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pageContains(t, "the finished import", page, "3 of 3 done: 2 added", "1 with errors", `href="`+importPath+`/errors.csv"`)
	errorsCSV := b.get(importPath+"/errors.csv", http.StatusOK)
	if !strings.HasPrefix(errorsCSV, "row,email,reason\n3,not an email,") {
		t.Fatalf("errors.csv = %q", errorsCSV)
	}
	page = b.get("/admin/members?campaign_id="+camp, http.StatusOK)
	pageContains(t, "the members after the import", page, "uma@example.com", "wes@example.com")
}
