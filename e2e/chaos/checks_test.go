package chaos_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/dev/chaos"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/reward"
	"github.com/referflow/referflow/workflows"
)

// settleTime bounds the wait for the end state. An activity a killed worker
// had started is retried only when its start-to-close timeout (2 minutes
// for HubSpot activities) has passed, so it must be longer than that.
const settleTime = 4 * time.Minute

// settle waits until HubSpot has delivered every webhook, the Sales
// Receiver has dispatched every entry, no referral workflow has an activity
// pending and the outbox has no webhook left to send (a killed worker's
// leased deliveries are sent again a minute later), so the checks see the
// end state.
func settle(t *testing.T, ctx context.Context, d *driver, st *chaos.Stack, pool *pgxpool.Pool, tc client.Client) {
	t.Helper()
	sim := st.SimControl()
	start := time.Now()
	for {
		stats, err := sim.WebhookStats(ctx)
		var undispatched int
		derr := pool.QueryRow(ctx, `SELECT count(*) FROM sales_entries WHERE dispatched_at IS NULL OR status IN ('received', 'matching')`).Scan(&undispatched)
		var outbox int
		oerr := pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&outbox)
		pending := pendingActivities(ctx, d, tc)
		if err == nil && derr == nil && oerr == nil && stats.Pending == 0 && undispatched == 0 && pending == 0 && outbox == 0 {
			d.logf("settled in %s: every webhook delivered, every sales entry dispatched, no activity pending, the outbox empty", time.Since(start).Round(time.Second))
			return
		}
		if time.Since(start) > settleTime || ctx.Err() != nil {
			d.logf("not settled within %s: %d webhook events pending (%v), %d sales entries undispatched (%v), %d activities pending, %d outgoing webhooks pending (%v)",
				settleTime, stats.Pending, err, undispatched, derr, pending, outbox, oerr)
			return
		}
		time.Sleep(time.Second)
	}
}

// pendingActivities counts the activities the referrals' workflows wait
// on (-1 when Temporal does not answer).
func pendingActivities(ctx context.Context, d *driver, tc client.Client) int {
	n := 0
	for _, ref := range d.order {
		if ref.id == "" {
			continue
		}
		desc, err := tc.DescribeWorkflowExecution(ctx, workflows.ReferralWorkflowID(ref.id), "")
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			continue
		case err != nil:
			return -1
		}
		n += len(desc.GetPendingActivities())
	}
	return n
}

// report is what the checks found: failures fail the test; the figures
// are printed in the summary.
type report struct {
	failures []string

	// HubSpot's webhooks.
	stats          hubspotsim.WebhookStats
	deliveries     int
	deliveriesOK   int
	eventsAccepted int
	recorded       int
	duplicates     int
	retried        int
	failedBy       map[string]int
	failed         []hubspotsim.Delivery

	// Referrals and rewards.
	referrals      int
	approved       int
	paths          map[string]int
	rewards        int
	rewardWebhooks int
	rewardRepeats  int

	// Workflows.
	workflowStatus map[string]int
	salesEntries   map[string]int
}

