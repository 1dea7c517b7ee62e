package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// v4Get reads a path of the simulator's legacy v4 API (the one HubSpot's
// own clients still call) with the portal's private-app token.
func v4Get(t *testing.T, base, token, path string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %v", path, resp.StatusCode, body, err)
	}
	return body
}

// userLabels maps the USER_DEFINED labels of a v4 labels list to their type
// IDs, and counts them.
func userLabels(body map[string]any) (map[string]int, int) {
	out, n := map[string]int{}, 0
	for _, r := range body["results"].([]any) {
		m := r.(map[string]any)
		if m["category"] == "USER_DEFINED" {
			label, _ := m["label"].(string)
			out[label] = int(m["typeId"].(float64))
			n++
		}
	}
	return out, n
}

// labelsTo lists, per associated record, the labels of a v4 associations
// read (GET /crm/v4/objects/{type}/{id}/associations/{toType}).
func labelsTo(body map[string]any) map[string][]string {
	out := map[string][]string{}
	for _, r := range body["results"].([]any) {
		m := r.(map[string]any)
		to := strconv.FormatInt(int64(m["toObjectId"].(float64)), 10)
		for _, at := range m["associationTypes"].([]any) {
			a := at.(map[string]any)
			if a["category"] == "USER_DEFINED" {
				out[to] = append(out[to], a["label"].(string))
			}
		}
	}
	return out
}

func storedLabels(ctx context.Context, t *testing.T, q *db.Queries, s *hubspotStack) (int32, int32, int32) {
	t.Helper()
	conn, err := q.HubSpotConnectionGetByWorkspace(ctx, s.workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	v := func(p *int32) int32 {
		if p == nil {
			return 0
		}
		return *p
	}
	return v(conn.ReferrerAssociationTypeID), v(conn.ReferredAssociationTypeID), v(conn.ReferredByAssociationTypeID)
}

// TestConnectCreatesReferredByLabelsOnce: connecting a portal creates
// referflow's association labels (the paired contact labels "Referrer" /
// "Referred", the deal label "Referred by") and stores their type IDs on the
// connection; reconnecting finds and reuses them: nothing new in the
// portal, the same IDs stored again.
func TestConnectCreatesReferredByLabelsOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := newHubSpotStack(t, hubspotsim.Options{}, &recordingTransport{})
	conn := s.connect(t)
	_, res, err := s.runSetup(ctx, t, conn.PortalID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(res.Created, "|"), `association label "Referrer" / "Referred"`) ||
		!strings.Contains(strings.Join(res.Created, "|"), `association label "Referred by"`) {
		t.Fatalf("the first setup should create both labels: %q", res.Created)
	}
	token := s.portal.PrivateAppToken
	contactLabels, n := userLabels(v4Get(t, s.simURL, token, "/crm/v4/associations/contacts/contacts/labels"))
	dealLabels, m := userLabels(v4Get(t, s.simURL, token, "/crm/v4/associations/deals/contacts/labels"))
	if n != 2 || m != 1 || contactLabels[hubspotconn.LabelReferrer] == 0 || contactLabels[hubspotconn.LabelReferred] == 0 || dealLabels[hubspotconn.LabelReferredBy] == 0 {
		t.Fatalf("portal labels: contacts %v, deals %v", contactLabels, dealLabels)
	}
	referrer, referred, referredBy := storedLabels(ctx, t, s.database.Queries, s)
	if int(referrer) != contactLabels[hubspotconn.LabelReferrer] || int(referred) != contactLabels[hubspotconn.LabelReferred] || int(referredBy) != dealLabels[hubspotconn.LabelReferredBy] {
		t.Fatalf("stored %d/%d/%d, portal %v %v", referrer, referred, referredBy, contactLabels, dealLabels)
	}

	// Reconnect: the connection forgets the IDs, the setup finds the same
	// labels again and creates none.
	conn = s.connect(t)
	if a, b, c := storedLabels(ctx, t, s.database.Queries, s); a != 0 || b != 0 || c != 0 {
		t.Fatalf("a reconnect should clear the stored labels until its setup runs: %d/%d/%d", a, b, c)
	}
	_, res, err = s.runSetup(ctx, t, conn.PortalID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(res.Created, "|"), "association label") {
		t.Fatalf("the reconnect's setup created labels again: %q", res.Created)
	}
	if _, n2 := userLabels(v4Get(t, s.simURL, token, "/crm/v4/associations/contacts/contacts/labels")); n2 != 2 {
		t.Fatalf("%d contact labels after the reconnect, want the same 2", n2)
	}
	if a, b, c := storedLabels(ctx, t, s.database.Queries, s); a != referrer || b != referred || c != referredBy {
		t.Fatalf("after the reconnect stored %d/%d/%d, want %d/%d/%d", a, b, c, referrer, referred, referredBy)
	}
}

