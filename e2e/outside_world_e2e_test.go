package e2e_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/workflows"
)

// contactCampaign sends each lead to HubSpot as a contact, updating one
// HubSpot already has, approves the referral when the contact becomes a
// customer, and rewards the member 50 USD.
func contactCampaign() campaign.Settings {
	s := campaign.Defaults()
	s.Leads = campaign.CRMSettings{Action: campaign.ActionCreateContact, DuplicateHandling: campaign.DuplicateUpdateExisting, FieldMapping: []campaign.FieldMapping{
		{Object: "contact", Source: "email", Property: "email"},
		{Object: "contact", Source: "first_name", Property: "firstname"},
	}}
	s.StatusRules = campaign.StatusRules{
		Approved: &campaign.StatusRule{Object: "contact", Property: "lifecyclestage", Values: []string{"customer"}},
	}
	s.Rewards = campaign.Rewards{OnStatus: referral.Approved, Member: &campaign.Reward{Kind: campaign.RewardFixed, Amount: "50", Currency: "USD"}}
	return s
}

// TestOneHubSpotChangeMovesEveryReferralHoldingIt: the same lead referred
// in two campaigns, both sending it to HubSpot as a contact (the second
// updates the contact the first created), so both referrals hold one
// contact. One HubSpot change — the contact becomes a customer — approves
// both, and each member is rewarded once; neither workflow fails.
func TestOneHubSpotChangeMovesEveryReferralHoldingIt(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := newSalesReceiverStack(t, ctx, hubspotsim.WebhookOptions{DuplicateRate: 1})
	st.d.SetCampaignSettings(t, st.fx.Campaign, contactCampaign())
	active := "active"
	second, err := st.d.Queries.CampaignCreate(ctx, db.CampaignCreateParams{
		WorkspaceID: st.fx.Workspace.ID, Name: "Autumn referrals", Status: &active, FulfilmentWebhookUrl: st.fulfilmentURL(t, ctx),
	})
	if err != nil {
		t.Fatal(err)
	}
	st.d.SetCampaignSettings(t, second, contactCampaign())
	first := "Ravi"
	otherMember, err := st.d.Queries.MemberCreate(ctx, db.MemberCreateParams{
		WorkspaceID: st.fx.Workspace.ID, CampaignID: second.ID, ReferralCode: "RAVI-1", Email: "ravi@example.com", FirstName: &first, Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}

	var ids []uuid.UUID
	for _, m := range []db.Member{st.fx.Member, otherMember} {
		r, err := activities.AddReferral(ctx, st.d.Pool, activities.NewReferral{
			Member: m, Source: referral.SourceAdminAPI, Actor: "admin:test",
			Lead: activities.Lead{Email: "kim@example.org", FirstName: "Kim"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := workflows.StartReferralWorkflow(ctx, st.tc.Client, st.tc.TaskQueue, st.tc.HubSpotTaskQueue, r.ID.String()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		// One after the other: the second finds the contact the first made.
		st.waitCount(t, ctx, "lead sent", 1, `SELECT count(*) FROM referrals WHERE id = $1 AND hubspot_contact_id IS NOT NULL`, r.ID)
	}
	var contacts []int64
	for _, id := range ids {
		r, err := st.d.Queries.ReferralGetByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		contacts = append(contacts, *r.HubspotContactID)
	}
	if contacts[0] != contacts[1] || len(st.hs.Sim.Objects(st.hs.PortalID, "contacts")) != 1 {
		t.Fatalf("the two referrals hold contacts %v; HubSpot has %d contacts, want one held by both", contacts, len(st.hs.Sim.Objects(st.hs.PortalID, "contacts")))
	}

	if _, err := st.hs.Sim.Subscribe("contact.propertyChange", "lifecyclestage"); err != nil {
		t.Fatal(err)
	}
	if err := st.hs.Sim.UpdateObject(st.hs.PortalID, "contacts", strconv.FormatInt(contacts[0], 10), map[string]string{"lifecyclestage": "customer"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		st.waitCount(t, ctx, "approved", 1, `SELECT count(*) FROM referrals WHERE id = $1 AND status = 'approved'`, id)
		st.waitCount(t, ctx, "reward issued", 1, `SELECT count(*) FROM rewards WHERE referral_id = $1 AND status = 'issued'`, id)
		for len(st.rewardWebhooks(id.String())) < 1 {
			select {
			case <-ctx.Done():
				t.Fatalf("no reward webhook for referral %s", id)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	for _, id := range ids {
		var rewards, approvals int
		if err := st.d.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM rewards WHERE referral_id = $1),
			(SELECT count(*) FROM referral_events WHERE referral_id = $1 AND kind = 'status_changed' AND to_status = 'approved')`, id).Scan(&rewards, &approvals); err != nil {
			t.Fatal(err)
		}
		if rewards != 1 || approvals != 1 || len(st.rewardWebhooks(id.String())) != 1 {
			t.Errorf("referral %s: %d rewards, %d approvals, %d reward webhooks; want one of each", id, rewards, approvals, len(st.rewardWebhooks(id.String())))
		}
		desc, err := st.tc.Client.DescribeWorkflowExecution(ctx, workflows.ReferralWorkflowID(id.String()), "")
		if err != nil {
			t.Fatal(err)
		}
		if s := desc.GetWorkflowExecutionInfo().GetStatus(); s == enumspb.WORKFLOW_EXECUTION_STATUS_FAILED {
			t.Errorf("referral %s's workflow failed", id)
		}
	}
}

// TestRewardWaitsForItsFulfilmentURL: a fulfilment URL stored by an older
// version (credentials in it) is refused when the reward is sent. The
// reward waits, pending, saying why; the workflow does not fail; once the
// URL is fixed and the referral woken, the reward is issued and announced
// once.
func TestRewardWaitsForItsFulfilmentURL(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := newSalesReceiverStack(t, ctx, hubspotsim.WebhookOptions{})
	good := *st.fulfilmentURL(t, ctx)
	refused := "http://user:secret@127.0.0.1:1/rewards"
	if _, err := st.d.Pool.Exec(ctx, `UPDATE campaigns SET fulfilment_webhook_url = $1 WHERE id = $2`, refused, st.fx.Campaign.ID); err != nil {
		t.Fatal(err)
	}
	ids, deals := st.addReferrals(t, ctx, 1)
	id := ids[0]
	if err := st.hs.Sim.UpdateObject(st.hs.PortalID, "deals", deals[0], map[string]string{"dealstage": "closedwon"}); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "reward waiting", 1, `SELECT count(*) FROM referrals WHERE id = $1 AND waiting_step = 'issue_reward' AND waiting_cause = 'InvalidFulfilmentURL'`, id)
	var status, rewardStatus string
	if err := st.d.Pool.QueryRow(ctx, `SELECT r.status, w.status FROM referrals r JOIN rewards w ON w.referral_id = r.id WHERE r.id = $1`, id).Scan(&status, &rewardStatus); err != nil {
		t.Fatal(err)
	}
	if status != "approved" || rewardStatus != "pending" {
		t.Fatalf("referral %s, reward %s; want approved with the reward pending", status, rewardStatus)
	}
	st.waitCount(t, ctx, "reward_not_issued in the trail", 1, `SELECT count(*) FROM referral_events WHERE referral_id = $1 AND kind = 'reward_not_issued' AND details->>'error_type' = 'InvalidFulfilmentURL'`, id)

	if _, err := st.d.Pool.Exec(ctx, `UPDATE campaigns SET fulfilment_webhook_url = $1 WHERE id = $2`, good, st.fx.Campaign.ID); err != nil {
		t.Fatal(err)
	}
	if err := workflows.SignalRetryWaitingReferral(ctx, st.tc.Client, id, "campaign fulfilment URL saved"); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "reward issued", 1, `SELECT count(*) FROM rewards WHERE referral_id = $1 AND status = 'issued'`, id)
	st.waitCount(t, ctx, "wait ended", 1, `SELECT count(*) FROM referrals WHERE id = $1 AND waiting_step IS NULL`, id)
	for len(st.rewardWebhooks(id)) < 1 {
		select {
		case <-ctx.Done():
			t.Fatal("no reward webhook")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if n := len(st.rewardWebhooks(id)); n != 1 {
		t.Fatalf("%d reward webhooks, want 1", n)
	}
}
