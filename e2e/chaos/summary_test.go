package chaos_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/dev/chaos"
)

// summary prints what the run did and found: the faults with how long each
// part was down and how long until a referral progressed again, HubSpot's
// deliveries, how adding referrals went, the referrals' paths, rewards and
// workflows.
func (r *report) summary(t *testing.T, cfg config, d *driver, st *chaos.Stack, ran time.Duration) {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("=== chaos summary (seed %d: REFERFLOW_CHAOS_SEED=%d make chaos)", cfg.seed, cfg.seed)
	line("load: %d referrals of %d leads (%d referred in both campaigns), %.0f added a second; run %s",
		len(d.order), len(d.leads), cfg.shared, cfg.perSecond, ran.Round(time.Second))

	d.mu.Lock()
	outcomes := slices.Clone(d.outcomes)
	answers := maps.Clone(d.answers)
	var took []time.Duration
	for _, ref := range d.order {
		if ref.rewarded {
			took = append(took, ref.rewardedAt.Sub(ref.addedAt))
		}
	}
	d.mu.Unlock()
	slices.Sort(took)
	if len(took) > 0 {
		q := func(p float64) time.Duration { return took[int(p*float64(len(took)-1))].Round(100 * time.Millisecond) }
		line("added → rewarded (driver included): median %s, p95 %s, max %s over %d referrals", q(0.5), q(0.95), q(1), len(took))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resumed := progressAfter(ctx, d.pool, outcomes)
	line("faults (%d):", len(outcomes))
	line("  %-12s %-22s %8s %10s %22s", "at", "fault", "down", "back in", "next approved/rewarded")
	for i, o := range outcomes {
		back, next := "-", "none"
		if !o.Up.IsZero() {
			back = o.Up.Sub(o.Start).Round(10 * time.Millisecond).String()
		}
		if i < len(resumed) && resumed[i] >= 0 {
			next = resumed[i].Round(10 * time.Millisecond).String()
		}
		verb := "kill -9"
		if o.Kind == chaos.RestartPostgres || o.Kind == chaos.RestartSim {
			verb = "restart"
		}
		line("  %-12s %-22s %8s %10s %22s", o.Start.Format("15:04:05.000"), verb+" "+o.Target(), o.Fault.Down, back, next)
	}
	for _, p := range st.Processes() {
		line("  %s started %d time(s), %d exit(s) on its own", p.Name, p.Starts(), len(p.UnexpectedExits()))
	}

	line("HubSpot webhooks: %d events (+%d duplicate copies), %d deliveries (%d retries), %d answered 2xx carrying %d events: %d recorded, %d duplicates",
		r.stats.Events, r.stats.Duplicates, r.deliveries, r.retried, r.deliveriesOK, r.eventsAccepted, r.recorded, r.duplicates)
	for _, k := range slices.Sorted(maps.Keys(r.failedBy)) {
		line("  failed deliveries, %s: %d", k, r.failedBy[k])
	}
	for i, dl := range r.failed {
		if i == 20 {
			line("    … and %d more", len(r.failed)-i)
			break
		}
		line("    %s attempt %d, %d events: %s", dl.Start.Format("15:04:05.000"), dl.Attempt, dl.Events, failureKind(dl))
	}
	line("adding referrals (API answers):")
	for _, k := range slices.Sorted(maps.Keys(answers)) {
		line("  %-60s %d", k, answers[k])
	}
	line("referrals: %d in the database, %d approved; status paths:", r.referrals, r.approved)
	for _, k := range slices.Sorted(maps.Keys(r.paths)) {
		line("  %-40s %d", k, r.paths[k])
	}
	line("rewards: %d rows, %d reward webhooks accepted, %d repeat deliveries", r.rewards, r.rewardWebhooks, r.rewardRepeats)
	line("workflows:")
	for _, k := range slices.Sorted(maps.Keys(r.workflowStatus)) {
		line("  %-40s %d", k, r.workflowStatus[k])
	}
	line("sales entries by status: %v", r.salesEntries)
	if len(r.failures) == 0 {
		line("all checks passed")
	} else {
		line("%d check(s) failed (listed below)", len(r.failures))
	}
	t.Log("\n" + b.String())
}
