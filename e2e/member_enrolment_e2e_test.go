package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// TestHubSpotContactsBecomeMembersAtOnce: a campaign enrolling members on
// HubSpot events (process_rules.enrol_members), subscribed to exactly the
// webhooks its settings list. A contact created in HubSpot becomes a member
// with its contact ID, through the Sales Receiver, however often HubSpot
// delivers the event; a contact reaching the chosen lifecycle stage in a
// second campaign joins that one; a contact at another stage joins nothing
// there; each entry says what it did.
func TestHubSpotContactsBecomeMembersAtOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Every event twice: enrolment must add one member.
	st := newSalesReceiverStack(t, ctx, hubspotsim.WebhookOptions{RetryBase: 20 * time.Millisecond, DuplicateRate: 1})
	sim, portal := st.hs.Sim, st.hs.PortalID

	onCreate := campaign.Defaults()
	onCreate.ProcessRules.EnrolMembers = &campaign.EnrolMembers{OnContactCreated: true}
	st.d.SetCampaignSettings(t, st.fx.Campaign, onCreate)
	active := "active"
	customers, err := st.d.Queries.CampaignCreate(ctx, db.CampaignCreateParams{WorkspaceID: st.fx.Workspace.ID, Name: "Customers refer", Status: &active})
	if err != nil {
		t.Fatal(err)
	}
	onStage := campaign.Defaults()
	onStage.ProcessRules.EnrolMembers = &campaign.EnrolMembers{OnLifecycleStages: []string{"customer"}}
	st.d.SetCampaignSettings(t, customers, onStage)
	for _, s := range []campaign.Settings{onCreate, onStage} {
		for _, sub := range s.WebhookSubscriptions() {
			if _, err := sim.Subscribe(sub.Type, sub.Property); err != nil {
				t.Fatal(err)
			}
		}
	}

	ada, err := sim.CreateObject(portal, "contacts", map[string]string{"email": "ada@example.org", "firstname": "Ada", "lastname": "Byron", "lifecyclestage": "lead"})
	if err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "Ada enrolled on creation", 1,
		`SELECT count(*) FROM members WHERE campaign_id = $1 AND email = 'ada@example.org' AND first_name = 'Ada' AND last_name = 'Byron' AND source = 'hubspot' AND hubspot_contact_id::text = $2`,
		st.fx.Campaign.ID, ada)
	st.waitCount(t, ctx, "the creation entry processed", 1,
		`SELECT count(*) FROM sales_entries WHERE subscription_type = 'contact.creation' AND object_id::text = $1 AND status = 'processed'`, ada)

	// Her member's workflow, started by the entry, writes her referral code
	// and link to her contact although the campaign sends no referrers.
	var code string
	if err := st.d.Pool.QueryRow(ctx, `SELECT referral_code FROM members WHERE campaign_id = $1 AND email = 'ada@example.org'`, st.fx.Campaign.ID).Scan(&code); err != nil {
		t.Fatal(err)
	}
	for {
		c, ok := sim.GetObject(portal, "contacts", ada)
		if ok && c.Properties[hubspotobject.PropReferralCode] == code && strings.HasSuffix(c.Properties[hubspotobject.PropReferralLink], "/r/"+code) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Ada's contact never got her code %s and link: %+v", code, c.Properties)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Ada becomes a customer: she joins the second campaign too.
	if err := sim.UpdateObject(portal, "contacts", ada, map[string]string{"lifecyclestage": "customer"}); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "Ada enrolled on reaching customer", 1,
		`SELECT count(*) FROM members WHERE campaign_id = $1 AND email = 'ada@example.org' AND hubspot_contact_id::text = $2`, customers.ID, ada)
	// An opportunity does not join the customers' campaign.
	bo, err := sim.CreateObject(portal, "contacts", map[string]string{"email": "bo@example.org", "firstname": "Bo"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.UpdateObject(portal, "contacts", bo, map[string]string{"lifecyclestage": "opportunity"}); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "Bo's stage change decided", 1,
		`SELECT count(*) FROM sales_entries WHERE subscription_type = 'contact.propertyChange' AND object_id::text = $1 AND status IN ('processed', 'ignored', 'review', 'failed')`, bo)
	st.waitCount(t, ctx, "Bo in the first campaign only", 1, `SELECT count(*) FROM members WHERE email = 'bo@example.org'`)

	// Each campaign has each person once, whatever the duplicates.
	st.waitCount(t, ctx, "no member twice", 0,
		`SELECT count(*) FROM (SELECT campaign_id, lower(email) FROM members GROUP BY 1, 2 HAVING count(*) > 1) d`)
	st.waitCount(t, ctx, "members of both campaigns", 3, `SELECT count(*) FROM members WHERE source = 'hubspot'`)
}
