package activities_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotobject"
)

const leadPublicURL = "https://refer.acme.test"

// leadWorld is a seeded referral whose workspace is connected to a simulated
// portal that has referflow's properties.
type leadWorld struct {
	db     *testenv.Database
	fx     testenv.ReferralFixture
	sim    *hubspotsim.Simulator
	portal int64
	acts   *activities.HubSpot
}

func newLeadWorld(t *testing.T) *leadWorld {
	t.Helper()
	w := &leadWorld{db: testenv.NewDatabase(t)}
	w.fx = w.db.SeedReferral(t)
	hw := testenv.ConnectHubSpot(t, w.db, w.fx.Workspace.ID, leadPublicURL)
	w.sim, w.portal = hw.Sim, hw.PortalID
	m := hw.Manager
	w.acts = &activities.HubSpot{Conn: m, Queries: w.db.Queries, PublicURL: leadPublicURL}
	return w
}

func (w *leadWorld) setLeads(t *testing.T, leads campaign.CRMSettings, initial *campaign.PropertyValue) {
	t.Helper()
	s := campaign.Defaults()
	s.Leads = leads
	s.StatusRules.Initial = initial
	w.db.SetCampaignSettings(t, w.fx.Campaign, s)
}

func (w *leadWorld) send(t *testing.T) activities.LeadResult {
	t.Helper()
	res, err := w.acts.SendLeadToHubSpot(context.Background(), w.fx.Referral.ID.String())
	if err != nil {
		t.Fatalf("SendLeadToHubSpot: %v", err)
	}
	return res
}

