package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	workflowpb "go.temporal.io/api/workflow/v1"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// misbehaviourStack is referral workflows sending their leads (a contact and
// an associated deal) through a real worker to a simulated portal that is
// switched into HubSpot's misbehaviour modes.
type misbehaviourStack struct {
	d  *testenv.Database
	tc *testenv.Temporal
	fx testenv.ReferralFixture
	hs *testenv.HubSpotWorld
}

// newMisbehaviourStack connects the workspace to a portal of a simulator
// with simOpts and runs a worker whose connection manager is the world's
// with change applied (a nil Limiter: the production SharedLimiter).
func newMisbehaviourStack(t *testing.T, simOpts hubspotsim.Options, change func(*hubspotconn.Options)) *misbehaviourStack {
	t.Helper()
	s := &misbehaviourStack{d: testenv.NewDatabase(t), tc: testenv.NewTemporal(t)}
	s.fx = s.d.SeedReferral(t)
	const public = "https://refer.acme.test"
	s.hs = testenv.ConnectHubSpot(t, s.d, s.fx.Workspace.ID, public, simOpts)
	settings := campaign.Defaults()
	settings.Leads = campaign.CRMSettings{
		Action: campaign.ActionCreateDeal, AssociateContact: true, DuplicateHandling: campaign.DuplicateDoNothing,
		FieldMapping: []campaign.FieldMapping{
			{Object: "deal", Value: "default", Property: "pipeline"},
			{Object: "deal", Value: "appointmentscheduled", Property: "dealstage"},
			{Object: "deal", Source: "campaign_name", Property: "dealname"},
			{Object: "contact", Source: "email", Property: "email"},
			{Object: "contact", Source: "first_name", Property: "firstname"},
			{Object: "contact", Source: "referral_code", Property: hubspotobject.PropReferredByCode},
		},
	}
	s.d.SetCampaignSettings(t, s.fx.Campaign, settings)
	ws := worker.New(s.tc.Client, s.d.Pool, worker.Options{
		TaskQueue: s.tc.TaskQueue, HubSpotTaskQueue: s.tc.HubSpotTaskQueue, HubSpot: s.hs.NewManager(t, change), PublicURL: public,
	})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Stop)
	return s
}

