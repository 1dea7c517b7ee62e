package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/outgoing"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/review"
	"github.com/referflow/referflow/internal/salesentry"
	"github.com/referflow/referflow/internal/webhookdelivery"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// salesEntryStack is a seeded workspace (campaign, member Maya, one referral)
// connected to a HubSpot simulator, with a worker running every workflow and
// activity on test task queues.
type salesEntryStack struct {
	d  *testenv.Database
	tc *testenv.Temporal
	fx testenv.ReferralFixture
	hw *testenv.HubSpotWorld
}

func newSalesEntryStack(t testing.TB, pr campaign.ProcessRules) *salesEntryStack {
	t.Helper()
	s := &salesEntryStack{d: testenv.NewDatabase(t), tc: testenv.NewTemporal(t)}
	s.fx = s.d.SeedReferral(t)
	// Workflow IDs are sales-entry/<id> and every test schema counts ids
	// from 1, while tests share one Temporal server: start this schema's ids
	// somewhere no other test's are.
	if _, err := s.d.Pool.Exec(context.Background(), fmt.Sprintf("ALTER TABLE sales_entries ALTER COLUMN id RESTART WITH %d", 1_000_000+rand.Int64N(1_000_000_000_000))); err != nil {
		t.Fatal(err)
	}
	s.hw = testenv.ConnectHubSpot(t, s.d, s.fx.Workspace.ID, "https://refer.acme.test")
	settings := campaign.Defaults()
	pr.MatchingRules = []campaign.MatchingRule{{Object: "contact", Property: hubspotobject.PropReferredByCode, Holds: campaign.HoldsReferralCode}}
	settings.ProcessRules = pr
	settings.StatusRules.Approved = &campaign.StatusRule{Object: "contact", Property: "lifecyclestage", Values: []string{"customer"}}
	s.d.SetCampaignSettings(t, s.fx.Campaign, settings)
	ws := worker.New(s.tc.Client, s.d.Pool, worker.Options{TaskQueue: s.tc.TaskQueue, HubSpotTaskQueue: s.tc.HubSpotTaskQueue, HubSpot: s.hw.Manager, WebhookPolicy: testenv.LoopbackWebhooks(t)})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Stop)
	return s
}