func (r *report) fail(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// failList adds one failure naming at most a few examples of many.
func (r *report) failList(what string, items []string) {
	if len(items) == 0 {
		return
	}
	sort.Strings(items)
	shown := items
	if len(shown) > 8 {
		shown = shown[:8]
	}
	more := ""
	if len(items) > len(shown) {
		more = fmt.Sprintf("\n      … and %d more", len(items)-len(shown))
	}
	r.failures = append(r.failures, fmt.Sprintf("%s: %d\n      %s%s", what, len(items), strings.Join(shown, "\n      "), more))
}

func check(t *testing.T, ctx context.Context, d *driver, st *chaos.Stack, pool *pgxpool.Pool, tc client.Client) *report {
	t.Helper()
	r := &report{failedBy: map[string]int{}, paths: map[string]int{}, workflowStatus: map[string]int{}, salesEntries: map[string]int{}}
	d.observe(ctx) // the referrals as they ended, after settling
	d.mu.Lock()
	for _, p := range d.problems {
		r.fail("%s", p)
	}
	r.failList("leads not rewarded when the run ended", d.stuck)
	d.mu.Unlock()
	for _, p := range d.recv.Problems() {
		r.fail("fulfilment receiver: %s", p)
	}
	for _, p := range st.Processes() {
		for _, e := range p.UnexpectedExits() {
			r.fail("%s exited on its own at %s (%s); its log ended:\n%s", p.Name, e.At.Format(time.TimeOnly), e.Status, indent(e.LogTail))
		}
	}
	checkDeliveries(ctx, r, st, pool)
	checkReferrals(ctx, r, d, pool)
	checkRewards(ctx, r, d, pool)
	checkWorkflows(ctx, r, d, pool, tc)
	return r
}

// checkDeliveries: every webhook delivery the API answered 2xx is recorded
// as sales entries, HubSpot gave up on none, and none is left undelivered.
func checkDeliveries(ctx context.Context, r *report, st *chaos.Stack, pool *pgxpool.Pool) {
	sim := st.SimControl()
	var err error
	if r.stats, err = sim.WebhookStats(ctx); err != nil {
		r.fail("read the simulator's webhook stats: %v", err)
		return
	}
	var all []hubspotsim.Delivery
	for {
		page, err := sim.Deliveries(ctx, len(all))
		if err != nil {
			r.fail("read the simulator's delivery log: %v", err)
			return
		}
		all = append(all, page.Deliveries...)
		if len(page.Deliveries) == 0 || len(all) >= page.Total {
			break
		}
	}
	recorded := map[int64]bool{}
	rows, err := pool.Query(ctx, `SELECT event_id FROM sales_entries WHERE portal_id = $1 AND event_id IS NOT NULL`, st.PortalID)
	if err != nil {
		r.fail("read sales entries: %v", err)
		return
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			r.fail("read sales entries: %v", err)
			return
		}
		recorded[id] = true
	}
	rows.Close()

	var lost, miscounted []string
	r.deliveries = len(all)
	for _, dl := range all {
		if dl.Attempt > 0 {
			r.retried++
		}
		if !dl.OK {
			r.failedBy[failureKind(dl)]++
			r.failed = append(r.failed, dl)
			continue
		}
		r.deliveriesOK++
		r.eventsAccepted += len(dl.EventIDs)
		for _, id := range dl.EventIDs {
			if !recorded[id] {
				lost = append(lost, fmt.Sprintf("event %d (delivered %s, answered %d %s)", id, dl.Start.Format(time.TimeOnly), dl.StatusCode, strings.TrimSpace(dl.Answer)))
			}
		}
		var answer struct{ Received, Recorded, Duplicates, Skipped int }
		if err := json.Unmarshal([]byte(dl.Answer), &answer); err != nil || answer.Received != len(dl.EventIDs) ||
			answer.Recorded+answer.Duplicates+answer.Skipped != answer.Received {
			miscounted = append(miscounted, fmt.Sprintf("delivery of %d events at %s answered %q", len(dl.EventIDs), dl.Start.Format(time.TimeOnly), dl.Answer))
		}
		r.recorded += answer.Recorded
		r.duplicates += answer.Duplicates
	}
	r.failList("webhook events the API answered 2xx for but did not record as sales entries", lost)
	r.failList("webhook deliveries whose answer does not account for their events", miscounted)
	if r.stats.GaveUp > 0 {
		r.fail("HubSpot gave up on %d webhook events (every retry failed)", r.stats.GaveUp)
	}
	if r.stats.Pending > 0 {
		r.fail("%d webhook events were still undelivered at the end", r.stats.Pending)
	}
}