// referrals returns the seeded referral and n-1 more of the same member.
func (s *misbehaviourStack) referrals(t *testing.T, n int) []db.Referral {
	t.Helper()
	out := []db.Referral{s.fx.Referral}
	for i := 1; i < n; i++ {
		email := fmt.Sprintf("lead%d@example.org", i)
		name := "Lead"
		r, err := s.d.Queries.ReferralInsert(context.Background(), db.ReferralInsertParams{
			WorkspaceID: s.fx.Workspace.ID, CampaignID: s.fx.Campaign.ID, MemberID: s.fx.Member.ID,
			LeadEmail: email, LeadEmailNormalized: referral.NormalizeEmail(email), LeadFirstName: &name, Source: "admin",
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// start starts the referrals' workflows; they are terminated when the test
// ends (some wait for hours).
func (s *misbehaviourStack) start(t *testing.T, ctx context.Context, refs ...db.Referral) {
	t.Helper()
	for _, r := range refs {
		if _, err := workflows.StartReferralWorkflow(ctx, s.tc.Client, s.tc.TaskQueue, s.tc.HubSpotTaskQueue, r.ID.String()); err != nil {
			t.Fatal(err)
		}
		id := workflows.ReferralWorkflowID(r.ID.String())
		t.Cleanup(func() { _ = s.tc.Client.TerminateWorkflow(context.Background(), id, "", "test over") })
	}
}

// waitLeadsSent polls until each referral's lead_sent event is recorded.
func (s *misbehaviourStack) waitLeadsSent(t *testing.T, ctx context.Context, refs []db.Referral) {
	t.Helper()
	ids := make([]uuid.UUID, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	var n int
	for {
		if err := s.d.Pool.QueryRow(ctx, `SELECT count(*) FROM referral_events WHERE kind = $2 AND referral_id = ANY($1)`, ids, string(referral.EventLeadSent)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == len(refs) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d leads sent; simulator calls: %v", n, len(refs), s.hs.Sim.Calls(s.hs.PortalID))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkOneContactOneDeal: each referral's lead is exactly one contact and
// one deal in HubSpot, associated, and those are what the referral stores.
func (s *misbehaviourStack) checkOneContactOneDeal(t *testing.T, refs []db.Referral) {
	t.Helper()
	sim, portal := s.hs.Sim, s.hs.PortalID
	byEmail := map[string][]hubspotsim.Object{}
	for _, c := range sim.Objects(portal, "contacts") {
		byEmail[c.Properties["email"]] = append(byEmail[c.Properties["email"]], c)
	}
	byReferral := map[string][]hubspotsim.Object{}
	for _, d := range sim.Objects(portal, "deals") {
		byReferral[d.Properties[hubspotobject.PropReferralID]] = append(byReferral[d.Properties[hubspotobject.PropReferralID]], d)
	}
	for _, r := range refs {
		stored, err := s.d.Queries.ReferralGetByID(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		contacts, deals := byEmail[r.LeadEmail], byReferral[r.ID.String()]
		if len(contacts) != 1 || len(deals) != 1 {
			t.Fatalf("referral %s: %d contacts and %d deals in HubSpot, want one each", r.ID, len(contacts), len(deals))
		}
		if stored.HubspotContactID == nil || strconv.FormatInt(*stored.HubspotContactID, 10) != contacts[0].ID ||
			stored.HubspotDealID == nil || strconv.FormatInt(*stored.HubspotDealID, 10) != deals[0].ID {
			t.Fatalf("referral %s stores contact %v and deal %v; HubSpot has %s and %s", r.ID, stored.HubspotContactID, stored.HubspotDealID, contacts[0].ID, deals[0].ID)
		}
		if got := sim.Associations(portal, "deals", deals[0].ID, "contacts"); len(got) != 1 || got[0] != contacts[0].ID {
			t.Fatalf("deal %s's contacts %v, want [%s]", deals[0].ID, got, contacts[0].ID)
		}
	}
}

// pendingLead returns the pending lead activity of the first of the
// referrals whose lead has failed at least once (its last failure and next
// attempt).
func (s *misbehaviourStack) pendingLead(t *testing.T, ctx context.Context, refs ...db.Referral) *workflowpb.PendingActivityInfo {
	t.Helper()
	for {
		for _, r := range refs {
			desc, err := s.tc.Client.DescribeWorkflowExecution(ctx, workflows.ReferralWorkflowID(r.ID.String()), "")
			if err != nil {
				t.Fatal(err)
			}
			for _, pa := range desc.GetPendingActivities() {
				if pa.GetActivityType().GetName() == "SendLeadToHubSpot" && pa.GetLastFailure() != nil {
					return pa
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("no lead activity failed within the test's time")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// leadAttempts is the highest attempt the referral's lead activity ran.
func (s *misbehaviourStack) leadAttempts(t *testing.T, ctx context.Context, r db.Referral) int32 {
	t.Helper()
	return highestAttempt(ctx, t, s.tc.Client, workflows.ReferralWorkflowID(r.ID.String()), "", "SendLeadToHubSpot")
}

// TestLeadsWaitOutATenSecondStorm: other apps of the portal use up its
// ten-second budget (every call answered 429 TEN_SECONDLY_ROLLING) while
// four referrals send their leads. The first calls meet the storm; the
// activities then retry after HubSpot's 10 s (NextRetryDelay) and the shared
// limiter holds the portal meanwhile, so HubSpot sees nothing for ten
// seconds, then a probe. The storm refuses that probe and ends (the
// simulator counts it, so the end does not race the calls behind the
// probe); each lead ends as one contact and one deal, after a bounded number
// of attempts. That the calls behind a probe are paced, not a burst, is the
// limiter's own test (TestSharedLimiterProbesAfterAHold): here the times
// HubSpot sees are those of a loaded machine.
func TestLeadsWaitOutATenSecondStorm(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := newMisbehaviourStack(t, hubspotsim.Options{}, func(o *hubspotconn.Options) { o.Limiter = nil })
	refs := s.referrals(t, 4)
	sim, portal := s.hs.Sim, s.hs.PortalID
	if _, err := sim.SetMode(portal, hubspotsim.Mode{Kind: hubspotsim.ModeRateLimit}); err != nil {
		t.Fatal(err)
	}
	s.start(t, ctx, refs...)

	// The activity's error asks Temporal for HubSpot's wait, and Temporal
	// schedules the next attempt after it.
	pa := s.pendingLead(t, ctx, refs...)
	info := pa.GetLastFailure().GetApplicationFailureInfo()
	if info.GetType() != hubspot.ErrorTypeRateLimited || info.GetNonRetryable() || info.GetNextRetryDelay().AsDuration() != 10*time.Second {
		t.Fatalf("the lead activity failed with %v, want a retryable %s with NextRetryDelay 10s", pa.GetLastFailure(), hubspot.ErrorTypeRateLimited)
	}
	if gap := pa.GetNextAttemptScheduleTime().AsTime().Sub(pa.GetLastAttemptCompleteTime().AsTime()); gap < 9*time.Second {
		t.Fatalf("the next attempt is scheduled %s after the 429, before HubSpot's 10 s", gap)
	}

	// Once the calls already on their way when the first 429 came back have
	// landed, the storm is set to refuse one more call, the first probe
	// after HubSpot's wait, and end.
	refused := func() []hubspotsim.Call {
		var out []hubspotsim.Call
		for _, c := range sim.Calls(portal) {
			if c.Mode == hubspotsim.ModeRateLimit {
				out = append(out, c)
			}
		}
		return out
	}
	select {
	case <-ctx.Done():
		t.Fatal("the test ran out of time in the storm")
	case <-time.After(time.Until(refused()[0].At.Add(2 * time.Second))):
	}
	if _, err := sim.SetMode(portal, hubspotsim.Mode{Kind: hubspotsim.ModeRateLimit, Calls: 1}); err != nil {
		t.Fatal(err)
	}
	s.waitLeadsSent(t, ctx, refs)
	s.checkOneContactOneDeal(t, refs)

	// What HubSpot saw in the storm: the calls already on their way when
	// the first 429 came back, then nothing until the probe.
	r := refused()
	first := r[0].At
	var probes []time.Time
	for _, c := range r {
		switch d := c.At.Sub(first); {
		case d > 2*time.Second && d < 9*time.Second:
			t.Fatalf("a call reached HubSpot %s into the storm, while HubSpot's 10 s wait held the portal: %+v", d, r)
		case d >= 9*time.Second:
			probes = append(probes, c.At)
		}
	}
	if len(probes) != 1 || len(r) > len(refs)+1 {
		t.Fatalf("HubSpot refused %d calls, %d after its wait, want at most one per referral in the first window and the probe: %+v", len(r), len(probes), r)
	}
	for _, ref := range refs {
		if n := s.leadAttempts(t, ctx, ref); n > 3 {
			t.Errorf("referral %s's lead took %d attempts in a one-window storm, want at most 3", ref.ID, n)
		}
	}
}

// TestLeadWaitsForTheDailyReset: the portal's daily limit is used up. The
// lead's first call is answered 429 DAILY; the activity asks to be retried
// at midnight in the portal's time zone (learned when connecting), when
// HubSpot resets the count, and a second referral's lead, held by the
// limiter, does not call HubSpot at all: one refused call in all.
func TestLeadWaitsForTheDailyReset(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := newMisbehaviourStack(t, hubspotsim.Options{}, func(o *hubspotconn.Options) { o.Limiter = nil })
	refs := s.referrals(t, 2)
	sim, portal := s.hs.Sim, s.hs.PortalID
	on, err := sim.SetMode(portal, hubspotsim.Mode{Kind: hubspotsim.ModeDailyLimit})
	if err != nil {
		t.Fatal(err)
	}
	reset := *on.Until // midnight in New York
	calls := len(sim.Calls(portal))

	s.start(t, ctx, refs[0])
	first := s.pendingLead(t, ctx, refs[0])
	s.start(t, ctx, refs[1])
	second := s.pendingLead(t, ctx, refs[1])
	for name, pa := range map[string]*workflowpb.PendingActivityInfo{"first": first, "second": second} {
		info := pa.GetLastFailure().GetApplicationFailureInfo()
		if info.GetType() != hubspot.ErrorTypeRateLimited || info.GetNonRetryable() {
			t.Fatalf("%s lead: %v, want a retryable %s", name, pa.GetLastFailure(), hubspot.ErrorTypeRateLimited)
		}
		next := pa.GetNextAttemptScheduleTime().AsTime()
		if next.Before(reset.Add(-5*time.Second)) || next.After(reset.Add(5*time.Second)) {
			t.Fatalf("%s lead's next attempt at %s, want the portal's midnight %s (HubSpot's reset), not sooner", name, next, reset)
		}
	}
	if n := len(sim.Calls(portal)) - calls; n != 1 {
		t.Fatalf("HubSpot saw %d calls during the daily limit, want 1: the second lead should wait on the limiter", n)
	}
}

// TestLeadSentOnceWhenHubSpotsAnswersAreLost: HubSpot does each write but
// its answer is lost — a 502 after the write, or an answer slower than the
// client's timeout — for the lead's contact and then its deal. The retries
// adopt what the lost attempts created (the contact by email, the deal among
// the contact's deals by the referral's ID, both read at once where search
// lags), so each lead ends as exactly one contact and one deal. HubSpot's
// search lags a few seconds, as HubSpot's does.
func TestLeadSentOnceWhenHubSpotsAnswersAreLost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		mode    hubspotsim.Mode
		timeout time.Duration // the worker's HTTP timeout (0: the default 30 s)
	}{
		{"5xx after the write", hubspotsim.Mode{Kind: hubspotsim.ModeServerErrors, Status: 502, AfterWrite: true, WritesOnly: true, Calls: 2}, 0},
		{"answers slower than the client's timeout", hubspotsim.Mode{Kind: hubspotsim.ModeSlowAnswers, Delay: hubspotsim.Duration(3 * time.Second), WritesOnly: true, Calls: 2}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s := newMisbehaviourStack(t, hubspotsim.Options{SearchLag: 5 * time.Second}, func(o *hubspotconn.Options) {
				if tc.timeout > 0 {
					o.HTTPClient = &http.Client{Timeout: tc.timeout}
				}
			})
			refs := s.referrals(t, 1)
			sim, portal := s.hs.Sim, s.hs.PortalID
			if _, err := sim.SetMode(portal, tc.mode); err != nil {
				t.Fatal(err)
			}
			s.start(t, ctx, refs...)
			s.waitLeadsSent(t, ctx, refs)
			s.checkOneContactOneDeal(t, refs)

			// Both creates were done and their answers lost.
			var lost []string
			for _, c := range sim.Calls(portal) {
				if c.Mode == tc.mode.Kind {
					lost = append(lost, c.Method+" "+c.Path)
				}
			}
			want := []string{"POST /crm/objects/2026-03/contacts", "POST /crm/objects/2026-03/deals"}
			if fmt.Sprint(lost) != fmt.Sprint(want) {
				t.Fatalf("answers lost: %v, want %v", lost, want)
			}
			if n := s.leadAttempts(t, ctx, refs[0]); n != 3 {
				t.Fatalf("the lead took %d attempts; want 3 (two lost answers, then success)", n)
			}
		})
	}
}
