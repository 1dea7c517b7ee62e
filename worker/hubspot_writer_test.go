package worker_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
)

const writerPublicURL = "https://refer.acme.test"

// writerWorld is a workspace connected to a simulated portal, with members
// who have contacts there, and a HubSpot writer that is started on demand.
type writerWorld struct {
	d       *testenv.Database
	fx      testenv.ReferralFixture
	hw      *testenv.HubSpotWorld
	acts    *activities.Activities
	hubspot *activities.HubSpot
	members []db.Member
}

func newWriterWorld(t testing.TB, members int) *writerWorld {
	t.Helper()
	ctx := context.Background()
	w := &writerWorld{d: testenv.NewDatabase(t)}
	w.fx = w.d.SeedReferral(t)
	w.hw = testenv.ConnectHubSpot(t, w.d, w.fx.Workspace.ID, writerPublicURL)
	// The production limiter, shared through Postgres by every HubSpot call.
	m := w.hw.NewManager(t, func(o *hubspotconn.Options) { o.Limiter = nil })
	w.hubspot = &activities.HubSpot{Conn: m, Queries: w.d.Queries, PublicURL: writerPublicURL}
	w.acts = activities.New(w.d.Pool)
	for i := range members {
		email := fmt.Sprintf("member%d@example.com", i)
		id, err := w.hw.Sim.CreateObject(w.hw.PortalID, "contacts", map[string]string{"email": email})
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseInt(id, 10, 64)
		mb, err := w.d.Queries.MemberCreate(ctx, db.MemberCreateParams{
			WorkspaceID: w.fx.Workspace.ID, CampaignID: w.fx.Campaign.ID, ReferralCode: fmt.Sprintf("M%04d", i),
			Email: email, HubspotContactID: &n, Source: "admin",
		})
		if err != nil {
			t.Fatal(err)
		}
		w.members = append(w.members, mb)
	}
	return w
}

