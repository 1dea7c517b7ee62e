package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/review"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// reviewAPI is the API over real Postgres and a real Temporal dev server,
// with referflow's worker and, on its own task queue, a stand-in for the
// sales-entry workflow (fakeSalesEntryWorkflow).
type reviewAPI struct {
	d         *testenv.Database
	tc        *testenv.Temporal
	fx        testenv.ReferralFixture
	api       adminClient
	admin     db.Admin
	fakeQueue string
	srv       *Server // for the admin pages' tests (signInAdmin)
}

func newReviewAPI(t *testing.T) reviewAPI {
	t.Helper()
	r := reviewAPI{d: testenv.NewDatabase(t), tc: testenv.NewTemporal(t)}
	var logs testenv.LogBuffer
	srv := New(Deps{
		Pool: r.d.Pool, Temporal: r.tc.Client, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Auth:      &adminauth.Authenticator{Queries: r.d.Queries, Sessions: adminauth.NewSessions([]byte("test-key-0123456789abcdef0123456"))},
		TaskQueue: r.tc.TaskQueue, HubSpotTaskQueue: r.tc.HubSpotTaskQueue,
		TemporalUIURL: "https://temporal.example.com/", TemporalNamespace: "refer flow",
	})
	ws := worker.New(r.tc.Client, r.d.Pool, worker.Options{TaskQueue: r.tc.TaskQueue, HubSpotTaskQueue: r.tc.HubSpotTaskQueue})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Stop)
	r.fakeQueue = r.tc.TaskQueue + "-sales-entry-stand-in"
	fake := sdkworker.New(r.tc.Client, r.fakeQueue, sdkworker.Options{})
	fake.RegisterWorkflowWithOptions(fakeSalesEntryWorkflow, workflow.RegisterOptions{Name: workflows.SalesEntryWorkflowType})
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Stop)
	r.fx = r.d.SeedReferral(t)
	admin, key, err := adminauth.CreateAdmin(context.Background(), r.d.Queries, r.fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	r.admin = admin
	r.api = adminClient{t: t, h: srv.Handler(), key: key}
	r.srv = srv
	return r
}

// fakeSalesEntryState is what the stand-in answers: every decision it
// accepted, as it received them.
type fakeSalesEntryState struct {
	Decisions []workflows.SalesEntryDecision
}

// fakeSalesEntryWorkflow stands in for SalesEntryWorkflow with the same
// registered name, update name and payloads: it holds an entry in review,
// validates decisions (a few of the real validator's rules), records what it
// received, and ends when the entry is dismissed. It pins down what the API
// sends and how it maps each answer, independently of matching;
// TestSalesEntryReviewOnTheRealWorkflow runs the real one.
func fakeSalesEntryWorkflow(ctx workflow.Context, in workflows.SalesEntryInput) (fakeSalesEntryState, error) {
	var st fakeSalesEntryState
	dismissed := false
	err := workflow.SetUpdateHandlerWithOptions(ctx, workflows.UpdateSalesEntryDecision,
		func(ctx workflow.Context, d workflows.SalesEntryDecision) (fakeSalesEntryState, error) {
			st.Decisions = append(st.Decisions, d)
			dismissed = d.Action == review.Dismiss
			return st, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, d workflows.SalesEntryDecision) error {
			switch {
			case !strings.HasPrefix(d.Actor, "admin:"):
				return errors.New("a decision needs an actor (who decided)")
			case d.Action == review.Approve:
				return errors.New("nothing to approve: this review proposes no single match")
			case d.Action == review.Dismiss && d.Reason == "":
				return errors.New("a dismissal needs a reason")
			case d.Action == review.AttachReferral && d.ReferralID == "":
				return errors.New("attach_referral needs the referral_id to attach the entry to")
			}
			return nil
		}})
	if err != nil {
		return st, err
	}
	err = workflow.Await(ctx, func() bool { return dismissed && workflow.AllHandlersFinished(ctx) })
	return st, err
}