// labelStack is referral workflows sending leads (a deal with its contact)
// to a simulated portal through a real worker; the seeded member has a
// HubSpot contact.
type labelStack struct {
	d             *testenv.Database
	tc            *testenv.Temporal
	fx            testenv.ReferralFixture
	hs            *testenv.HubSpotWorld
	memberContact string
}

func newLabelStack(t *testing.T, action string) *labelStack {
	t.Helper()
	s := &labelStack{d: testenv.NewDatabase(t), tc: testenv.NewTemporal(t)}
	s.fx = s.d.SeedReferral(t)
	const public = "https://refer.acme.test"
	s.hs = testenv.ConnectHubSpot(t, s.d, s.fx.Workspace.ID, public)
	settings := campaign.Defaults()
	settings.Leads = campaign.CRMSettings{
		Action: action, AssociateContact: action == campaign.ActionCreateDeal, DuplicateHandling: campaign.DuplicateDoNothing,
		FieldMapping: []campaign.FieldMapping{
			{Object: "contact", Source: "email", Property: "email"},
			{Object: "contact", Source: "first_name", Property: "firstname"},
			{Object: "contact", Source: "referral_code", Property: hubspotobject.PropReferredByCode},
		},
	}
	if action == campaign.ActionCreateDeal {
		settings.Leads.FieldMapping = append(settings.Leads.FieldMapping,
			campaign.FieldMapping{Object: "deal", Value: "default", Property: "pipeline"},
			campaign.FieldMapping{Object: "deal", Value: "appointmentscheduled", Property: "dealstage"},
			campaign.FieldMapping{Object: "deal", Source: "campaign_name", Property: "dealname"},
		)
	}
	s.d.SetCampaignSettings(t, s.fx.Campaign, settings)
	var err error
	if s.memberContact, err = s.hs.Sim.CreateObject(s.hs.PortalID, "contacts", map[string]string{"email": s.fx.Member.Email}); err != nil {
		t.Fatal(err)
	}
	id, _ := strconv.ParseInt(s.memberContact, 10, 64)
	if _, err := s.d.Queries.MemberSetHubSpotContact(context.Background(), db.MemberSetHubSpotContactParams{ID: s.fx.Member.ID, HubspotContactID: &id}); err != nil {
		t.Fatal(err)
	}
	ws := worker.New(s.tc.Client, s.d.Pool, worker.Options{
		TaskQueue: s.tc.TaskQueue, HubSpotTaskQueue: s.tc.HubSpotTaskQueue, HubSpot: s.hs.Manager, PublicURL: public,
	})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Stop)
	return s
}

func (s *labelStack) start(t *testing.T, ctx context.Context, r db.Referral) {
	t.Helper()
	if _, err := workflows.StartReferralWorkflow(ctx, s.tc.Client, s.tc.TaskQueue, s.tc.HubSpotTaskQueue, r.ID.String()); err != nil {
		t.Fatal(err)
	}
	id := workflows.ReferralWorkflowID(r.ID.String())
	t.Cleanup(func() { _ = s.tc.Client.TerminateWorkflow(context.Background(), id, "", "test over") })
}

func (s *labelStack) get(t *testing.T, path string) map[string]any {
	t.Helper()
	return v4Get(t, s.hs.URL, s.hs.Sim.Portal(s.hs.PortalID).PrivateAppToken, path)
}

