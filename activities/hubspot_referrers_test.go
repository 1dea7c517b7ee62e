package activities_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// The member of the leads world (SeedReferral) is maya@example.com.

func (w *leadWorld) setReferrers(t *testing.T, refs campaign.CRMSettings) {
	t.Helper()
	s := campaign.Defaults()
	s.Referrers = refs
	w.db.SetCampaignSettings(t, w.fx.Campaign, s)
}

// sendMember does what the member's workflow does: SendMemberToHubSpot,
// then, unless it skipped, WriteMemberToHubSpot writes the code, link and
// counts.
func (w *leadWorld) sendMember(t *testing.T) activities.ReferrerResult {
	t.Helper()
	res, err := w.acts.SendMemberToHubSpot(context.Background(), w.fx.Member.ID.String())
	if err != nil {
		t.Fatalf("SendMemberToHubSpot: %v", err)
	}
	if res.Skipped == "" {
		w.writeMember(t, w.fx.Member.ID)
	}
	return res
}

func referrerRows() []campaign.FieldMapping {
	return []campaign.FieldMapping{
		{Object: "contact", Source: "email", Property: "email"},
		{Object: "contact", Source: "first_name", Property: "firstname"},
		{Object: "contact", Value: "Advocate", Property: "jobtitle"},
	}
}

func TestSendMemberCreatesTheirContactWithTheLink(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	w.setReferrers(t, campaign.CRMSettings{Action: campaign.ActionCreateContact, FieldMapping: referrerRows(), DuplicateHandling: campaign.DuplicateDoNothing})

	res := w.sendMember(t)
	if res.ContactID == "" || !res.ContactCreated || res.Skipped != "" {
		t.Fatalf("result %+v", res)
	}
	c, ok := w.sim.GetObject(w.portal, "contacts", res.ContactID)
	if !ok {
		t.Fatalf("contact %s not in HubSpot", res.ContactID)
	}
	code, m := w.fx.Member.ReferralCode, w.member(t)
	for prop, want := range map[string]string{
		"email": "maya@example.com", "jobtitle": "Advocate",
		hubspotobject.PropReferralCode: code, hubspotobject.PropReferralLink: leadPublicURL + "/r/" + code,
		hubspotobject.PropReferralCount:          strconv.Itoa(int(m.ReferralCount)),
		hubspotobject.PropConvertedReferralCount: strconv.Itoa(int(m.ConvertedReferralCount)),
	} {
		if got := c.Properties[prop]; got != want {
			t.Errorf("contact %s = %q, want %q", prop, got, want)
		}
	}
	if got := stored(w.member(t).HubspotContactID); got != res.ContactID {
		t.Fatalf("stored contact ID %q, want %s", got, res.ContactID)
	}

	// Again (a retry, a second start): the same contact, no second one.
	again := w.sendMember(t)
	if again.ContactID != res.ContactID || again.ContactCreated {
		t.Fatalf("second send %+v", again)
	}
	if n := len(w.sim.Objects(w.portal, "contacts")); n != 1 {
		t.Fatalf("%d contacts in HubSpot, want 1", n)
	}
}

// A member HubSpot already has as a contact: do_nothing leaves the
// customer's fields alone but still writes the member's link;
// update_existing writes the mapped fields too.
func TestSendMemberAppliesDuplicateHandling(t *testing.T) {
	t.Parallel()
	for _, handling := range []string{campaign.DuplicateDoNothing, campaign.DuplicateUpdateExisting} {
		t.Run(handling, func(t *testing.T) {
			t.Parallel()
			w := newLeadWorld(t)
			id, err := w.sim.CreateObject(w.portal, "contacts", map[string]string{"email": "maya@example.com", "jobtitle": "CEO"})
			if err != nil {
				t.Fatal(err)
			}
			w.setReferrers(t, campaign.CRMSettings{Action: campaign.ActionCreateContact, FieldMapping: referrerRows(), DuplicateHandling: handling})
			res := w.sendMember(t)
			if res.ContactID != id || res.ContactCreated {
				t.Fatalf("result %+v, want existing contact %s", res, id)
			}
			c, _ := w.sim.GetObject(w.portal, "contacts", id)
			wantTitle := "CEO"
			if handling == campaign.DuplicateUpdateExisting {
				wantTitle = "Advocate"
			}
			if c.Properties["jobtitle"] != wantTitle || c.Properties[hubspotobject.PropReferralLink] != leadPublicURL+"/r/"+w.fx.Member.ReferralCode {
				t.Fatalf("contact %+v: want jobtitle %s and the link", c.Properties, wantTitle)
			}
			if got := stored(w.member(t).HubspotContactID); got != id {
				t.Fatalf("stored contact ID %q, want %s", got, id)
			}
			if n := len(w.sim.Objects(w.portal, "contacts")); n != 1 {
				t.Fatalf("%d contacts in HubSpot, want 1", n)
			}
		})
	}
}

// An incomplete referrers mapping holds the member back, saying what is
// missing; action none sends nothing.
func TestSendMemberRefusesSetupRequiredAndSkipsNone(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	w.setReferrers(t, campaign.CRMSettings{Action: campaign.ActionCreateContact, DuplicateHandling: campaign.DuplicateDoNothing,
		FieldMapping: []campaign.FieldMapping{{Object: "contact", Source: "email", Property: "email"}}})
	_, err := w.acts.SendMemberToHubSpot(context.Background(), w.fx.Member.ID.String())
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrorTypeCampaignSetupRequired || !strings.Contains(appErr.Message(), "referrers") || !strings.Contains(appErr.Message(), "firstname") {
		t.Fatalf("setup required: error %v", err)
	}
	w.setReferrers(t, campaign.CRMSettings{Action: campaign.ActionNone, FieldMapping: []campaign.FieldMapping{}})
	if res := w.sendMember(t); res.Skipped == "" || res.ContactID != "" {
		t.Fatalf("result %+v", res)
	}
	if n := len(w.sim.Objects(w.portal, "contacts")); n != 0 {
		t.Fatalf("%d contacts in HubSpot, want none", n)
	}
}

