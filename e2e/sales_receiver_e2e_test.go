package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"strconv"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/workflows"
)

// TestSalesReceiverThousandEvents drives 1,000 HubSpot deal-stage changes
// through the whole Sales Receiver: HubSpot (the simulator) delivers them as
// real signed webhooks, duplicating about one in ten and shuffling every
// flush; the endpoint records them; the dispatcher routes them to the
// referrals' workflows; status rules move the referrals and rewards are
// issued. Each referral's deal moves five times, in five rounds (a round's
// 200 changes are delivered in shuffled order, interleaved with duplicates
// of any round's events). Every referral must end with exactly the
// transitions its deal's history calls for, every change must be recorded
// once, and each approved referral must be rewarded exactly once.
func TestSalesReceiverThousandEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: 1,000 webhook events")
	}
	t.Parallel()
	// 30 s on a quiet machine; four minutes and more when the whole suite
	// and other builds share two cores. The bound catches a hang, not
	// slowness: the assertions below are about what happened, not when.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st := newSalesReceiverStack(t, ctx, hubspotsim.WebhookOptions{
		DuplicateRate: 0.1, Shuffle: true, RetryBase: 20 * time.Millisecond, Seed: 20261123,
	})
	const referrals, rounds = 200, 5
	ids, deals := st.addReferrals(t, ctx, referrals)

	// Three kinds of deal history, and the transitions each must cause.
	type history struct {
		stages      []string
		transitions []string
		rewarded    bool
	}
	histories := []history{
		{[]string{"qualifiedtobuy", "contractsent", "presentationscheduled", "decisionmakerboughtin", "closedwon"},
			[]string{"pending>qualified", "qualified>approved"}, true},
		{[]string{"qualifiedtobuy", "contractsent", "presentationscheduled", "decisionmakerboughtin", "closedlost"},
			[]string{"pending>qualified", "qualified>denied"}, false},
		// Won, reopened and won again: approved and rewarded once.
		{[]string{"qualifiedtobuy", "contractsent", "closedwon", "contractsent", "closedwon"},
			[]string{"pending>qualified", "qualified>approved"}, true},
	}
	for round := range rounds {
		for i, deal := range deals {
			stage := histories[i%len(histories)].stages[round]
			if err := st.hs.Sim.UpdateObject(st.hs.PortalID, "deals", deal, map[string]string{"dealstage": stage}); err != nil {
				t.Fatal(err)
			}
		}
		// The next round starts once every change of this one reached its
		// referral's audit trail, so each deal's history is the one above.
		st.waitCount(t, ctx, fmt.Sprintf("round %d changes applied", round+1), (round+1)*referrals,
			`SELECT count(*) FROM referral_events WHERE idempotency_key LIKE 'hubspot:%'`)
	}
	if err := st.hs.Sim.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}

	// Every delivered event is one sales entry, and duplicates did happen.
	delivered := 0
	for _, dl := range st.hs.Sim.Deliveries() {
		if dl.OK {
			delivered += dl.Events
		}
	}
	var entries, processed int
	if err := st.d.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'processed') FROM sales_entries`).Scan(&entries, &processed); err != nil {
		t.Fatal(err)
	}
	if entries != referrals*rounds || processed != entries {
		t.Fatalf("sales entries: %d (%d processed), want %d all processed", entries, processed, referrals*rounds)
	}
	if delivered < entries+entries/20 {
		t.Fatalf("only %d events delivered for %d entries: the simulator's duplicates did not happen", delivered, entries)
	}

	// Exactly the right transitions, each change once in the audit trail.
	rewarded := 0
	for i := range ids {
		if histories[i%len(histories)].rewarded {
			rewarded++
		}
	}
	st.waitCount(t, ctx, "rewards issued", rewarded, `SELECT count(*) FROM rewards WHERE status = 'issued'`)
	for i, id := range ids {
		h := histories[i%len(histories)]
		rows, err := st.d.Pool.Query(ctx, `SELECT from_status || '>' || to_status FROM referral_events
			WHERE referral_id = $1 AND kind = 'status_changed' ORDER BY id`, uuid.MustParse(id))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			got = append(got, s)
		}
		rows.Close()
		if fmt.Sprint(got) != fmt.Sprint(h.transitions) {
			t.Errorf("referral %d (%s): transitions %v, want %v", i, h.stages, got, h.transitions)
		}
		var changes, rewards int
		if err := st.d.Pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM referral_events WHERE referral_id = $1 AND idempotency_key LIKE 'hubspot:%'),
			(SELECT count(*) FROM rewards WHERE referral_id = $1)`, uuid.MustParse(id)).Scan(&changes, &rewards); err != nil {
			t.Fatal(err)
		}
		wantRewards := 0
		if h.rewarded {
			wantRewards = 1
		}
		if changes != rounds || rewards != wantRewards {
			t.Errorf("referral %d: %d changes recorded, %d rewards; want %d and %d", i, changes, rewards, rounds, wantRewards)
		}
	}
	// The fulfilment endpoint heard of each reward exactly once.
	time.Sleep(300 * time.Millisecond) // a second, wrong webhook would have arrived by now
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, id := range ids {
		want := 0
		if histories[i%len(histories)].rewarded {
			want = 1
		}
		if got := len(st.rewards[id]); got != want {
			t.Errorf("referral %d: %d reward webhooks, want %d", i, got, want)
		}
	}
}