// TestReferralLabelledReferredByInHubSpot: a referral whose member has a
// HubSpot contact ends with its lead's contact associated with the member's
// contact — the member is the lead's "Referrer", the lead the member's
// "Referred" — and its deal with the member as "Referred by", read back
// through the simulator's v4 API; the labels were made on the way (this
// connection's setup predates them). A referral of a member without a
// contact says in its audit trail why it waits.
func TestReferralLabelledReferredByInHubSpot(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := newLabelStack(t, campaign.ActionCreateDeal)
	s.start(t, ctx, s.fx.Referral)
	waitForEvent(ctx, t, s.d, s.fx.Referral, string(referral.EventReferredByLabelled))

	r, err := s.d.Queries.ReferralGetByID(ctx, s.fx.Referral.ID)
	if err != nil || r.HubspotContactID == nil || r.HubspotDealID == nil {
		t.Fatalf("the lead's records: %+v %v", r, err)
	}
	lead, deal := strconv.FormatInt(*r.HubspotContactID, 10), strconv.FormatInt(*r.HubspotDealID, 10)
	if got := labelsTo(s.get(t, "/crm/v4/objects/contacts/"+lead+"/associations/contacts"))[s.memberContact]; strings.Join(got, ",") != hubspotconn.LabelReferrer {
		t.Fatalf("the lead's contact sees the member as %q, want Referrer", got)
	}
	if got := labelsTo(s.get(t, "/crm/v4/objects/contacts/"+s.memberContact+"/associations/contacts"))[lead]; strings.Join(got, ",") != hubspotconn.LabelReferred {
		t.Fatalf("the member's contact sees the lead as %q, want Referred", got)
	}
	if got := labelsTo(s.get(t, "/crm/v4/objects/deals/"+deal+"/associations/contacts"))[s.memberContact]; strings.Join(got, ",") != hubspotconn.LabelReferredBy {
		t.Fatalf("the lead's deal sees the member as %q, want Referred by", got)
	}
	var reason string
	if err := s.d.Pool.QueryRow(ctx, `SELECT details->>'reason' FROM referral_events WHERE referral_id = $1 AND kind = $2`, r.ID, string(referral.EventReferredByLabelled)).Scan(&reason); err != nil ||
		!strings.Contains(reason, fmt.Sprintf("contacts %s → contact %s (Referrer)", lead, s.memberContact)) {
		t.Fatalf("the audit event says %q (%v)", reason, err)
	}

	// A member without a HubSpot contact: the referral's trail says why it
	// is not labelled; its lead is sent all the same.
	name := "Noa"
	other, err := s.d.Queries.MemberCreate(ctx, db.MemberCreateParams{
		WorkspaceID: s.fx.Workspace.ID, CampaignID: s.fx.Campaign.ID, ReferralCode: "NOA-1", Email: "noa@example.com", FirstName: &name, Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	waiting, err := s.d.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
		WorkspaceID: s.fx.Workspace.ID, CampaignID: s.fx.Campaign.ID, MemberID: other.ID,
		LeadEmail: "ivy@example.org", LeadEmailNormalized: "ivy@example.org", Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	s.start(t, ctx, waiting)
	waitForEvent(ctx, t, s.d, waiting, string(referral.EventReferredByNotLabelled))
	if kinds := eventKinds(ctx, t, s.d, waiting); !has(kinds, string(referral.EventLeadSent)) {
		t.Fatalf("trail %q: the lead should be sent", kinds)
	}
	var skipped string
	if err := s.d.Pool.QueryRow(ctx, `SELECT details->>'skipped' FROM referral_events WHERE referral_id = $1 AND kind = $2`, waiting.ID, string(referral.EventReferredByNotLabelled)).Scan(&skipped); err != nil ||
		!strings.Contains(skipped, "no HubSpot contact yet") {
		t.Fatalf("why it waits: %q (%v)", skipped, err)
	}
}

// TestSameHubSpotCompanyHoldsForReview: the lead is already a HubSpot
// contact associated with the member's company. The referral's workflow
// reads both contacts' companies from HubSpot, the same_hubspot_company
// signal fires (review by default), and the referral waits in the review
// queue with it; nothing is sent to HubSpot meanwhile.
func TestSameHubSpotCompanyHoldsForReview(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := newLabelStack(t, campaign.ActionCreateDeal)
	sim, portal := s.hs.Sim, s.hs.PortalID
	acme, err := sim.CreateObject(portal, "companies", map[string]string{"name": "Acme", "domain": "acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	lead, err := sim.CreateObject(portal, "contacts", map[string]string{"email": s.fx.Referral.LeadEmail})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{s.memberContact, lead} {
		if err := sim.Associate(portal, "contacts", c, "companies", acme); err != nil {
			t.Fatal(err)
		}
	}
	s.start(t, ctx, s.fx.Referral)
	st := waitForState(ctx, t, s.tc.Client, workflows.ReferralWorkflowID(s.fx.Referral.ID.String()), func(st workflows.ReferralState) bool { return st.PendingReview != nil })
	if st.Status != referral.Pending || len(st.PendingReview.Fraud) != 1 || st.PendingReview.Fraud[0].Reason != referral.FraudSameHubSpotCompany ||
		!strings.Contains(st.PendingReview.Fraud[0].Detail, "company "+acme) {
		t.Fatalf("held: %+v", st.PendingReview)
	}
	if _, err := s.d.Queries.ReviewEntryGetOpenOfReferral(ctx, &s.fx.Referral.ID); err != nil {
		t.Fatalf("no open review entry: %v", err)
	}
	kinds := eventKinds(ctx, t, s.d, s.fx.Referral)
	if !has(kinds, string(referral.EventFraudSignal)) || has(kinds, string(referral.EventLeadSent)) {
		t.Fatalf("trail %q: want the signal and no lead sent", kinds)
	}
}