// contactChange creates a contact in the simulator, as a person in HubSpot
// would, and records the HubSpot event about it as a sales entry, as the
// webhook does.
func (s *salesEntryStack) contactChange(t testing.TB, props map[string]string, property, value string) db.SalesEntry {
	t.Helper()
	id, err := s.hw.Sim.CreateObject(s.hw.PortalID, "contacts", props)
	if err != nil {
		t.Fatal(err)
	}
	objectID, _ := strconv.ParseInt(id, 10, 64)
	row, err := s.d.Queries.SalesEntryInsert(context.Background(), db.SalesEntryInsertParams{
		PortalID: s.hw.PortalID, WorkspaceID: &s.fx.Workspace.ID, DedupeKey: "contact:" + id + ":" + property + ":" + value,
		SubscriptionType: "contact.propertyChange", ObjectType: "contact", ObjectID: objectID,
		PropertyName: &property, PropertyValue: &value, OccurredAt: time.Now().UTC(),
		Payload: json.RawMessage(`{"subscriptionType":"contact.propertyChange","objectId":` + id + `}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// start starts the entry's workflow the way the dispatcher does: by type
// name, ID sales-entry/<id>.
func (s *salesEntryStack) start(ctx context.Context, t testing.TB, entryID int64) client.WorkflowRun {
	t.Helper()
	run, err := s.tc.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.SalesEntryWorkflowID(entryID), TaskQueue: s.tc.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}, workflows.SalesEntryWorkflowType, workflows.SalesEntryInput{SalesEntryID: entryID, HubSpotTaskQueue: s.tc.HubSpotTaskQueue})
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func (s *salesEntryStack) salesEntry(t *testing.T, id int64) (db.SalesEntry, []salesentry.Action) {
	t.Helper()
	row, err := s.d.Queries.SalesEntryGetByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var actions []salesentry.Action
	if err := json.Unmarshal(row.Actions, &actions); err != nil {
		t.Fatal(err)
	}
	return row, actions
}

// A contact created in HubSpot with a member's referral code in the
// matching rule's property becomes a new referral of that member, whose
// workflow runs and receives the change: lifecyclestage customer approves it.
func TestAContactHoldingAMemberCodeBecomesAReferral(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := newSalesEntryStack(t, campaign.ProcessRules{AutoProcessDirectMatches: true})
	entry := s.contactChange(t, map[string]string{
		"email": "nina@example.net", "firstname": "Nina", "lastname": "Berg", hubspotobject.PropReferredByCode: s.fx.Member.ReferralCode,
	}, "lifecyclestage", "customer")

	var final workflows.SalesEntryState
	if err := s.start(ctx, t, entry.ID).Get(ctx, &final); err != nil {
		t.Fatalf("sales entry workflow: %v", err)
	}
	if final.Status != salesentry.Processed || final.Match == nil || !final.Match.ReferralAdded ||
		final.Match.MemberID != s.fx.Member.ID.String() || !strings.Contains(final.Match.Forwarded, "was forwarded") {
		t.Fatalf("final = %+v", final)
	}
	refID := uuid.MustParse(final.Match.ReferralID)
	r, err := s.d.Queries.ReferralGetByID(ctx, refID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != "hubspot" || r.HubspotContactID == nil || *r.HubspotContactID != entry.ObjectID || r.LeadEmail != "nina@example.net" ||
		deref(r.LeadFirstName) != "Nina" || r.MemberID != s.fx.Member.ID {
		t.Fatalf("referral added = %+v", r)
	}

	// The referral's own workflow ran and applied the forwarded change.
	var refState workflows.ReferralState
	if err := s.tc.Client.GetWorkflow(ctx, workflows.ReferralWorkflowID(r.ID.String()), "").Get(ctx, &refState); err != nil {
		t.Fatalf("referral workflow: %v", err)
	}
	if refState.Status != referral.Approved {
		t.Fatalf("referral workflow ended %+v, want approved by the forwarded lifecyclestage change", refState)
	}
	events, err := s.d.Queries.ReferralEventListByReferral(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range events {
		kinds = append(kinds, ev.Kind)
		if ev.Kind == "status_changed" && (ev.SalesEntryID != nil && *ev.SalesEntryID != entry.ID) {
			t.Fatalf("status change names sales entry %v, want %d", ev.SalesEntryID, entry.ID)
		}
	}
	if kinds[0] != string(referral.EventAdded) || !strings.Contains(strings.Join(kinds, ","), "status_changed") {
		t.Fatalf("audit trail = %v", kinds)
	}

	row, actions := s.salesEntry(t, entry.ID)
	if row.Status != "processed" || row.ReferralID == nil || *row.ReferralID != r.ID || row.MemberID == nil || *row.MemberID != s.fx.Member.ID ||
		row.CampaignID == nil || *row.CampaignID != s.fx.Campaign.ID || row.ProcessedAt == nil {
		t.Fatalf("sales entry = %+v", row)
	}
	if len(actions) < 2 || actions[0].Step != "matched" || actions[len(actions)-1].Step != "processed" {
		t.Fatalf("actions = %+v", actions)
	}

	// A second contact with the lead's email of an existing referral is a
	// fuzzy match; this campaign does not process those automatically.
	other := s.contactChange(t, map[string]string{"email": "LEO@example.org"}, "lifecyclestage", "lead")
	run := s.start(ctx, t, other.ID)
	st := waitForSalesEntry(ctx, t, s.tc.Client, run.GetID(), func(st workflows.SalesEntryState) bool { return st.Status == salesentry.InReview })
	if st.ReviewReason != review.UnconfirmedMatch || st.Proposal == nil || st.Proposal.ReferralID != s.fx.Referral.ID.String() {
		t.Fatalf("fuzzy match in review = %+v", st)
	}
	approved, err := decideSalesEntry(ctx, s.tc.Client, run.GetID(), workflows.SalesEntryDecision{Action: review.Approve, Actor: "admin:1"})
	if err != nil || approved.Status != salesentry.Processed || approved.Match.ReferralID != s.fx.Referral.ID.String() {
		t.Fatalf("approve: %+v, %v", approved, err)
	}
	linked, _ := s.d.Queries.ReferralGetByID(ctx, s.fx.Referral.ID)
	if linked.HubspotContactID == nil || *linked.HubspotContactID != other.ObjectID {
		t.Fatalf("the approved match did not link the contact: %v", linked.HubspotContactID)
	}
}

// An entry that looks like a referral but names no member waits in review;
// admins are notified by a signed webhook, an impossible decision is
// refused, and attaching it to a member adds the referral.
func TestANoMatchEntryWaitsInReviewUntilAnAdminAttachesAMember(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := newSalesEntryStack(t, campaign.ProcessRules{ReviewWhenNoMemberMatches: true, NotifyOnReview: true})
	var mu sync.Mutex
	var notices []outgoing.Event
	var sigErr error
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev outgoing.Event
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		notices = append(notices, ev)
		if err := outgoing.Verify([]byte(s.fx.Workspace.WebhookSigningSecret), r.Header.Get(outgoing.SignatureHeader), body, time.Now()); err != nil {
			sigErr = err
		}
		mu.Unlock()
	}))
	defer hook.Close()
	if _, err := s.d.Pool.Exec(ctx, "UPDATE campaigns SET fulfilment_webhook_url = $1 WHERE id = $2", hook.URL, s.fx.Campaign.ID); err != nil {
		t.Fatal(err)
	}

	entry := s.contactChange(t, map[string]string{"email": "omar@example.net", "firstname": "Omar", hubspotobject.PropReferredByCode: "MAYA-TYPO"},
		hubspotobject.PropReferredByCode, "MAYA-TYPO")
	run := s.start(ctx, t, entry.ID)
	st := waitForSalesEntry(ctx, t, s.tc.Client, run.GetID(), func(st workflows.SalesEntryState) bool { return st.Status == salesentry.InReview })
	if st.ReviewReason != review.NoMemberMatch || st.ReviewEntryID == "" || st.Proposal != nil {
		t.Fatalf("in review = %+v", st)
	}
	rev, err := s.d.Queries.ReviewEntryGetByID(ctx, uuid.MustParse(st.ReviewEntryID))
	if err != nil {
		t.Fatal(err)
	}
	if rev.Status != "open" || review.Reason(rev.Reason) != review.NoMemberMatch || deref(rev.WorkflowID) != run.GetID() ||
		rev.SalesEntryID == nil || *rev.SalesEntryID != entry.ID || rev.CampaignID == nil || *rev.CampaignID != s.fx.Campaign.ID {
		t.Fatalf("review entry = %+v", rev)
	}
	if row, _ := s.salesEntry(t, entry.ID); row.Status != "review" {
		t.Fatalf("sales entry status = %s, want review", row.Status)
	}

	// Refused by the validator, with the reason.
	if _, err := decideSalesEntry(ctx, s.tc.Client, run.GetID(), workflows.SalesEntryDecision{Action: review.Approve, Actor: "admin:1"}); err == nil ||
		!strings.Contains(err.Error(), "exactly one proposal") {
		t.Fatalf("approve without a proposal: %v", err)
	}
	// A member that does not exist: the handler fails, the entry stays.
	if _, err := decideSalesEntry(ctx, s.tc.Client, run.GetID(), workflows.SalesEntryDecision{Action: review.AttachMember, MemberID: uuid.NewString(), Actor: "admin:1"}); err == nil ||
		!strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("attach a missing member: %v", err)
	}
	got, err := decideSalesEntry(ctx, s.tc.Client, run.GetID(), workflows.SalesEntryDecision{Action: review.AttachMember, MemberID: s.fx.Member.ID.String(), Actor: "admin:1"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != salesentry.Processed || got.Match == nil || !got.Match.ReferralAdded || got.Match.Kind != salesentry.MatchAdmin || len(got.Decisions) != 2 {
		t.Fatalf("after attach_member = %+v", got)
	}
	var final workflows.SalesEntryState
	if err := run.Get(ctx, &final); err != nil {
		t.Fatal(err)
	}
	rev, _ = s.d.Queries.ReviewEntryGetByID(ctx, rev.ID)
	if rev.Status != "resolved" || deref(rev.DecidedBy) != "admin:1" || !strings.Contains(deref(rev.Decision), "attach_member") {
		t.Fatalf("review entry after the decision = %+v", rev)
	}
	r, err := s.d.Queries.ReferralGetByID(ctx, uuid.MustParse(got.Match.ReferralID))
	if err != nil || r.Source != "hubspot" || r.LeadEmail != "omar@example.net" {
		t.Fatalf("referral = %+v, %v", r, err)
	}
	waitForState(ctx, t, s.tc.Client, workflows.ReferralWorkflowID(r.ID.String()), func(rs workflows.ReferralState) bool { return rs.Status == referral.Pending })

	replayAndSave(ctx, t, s.tc.Client, run, "review_attach_member.json")

	// The worker's outbox dispatcher sends the notification queued with the
	// review entry.
	for {
		mu.Lock()
		n := len(notices)
		mu.Unlock()
		if n > 0 || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notices) != 1 || notices[0].Type != webhookdelivery.EventReviewCreated || notices[0].ID != activities.ReviewCreatedEventID(st.ReviewEntryID) || sigErr != nil {
		t.Fatalf("notifications = %+v (signature: %v)", notices, sigErr)
	}
}

func decideSalesEntry(ctx context.Context, c client.Client, workflowID string, d workflows.SalesEntryDecision) (workflows.SalesEntryState, error) {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: workflows.UpdateSalesEntryDecision, Args: []any{d},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return workflows.SalesEntryState{}, err
	}
	var st workflows.SalesEntryState
	err = h.Get(ctx, &st)
	return st, err
}

func waitForSalesEntry(ctx context.Context, t *testing.T, c client.Client, workflowID string, ok func(workflows.SalesEntryState) bool) workflows.SalesEntryState {
	t.Helper()
	for {
		var st workflows.SalesEntryState
		v, err := c.QueryWorkflow(ctx, workflowID, "", workflows.QuerySalesEntryState)
		if err == nil {
			if err := v.Get(&st); err != nil {
				t.Fatal(err)
			}
			if ok(st) {
				return st
			}
		}
		select {
		case <-ctx.Done():
			dumpFailures(t, c, workflowID)
			t.Fatalf("sales entry workflow %s never reached the expected state (last %+v, err %v)", workflowID, st, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// dumpFailures logs why a workflow is stuck: its failed workflow tasks and
// activities.
func dumpFailures(t *testing.T, c client.Client, workflowID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Logf("history of %s: %v", workflowID, err)
			return
		}
		if f := ev.GetWorkflowTaskFailedEventAttributes(); f != nil {
			t.Logf("workflow task failed: %s", f.GetFailure().GetMessage())
		}
		if f := ev.GetActivityTaskFailedEventAttributes(); f != nil {
			t.Logf("activity failed: %s", f.GetFailure().GetMessage())
		}
	}
	if d, err := c.DescribeWorkflowExecution(ctx, workflowID, ""); err == nil {
		for _, pa := range d.GetPendingActivities() {
			t.Logf("pending activity %s attempt %d: %s", pa.GetActivityType().GetName(), pa.GetAttempt(), pa.GetLastFailure().GetMessage())
		}
	}
}

// replayAndSave replays the run just made against the current workflow code
// and, with REFERFLOW_RECORD_HISTORIES=1, saves it under
// workflows/testdata/sales_entry for the workflows package's replay test.
func replayAndSave(ctx context.Context, t *testing.T, c client.Client, run client.WorkflowRun, name string) {
	t.Helper()
	hist := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, ev)
	}
	replayer := sdkworker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(workflows.SalesEntryWorkflow, workflow.RegisterOptions{Name: workflows.SalesEntryWorkflowType})
	replayer.RegisterWorkflow(workflows.ReferralWorkflow)
	if err := replayer.ReplayWorkflowHistory(nil, hist); err != nil {
		t.Fatalf("replay of the run just made: %v", err)
	}
	if os.Getenv("REFERFLOW_RECORD_HISTORIES") == "1" {
		raw, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "workflows", "testdata", "sales_entry", name), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
