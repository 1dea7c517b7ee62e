package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// upload sends a CSV to the import endpoint as the body (text/csv).
func (a adminClient) upload(campaignID, kind, csvText string) *httptest.ResponseRecorder {
	a.t.Helper()
	req := httptest.NewRequest("POST", "/api/v1/campaigns/"+campaignID+"/imports?kind="+kind, strings.NewReader(csvText))
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "text/csv")
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

// uploadForm sends a CSV as the file field of a multipart form, the kind as
// a field before it.
func (a adminClient) uploadForm(campaignID, kind, fileName, csvText string) *httptest.ResponseRecorder {
	a.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("kind", kind)
	fw, _ := mw.CreateFormFile("file", fileName)
	_, _ = io.WriteString(fw, csvText)
	_ = mw.Close()
	req := httptest.NewRequest("POST", "/api/v1/campaigns/"+campaignID+"/imports", &body)
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

func acceptedImport(t *testing.T, rec *httptest.ResponseRecorder) ImportView {
	t.Helper()
	var v ImportView
	if err := json.Unmarshal(rec.Body.Bytes(), &v); rec.Code != http.StatusAccepted || err != nil {
		t.Fatalf("upload = %d %s", rec.Code, rec.Body)
	}
	return v
}

// waitForImport polls GET /imports/{id} until the import has ended.
func waitForImport(t *testing.T, api adminClient, id string) ImportView {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		rec := api.call("GET", "/api/v1/imports/"+id, "")
		var v ImportView
		if err := json.Unmarshal(rec.Body.Bytes(), &v); rec.Code != http.StatusOK || err != nil {
			t.Fatalf("get import = %d %s", rec.Code, rec.Body)
		}
		if v.Status == referral.ImportCompleted || v.Status == referral.ImportFailed {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("import %s still %s: %+v", id, v.Status, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// importErrors downloads an import's bad rows: row number → reason.
func importErrors(t *testing.T, api adminClient, id string) map[string]string {
	t.Helper()
	rec := api.call("GET", "/api/v1/imports/"+id+"/errors.csv", "")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("errors.csv = %d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil || len(rows) == 0 || !slices.Equal(rows[0], []string{"row", "email", "reason"}) {
		t.Fatalf("errors.csv is %v (%v)", rows, err)
	}
	out := map[string]string{}
	for _, r := range rows[1:] {
		out[r[0]] = r[2]
	}
	return out
}

// TestMembersImport: a members file is uploaded, its workflow adds the rows,
// the counts and bad rows (with their row numbers) are shown, and the same
// file again changes nothing.
func TestMembersImport(t *testing.T) {
	t.Parallel()
	d, fx, api := newWorkflowAPI(t)
	camp := fx.Campaign.ID.String()
	file := " Email ,First Name,last_name,External-ID,referral_code,Favourite colour\n" + // row 1
		"ann@example.com,Ann,Lee,ext-1,,blue\n" + // 2: added
		"MAYA@example.com,Maya,,,,\n" + // 3: already a member (the fixture's)
		"not-an-email,Bo,,,,\n" + // 4: bad email
		"cy@example.com,Cy,,,CY-CODE,\n" + // 5: added with its code
		"dee@example.com,Dee,,,CY-CODE,\n" + // 6: code taken
		"ANN@example.com,Ann again,,,,\n" + // 7: same email as row 2
		",,,,,\n" + // 8: blank row
		"eve@example.com,Eve,,,bad code!,\n" + // 9: code not URL-safe
		"fay@example.com,Fay,,ext-1,,\n" // 10: external ID taken
	up := acceptedImport(t, api.upload(camp, "members", file))
	if up.Kind != referral.ImportMembers || up.RowsRead != 9 || !slices.Equal(up.IgnoredColumns, []string{"Favourite colour"}) || up.WorkflowID != "import/"+up.ID {
		t.Fatalf("upload answered %+v", up)
	}
	done := waitForImport(t, api, up.ID)
	if done.Status != referral.ImportCompleted || done.RowsProcessed != 9 || done.RowsAdded != 2 || done.RowsSkipped != 3 || done.RowsFailed != 4 || done.FinishedAt == nil {
		t.Fatalf("import ended %+v; want 9 rows: 2 added, 3 skipped, 4 failed", done)
	}
	bad := importErrors(t, api, up.ID)
	for row, want := range map[string]string{"4": "email", "6": "CY-CODE", "9": "referral_code", "10": "external ID"} {
		if !strings.Contains(bad[row], want) {
			t.Errorf("errors.csv row %s = %q, want it to mention %q (all: %v)", row, bad[row], want, bad)
		}
	}
	if len(bad) != 4 {
		t.Errorf("errors.csv has %d rows, want 4: %v", len(bad), bad)
	}
	ctx := context.Background()
	ann, err := d.Queries.MemberGetByEmail(ctx, db.MemberGetByEmailParams{CampaignID: fx.Campaign.ID, Email: "ann@example.com"})
	if err != nil || ann.Source != string(referral.MemberSourceCSV) || deref(ann.FirstName) != "Ann" || deref(ann.LastName) != "Lee" || deref(ann.ExternalID) != "ext-1" || ann.ReferralCode == "" {
		t.Fatalf("ann = %+v (%v)", ann, err)
	}
	if cy, err := d.Queries.MemberGetByCode(ctx, db.MemberGetByCodeParams{CampaignID: fx.Campaign.ID, ReferralCode: "CY-CODE"}); err != nil || cy.Email != "cy@example.com" {
		t.Fatalf("CY-CODE = %+v (%v)", cy, err)
	}
	members, _ := d.Queries.MemberListByCampaign(ctx, fx.Campaign.ID)

	// The same file again: nothing added, nothing changed.
	again := waitForImport(t, api, acceptedImport(t, api.uploadForm(camp, "members", "members.csv", file)).ID)
	if again.RowsAdded != 0 || again.RowsSkipped != 5 || again.RowsFailed != 4 || again.FileName != "members.csv" {
		t.Fatalf("second import %+v; want 0 added, 5 skipped, 4 failed", again)
	}
	if after, _ := d.Queries.MemberListByCampaign(ctx, fx.Campaign.ID); len(after) != len(members) {
		t.Fatalf("members %d after the second import, %d before", len(after), len(members))
	}

	rec := api.call("GET", "/api/v1/campaigns/"+camp+"/imports", "")
	var list struct{ Imports []ImportView }
	if err := json.Unmarshal(rec.Body.Bytes(), &list); rec.Code != http.StatusOK || err != nil || len(list.Imports) != 2 || list.Imports[0].ID != again.ID {
		t.Fatalf("list imports = %d %s", rec.Code, rec.Body)
	}
	// Another workspace's import is not found.
	other := d.SeedReferral(t)
	if rec := api.call("GET", "/api/v1/campaigns/"+other.Campaign.ID.String()+"/imports", ""); rec.Code != http.StatusNotFound {
		t.Fatalf("another workspace's imports = %d", rec.Code)
	}
}

// TestReferralsImport: a referrals file adds referrals of the members it
// names, source csv, and starts their workflows.
//
// Its import workflow's history is recorded with REFERFLOW_RECORD_HISTORIES=1
// into workflows/testdata for the replay test.
func TestReferralsImport(t *testing.T) {
	t.Parallel()
	d, fx, api, tc := newImportAPI(t)
	startImportWorker(t, d, tc)
	camp := fx.Campaign.ID.String()
	file := "email,first_name,last_name,company,phone,member_code,member_email\n" +
		"lou@example.org,Lou,Ray,Globex,+1 555 0100," + fx.Member.ReferralCode + ",\n" + // 2
		"max@example.org,Max,,,,,maya@example.com\n" + // 3: by the member's email
		"ned@example.org,Ned,,,,NOPE,\n" + // 4: no such member
		"leo@example.org,Leo,,,," + fx.Member.ReferralCode + ",\n" + // 5: the fixture's lead already
		"oz@example.org,Oz,,,,,\n" // 6: no member named
	up := acceptedImport(t, api.uploadForm(camp, "referrals", "leads.csv", file))
	done := waitForImport(t, api, up.ID)
	if done.Status != referral.ImportCompleted || done.RowsAdded != 2 || done.RowsSkipped != 1 || done.RowsFailed != 2 || done.WorkflowsStarted != 2 {
		t.Fatalf("import ended %+v; want 2 added, 1 skipped, 2 failed, 2 workflows started", done)
	}
	bad := importErrors(t, api, up.ID)
	if !strings.Contains(bad["4"], "NOPE") || !strings.Contains(bad["6"], "no member") {
		t.Fatalf("errors.csv = %v", bad)
	}
	ctx := context.Background()
	for _, email := range []string{"lou@example.org", "max@example.org"} {
		r, err := d.Queries.ReferralGetByLeadEmail(ctx, db.ReferralGetByLeadEmailParams{CampaignID: fx.Campaign.ID, LeadEmail: email})
		if err != nil || r.Source != referral.SourceCSVImport.Column() || r.MemberID != fx.Member.ID {
			t.Fatalf("referral of %s = %+v (%v)", email, r, err)
		}
		v := waitForEvent2(t, api, r.ID)
		if v.WorkflowStatus != "running" && v.WorkflowStatus != "completed" {
			t.Fatalf("referral %s's workflow is %q", email, v.WorkflowStatus)
		}
	}
	// Again: nothing new, no workflow started again.
	again := waitForImport(t, api, acceptedImport(t, api.upload(camp, "referrals", file)).ID)
	if again.RowsAdded != 0 || again.RowsSkipped != 3 || again.RowsFailed != 2 || again.WorkflowsStarted != 0 {
		t.Fatalf("second import %+v", again)
	}
	// The progress query answers as GET /imports/{id} does.
	v, err := tc.Client.QueryWorkflow(ctx, up.WorkflowID, "", workflows.QueryCSVImportProgress)
	var p workflows.CSVImportProgress
	if err != nil || v.Get(&p) != nil || p.Status != referral.ImportCompleted || p.Added != 2 || p.WorkflowsStarted != 2 {
		t.Fatalf("progress query = %+v (%v)", p, err)
	}
	if os.Getenv("REFERFLOW_RECORD_HISTORIES") == "1" {
		var events []*historypb.HistoryEvent
		iter := tc.Client.GetWorkflowHistory(ctx, up.WorkflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			ev, err := iter.Next()
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, ev)
		}
		raw, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&historypb.History{Events: events})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "workflows", "testdata", "csv_import_referrals.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// newImportAPI is the API over a real Postgres schema and Temporal dev
// server, with a seeded referral and an admin's client; the test runs its
// worker(s) (startImportWorker).
func newImportAPI(t *testing.T) (*testenv.Database, testenv.ReferralFixture, adminClient, *testenv.Temporal) {
	t.Helper()
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	srv := New(Deps{
		Pool: d.Pool, Temporal: tc.Client, Logger: slog.New(slog.DiscardHandler),
		Auth:      &adminauth.Authenticator{Queries: d.Queries, Sessions: adminauth.NewSessions([]byte("test-key-0123456789abcdef0123456"))},
		TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue,
	})
	fx := d.SeedReferral(t)
	_, key, err := adminauth.CreateAdmin(context.Background(), d.Queries, fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	return d, fx, adminClient{t: t, h: srv.Handler(), key: key}, tc
}

// startImportWorker runs a worker on the test's queues until the test ends.
func startImportWorker(t *testing.T, d *testenv.Database, tc *testenv.Temporal) *worker.Workers {
	t.Helper()
	ws := worker.New(tc.Client, d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Stop)
	return ws
}

// waitForEvent2 waits for a referral's workflow to have run its first step.
func waitForEvent2(t *testing.T, api adminClient, id uuid.UUID) ReferralView {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v := getReferralView(t, api, id.String())
		if v.WorkflowStatus == "running" || v.WorkflowStatus == "completed" || time.Now().After(deadline) {
			return v
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestImportRefusals: what is refused at once, before any row is read.
func TestImportRefusals(t *testing.T) {
	t.Parallel()
	d, fx, api := newWorkflowAPI(t)
	camp := fx.Campaign.ID.String()
	for _, tc := range []struct {
		name, kind, file string
		field, says      string
	}{
		{"no email column", "members", "first_name,last_name\nAnn,Lee\n", "header", "email"},
		{"no member column", "referrals", "email,first_name\nann@example.org,Ann\n", "header", "member_code or member_email"},
		{"two email columns", "members", "email,Email\na@example.com,b@example.com\n", "header", "twice"},
		{"unknown kind", "rewards", "email\na@example.com\n", "kind", "members or referrals"},
		{"empty file", "members", "", "file", "empty"},
		{"a line of 1 MiB", "members", "email\n" + strings.Repeat("a", maxImportLineBytes+1), "file", "longer than"},
	} {
		rec := api.upload(camp, tc.kind, tc.file)
		e := decodeError(t, rec)
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(e.Fields[tc.field], tc.says) {
			t.Errorf("%s: %d %+v; want 422 with %s saying %q", tc.name, rec.Code, e, tc.field, tc.says)
		}
	}
	req := httptest.NewRequest("POST", "/api/v1/campaigns/"+camp+"/imports?kind=members", strings.NewReader(`{"email":"a@b.c"}`))
	req.Header.Set("Authorization", "Bearer "+api.key)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	api.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("a JSON body = %d %s, want 415", rec.Code, rec.Body)
	}
	if rec := do(t, api.h, "POST", "/api/v1/campaigns/"+camp+"/imports?kind=members", strings.NewReader("email\n")); rec.Code != http.StatusUnauthorized {
		t.Errorf("without an API key = %d, want 401", rec.Code)
	}

	if _, err := d.Pool.Exec(context.Background(), `UPDATE campaigns SET status = 'paused' WHERE id = $1`, fx.Campaign.ID); err != nil {
		t.Fatal(err)
	}
	rec = api.upload(camp, "members", "email\nann@example.com\n")
	if e := decodeError(t, rec); rec.Code != http.StatusConflict || e.Code != "campaign_not_active" {
		t.Fatalf("import into a paused campaign = %d %+v, want 409 campaign_not_active", rec.Code, e)
	}
	if n, _ := d.Queries.ImportListByCampaign(context.Background(), db.ImportListByCampaignParams{CampaignID: fx.Campaign.ID, MaxResults: 10}); len(n) != 0 {
		t.Fatalf("refused uploads left %d imports", len(n))
	}
}

// TestImportLargerThanTheAdminBodyCap: the upload has its own cap, not the
// admin API's 256 KiB nor the server's 2 MiB.
func TestImportLargerThanTheAdminBodyCap(t *testing.T) {
	t.Parallel()
	_, fx, api := newWorkflowAPI(t)
	var b strings.Builder
	b.WriteString("email,notes\n")
	pad := strings.Repeat("x", 1000)
	for i := 0; b.Len() < 3*MaxBodyBytes/2; i++ {
		fmt.Fprintf(&b, "m%d@example.com,%s\n", i, pad)
	}
	up := acceptedImport(t, api.upload(fx.Campaign.ID.String(), "members", b.String()))
	done := waitForImport(t, api, up.ID)
	if done.Status != referral.ImportCompleted || done.RowsAdded != up.RowsRead {
		t.Fatalf("import of %d bytes ended %+v", b.Len(), done)
	}
	// Every other route keeps its cap.
	rec := api.call("POST", "/api/v1/campaigns/"+fx.Campaign.ID.String()+"/members", `{"email":"`+strings.Repeat("a", MaxAdminBodyBytes)+`@x.com"}`)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("an oversized member = %d", rec.Code)
	}
}

// TestImportContinuesAfterAWorkerRestart: the worker stops in the middle of
// an import (its batch in flight cancelled) and a new one takes over: every
// row is added once, none twice.
func TestImportContinuesAfterAWorkerRestart(t *testing.T) {
	t.Parallel()
	d, fx, api, tc := newImportAPI(t)
	const rows = 30000
	var b strings.Builder
	b.WriteString("email,first_name\n")
	for i := range rows {
		fmt.Fprintf(&b, "r%d@example.com,R%d\n", i, i)
	}
	first := worker.New(tc.Client, d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue})
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	up := acceptedImport(t, api.upload(fx.Campaign.ID.String(), "members", b.String()))
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		imp, err := d.Queries.ImportGetByID(ctx, uuid.MustParse(up.ID))
		if err != nil {
			t.Fatal(err)
		}
		if imp.RowsProcessed > 0 {
			if imp.RowsProcessed == rows {
				t.Log("the import ended before the worker stopped: the restart was not mid-import")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the import never started: %+v", imp)
		}
		time.Sleep(20 * time.Millisecond)
	}
	first.Stop()
	startImportWorker(t, d, tc)
	done := waitForImport(t, api, up.ID)
	if done.Status != referral.ImportCompleted || done.RowsAdded != rows || done.RowsSkipped != 0 || done.RowsProcessed != rows {
		t.Fatalf("after the restart the import ended %+v; want %d added once", done, rows)
	}
	var n int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM members WHERE campaign_id = $1 AND source = 'csv'`, fx.Campaign.ID).Scan(&n); err != nil || n != rows {
		t.Fatalf("%d imported members (%v), want %d", n, err, rows)
	}
}