func (w *leadWorld) referral(t *testing.T) db.Referral {
	t.Helper()
	r, err := w.db.Queries.ReferralGetByID(context.Background(), w.fx.Referral.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func contactRows() []campaign.FieldMapping {
	return []campaign.FieldMapping{
		{Object: "contact", Source: "email", Property: "email"},
		{Object: "contact", Source: "first_name", Property: "firstname"},
		{Object: "contact", Source: "referral_code", Property: hubspotobject.PropReferredByCode},
		{Object: "contact", Source: "referral_link", Property: hubspotobject.PropReferralLink},
		{Object: "contact", Value: "Referral", Property: "lastname"},
	}
}

func stored(id *int64) string {
	if id == nil {
		return ""
	}
	return strconv.FormatInt(*id, 10)
}

func TestSendLeadCreatesAContactWithMappedProperties(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	w.setLeads(t, campaign.CRMSettings{Action: campaign.ActionCreateContact, FieldMapping: contactRows(), DuplicateHandling: campaign.DuplicateDoNothing},
		&campaign.PropertyValue{Property: "lifecyclestage", Value: "lead"})

	res := w.send(t)
	if res.ContactID == "" || !res.ContactCreated || res.CannotQualify != "" || res.Skipped != "" || res.DealID != "" {
		t.Fatalf("result %+v", res)
	}
	c, ok := w.sim.GetObject(w.portal, "contacts", res.ContactID)
	if !ok {
		t.Fatalf("contact %s not in HubSpot", res.ContactID)
	}
	for prop, want := range map[string]string{
		"email": "leo@example.org", "firstname": "Leo", "lastname": "Referral", "lifecyclestage": "lead",
		hubspotobject.PropReferredByCode: w.fx.Member.ReferralCode,
		hubspotobject.PropReferralLink:   leadPublicURL + "/r/" + w.fx.Member.ReferralCode,
	} {
		if got := c.Properties[prop]; got != want {
			t.Errorf("contact %s = %q, want %q", prop, got, want)
		}
	}
	if got := stored(w.referral(t).HubspotContactID); got != res.ContactID {
		t.Fatalf("stored contact ID %q, want %s", got, res.ContactID)
	}
}

// The lead's record carries the referral's ID (the Sales Receiver's direct
// match), also in a portal set up before referflow wrote that property: the
// property is created then and the lead still goes through.
func TestSendLeadWritesTheReferralIDEvenOnAnOlderPortal(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	w.setLeads(t, dealSettings(), nil)
	for _, ot := range []string{"contacts", "deals"} {
		if err := w.sim.ForgetProperty(w.portal, ot, hubspotobject.PropReferralID); err != nil {
			t.Fatal(err)
		}
	}
	res := w.send(t)
	d, _ := w.sim.GetObject(w.portal, "deals", res.DealID)
	c, _ := w.sim.GetObject(w.portal, "contacts", res.ContactID)
	want := w.fx.Referral.ID.String()
	if d.Properties[hubspotobject.PropReferralID] != want || c.Properties[hubspotobject.PropReferralID] != want {
		t.Fatalf("referral ID on deal %q, on contact %q; want %s", d.Properties[hubspotobject.PropReferralID], c.Properties[hubspotobject.PropReferralID], want)
	}
}

// existingContact is a contact HubSpot had before the referral was added.
func (w *leadWorld) existingContact(t *testing.T) string {
	t.Helper()
	id, err := w.sim.CreateObject(w.portal, "contacts", map[string]string{
		"email": "leo@example.org", "firstname": "Leonard",
		"createdate": strconv.FormatInt(w.fx.Referral.CreatedAt.Add(-time.Hour).UnixMilli(), 10),
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSendLeadExistingContactDoNothingCannotQualify(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	id := w.existingContact(t)
	w.setLeads(t, campaign.CRMSettings{Action: campaign.ActionCreateContact, FieldMapping: contactRows(), DuplicateHandling: campaign.DuplicateDoNothing}, nil)

	res := w.send(t)
	want := "already in HubSpot as contact " + id + ": duplicate handling is do nothing"
	if res.CannotQualify != want || res.ContactID != id || res.ContactCreated || res.ContactUpdated {
		t.Fatalf("result %+v, want cannot qualify %q", res, want)
	}
	r := w.referral(t)
	if r.CannotQualifyReason == nil || *r.CannotQualifyReason != want || stored(r.HubspotContactID) != id {
		t.Fatalf("stored reason %v, contact %v", r.CannotQualifyReason, stored(r.HubspotContactID))
	}
	c, _ := w.sim.GetObject(w.portal, "contacts", id)
	if c.Properties["firstname"] != "Leonard" || c.Properties[hubspotobject.PropReferredByCode] != "" {
		t.Fatalf("the existing contact was changed: %v", c.Properties)
	}
	if n := len(w.sim.Objects(w.portal, "contacts")); n != 1 {
		t.Fatalf("%d contacts in HubSpot, want 1", n)
	}
	// A retry answers the same and changes nothing.
	if again := w.send(t); again.CannotQualify != want || again.ContactID != id {
		t.Fatalf("retry result %+v", again)
	}
}

func TestSendLeadExistingContactUpdateExisting(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	id := w.existingContact(t)
	w.setLeads(t, campaign.CRMSettings{Action: campaign.ActionCreateContact, FieldMapping: contactRows(), DuplicateHandling: campaign.DuplicateUpdateExisting},
		&campaign.PropertyValue{Property: "lifecyclestage", Value: "lead"})

	res := w.send(t)
	if res.ContactID != id || !res.ContactUpdated || res.ContactCreated || res.CannotQualify != "" {
		t.Fatalf("result %+v", res)
	}
	c, _ := w.sim.GetObject(w.portal, "contacts", id)
	if c.Properties["firstname"] != "Leo" || c.Properties[hubspotobject.PropReferredByCode] != w.fx.Member.ReferralCode {
		t.Fatalf("the existing contact was not updated: %v", c.Properties)
	}
	if c.Properties["lifecyclestage"] != "" {
		t.Fatalf("the initial value is for created objects only, got lifecyclestage %q", c.Properties["lifecyclestage"])
	}
	r := w.referral(t)
	if stored(r.HubspotContactID) != id || r.CannotQualifyReason != nil {
		t.Fatalf("stored contact %s, reason %v", stored(r.HubspotContactID), r.CannotQualifyReason)
	}
}

func dealSettings() campaign.CRMSettings {
	return campaign.CRMSettings{
		Action: campaign.ActionCreateDeal, AssociateContact: true, DuplicateHandling: campaign.DuplicateDoNothing,
		FieldMapping: append([]campaign.FieldMapping{
			{Object: "deal", Value: "default", Property: "pipeline"},
			{Object: "deal", Value: "appointmentscheduled", Property: "dealstage"},
			{Object: "deal", Source: "campaign_name", Property: "dealname"},
			{Object: "deal", Source: "referrer_code", Property: hubspotobject.PropReferredByCode},
		}, contactRows()[:3]...),
	}
}

func TestSendLeadCreatesADealWithAnAssociatedContact(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	w.setLeads(t, dealSettings(), nil)

	res := w.send(t)
	if res.DealID == "" || res.ContactID == "" || !res.DealCreated || !res.ContactCreated {
		t.Fatalf("result %+v", res)
	}
	d, ok := w.sim.GetObject(w.portal, "deals", res.DealID)
	if !ok || d.Properties["dealname"] != "Spring referrals" || d.Properties["pipeline"] != "default" ||
		d.Properties["dealstage"] != "appointmentscheduled" || d.Properties[hubspotobject.PropReferredByCode] != w.fx.Member.ReferralCode {
		t.Fatalf("deal %s: %v", res.DealID, d.Properties)
	}
	c, _ := w.sim.GetObject(w.portal, "contacts", res.ContactID)
	if c.Properties["email"] != "leo@example.org" || c.Properties["firstname"] != "Leo" {
		t.Fatalf("contact %v", c.Properties)
	}
	if got := w.sim.Associations(w.portal, "deals", res.DealID, "contacts"); len(got) != 1 || got[0] != res.ContactID {
		t.Fatalf("deal's contacts %v, want [%s]", got, res.ContactID)
	}
	r := w.referral(t)
	if stored(r.HubspotDealID) != res.DealID || stored(r.HubspotContactID) != res.ContactID {
		t.Fatalf("stored deal %s contact %s", stored(r.HubspotDealID), stored(r.HubspotContactID))
	}
}

func TestSendLeadRetriesCreateNothingTwice(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	w.setLeads(t, dealSettings(), nil)
	first := w.send(t)

	// A retry after the IDs were stored.
	again := w.send(t)
	if again.DealID != first.DealID || again.ContactID != first.ContactID || again.DealCreated || again.ContactCreated || again.CannotQualify != "" {
		t.Fatalf("retry result %+v, first %+v", again, first)
	}
	// A retry after the database writes were lost (HubSpot created both, the
	// answer or the write never arrived): the contact is found by email and
	// adopted, the deal is found by search and adopted.
	if _, err := w.db.Pool.Exec(context.Background(),
		"UPDATE referrals SET hubspot_contact_id = NULL, hubspot_deal_id = NULL WHERE id = $1", w.fx.Referral.ID); err != nil {
		t.Fatal(err)
	}
	lost := w.send(t)
	if lost.DealID != first.DealID || lost.ContactID != first.ContactID || lost.DealCreated || lost.ContactCreated || lost.CannotQualify != "" {
		t.Fatalf("retry after lost writes %+v, first %+v", lost, first)
	}
	if n := len(w.sim.Objects(w.portal, "deals")); n != 1 {
		t.Fatalf("%d deals in HubSpot, want 1", n)
	}
	if n := len(w.sim.Objects(w.portal, "contacts")); n != 1 {
		t.Fatalf("%d contacts in HubSpot, want 1", n)
	}
	r := w.referral(t)
	if stored(r.HubspotDealID) != first.DealID || stored(r.HubspotContactID) != first.ContactID {
		t.Fatalf("stored deal %s contact %s", stored(r.HubspotDealID), stored(r.HubspotContactID))
	}
}

func TestSendLeadRefusesSetupRequiredAndSkipsNone(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	// No firstname row: setup required.
	w.setLeads(t, campaign.CRMSettings{Action: campaign.ActionCreateContact, DuplicateHandling: campaign.DuplicateDoNothing,
		FieldMapping: []campaign.FieldMapping{{Object: "contact", Source: "email", Property: "email"}}}, nil)
	_, err := w.acts.SendLeadToHubSpot(context.Background(), w.fx.Referral.ID.String())
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrorTypeCampaignSetupRequired || !strings.Contains(appErr.Message(), "firstname") {
		t.Fatalf("setup required: error %v", err)
	}
	w.setLeads(t, campaign.CRMSettings{Action: campaign.ActionNone, FieldMapping: []campaign.FieldMapping{}}, nil)
	if res := w.send(t); res.Skipped == "" || res.ContactID != "" {
		t.Fatalf("result %+v", res)
	}
	if n := len(w.sim.Objects(w.portal, "contacts")); n != 0 {
		t.Fatalf("%d contacts in HubSpot, want none", n)
	}
	if r := w.referral(t); r.HubspotContactID != nil || r.CannotQualifyReason != nil {
		t.Fatalf("referral changed: %+v", r)
	}
}

// An incomplete referrers mapping holds back members only: the campaign's
// leads still go to HubSpot.
func TestSendLeadIgnoresAnIncompleteReferrersMapping(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	s := campaign.Defaults()
	s.Leads = campaign.CRMSettings{Action: campaign.ActionCreateContact, FieldMapping: contactRows(), DuplicateHandling: campaign.DuplicateDoNothing}
	// No firstname row for referrers.
	s.Referrers = campaign.CRMSettings{Action: campaign.ActionCreateContact, DuplicateHandling: campaign.DuplicateUpdateExisting,
		FieldMapping: []campaign.FieldMapping{{Object: "contact", Source: "email", Property: "email"}}}
	w.db.SetCampaignSettings(t, w.fx.Campaign, s)
	if missing := s.ReferrersSetupRequired(); len(missing) == 0 {
		t.Fatal("the referrers mapping should need setup")
	}

	res := w.send(t)
	if res.ContactID == "" || !res.ContactCreated || res.Skipped != "" {
		t.Fatalf("result %+v, want the lead's contact created", res)
	}
	c, ok := w.sim.GetObject(w.portal, "contacts", res.ContactID)
	if !ok || c.Properties["email"] != "leo@example.org" {
		t.Fatalf("lead's contact %s in HubSpot: %v %+v", res.ContactID, ok, c)
	}
	if got := stored(w.referral(t).HubspotContactID); got != res.ContactID {
		t.Fatalf("stored contact ID %q, want %s", got, res.ContactID)
	}
}

func TestSendLeadToAMissingPropertyFailsForGood(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	w.setLeads(t, campaign.CRMSettings{Action: campaign.ActionCreateContact, DuplicateHandling: campaign.DuplicateDoNothing,
		FieldMapping: append(contactRows(), campaign.FieldMapping{Object: "contact", Value: "blue", Property: "favorite_color"})}, nil)
	_, err := w.acts.SendLeadToHubSpot(context.Background(), w.fx.Referral.ID.String())
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != hubspot.ErrorTypeValidation {
		t.Fatalf("error %v, want a non-retryable %s", err, hubspot.ErrorTypeValidation)
	}
	if !strings.Contains(err.Error(), "favorite_color") {
		t.Fatalf("error %q does not name the property", err)
	}
	var d hubspot.ErrorDetails
	if err := appErr.Details(&d); err != nil || d.Property != "favorite_color" {
		t.Fatalf("details %+v (%v)", d, err)
	}
	if r := w.referral(t); r.HubspotContactID != nil {
		t.Fatalf("a contact ID was stored: %d", *r.HubspotContactID)
	}
}

func TestSendLeadRateLimitIsRetriedAfterHubSpotsWait(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	w.setLeads(t, campaign.CRMSettings{Action: campaign.ActionCreateContact, FieldMapping: contactRows(), DuplicateHandling: campaign.DuplicateDoNothing}, nil)
	w.sim.FailNext(w.portal, http.StatusTooManyRequests, 1)
	_, err := w.acts.SendLeadToHubSpot(context.Background(), w.fx.Referral.ID.String())
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.NonRetryable() || appErr.Type() != hubspot.ErrorTypeRateLimited || appErr.NextRetryDelay() <= 0 {
		t.Fatalf("error %v, want a retryable %s with a next retry delay", err, hubspot.ErrorTypeRateLimited)
	}
	if res := w.send(t); res.ContactID == "" || !res.ContactCreated {
		t.Fatalf("after the wait: %+v", res)
	}
}
