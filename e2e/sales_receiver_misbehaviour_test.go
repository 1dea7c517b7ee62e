package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
)

// TestNoWebhookEventLostWhileHubSpotMisbehaves: while the portal answers the
// API with 429 storms, a used-up daily limit, 5xx (also after the write),
// slow answers and revoked tokens, HubSpot keeps delivering webhooks — they
// do not go through the API — and every event it delivers ends as one sales
// entry that reaches its referral.
func TestNoWebhookEventLostWhileHubSpotMisbehaves(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := newSalesReceiverStack(t, ctx, hubspotsim.WebhookOptions{RetryBase: 20 * time.Millisecond, DuplicateRate: 0.1, Seed: 11})
	const referrals = 10
	_, deals := st.addReferrals(t, ctx, referrals)
	sim, portal := st.hs.Sim, st.hs.PortalID
	rounds := []struct {
		mode  hubspotsim.Mode
		stage string
	}{
		{hubspotsim.Mode{Kind: hubspotsim.ModeRateLimit}, "qualifiedtobuy"},
		{hubspotsim.Mode{Kind: hubspotsim.ModeDailyLimit}, "presentationscheduled"},
		{hubspotsim.Mode{Kind: hubspotsim.ModeServerErrors, Status: 503}, "decisionmakerboughtin"},
		{hubspotsim.Mode{Kind: hubspotsim.ModeServerErrors, Status: 504, AfterWrite: true}, "qualifiedtobuy"},
		{hubspotsim.Mode{Kind: hubspotsim.ModeSlowAnswers, Delay: hubspotsim.Duration(2 * time.Second)}, "presentationscheduled"},
		{hubspotsim.Mode{Kind: hubspotsim.ModeRevokedTokens}, "decisionmakerboughtin"},
	}
	for i, r := range rounds {
		if _, err := sim.SetMode(portal, r.mode); err != nil {
			t.Fatal(err)
		}
		for _, deal := range deals {
			if err := sim.UpdateObject(portal, "deals", deal, map[string]string{"dealstage": r.stage}); err != nil {
				t.Fatal(err)
			}
		}
		st.waitCount(t, ctx, fmt.Sprintf("round %d (%s) changes applied", i+1, r.mode.Kind), (i+1)*referrals,
			`SELECT count(*) FROM referral_events WHERE idempotency_key LIKE 'hubspot:%'`)
		sim.ClearMode(portal, "")
	}
	if err := sim.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	delivered := 0
	for _, dl := range sim.Deliveries() {
		if dl.OK {
			delivered += dl.Events
		}
	}
	stats := sim.WebhookStats()
	if stats.GaveUp != 0 || stats.Events != len(rounds)*referrals {
		t.Fatalf("deliveries: %+v; want all %d events delivered", stats, len(rounds)*referrals)
	}
	// One entry per event: a change is its object, value and time.
	var entries, distinct int
	if err := st.d.Pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT (object_id, property_value, occurred_at)) FROM sales_entries`).Scan(&entries, &distinct); err != nil {
		t.Fatal(err)
	}
	if entries != len(rounds)*referrals || distinct != entries {
		t.Fatalf("%d sales entries (%d distinct) for %d events, %d delivered with duplicates: an event was lost or recorded twice", entries, distinct, len(rounds)*referrals, delivered)
	}
}