// failureKind names why a delivery failed, for the summary.
func failureKind(dl hubspotsim.Delivery) string {
	switch {
	case dl.StatusCode != 0:
		return fmt.Sprintf("answered %d", dl.StatusCode)
	case strings.Contains(dl.Err, "connection refused"):
		return "connection refused"
	case strings.Contains(dl.Err, "timeout"):
		return "no answer in time"
	case strings.Contains(dl.Err, "context canceled"):
		return "cut off by the simulator's restart"
	}
	return "connection broken"
}

// statusChange is one status_changed event of the audit trail.
type statusChange struct {
	from, to string
	at       time.Time
}

// checkReferrals: every referral is approved (the driver took each lead
// there), its audit trail's status changes form one chain from pending to
// the status the referral has, and no transition is recorded twice.
func checkReferrals(ctx context.Context, r *report, d *driver, pool *pgxpool.Pool) {
	status := map[string]string{}
	rows, err := pool.Query(ctx, `SELECT id::text, status FROM referrals`)
	if err != nil {
		r.fail("read referrals: %v", err)
		return
	}
	for rows.Next() {
		var id, s string
		if err := rows.Scan(&id, &s); err != nil {
			r.fail("read referrals: %v", err)
			return
		}
		status[id] = s
	}
	rows.Close()
	trail := map[string][]statusChange{}
	rows, err = pool.Query(ctx, `
		SELECT referral_id::text, coalesce(from_status, ''), coalesce(to_status, ''), occurred_at
		FROM referral_events WHERE kind = $1 ORDER BY referral_id, occurred_at, id`, string(referral.EventStatusChanged))
	if err != nil {
		r.fail("read the audit trail: %v", err)
		return
	}
	for rows.Next() {
		var id string
		var c statusChange
		if err := rows.Scan(&id, &c.from, &c.to, &c.at); err != nil {
			r.fail("read the audit trail: %v", err)
			return
		}
		trail[id] = append(trail[id], c)
	}
	rows.Close()

	r.referrals = len(status)
	if len(status) != len(d.order) {
		r.fail("the database has %d referrals, the run added %d", len(status), len(d.order))
	}
	var notAdded, broken, twice, notApproved []string
	for _, ref := range d.order {
		if ref.id == "" {
			notAdded = append(notAdded, ref.lead.email+" in "+d.w.campaigns[ref.campaign].name)
			continue
		}
		have, ok := status[ref.id]
		if !ok {
			notAdded = append(notAdded, fmt.Sprintf("%s in %s (the API named referral %s, which does not exist)", ref.lead.email, d.w.campaigns[ref.campaign].name, ref.id))
			continue
		}
		implied, path, seen := string(referral.Pending), []string{string(referral.Pending)}, map[string]bool{}
		for _, c := range trail[ref.id] {
			key := c.from + "→" + c.to
			if seen[key] {
				twice = append(twice, fmt.Sprintf("referral %s: %s recorded twice (trail %s)", ref.id, key, chain(trail[ref.id])))
			}
			seen[key] = true
			if c.from != implied {
				broken = append(broken, fmt.Sprintf("referral %s: %s→%s while its trail had it %s (trail %s)", ref.id, c.from, c.to, implied, chain(trail[ref.id])))
			}
			implied = c.to
			path = append(path, c.to)
		}
		r.paths[strings.Join(path, "→")]++
		if implied != have {
			broken = append(broken, fmt.Sprintf("referral %s is %s but its trail says %s (trail %s)", ref.id, have, implied, chain(trail[ref.id])))
		}
		if have == string(referral.Approved) {
			r.approved++
		} else {
			notApproved = append(notApproved, fmt.Sprintf("referral %s (%s in %s) is %s", ref.id, ref.lead.email, d.w.campaigns[ref.campaign].name, have))
		}
	}
	r.failList("referrals never added", notAdded)
	r.failList("referrals whose status is not what their audit trail implies", broken)
	r.failList("status transitions recorded twice", twice)
	r.failList("referrals not approved", notApproved)
}