// reviewEntry opens a review entry held by workflowID ("" for none).
func (r reviewAPI) reviewEntry(t *testing.T, workspace uuid.UUID, salesEntryID *int64, referralID *uuid.UUID, reason, workflowID string) db.ReviewEntry {
	t.Helper()
	ctx := context.Background()
	e, err := r.d.Queries.ReviewEntryCreate(ctx, db.ReviewEntryCreateParams{
		WorkspaceID: workspace, SalesEntryID: salesEntryID, ReferralID: referralID, Reason: reason,
		Data: json.RawMessage(`{"email":"new.lead@example.org"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.d.Pool.Exec(ctx, `UPDATE review_entries SET workflow_id = NULLIF($2, '') WHERE id = $1`, e.ID, workflowID); err != nil {
		t.Fatal(err)
	}
	e, err = r.d.Queries.ReviewEntryGetByID(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (r reviewAPI) decide(id uuid.UUID, body string) (*ReviewDecisionResult, ErrorDetail, int) {
	rec := r.api.call("POST", "/api/v1/review-entries/"+id.String()+"/decisions", body)
	if rec.Code != http.StatusOK {
		return nil, decodeError(r.api.t, rec), rec.Code
	}
	var res ReviewDecisionResult
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		r.api.t.Fatalf("decision answer: %v: %s", err, rec.Body)
	}
	return &res, ErrorDetail{}, rec.Code
}

func listReviewEntries(t *testing.T, api adminClient, query string) ReviewEntryList {
	t.Helper()
	rec := api.call("GET", "/api/v1/review-entries?"+query, "")
	var l ReviewEntryList
	if err := json.Unmarshal(rec.Body.Bytes(), &l); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("list review entries?%s = %d %s", query, rec.Code, rec.Body)
	}
	return l
}

// TestSalesEntryReviewDecisions works a sales entry's review through the
// API against a real Temporal server: the queue, oldest first and paged;
// decisions checked against the database before they are sent; the
// validator's refusals as 422; accepted decisions reaching the workflow as
// SalesEntryDecision with the admin as actor; closed entries, entries of
// another workspace and ended workflows refused.
func TestSalesEntryReviewDecisions(t *testing.T) {
	t.Parallel()
	r := newReviewAPI(t)
	ctx := context.Background()
	ws := r.fx.Workspace.ID
	entry := seedSalesEntry(t, r.d, seededEntry{workspace: &ws, objectType: "contact", objectID: 9001, status: "review", receivedAt: time.Now()})
	wfID := workflows.SalesEntryWorkflowID(entry.ID)
	if _, err := r.tc.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wfID, TaskQueue: r.fakeQueue},
		workflows.SalesEntryWorkflowType, workflows.SalesEntryInput{SalesEntryID: entry.ID}); err != nil {
		t.Fatal(err)
	}
	held := r.reviewEntry(t, ws, &entry.ID, nil, "no_member_match", wfID)
	time.Sleep(time.Millisecond) // distinct created_at for the queue's order
	second := r.reviewEntry(t, ws, nil, nil, "manual", "")
	closed := r.reviewEntry(t, ws, nil, nil, "manual", "")
	decided := "dismiss"
	if _, err := r.d.Queries.ReviewEntryDecide(ctx, db.ReviewEntryDecideParams{ID: closed.ID, Status: "dismissed", Decision: &decided, DecidedBy: ptrTo("admin:someone")}); err != nil {
		t.Fatal(err)
	}
	other := r.d.SeedReferral(t)
	foreign := r.reviewEntry(t, other.Workspace.ID, nil, nil, "manual", "")

	// The queue: open entries oldest first, in pages; other statuses on ask.
	open := listReviewEntries(t, r.api, "")
	if len(open.ReviewEntries) != 2 || open.ReviewEntries[0].ID != held.ID.String() || open.ReviewEntries[1].ID != second.ID.String() {
		t.Fatalf("open queue = %+v", open.ReviewEntries)
	}
	page := listReviewEntries(t, r.api, "status=open&limit=1")
	if len(page.ReviewEntries) != 1 || page.ReviewEntries[0].ID != held.ID.String() || page.NextCursor == nil {
		t.Fatalf("first page = %+v", page)
	}
	page = listReviewEntries(t, r.api, "limit=1&cursor="+url.QueryEscape(*page.NextCursor))
	if len(page.ReviewEntries) != 1 || page.ReviewEntries[0].ID != second.ID.String() || page.NextCursor != nil {
		t.Fatalf("second page = %+v", page)
	}
	if d := listReviewEntries(t, r.api, "status=dismissed"); len(d.ReviewEntries) != 1 || d.ReviewEntries[0].ID != closed.ID.String() ||
		d.ReviewEntries[0].Decision != "dismiss" {
		t.Fatalf("dismissed = %+v", d.ReviewEntries)
	}
	for query, field := range map[string]string{"status=pending": "status", "limit=x": "limit", "reason=manual": "reason", "cursor=abc": "cursor"} {
		rec := r.api.call("GET", "/api/v1/review-entries?"+query, "")
		if e := decodeError(t, rec); rec.Code != http.StatusBadRequest || e.Fields[field] == "" {
			t.Errorf("?%s = %d %+v, want 400 naming %s", query, rec.Code, e, field)
		}
	}
	rec := r.api.call("GET", "/api/v1/review-entries/"+held.ID.String(), "")
	var one ReviewEntryView
	if err := json.Unmarshal(rec.Body.Bytes(), &one); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("get review entry = %d %s", rec.Code, rec.Body)
	}
	wantURL := "https://temporal.example.com/namespaces/refer%20flow/workflows/sales-entry%2F" + strconv.FormatInt(entry.ID, 10)
	if one.WorkflowURL != wantURL || one.Reason != "no_member_match" || *one.SalesEntryID != entry.ID || one.Status != "open" {
		t.Fatalf("review entry = %+v, want workflow_url %s", one, wantURL)
	}
	for _, path := range []string{foreign.ID.String(), uuid.NewString(), "42"} {
		if rec := r.api.call("GET", "/api/v1/review-entries/"+path, ""); rec.Code != http.StatusNotFound {
			t.Errorf("review entry %s = %d, want 404", path, rec.Code)
		}
	}

	// Refused before the workflow hears of it: the body, and what only the
	// database knows.
	otherRef := other.Referral.ID.String()
	for body, field := range map[string]string{
		`{"action":"merge"}`:                                                        "action",
		`{"action":"edit","data":{"email":7}}`:                                      "data",
		`{"action":"edit","colour":"red"}`:                                          "colour",
		`{"action":"attach_referral","referral_id":"` + otherRef + `"}`:             "referral_id",
		`{"action":"attach_referral","referral_id":"nope"}`:                         "referral_id",
		`{"action":"attach_member","member_id":"` + uuid.NewString() + `"}`:         "member_id",
		`{"action":"attach_member","member_id":"` + other.Member.ID.String() + `"}`: "member_id",
		`{"action":"reject"}`:                                                       "action",
		`{"action":"edit","data":{"member_id":"` + other.Member.ID.String() + `"}}`: "data.member_id",
	} {
		res, e, code := r.decide(held.ID, body)
		if code != http.StatusUnprocessableEntity || e.Fields[field] == "" {
			t.Errorf("decision %s = %d %+v %+v, want 422 naming %s", body, code, e, res, field)
		}
	}
	if _, e, code := r.decide(held.ID, `{"action":`); code != http.StatusBadRequest {
		t.Errorf("broken JSON = %d %+v", code, e)
	}
	// Refused by the workflow's validator, with its reason.
	if _, e, code := r.decide(held.ID, `{"action":"approve"}`); code != http.StatusUnprocessableEntity || !strings.Contains(e.Message, "nothing to approve") {
		t.Fatalf("approve refused by the validator = %d %+v", code, e)
	}
	if _, e, code := r.decide(held.ID, `{"action":"dismiss"}`); code != http.StatusUnprocessableEntity || !strings.Contains(e.Message, "needs a reason") {
		t.Fatalf("dismiss without reason = %d %+v", code, e)
	}
	// Accepted: the workflow receives the decision as sent, with the admin.
	res, e, code := r.decide(held.ID, `{"action":"attach_referral","referral_id":"`+r.fx.Referral.ID.String()+`"}`)
	if code != http.StatusOK {
		t.Fatalf("attach_referral = %d %+v", code, e)
	}
	var state fakeSalesEntryState
	raw, _ := json.Marshal(res.Result)
	if err := json.Unmarshal(raw, &state); err != nil || len(state.Decisions) != 1 {
		t.Fatalf("workflow's answer = %s %v (refused decisions must not reach it)", raw, err)
	}
	want := workflows.SalesEntryDecision{Action: "attach_referral", ReferralID: r.fx.Referral.ID.String(), Actor: "admin:" + r.admin.ID.String()}
	if got := state.Decisions[0]; got.Action != want.Action || got.ReferralID != want.ReferralID || got.Actor != want.Actor {
		t.Fatalf("decision received = %+v, want %+v", got, want)
	}
	res, e, code = r.decide(held.ID, `{"action":"edit","data":{"email":"lead@example.org","company_domain":"example.org"}}`)
	if code != http.StatusOK {
		t.Fatalf("edit = %d %+v", code, e)
	}
	raw, _ = json.Marshal(res.Result)
	_ = json.Unmarshal(raw, &state)
	if got := state.Decisions[len(state.Decisions)-1]; got.Data["company_domain"] != "example.org" || got.Data["email"] != "lead@example.org" {
		t.Fatalf("edit received = %+v", got)
	}
	res, e, code = r.decide(held.ID, `{"action":"attach_member","member_id":"`+r.fx.Member.ID.String()+`"}`)
	if code != http.StatusOK || res.ReviewEntry.ID != held.ID.String() {
		t.Fatalf("attach_member = %d %+v %+v", code, e, res)
	}
	if _, e, code := r.decide(held.ID, `{"action":"dismiss","reason":"a test contact"}`); code != http.StatusOK {
		t.Fatalf("dismiss = %d %+v", code, e)
	}
	// The stand-in has ended (the real workflow closes the entry itself):
	// a decision can no longer reach it.
	if _, e, code := r.decide(held.ID, `{"action":"dismiss","reason":"again"}`); code != http.StatusConflict || !strings.Contains(e.Message, "not running") {
		t.Fatalf("decision on an ended workflow = %d %+v", code, e)
	}
	if _, e, code := r.decide(closed.ID, `{"action":"dismiss","reason":"again"}`); code != http.StatusConflict || !strings.Contains(e.Message, "already dismissed") {
		t.Fatalf("decision on a closed entry = %d %+v", code, e)
	}
	if _, e, code := r.decide(second.ID, `{"action":"dismiss","reason":"x"}`); code != http.StatusConflict || !strings.Contains(e.Message, "no workflow holds") {
		t.Fatalf("decision on an entry no workflow holds = %d %+v", code, e)
	}
	if _, _, code := r.decide(foreign.ID, `{"action":"dismiss","reason":"x"}`); code != http.StatusNotFound {
		t.Fatalf("decision on another workspace's entry = %d", code)
	}
}

// TestHeldReferralChangeThroughReviewQueue: a denied referral that HubSpot
// would move to approved is held by its own workflow; its review entry is
// rejected (the change is dropped) and, when HubSpot sends the change again,
// approved (the referral moves) — the same update as
// POST /referrals/{id}/review, on the real worker.
func TestHeldReferralChangeThroughReviewQueue(t *testing.T) {
	t.Parallel()
	r := newReviewAPI(t)
	ctx := context.Background()
	s := campaign.Defaults()
	s.Leads = campaign.CRMSettings{Action: campaign.ActionCreateDeal, FieldMapping: []campaign.FieldMapping{}}
	s.StatusRules = campaign.StatusRules{
		Qualified: &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"contractsent"}},
		Approved:  &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}},
	}
	r.d.SetCampaignSettings(t, r.fx.Campaign, s)
	rec := r.api.call("POST", "/api/v1/campaigns/"+r.fx.Campaign.ID.String()+"/referrals",
		`{"member_code":"`+r.fx.Member.ReferralCode+`","lead":{"email":"held@example.org"}}`)
	var ref ReferralView
	if err := json.Unmarshal(rec.Body.Bytes(), &ref); rec.Code != http.StatusCreated || err != nil {
		t.Fatalf("add referral = %d %s", rec.Code, rec.Body)
	}
	// Decisions are refused until the workflow has loaded its referral.
	waitForEvent(t, r.api, ref.ID, "workflow_started")
	if rec := r.api.call("POST", "/api/v1/referrals/"+ref.ID+"/decisions", `{"status":"denied","reason":"looked like a test"}`); rec.Code != http.StatusOK {
		t.Fatalf("deny = %d %s", rec.Code, rec.Body)
	}
	waitForStatus(t, r.api, ref.ID, "denied")

	won := func(key string, minute int) {
		t.Helper()
		c := workflows.HubSpotChange{ObjectType: "deal", ObjectID: 3000001, Property: "dealstage", Value: "closedwon",
			OccurredAt: time.Date(2026, 11, 20, 9, minute, 0, 0, time.UTC), DedupeKey: key}
		if err := r.tc.Client.SignalWorkflow(ctx, ref.WorkflowID, "", workflows.SignalHubSpotChange, c); err != nil {
			t.Fatal(err)
		}
	}
	// heldEntry waits for the referral to be held and returns the review
	// entry its workflow opened (in the same transaction as the hold).
	heldEntry := func() uuid.UUID {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !getReferralView(t, r.api, ref.ID).InReview {
			if time.Now().After(deadline) {
				t.Fatal("the referral was never held for review")
			}
			time.Sleep(50 * time.Millisecond)
		}
		var found []ReviewEntryView
		for _, e := range listReviewEntries(t, r.api, "").ReviewEntries {
			if e.ReferralID != nil && *e.ReferralID == ref.ID {
				found = append(found, e)
			}
		}
		if len(found) != 1 || found[0].WorkflowID != ref.WorkflowID || found[0].Reason != "denied_to_approved" || found[0].SalesEntryID != nil {
			t.Fatalf("open review entries of the held referral = %+v", found)
		}
		return uuid.MustParse(found[0].ID)
	}

	won("won-1", 10)
	entry := heldEntry()
	if _, e, code := r.decide(entry, `{"action":"attach_member","member_id":"`+r.fx.Member.ID.String()+`"}`); code != http.StatusUnprocessableEntity || e.Fields["action"] == "" {
		t.Fatalf("attach_member on a held referral change = %d %+v", code, e)
	}
	res, e, code := r.decide(entry, `{"action":"reject"}`)
	if code != http.StatusOK {
		t.Fatalf("reject = %d %+v", code, e)
	}
	if res.ReviewEntry.Status != "resolved" || res.ReviewEntry.Decision != "rejected" || res.ReviewEntry.DecidedBy != "admin:"+r.admin.ID.String() {
		t.Fatalf("rejected entry = %+v", res.ReviewEntry)
	}
	if v := getReferralView(t, r.api, ref.ID); v.Status != "denied" || v.InReview {
		t.Fatalf("after reject: %+v", v)
	}
	if _, e, code := r.decide(entry, `{"action":"approve"}`); code != http.StatusConflict {
		t.Fatalf("a decided entry again = %d %+v", code, e)
	}

	won("won-2", 20)
	entry = heldEntry()
	if res, e, code = r.decide(entry, `{"action":"approve"}`); code != http.StatusOK {
		t.Fatalf("approve = %d %+v", code, e)
	}
	if res.ReviewEntry.Status != "resolved" || res.ReviewEntry.Decision != "accepted" {
		t.Fatalf("approved entry = %+v", res.ReviewEntry)
	}
	got := waitForStatus(t, r.api, ref.ID, "approved")
	last := got.Events[len(got.Events)-1]
	if last.ToStatus != "approved" || last.Actor != "admin:"+r.admin.ID.String() || got.InReview {
		t.Fatalf("approved referral = %+v", got)
	}
	if got.WorkflowURL != "https://temporal.example.com/namespaces/refer%20flow/workflows/referral%2F"+ref.ID {
		t.Fatalf("workflow_url = %q", got.WorkflowURL)
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestSalesEntryReviewOnTheRealWorkflow works a review through the API with
// the real SalesEntryWorkflow and worker, HubSpot being the simulator: a new
// contact whose referred-by code names no member goes to review; the real
// validator refuses an approve with nothing proposed; attaching the entry to
// a member adds a referral from HubSpot, and the entry leaves the queue.
func TestSalesEntryReviewOnTheRealWorkflow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	fx := d.SeedReferral(t)
	hw := testenv.ConnectHubSpot(t, d, fx.Workspace.ID, "https://refer.acme.test")
	s := campaign.Defaults()
	s.ProcessRules.MatchingRules = []campaign.MatchingRule{{Object: "contact", Property: hubspotobject.PropReferredByCode, Holds: campaign.HoldsReferralCode}}
	d.SetCampaignSettings(t, fx.Campaign, s)
	ws := worker.New(tc.Client, d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue, HubSpot: hw.Manager, PublicURL: "https://refer.acme.test"})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Stop)
	srv := New(Deps{
		Pool: d.Pool, Temporal: tc.Client, Logger: slog.New(slog.DiscardHandler), HubSpot: hw.Manager,
		Auth:      &adminauth.Authenticator{Queries: d.Queries, Sessions: adminauth.NewSessions([]byte("test-key-0123456789abcdef0123456"))},
		TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue,
	})
	admin, key, err := adminauth.CreateAdmin(ctx, d.Queries, fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	r := reviewAPI{d: d, tc: tc, fx: fx, admin: admin, api: adminClient{t: t, h: srv.Handler(), key: key}}

	contact, err := hw.Sim.CreateObject(hw.PortalID, "contacts", map[string]string{
		"email": "omar@example.net", "firstname": "Omar", hubspotobject.PropReferredByCode: "NOBODY-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	contactID, _ := strconv.ParseInt(contact, 10, 64)
	entry, err := d.Queries.SalesEntryInsert(ctx, db.SalesEntryInsertParams{
		PortalID: hw.PortalID, WorkspaceID: &fx.Workspace.ID, DedupeKey: uuid.NewString(), SubscriptionType: "contact.creation",
		ObjectType: "contact", ObjectID: contactID, OccurredAt: time.Now().UTC(), Payload: json.RawMessage(`{"subscriptionType":"contact.creation"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.SalesEntryWorkflowID(entry.ID), TaskQueue: tc.TaskQueue},
		workflows.SalesEntryWorkflowType, workflows.SalesEntryInput{SalesEntryID: entry.ID, HubSpotTaskQueue: tc.HubSpotTaskQueue}); err != nil {
		t.Fatal(err)
	}

	var review ReviewEntryView
	for deadline := time.Now().Add(30 * time.Second); review.ID == ""; {
		for _, e := range listReviewEntries(t, r.api, "").ReviewEntries {
			if e.SalesEntryID != nil && *e.SalesEntryID == entry.ID {
				review = e
			}
		}
		if time.Now().After(deadline) {
			got, _ := d.Queries.SalesEntryGetByID(ctx, entry.ID)
			var state workflows.SalesEntryState
			qerr := func() error {
				v, err := tc.Client.QueryWorkflow(ctx, workflows.SalesEntryWorkflowID(entry.ID), "", workflows.QuerySalesEntryState)
				if err != nil {
					return err
				}
				return v.Get(&state)
			}()
			t.Fatalf("the sales entry never reached the review queue: entry %s %q %s; workflow state %+v %v",
				got.Status, deref(got.Error), got.Actions, state, qerr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if review.Reason != "no_member_match" || review.WorkflowID != workflows.SalesEntryWorkflowID(entry.ID) ||
		review.WorkflowURL != "http://localhost:8233/namespaces/default/workflows/sales-entry%2F"+strconv.FormatInt(entry.ID, 10) {
		t.Fatalf("review entry = %+v", review)
	}
	rec := r.api.call("GET", "/api/v1/sales-entries/"+strconv.FormatInt(entry.ID, 10), "")
	var se SalesEntryView
	if err := json.Unmarshal(rec.Body.Bytes(), &se); err != nil || se.Status != "review" || se.ReviewEntry == nil || se.ReviewEntry.ID != review.ID {
		t.Fatalf("sales entry in review = %d %s", rec.Code, rec.Body)
	}
	id := uuid.MustParse(review.ID)
	if _, e, code := r.decide(id, `{"action":"approve"}`); code != http.StatusUnprocessableEntity || !strings.Contains(e.Message, "approve needs exactly one proposal") {
		t.Fatalf("approve with nothing proposed = %d %+v", code, e)
	}
	other := d.SeedReferral(t)
	if _, e, code := r.decide(id, `{"action":"attach_member","member_id":"`+other.Member.ID.String()+`"}`); code != http.StatusUnprocessableEntity || e.Fields["member_id"] == "" {
		t.Fatalf("another workspace's member = %d %+v", code, e)
	}
	// A paused campaign takes no referral, from the review queue either;
	// the entry stays in review.
	setStatus := func(st campaign.Status) {
		status := string(st)
		if _, err := d.Queries.CampaignUpdateDetails(ctx, db.CampaignUpdateDetailsParams{ID: fx.Campaign.ID, WorkspaceID: fx.Workspace.ID, Status: &status}); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(campaign.Paused)
	if _, e, code := r.decide(id, `{"action":"attach_member","member_id":"`+fx.Member.ID.String()+`"}`); code != http.StatusConflict ||
		e.Code != "campaign_not_active" || !strings.Contains(e.Message, "paused") {
		t.Fatalf("attach_member of a paused campaign = %d %+v", code, e)
	}
	setStatus(campaign.Active)
	res, e, code := r.decide(id, `{"action":"attach_member","member_id":"`+fx.Member.ID.String()+`"}`)
	if code != http.StatusOK {
		t.Fatalf("attach_member = %d %+v", code, e)
	}
	var state workflows.SalesEntryState
	raw, _ := json.Marshal(res.Result)
	if err := json.Unmarshal(raw, &state); err != nil || state.Status != "processed" || state.Match == nil || !state.Match.ReferralAdded ||
		state.Match.MemberID != fx.Member.ID.String() {
		t.Fatalf("workflow's answer = %s %v", raw, err)
	}
	if res.ReviewEntry.Status != "resolved" || !strings.HasPrefix(res.ReviewEntry.DecidedBy, "admin:"+admin.ID.String()) {
		t.Fatalf("review entry after the decision = %+v", res.ReviewEntry)
	}
	added := listReferrals(t, r.api, "email=omar%40example.net")
	if len(added.Referrals) != 1 || added.Referrals[0].ID != state.Match.ReferralID || added.Referrals[0].Source != "hubspot" ||
		added.Referrals[0].MemberID != fx.Member.ID.String() {
		t.Fatalf("referral added from HubSpot = %+v", added.Referrals)
	}
	if open := listReviewEntries(t, r.api, ""); len(open.ReviewEntries) != 0 {
		t.Fatalf("queue after the decision = %+v", open.ReviewEntries)
	}
	if _, e, code := r.decide(id, `{"action":"dismiss","reason":"again"}`); code != http.StatusConflict {
		t.Fatalf("a decided entry again = %d %+v", code, e)
	}
}