// The referrers mapping never holds back the campaign's leads: a campaign
// whose referrers need setup still sends its leads.
func TestIncompleteReferrersDoNotHoldBackLeads(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	s := campaign.Defaults()
	s.Leads = campaign.CRMSettings{Action: campaign.ActionCreateContact, DuplicateHandling: campaign.DuplicateDoNothing, FieldMapping: referrerRows()[:2]}
	s.Referrers = campaign.CRMSettings{Action: campaign.ActionCreateContact, DuplicateHandling: campaign.DuplicateDoNothing, FieldMapping: []campaign.FieldMapping{}}
	w.db.SetCampaignSettings(t, w.fx.Campaign, s)
	if _, err := w.acts.SendMemberToHubSpot(context.Background(), w.fx.Member.ID.String()); err == nil {
		t.Fatal("the member was sent with an incomplete referrers mapping")
	}
	if res := w.send(t); res.ContactID == "" || !res.ContactCreated {
		t.Fatalf("lead not sent: %+v", res)
	}
}

// A member sent to a portal whose referflow properties are not there yet
// (sent the moment HubSpot is connected, before the portal's setup ran):
// the properties are created and the member still goes through.
func TestSendMemberCreatesMissingReferflowProperties(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	w.setReferrers(t, campaign.CRMSettings{Action: campaign.ActionCreateContact, FieldMapping: referrerRows(), DuplicateHandling: campaign.DuplicateDoNothing})
	for _, p := range []string{hubspotobject.PropReferralCode, hubspotobject.PropReferralLink} {
		if err := w.sim.ForgetProperty(w.portal, "contacts", p); err != nil {
			t.Fatal(err)
		}
	}
	res := w.sendMember(t)
	c, _ := w.sim.GetObject(w.portal, "contacts", res.ContactID)
	if c.Properties[hubspotobject.PropReferralCode] != w.fx.Member.ReferralCode {
		t.Fatalf("contact %+v lacks the referral code", c.Properties)
	}
}

func referrerDealSettings(withContact bool) campaign.CRMSettings {
	s := campaign.CRMSettings{
		Action: campaign.ActionCreateDeal, AssociateContact: withContact, DuplicateHandling: campaign.DuplicateDoNothing,
		FieldMapping: []campaign.FieldMapping{
			{Object: "deal", Value: "default", Property: "pipeline"},
			{Object: "deal", Value: "appointmentscheduled", Property: "dealstage"},
			{Object: "deal", Value: "Referrer", Property: "dealname"},
			{Object: "deal", Source: "referral_link", Property: hubspotobject.PropReferralLink},
		},
	}
	if withContact {
		s.FieldMapping = append(s.FieldMapping, referrerRows()[:2]...)
	}
	return s
}

// create_deal makes one deal per member, carrying their code (and the link,
// which the mapping puts there), associated with their contact when asked; sending again makes no second
// deal, also when the first attempt's answer was lost (the deal was made but
// not stored).
func TestSendMemberCreatesADeal(t *testing.T) {
	t.Parallel()
	for _, withContact := range []bool{true, false} {
		t.Run(strconv.FormatBool(withContact), func(t *testing.T) {
			t.Parallel()
			w := newLeadWorld(t)
			w.setReferrers(t, referrerDealSettings(withContact))
			res := w.sendMember(t)
			if res.DealID == "" || !res.DealCreated || (res.ContactID != "") != withContact {
				t.Fatalf("result %+v", res)
			}
			d, ok := w.sim.GetObject(w.portal, "deals", res.DealID)
			code := w.fx.Member.ReferralCode
			if !ok || d.Properties["dealname"] != "Referrer" || d.Properties["pipeline"] != "default" ||
				d.Properties[hubspotobject.PropReferralCode] != code || d.Properties[hubspotobject.PropReferralLink] != leadPublicURL+"/r/"+code {
				t.Fatalf("deal %s in HubSpot: %v %+v", res.DealID, ok, d.Properties)
			}
			if withContact {
				assocs := w.sim.Associations(w.portal, "deals", res.DealID, "contacts")
				if len(assocs) != 1 || assocs[0] != res.ContactID {
					t.Fatalf("deal's contacts %v, want %s", assocs, res.ContactID)
				}
			}
			if got := stored(w.member(t).HubspotDealID); got != res.DealID {
				t.Fatalf("stored deal %q, want %s", got, res.DealID)
			}
			// A lost answer: HubSpot has the deal, the member does not.
			if _, err := w.db.Pool.Exec(context.Background(), "UPDATE members SET hubspot_deal_id = NULL WHERE id = $1", w.fx.Member.ID); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				again := w.sendMember(t)
				if again.DealID == res.DealID && !again.DealCreated {
					break
				}
				if n := len(w.sim.Objects(w.portal, "deals")); n != 1 || time.Now().After(deadline) {
					t.Fatalf("after a lost answer: %+v, %d deals", again, n)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if n := len(w.sim.Objects(w.portal, "deals")); n != 1 {
				t.Fatalf("%d deals in HubSpot, want 1", n)
			}
		})
	}
}