func chain(cs []statusChange) string {
	if len(cs) == 0 {
		return "empty"
	}
	out := cs[0].from
	for _, c := range cs {
		out += "→" + c.to
	}
	return out
}

// checkRewards: exactly one reward per approved referral, issued, and
// exactly one reward webhook event (however often delivered) announcing it.
func checkRewards(ctx context.Context, r *report, d *driver, pool *pgxpool.Pool) {
	type rw struct{ id, status string }
	rewards := map[string][]rw{}
	rows, err := pool.Query(ctx, `SELECT referral_id::text, id::text, status FROM rewards`)
	if err != nil {
		r.fail("read rewards: %v", err)
		return
	}
	for rows.Next() {
		var ref string
		var w rw
		if err := rows.Scan(&ref, &w.id, &w.status); err != nil {
			r.fail("read rewards: %v", err)
			return
		}
		rewards[ref] = append(rewards[ref], w)
		r.rewards++
	}
	rows.Close()
	announced := map[string][]string{} // referral → event IDs
	known := map[string]bool{}
	for id, ds := range d.recv.Deliveries() {
		announced[ds[0].ReferralID] = append(announced[ds[0].ReferralID], id)
		r.rewardWebhooks++
		r.rewardRepeats += len(ds) - 1
	}
	var wrong, unannounced, twice, stray []string
	for _, ref := range d.order {
		if ref.id == "" {
			continue
		}
		ws := rewards[ref.id]
		for _, w := range ws {
			known[activities.RewardIssuedEventID(w.id)] = true
		}
		if ref.status != referral.Approved {
			if len(ws) > 0 {
				wrong = append(wrong, fmt.Sprintf("referral %s is %s yet has %d reward(s)", ref.id, ref.status, len(ws)))
			}
			continue
		}
		if len(ws) != 1 || ws[0].status != string(reward.Issued) {
			wrong = append(wrong, fmt.Sprintf("referral %s has rewards %+v, want one issued", ref.id, ws))
			continue
		}
		switch ids := announced[ref.id]; {
		case len(ids) == 0:
			unannounced = append(unannounced, fmt.Sprintf("reward %s of referral %s", ws[0].id, ref.id))
		case len(ids) > 1 || ids[0] != activities.RewardIssuedEventID(ws[0].id):
			twice = append(twice, fmt.Sprintf("referral %s: events %v for reward %s", ref.id, ids, ws[0].id))
		}
	}
	for id := range d.recv.Deliveries() {
		if !known[id] {
			stray = append(stray, id)
		}
	}
	r.failList("approved referrals without exactly one issued reward", wrong)
	r.failList("issued rewards never announced to the fulfilment URL", unannounced)
	r.failList("referrals announced under more than one event", twice)
	r.failList("reward webhooks for rewards the database does not have", stray)
}

