package activities_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/outgoing"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/review"
	"github.com/referflow/referflow/internal/salesentry"
	"github.com/referflow/referflow/internal/webhookdelivery"
)

// matchWorld is a seeded referral (lead leo@example.org of member Maya)
// whose workspace is connected to a simulated portal.
type matchWorld struct {
	db     *testenv.Database
	fx     testenv.ReferralFixture
	sim    *hubspotsim.Simulator
	portal int64
	hs     *activities.HubSpot
	a      *activities.Activities
}

func newMatchWorld(t *testing.T) *matchWorld {
	t.Helper()
	w := &matchWorld{db: testenv.NewDatabase(t)}
	w.fx = w.db.SeedReferral(t)
	hw := testenv.ConnectHubSpot(t, w.db, w.fx.Workspace.ID, "https://refer.acme.test")
	w.sim, w.portal = hw.Sim, hw.PortalID
	w.hs = &activities.HubSpot{Conn: hw.Manager, Queries: w.db.Queries}
	w.a = activities.New(w.db.Pool)
	w.a.WebhookPolicy = testenv.LoopbackWebhooks(t) // the receivers are httptest servers
	return w
}

func (w *matchWorld) rules(t *testing.T, pr campaign.ProcessRules) {
	t.Helper()
	s := campaign.Defaults()
	s.ProcessRules = pr
	s.StatusRules.Approved = &campaign.StatusRule{Object: "contact", Property: "lifecyclestage", Values: []string{"customer"}}
	w.db.SetCampaignSettings(t, w.fx.Campaign, s)
}

