package e2e_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/workflows"
)

// benchRate is the arrival rate per second a latency benchmark uses:
// REFERFLOW_BENCH_RATE when set, else def. A rate of 0 means "all at once"
// (a burst), allowed only when burst is true.
func benchRate(b *testing.B, def float64, burst bool) float64 {
	b.Helper()
	v := os.Getenv("REFERFLOW_BENCH_RATE")
	if v == "" {
		return def
	}
	r, err := strconv.ParseFloat(v, 64)
	if err != nil || r < 0 || (r == 0 && !burst) {
		b.Fatalf("REFERFLOW_BENCH_RATE: want a rate per second above 0%s, got %q", map[bool]string{true: " (or 0: all at once)"}[burst], v)
	}
	return r
}

// reportLatencies reports a latency distribution as p50, p99 and max in
// milliseconds.
func reportLatencies(b *testing.B, latencies []time.Duration) {
	b.Helper()
	if len(latencies) == 0 {
		b.Fatal("no latencies measured")
	}
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(sorted[len(sorted)/2]), "p50-ms")
	b.ReportMetric(ms(sorted[len(sorted)*99/100]), "p99-ms")
	b.ReportMetric(ms(sorted[len(sorted)-1]), "max-ms")
}

// rewardOnWin gives the fixture's campaign what the conversion benchmarks
// need: approved on a won deal, a fixed member reward, no hold, and its
// fulfilment URL.
func rewardOnWin(b *testing.B, ctx context.Context, d *testenv.Database, fx testenv.ReferralFixture, fulfilment string) {
	b.Helper()
	s := campaign.Defaults()
	s.StatusRules.Approved = &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}}
	s.Rewards = campaign.Rewards{OnStatus: "approved", Member: &campaign.Reward{Kind: campaign.RewardFixed, Amount: "50", Currency: "USD"}}
	d.SetCampaignSettings(b, fx.Campaign, s)
	if _, err := d.Queries.CampaignUpdateDetails(ctx, db.CampaignUpdateDetailsParams{ID: fx.Campaign.ID, WorkspaceID: fx.Workspace.ID, FulfilmentWebhookUrl: &fulfilment}); err != nil {
		b.Fatal(err)
	}
}

// listeningReferrals adds n referrals to the fixture's campaign, starts
// their workflows through c and returns their IDs once every workflow
// listens for HubSpot (its lead_not_sent is recorded).
func listeningReferrals(b *testing.B, ctx context.Context, d *testenv.Database, fx testenv.ReferralFixture, c client.Client, tc *testenv.Temporal, n int) []string {
	b.Helper()
	ids := make([]string, n)
	for i := range ids {
		email := fmt.Sprintf("lead-%d@example.org", i)
		r, err := d.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
			WorkspaceID: fx.Workspace.ID, CampaignID: fx.Campaign.ID, MemberID: fx.Member.ID,
			LeadEmail: email, LeadEmailNormalized: referral.NormalizeEmail(email), Source: "api",
		})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = r.ID.String()
		if _, err := workflows.StartReferralWorkflow(ctx, c, tc.TaskQueue, tc.HubSpotTaskQueue, ids[i]); err != nil {
			b.Fatal(err)
		}
	}
	for {
		var listening int
		if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM referral_events WHERE kind = 'lead_not_sent'`).Scan(&listening); err != nil {
			b.Fatal(err)
		}
		if listening == n {
			return ids
		}
		if ctx.Err() != nil {
			b.Fatalf("%d of %d referral workflows listening", listening, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