// checkWorkflows: every referral has its workflow; none failed, was
// terminated or timed out; the running ones wait only where they should
// (an approved, rewarded referral waits for an admin to mark the reward
// paid) with no activity pending; sales entries are all handled.
func checkWorkflows(ctx context.Context, r *report, d *driver, pool *pgxpool.Pool, tc client.Client) {
	var ended []string
	for _, typ := range []string{"ReferralWorkflow", workflows.SalesEntryWorkflowType} {
		var token []byte
		for {
			resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
				Query: fmt.Sprintf("WorkflowType = '%s'", typ), NextPageToken: token, PageSize: 1000,
			})
			if err != nil {
				r.fail("list %s workflows: %v", typ, err)
				break
			}
			for _, e := range resp.GetExecutions() {
				st := e.GetStatus()
				r.workflowStatus[typ+" "+statusName(st)]++
				switch st {
				case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
					ended = append(ended, fmt.Sprintf("%s %s: %s%s", e.GetExecution().GetWorkflowId(), statusName(st), e.GetExecution().GetRunId(), failureOf(ctx, tc, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId())))
				}
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				break
			}
		}
	}
	r.failList("workflows that failed, were terminated, cancelled or timed out", ended)

	var missing, stuck []string
	for _, ref := range d.order {
		if ref.id == "" {
			continue
		}
		wfID := workflows.ReferralWorkflowID(ref.id)
		desc, err := tc.DescribeWorkflowExecution(ctx, wfID, "")
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			missing = append(missing, fmt.Sprintf("referral %s (%s, added: %s)", ref.id, ref.status, ref.lead.email))
			continue
		case err != nil:
			r.fail("describe %s: %v", wfID, err)
			continue
		}
		st := desc.GetWorkflowExecutionInfo().GetStatus()
		if st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			continue // completed (or reported above)
		}
		for _, pa := range desc.GetPendingActivities() {
			stuck = append(stuck, fmt.Sprintf("%s: activity %s pending, attempt %d, last failure: %s", wfID, pa.GetActivityType().GetName(), pa.GetAttempt(), pa.GetLastFailure().GetMessage()))
		}
		if ref.status != referral.Approved || !ref.rewarded {
			stuck = append(stuck, fmt.Sprintf("%s running with the referral %s, rewarded=%v", wfID, ref.status, ref.rewarded))
		}
	}
	r.failList("referrals that have no workflow", missing)
	r.failList("referral workflows stuck short of their end state", stuck)

	rows, err := pool.Query(ctx, `SELECT status, count(*) FROM sales_entries GROUP BY status`)
	if err != nil {
		r.fail("read sales entries: %v", err)
		return
	}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			r.fail("read sales entries: %v", err)
			return
		}
		r.salesEntries[s] = n
	}
	rows.Close()
	for _, s := range []string{"received", "matching", "failed"} {
		if n := r.salesEntries[s]; n > 0 {
			r.fail("%d sales entries are %s at the end", n, s)
		}
	}
	if n := r.salesEntries["review"]; n > 0 {
		r.fail("%d sales entries wait in review: every event of this run concerns a referral's own contact", n)
	}
}

func statusName(s enumspb.WorkflowExecutionStatus) string {
	return strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_")
}

// failureOf is the failure message a failed run's history ends with.
func failureOf(ctx context.Context, tc client.Client, id, runID string) string {
	it := tc.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return ""
		}
		if a := ev.GetWorkflowExecutionFailedEventAttributes(); a != nil {
			return " — " + a.GetFailure().GetMessage()
		}
		if a := ev.GetWorkflowExecutionTerminatedEventAttributes(); a != nil {
			return " — terminated: " + a.GetReason()
		}
	}
	return ""
}

// progressAfter is, for each fault, how long after it struck a referral was
// next approved or had its reward issued, by the audit trail's clock.
func progressAfter(ctx context.Context, pool *pgxpool.Pool, outcomes []faultOutcome) []time.Duration {
	var times []time.Time
	rows, err := pool.Query(ctx, `
		SELECT occurred_at FROM referral_events
		WHERE (kind = $1 AND to_status = $2) OR kind = $3 ORDER BY occurred_at`,
		string(referral.EventStatusChanged), string(referral.Approved), string(referral.EventRewardIssued))
	if err != nil {
		return nil
	}
	for rows.Next() {
		var at time.Time
		if rows.Scan(&at) == nil {
			times = append(times, at)
		}
	}
	rows.Close()
	out := make([]time.Duration, len(outcomes))
	for i, o := range outcomes {
		j, _ := slices.BinarySearchFunc(times, o.Start, func(a, b time.Time) int { return a.Compare(b) })
		for j < len(times) && !times[j].After(o.Start) {
			j++
		}
		if j < len(times) {
			out[i] = times[j].Sub(o.Start)
		} else {
			out[i] = -1
		}
	}
	return out
}

func indent(s string) string {
	return "      " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n      ")
}
