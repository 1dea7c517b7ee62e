package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/outgoing"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// TestReferralFromLeadToReward is a referral's whole life on the real stack
// (Postgres, the Temporal dev server, a worker, the HubSpot simulator):
// the lead becomes a deal with its contact in HubSpot, the deal is won, the
// winning change reaches the workflow as a signal, the referral is approved
// and the reward is announced to the campaign's fulfilment URL exactly once,
// signed, through the outbox, even though the receiver fails the first
// delivery: one delivery, delivered after two recorded attempts.
func TestReferralFromLeadToReward(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	fx := d.SeedReferral(t)
	hs := testenv.ConnectHubSpot(t, d, fx.Workspace.ID, "https://refer.acme.test")

	// The customer's fulfilment endpoint: fails once, then records.
	var mu sync.Mutex
	var deliveries []map[string]any
	attempts := 0
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if err := outgoing.Verify([]byte(fx.Workspace.WebhookSigningSecret), r.Header.Get("Referflow-Signature"), body, time.Now()); err != nil {
			t.Errorf("delivery signature: %v", err)
		}
		if attempts == 1 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		ev["event_id_header"] = r.Header.Get("Referflow-Event-Id")
		deliveries = append(deliveries, ev)
	}))
	defer receiver.Close()

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
	s.StatusRules = campaign.StatusRules{
		Qualified: &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"contractsent"}},
		Approved:  &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}},
	}
	s.Rewards = campaign.Rewards{OnStatus: "approved", Member: &campaign.Reward{Kind: campaign.RewardFixed, Amount: "50", Currency: "USD"}}
	d.SetCampaignSettings(t, fx.Campaign, s)
	fulfilment := receiver.URL + "/rewards"
	if _, err := d.Queries.CampaignUpdateDetails(ctx, db.CampaignUpdateDetailsParams{ID: fx.Campaign.ID, WorkspaceID: fx.Workspace.ID, FulfilmentWebhookUrl: &fulfilment}); err != nil {
		t.Fatal(err)
	}

	ws := worker.New(tc.Client, d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue, HubSpot: hs.Manager, PublicURL: "https://refer.acme.test", WebhookPolicy: testenv.LoopbackWebhooks(t)})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	defer ws.Stop()
	run, err := workflows.StartReferralWorkflow(ctx, tc.Client, tc.TaskQueue, tc.HubSpotTaskQueue, fx.Referral.ID.String())
	if err != nil {
		t.Fatal(err)
	}

	// The lead lands in HubSpot as a deal with its contact.
	var dealID int64
	for dealID == 0 {
		r, err := d.Queries.ReferralGetByID(ctx, fx.Referral.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.HubspotDealID != nil && r.HubspotContactID != nil {
			dealID = *r.HubspotDealID
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the deal was never created in HubSpot")
		case <-time.After(50 * time.Millisecond):
		}
	}
	deal, ok := hs.Sim.GetObject(hs.PortalID, "deals", strconv.FormatInt(dealID, 10))
	if !ok || deal.Properties["dealname"] != fx.Campaign.Name || deal.Properties["dealstage"] != "appointmentscheduled" {
		t.Fatalf("deal in HubSpot: %+v %v", deal, ok)
	}

	// Someone closes the deal in HubSpot; the change reaches the workflow.
	if err := hs.Sim.UpdateObject(hs.PortalID, "deals", strconv.FormatInt(dealID, 10), map[string]string{"dealstage": "closedwon"}); err != nil {
		t.Fatal(err)
	}
	won := workflows.HubSpotChange{ObjectType: "deal", ObjectID: dealID, Property: "dealstage", Value: "closedwon", OccurredAt: time.Now(), DedupeKey: "won-1"}
	for range 2 { // HubSpot may deliver twice
		if err := tc.Client.SignalWorkflow(ctx, run.GetID(), "", workflows.SignalHubSpotChange, won); err != nil {
			t.Fatal(err)
		}
	}
	st := waitForState(ctx, t, tc.Client, run.GetID(), func(s workflows.ReferralState) bool {
		return len(s.Rewards) == 1 && s.Rewards[0].Status == "issued"
	})
	if st.Status != referral.Approved {
		t.Fatalf("state = %+v", st)
	}
	rewards, err := d.Queries.RewardListByReferral(ctx, fx.Referral.ID)
	if err != nil || len(rewards) != 1 || rewards[0].Status != "issued" {
		t.Fatalf("rewards in Postgres: %+v %v", rewards, err)
	}
	// The worker's dispatcher retries the failed delivery after its backoff
	// (5 to 10 s): the outbox row ends delivered after two attempts.
	eventID := activities.RewardIssuedEventID(rewards[0].ID.String())
	var delivery db.WebhookDelivery
	for delivery.Status != "delivered" {
		if delivery, err = d.Queries.WebhookDeliveryGetByEvent(ctx, db.WebhookDeliveryGetByEventParams{WorkspaceID: fx.Workspace.ID, EventID: eventID}); err != nil {
			t.Fatalf("the reward's webhook is not in the outbox: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the reward's webhook was never delivered: %+v", delivery)
		case <-time.After(100 * time.Millisecond):
		}
	}
	recorded, err := d.Queries.WebhookDeliveryAttemptListByDelivery(ctx, delivery.ID)
	if err != nil || len(recorded) != 2 || *recorded[0].StatusCode != 503 || *recorded[1].StatusCode != 200 {
		t.Fatalf("attempts recorded: %+v %v, want a 503 then a 200", recorded, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts != 2 || len(deliveries) != 1 || deliveries[0]["event_id_header"] != eventID {
		t.Fatalf("fulfilment endpoint: %d attempts, %d deliveries recorded, want 2 and 1", attempts, len(deliveries))
	}
	if deliveries[0]["type"] != "reward.issued" || deliveries[0]["event_id_header"] == "" {
		t.Fatalf("delivery = %+v", deliveries[0])
	}
}