// TestSalesReceiverFollowsTheLeadsRecords: a referral whose lead is a
// contact learns of its deal when HubSpot associates the two, so the deal's
// stage rules then approve it; when the contact is merged into another the
// referral follows the surviving record; a deleted deal stays visible in the
// referral's audit trail. All of it through real webhook deliveries.
func TestSalesReceiverFollowsTheLeadsRecords(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := newSalesReceiverStack(t, ctx, hubspotsim.WebhookOptions{RetryBase: 20 * time.Millisecond})
	sim, portal := st.hs.Sim, st.hs.PortalID
	contact, err := sim.CreateObject(portal, "contacts", map[string]string{"email": "mia@example.org", "firstname": "Mia"})
	if err != nil {
		t.Fatal(err)
	}
	contactID, _ := strconv.ParseInt(contact, 10, 64)
	r, err := st.d.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
		WorkspaceID: st.fx.Workspace.ID, CampaignID: st.fx.Campaign.ID, MemberID: st.fx.Member.ID,
		LeadEmail: "mia@example.org", LeadEmailNormalized: "mia@example.org", Source: "api", HubspotContactID: &contactID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workflows.StartReferralWorkflow(ctx, st.tc.Client, st.tc.TaskQueue, st.tc.HubSpotTaskQueue, r.ID.String()); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "workflow listening", 1, `SELECT count(*) FROM referral_events WHERE kind = 'lead_not_sent'`)
	for _, sub := range [][2]string{{"deal.associationChange", ""}, {"deal.propertyChange", "dealstage"}, {"contact.merge", ""}, {"deal.deletion", ""}} {
		if _, err := sim.Subscribe(sub[0], sub[1]); err != nil {
			t.Fatal(err)
		}
	}

	// Sales opens a deal for the referred contact.
	deal, err := sim.CreateObject(portal, "deals", map[string]string{"dealname": "Mia deal", "pipeline": "default", "dealstage": "appointmentscheduled"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Associate(portal, "deals", deal, "contacts", contact); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "deal linked to the referral", 1, `SELECT count(*) FROM referrals WHERE id = $1 AND hubspot_deal_id::text = $2`, r.ID, deal)

	// The deal is won: its stage rule approves the contact's referral.
	if err := sim.UpdateObject(portal, "deals", deal, map[string]string{"dealstage": "closedwon"}); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "reward issued", 1, `SELECT count(*) FROM rewards WHERE referral_id = $1 AND status = 'issued'`, r.ID)

	// The contact is merged into another record: the referral follows it.
	other, err := sim.CreateObject(portal, "contacts", map[string]string{"email": "leonard@example.org", "firstname": "Leonard"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.MergeObjects(portal, "contacts", other, contact); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "referral re-pointed to the surviving contact", 1, `SELECT count(*) FROM referrals WHERE id = $1 AND hubspot_contact_id::text = $2`, r.ID, other)

	// The deal is deleted in HubSpot: the referral shows it.
	if err := sim.ArchiveObject(portal, "deals", deal); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "deletion in the audit trail", 1, `SELECT count(*) FROM referral_events WHERE referral_id = $1 AND kind = 'hubspot_object_deleted'`, r.ID)

	var status string
	if err := st.d.Pool.QueryRow(ctx, `SELECT status FROM referrals WHERE id = $1`, r.ID).Scan(&status); err != nil || status != "approved" {
		t.Fatalf("referral status %q (%v), want approved", status, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if n := len(st.rewards[r.ID.String()]); n != 1 {
		t.Fatalf("%d reward webhooks, want 1", n)
	}
}

// TestAContactCampaignQualifiesOnItsContactsDeal: a campaign that creates a
// contact for each lead, with its approval on a deal stage (allowed since
// the deal follows its contact), subscribed to exactly the webhooks its
// settings say it needs. The lead's contact is created by the referral's
// workflow; sales then opens a deal on that contact and wins it: the deal
// joins the referral by the association, and its stage approves it.
func TestAContactCampaignQualifiesOnItsContactsDeal(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := newSalesReceiverStack(t, ctx, hubspotsim.WebhookOptions{RetryBase: 20 * time.Millisecond})
	sim, portal := st.hs.Sim, st.hs.PortalID

	s := campaign.Defaults()
	s.Leads = campaign.CRMSettings{Action: campaign.ActionCreateContact, DuplicateHandling: campaign.DuplicateDoNothing, FieldMapping: []campaign.FieldMapping{
		{Object: "contact", Source: "email", Property: "email"},
		{Object: "contact", Source: "first_name", Property: "firstname"},
	}}
	s.StatusRules = campaign.StatusRules{Approved: &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}}}
	s.Rewards = campaign.Rewards{OnStatus: "approved", Member: &campaign.Reward{Kind: campaign.RewardFixed, Amount: "50", Currency: "USD"}}
	if problems := s.Validate(); len(problems) > 0 {
		t.Fatalf("a contact campaign approving on a deal stage is refused: %+v", problems)
	}
	st.d.SetCampaignSettings(t, st.fx.Campaign, s)
	for _, sub := range s.WebhookSubscriptions() {
		if _, err := sim.Subscribe(sub.Type, sub.Property); err != nil {
			t.Fatal(err)
		}
	}

	r, err := st.d.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
		WorkspaceID: st.fx.Workspace.ID, CampaignID: st.fx.Campaign.ID, MemberID: st.fx.Member.ID,
		LeadEmail: "nora@example.org", LeadEmailNormalized: "nora@example.org", LeadFirstName: new("Nora"), Source: "api",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workflows.StartReferralWorkflow(ctx, st.tc.Client, st.tc.TaskQueue, st.tc.HubSpotTaskQueue, r.ID.String()); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "lead's contact created", 1, `SELECT count(*) FROM referrals WHERE id = $1 AND hubspot_contact_id IS NOT NULL`, r.ID)
	var contactID int64
	if err := st.d.Pool.QueryRow(ctx, `SELECT hubspot_contact_id FROM referrals WHERE id = $1`, r.ID).Scan(&contactID); err != nil {
		t.Fatal(err)
	}

	deal, err := sim.CreateObject(portal, "deals", map[string]string{"dealname": "Nora deal", "pipeline": "default", "dealstage": "appointmentscheduled"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Associate(portal, "deals", deal, "contacts", strconv.FormatInt(contactID, 10)); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "deal linked to the referral", 1, `SELECT count(*) FROM referrals WHERE id = $1 AND hubspot_deal_id::text = $2`, r.ID, deal)
	if err := sim.UpdateObject(portal, "deals", deal, map[string]string{"dealstage": "closedwon"}); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "approved with its reward", 1, `SELECT count(*) FROM rewards WHERE referral_id = $1 AND status = 'issued'`, r.ID)
}