// entry records a sales entry about an object, as the webhook would.
func (w *matchWorld) entry(t *testing.T, objectType string, objectID int64, property, value string) activities.SalesEntry {
	t.Helper()
	ctx := context.Background()
	p := db.SalesEntryInsertParams{
		PortalID: w.portal, WorkspaceID: &w.fx.Workspace.ID, DedupeKey: uuid.NewString(),
		SubscriptionType: objectType + ".creation", ObjectType: objectType, ObjectID: objectID,
		OccurredAt: time.Now().UTC(), Payload: json.RawMessage(`{}`),
	}
	if property != "" {
		p.SubscriptionType = objectType + ".propertyChange"
		p.PropertyName, p.PropertyValue = &property, &value
	}
	row, err := w.db.Queries.SalesEntryInsert(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	e, err := w.a.LoadSalesEntry(ctx, row.ID)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (w *matchWorld) create(t *testing.T, objectType string, props map[string]string) int64 {
	t.Helper()
	id, err := w.sim.CreateObject(w.portal, objectType, props)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

// match reads the entry's object from the simulator and matches it.
func (w *matchWorld) match(t *testing.T, e activities.SalesEntry, edited map[string]string) activities.MatchResult {
	t.Helper()
	ctx := context.Background()
	obj, err := w.hs.ReadSalesEntryObject(ctx, activities.ReadObjectInput{
		WorkspaceID: e.WorkspaceID, ObjectType: e.ObjectType, ObjectID: e.ObjectID, Properties: e.ReadProperties,
	})
	if err != nil {
		t.Fatalf("ReadSalesEntryObject: %v", err)
	}
	res, err := w.a.MatchSalesEntry(ctx, activities.MatchInput{
		SalesEntryID: e.ID, WorkspaceID: e.WorkspaceID, Object: obj, Edited: edited, Property: e.PropertyName, Value: e.PropertyValue,
	})
	if err != nil {
		t.Fatalf("MatchSalesEntry: %v", err)
	}
	return res
}

func (w *matchWorld) otherReferral(t *testing.T, c db.Campaign, m db.Member, email string, mutate func(*db.ReferralInsertParams)) db.Referral {
	t.Helper()
	first, last := "Leo", "Lind"
	p := db.ReferralInsertParams{
		WorkspaceID: c.WorkspaceID, CampaignID: c.ID, MemberID: m.ID, LeadEmail: email, LeadEmailNormalized: referral.NormalizeEmail(email),
		LeadFirstName: &first, LeadLastName: &last, Source: "api",
	}
	if mutate != nil {
		mutate(&p)
	}
	r, err := w.db.Queries.ReferralInsert(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func onlyCandidate(t *testing.T, res activities.MatchResult, kind salesentry.MatchKind) activities.MatchCandidate {
	t.Helper()
	if res.Kind != kind || len(res.Candidates) != 1 {
		t.Fatalf("match = %+v, want one %s candidate", res, kind)
	}
	return res.Candidates[0]
}

func TestReadSalesEntryObject(t *testing.T) {
	t.Parallel()
	w := newMatchWorld(t)
	ctx := context.Background()
	company := w.create(t, "companies", map[string]string{"name": "Lind AB", "domain": "www.Lind.se"})
	contact := w.create(t, "contacts", map[string]string{"email": "leo@lind.se", "firstname": "Leo", "lastname": "Lind", hubspotobject.PropReferralID: "x"})
	if err := w.sim.Associate(w.portal, "contacts", strconv.FormatInt(contact, 10), "companies", strconv.FormatInt(company, 10)); err != nil {
		t.Fatal(err)
	}
	e := w.entry(t, "contact", contact, "", "")
	obj, err := w.hs.ReadSalesEntryObject(ctx, activities.ReadObjectInput{WorkspaceID: e.WorkspaceID, ObjectType: "contact", ObjectID: contact, Properties: e.ReadProperties})
	if err != nil {
		t.Fatal(err)
	}
	if obj.Missing || obj.Properties["email"] != "leo@lind.se" || obj.Properties["lastname"] != "Lind" || obj.Properties[hubspotobject.PropReferralID] != "x" {
		t.Fatalf("contact read = %+v", obj)
	}
	if len(obj.CompanyDomains) != 1 || obj.CompanyDomains[0] != "lind.se" {
		t.Fatalf("company domains = %v, want the associated company's, normalised", obj.CompanyDomains)
	}

	deal := w.create(t, "deals", map[string]string{"dealname": "Lind deal", "pipeline": "default", "dealstage": "appointmentscheduled"})
	if err := w.sim.Associate(w.portal, "deals", strconv.FormatInt(deal, 10), "contacts", strconv.FormatInt(contact, 10)); err != nil {
		t.Fatal(err)
	}
	obj, err = w.hs.ReadSalesEntryObject(ctx, activities.ReadObjectInput{WorkspaceID: e.WorkspaceID, ObjectType: "deal", ObjectID: deal, Properties: e.ReadProperties})
	if err != nil {
		t.Fatal(err)
	}
	if len(obj.Contacts) != 1 || obj.Contacts[0].ID != contact || obj.Contacts[0].Properties["email"] != "leo@lind.se" {
		t.Fatalf("deal's contacts = %+v", obj.Contacts)
	}

	if err := w.sim.ArchiveObject(w.portal, "contacts", strconv.FormatInt(contact, 10)); err != nil {
		t.Fatal(err)
	}
	obj, err = w.hs.ReadSalesEntryObject(ctx, activities.ReadObjectInput{WorkspaceID: e.WorkspaceID, ObjectType: "contact", ObjectID: contact, Properties: e.ReadProperties})
	if err != nil || !obj.Missing {
		t.Fatalf("an archived contact: %+v, %v; want Missing", obj, err)
	}
}

func TestMatchDirect(t *testing.T) {
	t.Parallel()
	w := newMatchWorld(t)
	w.rules(t, campaign.ProcessRules{AutoProcessDirectMatches: true, ExternalIDProperty: "crm_ref"})
	ref := w.fx.Referral.ID.String()

	// referflow's own property on a contact someone re-created.
	c := w.create(t, "contacts", map[string]string{"email": "someone@else.test", hubspotobject.PropReferralID: ref})
	got := onlyCandidate(t, w.match(t, w.entry(t, "contact", c, "", ""), nil), salesentry.MatchDirect)
	if got.ReferralID != ref || got.How != hubspotobject.PropReferralID {
		t.Fatalf("candidate = %+v", got)
	}

	// An object a referral already holds (linked for an earlier event).
	held := w.create(t, "contacts", map[string]string{"email": "held@else.test"})
	if _, err := w.db.Pool.Exec(context.Background(), "UPDATE referrals SET hubspot_contact_id = $1 WHERE id = $2", held, w.fx.Referral.ID); err != nil {
		t.Fatal(err)
	}
	got = onlyCandidate(t, w.match(t, w.entry(t, "contact", held, "", ""), nil), salesentry.MatchDirect)
	if got.ReferralID != ref || !strings.Contains(got.How, "already holds") {
		t.Fatalf("candidate = %+v", got)
	}
	if _, err := w.db.Pool.Exec(context.Background(), "UPDATE referrals SET hubspot_contact_id = NULL WHERE id = $1", w.fx.Referral.ID); err != nil {
		t.Fatal(err)
	}

	// A referral ID of another workspace is no match.
	other := testenv.NewDatabase(t).SeedReferral(t)
	c = w.create(t, "contacts", map[string]string{"email": "x@y.test", hubspotobject.PropReferralID: other.Referral.ID.String()})
	if res := w.match(t, w.entry(t, "contact", c, "", ""), nil); res.Kind == salesentry.MatchDirect {
		t.Fatalf("another workspace's referral matched: %+v", res)
	}

	// The campaign's external ID property.
	ext := "CRM-77"
	if _, err := w.db.Pool.Exec(context.Background(), "UPDATE referrals SET external_id = $1 WHERE id = $2", ext, w.fx.Referral.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.sim.CreateProperty(w.portal, "contacts", map[string]any{"name": "crm_ref", "label": "CRM ref", "type": "string", "fieldType": "text", "groupName": "contactinformation"}); err != nil {
		t.Fatal(err)
	}
	c = w.create(t, "contacts", map[string]string{"email": "z@y.test", "crm_ref": ext})
	got = onlyCandidate(t, w.match(t, w.entry(t, "contact", c, "", ""), nil), salesentry.MatchDirect)
	if got.ReferralID != ref || !strings.Contains(got.How, "crm_ref") {
		t.Fatalf("candidate = %+v", got)
	}

	// A deal of the referral's contact belongs to the referral.
	lead := w.create(t, "contacts", map[string]string{"email": "leo@example.org"})
	if _, err := w.db.Pool.Exec(context.Background(), "UPDATE referrals SET hubspot_contact_id = $1 WHERE id = $2", lead, w.fx.Referral.ID); err != nil {
		t.Fatal(err)
	}
	deal := w.create(t, "deals", map[string]string{"dealname": "Leo's deal", "pipeline": "default", "dealstage": "appointmentscheduled"})
	if err := w.sim.Associate(w.portal, "deals", strconv.FormatInt(deal, 10), "contacts", strconv.FormatInt(lead, 10)); err != nil {
		t.Fatal(err)
	}
	res := w.match(t, w.entry(t, "deal", deal, "dealstage", "closedwon"), nil)
	got = onlyCandidate(t, res, salesentry.MatchDirect)
	if got.ReferralID != ref || !strings.Contains(got.How, "associated contact") {
		t.Fatalf("candidate = %+v", got)
	}
	if !res.Rules[w.fx.Campaign.ID.String()].AutoProcessDirectMatches {
		t.Fatalf("rules = %+v, want the campaign's switches", res.Rules)
	}
	if res.Lead.Email != "leo@example.org" {
		t.Fatalf("a deal's lead = %+v, want its contact's email", res.Lead)
	}
}

func TestMatchFuzzy(t *testing.T) {
	t.Parallel()
	w := newMatchWorld(t)
	w.rules(t, campaign.ProcessRules{AutoProcessFuzzyMatches: true})
	ref := w.fx.Referral.ID.String()

	// The same mailbox under another spelling.
	c := w.create(t, "contacts", map[string]string{"email": "Leo+news@Example.org"})
	got := onlyCandidate(t, w.match(t, w.entry(t, "contact", c, "", ""), nil), salesentry.MatchFuzzy)
	if got.ReferralID != ref || got.How != "email" {
		t.Fatalf("candidate = %+v", got)
	}

	// Name and company domain: the referral's email domain is the contact's
	// company's domain.
	named := w.otherReferral(t, w.fx.Campaign, w.fx.Member, "leo.lind@lindco.se", nil)
	company := w.create(t, "companies", map[string]string{"name": "Lind", "domain": "lindco.se"})
	c = w.create(t, "contacts", map[string]string{"email": "ll@gmail.com", "firstname": "LEO", "lastname": "lind"})
	if err := w.sim.Associate(w.portal, "contacts", strconv.FormatInt(c, 10), "companies", strconv.FormatInt(company, 10)); err != nil {
		t.Fatal(err)
	}
	got = onlyCandidate(t, w.match(t, w.entry(t, "contact", c, "", ""), nil), salesentry.MatchFuzzy)
	if got.ReferralID != named.ID.String() || got.How != "name and company domain" {
		t.Fatalf("candidate = %+v", got)
	}

	// The same name at a free-mail domain says nothing.
	c = w.create(t, "contacts", map[string]string{"email": "leo.l@gmail.com", "firstname": "Leo", "lastname": "Lind"})
	if res := w.match(t, w.entry(t, "contact", c, "", ""), nil); res.Kind != salesentry.MatchNone {
		t.Fatalf("name at gmail.com matched: %+v", res)
	}

	// The same lead in two campaigns is ambiguous.
	second, err := w.db.Queries.CampaignCreate(context.Background(), db.CampaignCreateParams{WorkspaceID: w.fx.Workspace.ID, Name: "Autumn"})
	if err != nil {
		t.Fatal(err)
	}
	m2, err := w.db.Queries.MemberCreate(context.Background(), db.MemberCreateParams{
		WorkspaceID: w.fx.Workspace.ID, CampaignID: second.ID, ReferralCode: "ZED", Email: "zed@example.com", Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	w.otherReferral(t, second, m2, "leo@example.org", nil)
	c = w.create(t, "contacts", map[string]string{"email": "leo@example.org"})
	res := w.match(t, w.entry(t, "contact", c, "", ""), nil)
	if res.Kind != salesentry.MatchFuzzy || len(res.Candidates) != 2 {
		t.Fatalf("match = %+v, want two fuzzy candidates", res)
	}

	// An admin's edit replaces the object's email.
	c = w.create(t, "contacts", map[string]string{"email": "nobody@nowhere.test"})
	got = onlyCandidate(t, w.match(t, w.entry(t, "contact", c, "", ""), map[string]string{"email": "leo.lind@lindco.se"}), salesentry.MatchFuzzy)
	if got.ReferralID != named.ID.String() {
		t.Fatalf("candidate after edit = %+v", got)
	}
}

func TestMatchRulesFindMembers(t *testing.T) {
	t.Parallel()
	w := newMatchWorld(t)
	w.rules(t, campaign.ProcessRules{ReviewWhenNoMemberMatches: true, MatchingRules: []campaign.MatchingRule{
		{Object: "contact", Property: hubspotobject.PropReferredByCode, Holds: campaign.HoldsReferralCode},
		{Object: "deal", Property: "referrer_email", Holds: campaign.HoldsMemberEmail},
	}})
	campID := w.fx.Campaign.ID.String()

	c := w.create(t, "contacts", map[string]string{"email": "nina@example.net", "firstname": "Nina", hubspotobject.PropReferredByCode: w.fx.Member.ReferralCode})
	e := w.entry(t, "contact", c, "", "")
	if !strings.Contains(strings.Join(e.ReadProperties["contact"], ","), hubspotobject.PropReferredByCode) {
		t.Fatalf("read properties = %v, want the matching rule's", e.ReadProperties)
	}
	res := w.match(t, e, nil)
	got := onlyCandidate(t, res, salesentry.MatchMember)
	if got.MemberID != w.fx.Member.ID.String() || got.CampaignID != campID || !strings.Contains(got.How, "holds referral_code") {
		t.Fatalf("candidate = %+v", got)
	}
	if res.Lead.Email != "nina@example.net" || res.Lead.FirstName != "Nina" {
		t.Fatalf("lead = %+v", res.Lead)
	}

	// A code naming no member: nothing matches, but it looks like a referral.
	c = w.create(t, "contacts", map[string]string{"email": "omar@example.net", hubspotobject.PropReferredByCode: "NOPE"})
	res = w.match(t, w.entry(t, "contact", c, "", ""), nil)
	if res.Kind != salesentry.MatchNone || len(res.Hints) != 1 || res.Hints[0].CampaignID != campID || !res.Rules[campID].ReviewWhenNoMemberMatches {
		t.Fatalf("match = %+v, want none with a hint for the campaign", res)
	}

	// A change a status rule acts on looks like a referral too; an
	// ordinary contact does not.
	c = w.create(t, "contacts", map[string]string{"email": "pia@example.net"})
	if res = w.match(t, w.entry(t, "contact", c, "lifecyclestage", "customer"), nil); len(res.Hints) != 1 || !strings.Contains(res.Hints[0].Why, "approved") {
		t.Fatalf("status-rule change: %+v", res)
	}
	if res = w.match(t, w.entry(t, "contact", c, "", ""), nil); res.Kind != salesentry.MatchNone || len(res.Hints) != 0 {
		t.Fatalf("ordinary contact: %+v", res)
	}

	// An admin's edit naming the member by email.
	got = onlyCandidate(t, w.match(t, w.entry(t, "contact", c, "", ""), map[string]string{"member_email": "MAYA@example.com"}), salesentry.MatchMember)
	if got.MemberID != w.fx.Member.ID.String() {
		t.Fatalf("candidate after edit = %+v", got)
	}
}

func TestAddReferralFromHubSpot(t *testing.T) {
	t.Parallel()
	w := newMatchWorld(t)
	ctx := context.Background()
	e := w.entry(t, "contact", 4242, "", "")
	in := activities.AddFromHubSpotInput{
		SalesEntryID: e.ID, WorkspaceID: e.WorkspaceID, MemberID: w.fx.Member.ID.String(), ObjectType: "contact", ObjectID: 4242,
		Lead: activities.Lead{Email: "Nina@Example.net", FirstName: "Nina"}, How: "member: rule", Actor: "system",
	}
	added, err := w.a.AddReferralFromHubSpot(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := w.a.AddReferralFromHubSpot(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !added.Created || again.Created || again.ReferralID != added.ReferralID {
		t.Fatalf("added %+v then %+v, want one referral", added, again)
	}
	r, err := w.db.Queries.ReferralGetByID(ctx, uuid.MustParse(added.ReferralID))
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != "hubspot" || r.HubspotContactID == nil || *r.HubspotContactID != 4242 || r.LeadEmailNormalized != "nina@example.net" || r.MemberID != w.fx.Member.ID {
		t.Fatalf("referral = %+v", r)
	}
	events, _ := w.db.Queries.ReferralEventListByReferral(ctx, r.ID)
	if len(events) != 1 || events[0].Kind != string(referral.EventAdded) || events[0].SalesEntryID == nil || *events[0].SalesEntryID != e.ID {
		t.Fatalf("events = %+v", events)
	}
	var details struct{ Source referral.Source }
	if err := json.Unmarshal(events[0].Details, &details); err != nil || details.Source != referral.SourceHubSpotMatchingRule {
		t.Fatalf("added event's details = %s (%v), want source %s", events[0].Details, err, referral.SourceHubSpotMatchingRule)
	}
	m, _ := w.db.Queries.MemberGetByID(ctx, w.fx.Member.ID)
	if m.ReferralCount != 2 {
		t.Fatalf("member referral count = %d, want 2", m.ReferralCount)
	}

	// The creation and a property change of one contact arrive together:
	// both entries add "the" referral, and there is one.
	var wg sync.WaitGroup
	results := make([]activities.AddedReferral, 4)
	errs := make([]error, 4)
	for i := range results {
		entryID := w.entry(t, "contact", 9090, "", "").ID
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := in
			c.SalesEntryID, c.ObjectID, c.Lead = entryID, 9090, activities.Lead{Email: "twice@example.net"}
			results[i], errs[i] = w.a.AddReferralFromHubSpot(ctx, c)
		}()
	}
	wg.Wait()
	created := 0
	for i := range results {
		if errs[i] != nil || results[i].ReferralID != results[0].ReferralID {
			t.Fatalf("concurrent adds: %+v, %v", results, errs)
		}
		if results[i].Created {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("concurrent adds created %d referrals, want 1", created)
	}

	in.ObjectID, in.Lead = 4343, activities.Lead{}
	if _, err := w.a.AddReferralFromHubSpot(ctx, in); errType(err) != activities.ErrTypeNoLeadEmail {
		t.Fatalf("no email: %v", err)
	}
	in.Lead.Email = "leo@example.org" // the seeded referral's lead
	if _, err := w.a.AddReferralFromHubSpot(ctx, in); errType(err) != activities.ErrTypeDuplicateLead || !strings.Contains(err.Error(), w.fx.Referral.ID.String()) {
		t.Fatalf("duplicate lead: %v", err)
	}
	in.MemberID = uuid.NewString()
	if _, err := w.a.AddReferralFromHubSpot(ctx, in); errType(err) != activities.ErrTypeMemberNotFound {
		t.Fatalf("missing member: %v", err)
	}
	in.MemberID = w.foreignMember(t).ID.String()
	if _, err := w.a.AddReferralFromHubSpot(ctx, in); errType(err) != activities.ErrTypeNotInWorkspace {
		t.Fatalf("another workspace's member: %v", err)
	}
}

// foreignMember is a member (with a referral) of another workspace in the
// same database.
func (w *matchWorld) foreignMember(t *testing.T) db.Member {
	t.Helper()
	ctx := context.Background()
	ws, err := w.db.Queries.WorkspaceCreate(ctx, db.WorkspaceCreateParams{Name: "Other", WebhookSigningSecret: "whsec-other"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.db.Queries.CampaignCreate(ctx, db.CampaignCreateParams{WorkspaceID: ws.ID, Name: "Other campaign"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := w.db.Queries.MemberCreate(ctx, db.MemberCreateParams{WorkspaceID: ws.ID, CampaignID: c.ID, ReferralCode: "OTHER", Email: "o@other.test", Source: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	w.otherReferral(t, c, m, "foreign@lead.test", nil)
	return m
}

func TestLinkHubSpotObject(t *testing.T) {
	t.Parallel()
	w := newMatchWorld(t)
	ctx := context.Background()
	e := w.entry(t, "contact", 5151, "", "")
	in := activities.LinkObjectInput{SalesEntryID: e.ID, WorkspaceID: e.WorkspaceID, ReferralID: w.fx.Referral.ID.String(), ObjectType: "contact", ObjectID: 5151, How: "fuzzy: email", Actor: "admin:1"}
	for range 2 {
		got, err := w.a.LinkHubSpotObject(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Linked || got.CampaignID != w.fx.Campaign.ID.String() {
			t.Fatalf("linked = %+v", got)
		}
	}
	in.ObjectID = 6161 // another contact: the referral keeps its own
	got, err := w.a.LinkHubSpotObject(ctx, in)
	if err != nil || got.Linked {
		t.Fatalf("second contact: %+v, %v", got, err)
	}
	r, _ := w.db.Queries.ReferralGetByID(ctx, w.fx.Referral.ID)
	if r.HubspotContactID == nil || *r.HubspotContactID != 5151 {
		t.Fatalf("referral's contact = %v, want 5151", r.HubspotContactID)
	}
	events, _ := w.db.Queries.ReferralEventListByReferral(ctx, w.fx.Referral.ID)
	if len(events) != 1 || events[0].Kind != "hubspot_object_linked" || events[0].Actor != "admin:1" {
		t.Fatalf("events = %+v, want one link event per sales entry", events)
	}
	in.ReferralID = uuid.NewString()
	if _, err := w.a.LinkHubSpotObject(ctx, in); errType(err) != activities.ErrorTypeReferralNotFound {
		t.Fatalf("missing referral: %v", err)
	}
	foreign, err := w.db.Queries.ReferralListByMember(ctx, w.foreignMember(t).ID)
	if err != nil || len(foreign) != 1 {
		t.Fatal(err)
	}
	in.ReferralID = foreign[0].ID.String()
	if _, err := w.a.LinkHubSpotObject(ctx, in); errType(err) != activities.ErrTypeNotInWorkspace {
		t.Fatalf("another workspace's referral: %v", err)
	}
}

func TestReviewEntryAndStepsOfASalesEntry(t *testing.T) {
	t.Parallel()
	w := newMatchWorld(t)
	ctx := context.Background()
	e := w.entry(t, "contact", 7171, "", "")
	step := activities.SalesEntryStep{SalesEntryID: e.ID, Action: salesentry.Action{Key: "k1", Step: "matched", Detail: "no match", Actor: "system", At: time.Now()}}
	for range 2 {
		if err := w.a.RecordSalesEntryStep(ctx, step); err != nil {
			t.Fatal(err)
		}
	}
	in := activities.OpenReviewInput{
		SalesEntryID: e.ID, WorkspaceID: e.WorkspaceID, CampaignID: w.fx.Campaign.ID.String(), Reason: review.NoMemberMatch,
		Data: map[string]any{"why": "a code naming no member"}, WorkflowID: "sales-entry/" + strconv.FormatInt(e.ID, 10),
		Action: salesentry.Action{Key: "k2", Step: "review", Actor: "system", At: time.Now()},
	}
	first, err := w.a.OpenSalesEntryReview(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	in.Reason, in.Action.Key = review.AmbiguousMatch, "k3"
	second, err := w.a.OpenSalesEntryReview(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatalf("two open review entries for one sales entry: %s, %s", first, second)
	}
	rev, _ := w.db.Queries.ReviewEntryGetByID(ctx, uuid.MustParse(first))
	if review.Reason(rev.Reason) != review.AmbiguousMatch || rev.Status != "open" || rev.WorkflowID == nil || *rev.WorkflowID != in.WorkflowID {
		t.Fatalf("review entry = %+v", rev)
	}
	row, _ := w.db.Queries.SalesEntryGetByID(ctx, e.ID)
	var actions []salesentry.Action
	if err := json.Unmarshal(row.Actions, &actions); err != nil {
		t.Fatal(err)
	}
	if row.Status != "review" || len(actions) != 3 || actions[0].Key != "k1" || actions[2].Key != "k3" {
		t.Fatalf("sales entry %s with actions %+v", row.Status, actions)
	}
	for range 2 {
		if err := w.a.CloseReviewEntry(ctx, activities.CloseReviewInput{ReviewEntryID: first, Status: "dismissed", Decision: "dismiss: spam", DecidedBy: "admin:1"}); err != nil {
			t.Fatal(err)
		}
	}
	rev, _ = w.db.Queries.ReviewEntryGetByID(ctx, uuid.MustParse(first))
	if rev.Status != "dismissed" || rev.DecidedBy == nil || *rev.DecidedBy != "admin:1" {
		t.Fatalf("closed review entry = %+v", rev)
	}
}

// Opening a review queues its review.created webhook in the same
// transaction when the campaign notifies on review (once per review entry,
// whatever retries), and the dispatcher delivers it signed, IDs only.
func TestOpenSalesEntryReviewQueuesItsNotification(t *testing.T) {
	t.Parallel()
	w := newMatchWorld(t)
	ctx := context.Background()
	var mu sync.Mutex
	var bodies [][]byte
	var sigErrs []error
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, body)
		sigErrs = append(sigErrs, outgoing.Verify([]byte(w.fx.Workspace.WebhookSigningSecret), r.Header.Get(outgoing.SignatureHeader), body, time.Now()))
	}))
	defer srv.Close()
	open := func(objectID int64) (int64, string) {
		t.Helper()
		e := w.entry(t, "contact", objectID, "", "")
		in := activities.OpenReviewInput{
			SalesEntryID: e.ID, WorkspaceID: e.WorkspaceID, CampaignID: w.fx.Campaign.ID.String(), Reason: review.NoMemberMatch,
			WorkflowID: "sales-entry/x", Action: salesentry.Action{Key: "r", Step: "review", At: time.Now()},
		}
		var id string
		for range 2 { // a retry queues nothing more
			var err error
			if id, err = w.a.OpenSalesEntryReview(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		return e.ID, id
	}
	queued := func(id string) int {
		t.Helper()
		var n int
		if err := w.db.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE event_id = $1`, activities.ReviewCreatedEventID(id)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	w.rules(t, campaign.ProcessRules{NotifyOnReview: false})
	if _, id := open(8180); queued(id) != 0 {
		t.Fatal("switch off: a notification was queued")
	}
	w.rules(t, campaign.ProcessRules{NotifyOnReview: true})
	if _, id := open(8181); queued(id) != 0 {
		t.Fatal("no fulfilment URL: a notification was queued")
	}
	if _, err := w.db.Pool.Exec(ctx, "UPDATE campaigns SET fulfilment_webhook_url = $1 WHERE id = $2", srv.URL+"/hooks", w.fx.Campaign.ID); err != nil {
		t.Fatal(err)
	}
	entryID, id := open(8182)
	if queued(id) != 1 {
		t.Fatalf("%d notifications queued, want 1", queued(id))
	}
	// Workflows from before the outbox call NotifyReview: it finds the
	// event queued and queues nothing more.
	if n, err := w.a.NotifyReview(ctx, id); err != nil || !n.Sent || n.EventID != activities.ReviewCreatedEventID(id) || queued(id) != 1 {
		t.Fatalf("NotifyReview: %+v, %v, %d queued", n, err, queued(id))
	}
	if _, err := (&webhookdelivery.Dispatcher{Pool: w.db.Pool, Client: outgoing.NewClient(w.a.WebhookPolicy)}).Once(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || sigErrs[0] != nil {
		t.Fatalf("deliveries %d, signature %v; want one, verified", len(bodies), sigErrs)
	}
	var ev struct {
		ID   string                       `json:"id"`
		Type string                       `json:"type"`
		Data activities.ReviewCreatedData `json:"data"`
	}
	if err := json.Unmarshal(bodies[0], &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "review.created" || ev.ID != activities.ReviewCreatedEventID(id) || ev.Data.ReviewEntryID != id || review.Reason(ev.Data.Reason) != review.NoMemberMatch ||
		ev.Data.SalesEntryID == nil || *ev.Data.SalesEntryID != entryID || ev.Data.CampaignID != w.fx.Campaign.ID.String() {
		t.Fatalf("event = %+v", ev)
	}
	if strings.Contains(string(bodies[0]), "@") {
		t.Fatalf("the notification carries personal data: %s", bodies[0])
	}
}