// startWriter runs a HubSpot writer until the test ends.
func (w *writerWorld) startWriter(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	wr := &worker.HubSpotWriter{HubSpot: w.hubspot, Pool: w.d.Pool}
	go func() { defer close(done); wr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// refer adds a referral of member m and moves it along path.
func (w *writerWorld) refer(t testing.TB, m db.Member, lead string, path ...referral.Status) db.Referral {
	t.Helper()
	ctx := context.Background()
	r, err := activities.AddReferral(ctx, w.d.Pool, activities.NewReferral{
		Member: m, Lead: activities.Lead{Email: lead}, Source: referral.SourceAdminAPI, Actor: "admin:1",
	})
	if err != nil {
		t.Error(err)
		return r
	}
	from := referral.Pending
	for _, to := range path {
		w.move(t, r.ID.String(), from, to)
		from = to
	}
	return r
}

func (w *writerWorld) move(t testing.TB, id string, from, to referral.Status) {
	t.Helper()
	ch := activities.StatusChange{ReferralID: id, From: from, To: to, Actor: "system", IdempotencyKey: fmt.Sprintf("%s:%s:%s", id, from, to)}
	if to == referral.Denied {
		ch.Reason = "not a fit"
	}
	if err := w.acts.ChangeReferralStatus(context.Background(), ch); err != nil {
		t.Errorf("%s %s → %s: %v", id, from, to, err)
	}
}

// disagreements lists the members whose contact does not show what
// Postgres has.
func (w *writerWorld) disagreements(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, mb := range w.members {
		m, err := w.d.Queries.MemberGetByID(context.Background(), mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		c, ok := w.hw.Sim.GetObject(w.hw.PortalID, "contacts", strconv.FormatInt(*m.HubspotContactID, 10))
		if !ok {
			t.Fatalf("member %s's contact is gone", m.ID)
		}
		for prop, want := range map[string]string{
			hubspotobject.PropReferralCode:           m.ReferralCode,
			hubspotobject.PropReferralLink:           writerPublicURL + "/r/" + m.ReferralCode,
			hubspotobject.PropReferralCount:          strconv.Itoa(int(m.ReferralCount)),
			hubspotobject.PropConvertedReferralCount: strconv.Itoa(int(m.ConvertedReferralCount)),
		} {
			if got := c.Properties[prop]; got != want {
				out = append(out, fmt.Sprintf("member %s: %s = %q, want %q", m.ReferralCode, prop, got, want))
			}
		}
	}
	return out
}

// marks counts the workspace's marks not yet written.
func (w *writerWorld) marks(t testing.TB) int {
	t.Helper()
	ms, err := w.d.Queries.MemberHubSpotWriteList(context.Background(), w.fx.Workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := w.d.Queries.ReferralHubSpotWriteList(context.Background(), w.fx.Workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms) + len(rs)
}

// waitAgreed waits until HubSpot shows what Postgres has and no mark is
// left.
func (w *writerWorld) waitAgreed(t testing.TB, ctx context.Context) {
	t.Helper()
	var last []string
	for {
		if w.marks(t) == 0 {
			if last = w.disagreements(t); len(last) == 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("HubSpot never agreed with Postgres: %d marks left; %d disagreements, first %v", w.marks(t), len(last), first(last))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func first(s []string) []string { return s[:min(len(s), 3)] }

// batchUpdates counts the batch updates of objectType (contacts, deals)
// among calls.
func batchUpdates(calls []hubspotsim.Call, objectType string) int {
	n := 0
	for _, c := range calls {
		if c.Method == "POST" && strings.HasSuffix(c.Path, "/"+objectType+"/batch/update") {
			n++
		}
	}
	return n
}

// A burst of 1,000 changes over 250 members — each gets a referral that
// qualifies, is approved, and for half of them denied — reaches HubSpot in
// ceil(250/100) = 3 batch calls, and HubSpot ends showing what Postgres has.
func TestHubSpotWriterTurnsABurstIntoOneBatchCallPerHundredMembers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 250
	w := newWriterWorld(t, n)

	var wg sync.WaitGroup
	work := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range work {
				path := []referral.Status{referral.Qualified, referral.Approved}
				if i%2 == 0 {
					path = append(path, referral.Denied)
				}
				w.refer(t, w.members[i], fmt.Sprintf("lead%d@example.org", i), path...)
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Each member's counts are marked once, however often they changed.
	ms, err := w.d.Queries.MemberHubSpotWriteList(ctx, w.fx.Workspace.ID)
	if err != nil || len(ms) != n {
		t.Fatalf("%d member marks, %v; want one per member (%d)", len(ms), err, n)
	}
	// Let every mark fall due before the writer starts, so that the batches
	// do not depend on how fast this machine made the burst.
	for {
		var waiting int
		if err := w.d.Pool.QueryRow(ctx, "SELECT count(*) FROM member_hubspot_writes WHERE due_at > now()").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := len(w.hw.Sim.Calls(w.hw.PortalID))

	w.startWriter(t)
	w.waitAgreed(t, ctx)
	calls := w.hw.Sim.Calls(w.hw.PortalID)[before:]
	if got := batchUpdates(calls, "contacts"); got != 3 || len(calls) != 3 {
		t.Fatalf("%d calls, %d of them batch updates of contacts; want 3 of 3 for %d members", len(calls), got, n)
	}
}

// While HubSpot fails, the marks stay; once it answers again, HubSpot
// catches up with Postgres and nothing is lost.
func TestHubSpotWriterCatchesUpAfterHubSpotWasDown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWriterWorld(t, 30)
	w.startWriter(t)
	if _, err := w.hw.Sim.SetMode(w.hw.PortalID, hubspotsim.Mode{Kind: hubspotsim.ModeServerErrors, Status: 503}); err != nil {
		t.Fatal(err)
	}
	for i, m := range w.members {
		w.refer(t, m, fmt.Sprintf("lead%d@example.org", i), referral.Qualified)
	}
	// Two failed attempts at least: the marks wait out a backoff, with the
	// reason.
	for {
		ms, err := w.d.Queries.MemberHubSpotWriteList(ctx, w.fx.Workspace.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != len(w.members) {
			t.Fatalf("%d member marks while HubSpot is down, want %d", len(ms), len(w.members))
		}
		if ms[0].Attempts >= 2 {
			if ms[0].LastError == nil || !strings.Contains(*ms[0].LastError, "503") {
				t.Fatalf("last error %v, want HubSpot's 503", ms[0].LastError)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the writer never tried while HubSpot was down")
		case <-time.After(100 * time.Millisecond):
		}
	}
	// More changes while HubSpot is still down.
	for i, m := range w.members[:10] {
		w.refer(t, m, fmt.Sprintf("second%d@example.org", i), referral.Approved)
	}
	w.hw.Sim.ClearMode(w.hw.PortalID, hubspotsim.ModeServerErrors)
	w.waitAgreed(t, ctx)
}

// The lead's records get the referral's status at every change and the
// referring member's code: a deal and its associated contact.
func TestHubSpotWriterWritesTheLeadsStatusAndReferredByCode(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := newWriterWorld(t, 0)
	s := campaign.Defaults()
	s.Leads = campaign.CRMSettings{
		Action: campaign.ActionCreateDeal, AssociateContact: true, DuplicateHandling: campaign.DuplicateDoNothing,
		FieldMapping: []campaign.FieldMapping{
			{Object: "deal", Value: "default", Property: "pipeline"},
			{Object: "deal", Value: "appointmentscheduled", Property: "dealstage"},
			{Object: "deal", Source: "campaign_name", Property: "dealname"},
			{Object: "contact", Source: "email", Property: "email"},
			{Object: "contact", Source: "first_name", Property: "firstname"},
		},
	}
	w.d.SetCampaignSettings(t, w.fx.Campaign, s)
	w.startWriter(t)

	lead, err := w.hubspot.SendLeadToHubSpot(ctx, w.fx.Referral.ID.String())
	if err != nil || lead.DealID == "" || lead.ContactID == "" {
		t.Fatalf("SendLeadToHubSpot: %+v, %v", lead, err)
	}
	records := map[string]string{"contacts": lead.ContactID, "deals": lead.DealID}
	waitRecords := func(status referral.Status) {
		t.Helper()
		for {
			agreed := true
			for objectType, id := range records {
				o, _ := w.hw.Sim.GetObject(w.hw.PortalID, objectType, id)
				if o.Properties[hubspotobject.PropReferralStatus] != string(status) ||
					o.Properties[hubspotobject.PropReferredByCode] != w.fx.Member.ReferralCode {
					agreed = false
				}
			}
			if agreed {
				return
			}
			select {
			case <-ctx.Done():
				c, _ := w.hw.Sim.GetObject(w.hw.PortalID, "contacts", lead.ContactID)
				d, _ := w.hw.Sim.GetObject(w.hw.PortalID, "deals", lead.DealID)
				rs, _ := w.d.Queries.ReferralHubSpotWriteList(context.Background(), w.fx.Workspace.ID)
				t.Fatalf("lead records never showed %s by %s: contact %v, deal %v; marks %+v", status, w.fx.Member.ReferralCode, c.Properties, d.Properties, rs)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	waitRecords(referral.Pending) // as created
	id := w.fx.Referral.ID.String()
	w.move(t, id, referral.Pending, referral.Qualified)
	waitRecords(referral.Qualified)
	w.move(t, id, referral.Qualified, referral.Denied)
	waitRecords(referral.Denied)
}
