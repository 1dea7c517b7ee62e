package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/internal/dev/chaos"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/referral"
)

// A lead is one referred person: one HubSpot contact, referred in one
// campaign or (shared) in both. The driver moves it on as a salesperson
// would once referflow has created its contact: lifecycle stage
// opportunity, then customer — for fast leads both at once, so HubSpot's
// webhooks for the two may arrive in either order.
type lead struct {
	n     int
	email string
	first string
	refs  []*ref
	fast  bool

	stage    leadStage
	busy     bool     // a change to its contact is under way
	contacts []string // its referrals' HubSpot contacts, once all have one
}

type leadStage int

const (
	leadAdding     leadStage = iota // referrals added; waiting for referflow to create the contact
	leadQualifying                  // contact at opportunity: waiting for qualified
	leadApproving                   // contact at customer: waiting for approved and the reward
	leadDone
)

func (s leadStage) String() string {
	return [...]string{"adding", "qualifying", "approving", "done"}[s]
}

// ref is one referral of a lead, as the driver sees it.
type ref struct {
	lead     *lead
	campaign int
	member   string

	adding  bool
	addedAt time.Time
	id      string // once the API said which referral it is
	// What the database says.
	status     referral.Status
	contact    int64
	issued     bool
	rewarded   bool // issued, and the receiver has its webhook
	rewardedAt time.Time
}

// driver adds the referrals, moves their contacts in HubSpot, watches the
// database and injects the planned faults.
type driver struct {
	t    *testing.T
	cfg  config
	st   *chaos.Stack
	w    *workspace
	pool *pgxpool.Pool
	recv *chaos.Receiver
	sim  *hubspotsim.ControlClient
	logf func(string, ...any)

	leads []*lead
	order []*ref // in the order they are added

	mu       sync.Mutex
	answers  map[string]int // how the API answered adds
	problems []string
	progress []time.Time // when a referral was seen approved or rewarded
	outcomes []faultOutcome
	stuck    []string // leads not done when the run ended
	ops      sync.WaitGroup
	addSlots chan struct{}
}

// faultOutcome is a fault as it happened, with when progress was seen again.
type faultOutcome struct {
	chaos.Outcome
	// ProgressSeen is when the driver next saw a referral approved or
	// rewarded after the part was back (zero: not within the stall time).
	ProgressSeen time.Time
}

func newDriver(t *testing.T, cfg config, st *chaos.Stack, w *workspace, pool *pgxpool.Pool, recv *chaos.Receiver, logf func(string, ...any)) *driver {
	d := &driver{t: t, cfg: cfg, st: st, w: w, pool: pool, recv: recv, sim: st.SimControl(), logf: logf,
		answers: map[string]int{}, addSlots: make(chan struct{}, 8)}
	rng := rand.New(rand.NewPCG(uint64(cfg.seed), 0x1ead))
	nLeads := cfg.referrals - cfg.shared
	shared := map[int]bool{}
	for _, i := range rng.Perm(nLeads)[:cfg.shared] {
		shared[i] = true
	}
	for i := range nLeads {
		l := &lead{n: i, email: fmt.Sprintf("lead-%04d@chaos.example", i), first: fmt.Sprintf("Lead%d", i), fast: rng.IntN(4) == 0}
		campaigns := []int{rng.IntN(2)}
		if shared[i] {
			campaigns = []int{0, 1}
		}
		for _, c := range campaigns {
			codes := w.campaigns[c].memberCodes
			r := &ref{lead: l, campaign: c, member: codes[rng.IntN(len(codes))]}
			l.refs = append(l.refs, r)
			d.order = append(d.order, r)
		}
		d.leads = append(d.leads, l)
	}
	return d
}

func (d *driver) problem(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.problems = append(d.problems, fmt.Sprintf(format, args...))
}

// run adds every referral at cfg.perSecond and drives the leads until all
// are rewarded or nothing progressed for cfg.stall. Each fault of the plan
// strikes once the share of referrals it names has been added; adding
// pauses at a fault's point until the one before it has recovered (its
// part is back and a referral progressed since), so faults do not pile up.
func (d *driver) run(ctx context.Context, plan []chaos.Fault) {
	runCtx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		d.ops.Wait()
	}()
	var (
		next, nextFault int
		tokens          float64
		last            = time.Now()
		lastProgress    = time.Now()
		lastReport      = time.Now()
		cur             *runningFault
	)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			d.problem("the run was cut off: %v", ctx.Err())
			d.noteStuck()
			return
		case <-tick.C:
		}
		now := time.Now()
		if d.observe(ctx) {
			lastProgress = now
		}

		if cur != nil && cur.recovered(d, now) {
			d.mu.Lock()
			d.outcomes = append(d.outcomes, cur.outcome())
			d.mu.Unlock()
			cur = nil
		}
		tokens = min(tokens+now.Sub(last).Seconds()*d.cfg.perSecond, 4)
		last = now
		due := func() bool { return nextFault < len(plan) && float64(next) >= plan[nextFault].At*float64(len(d.order)) }
		for tokens >= 1 && next < len(d.order) {
			if due() {
				if cur == nil {
					cur = d.strike(runCtx, plan[nextFault])
					nextFault++
				} else if d.inFlight() >= d.minInFlight() {
					// Hold the next fault's point until the previous fault
					// has recovered, while enough referrals are in flight
					// to show it.
					break
				}
			}
			d.add(runCtx, d.order[next])
			next++
			tokens--
			lastProgress = now
		}
		if cur == nil && due() { // every referral is added: the last faults strike now
			cur = d.strike(runCtx, plan[nextFault])
			nextFault++
		}
		d.advance(runCtx)

		if now.Sub(lastReport) >= 10*time.Second {
			lastReport = now
			d.logf("%s", d.counts(next))
		}
		if next == len(d.order) && nextFault == len(plan) && cur == nil && d.allDone() {
			d.logf("every lead done: %s", d.counts(next))
			return
		}
		if now.Sub(lastProgress) > d.cfg.stall && (cur == nil || !cur.running()) {
			d.logf("nothing progressed for %s; ending the run: %s", d.cfg.stall, d.counts(next))
			if cur != nil {
				d.mu.Lock()
				d.outcomes = append(d.outcomes, cur.outcome())
				d.mu.Unlock()
			}
			d.noteStuck()
			return
		}
	}
}

// minInFlight is how many referrals must be on their way for adding to
// pause at a fault's point: fewer, and adding goes on, or no progress
// would ever show that the previous fault recovered. It is 15, less for a
// small run.
func (d *driver) minInFlight() int { return max(3, min(15, len(d.order)/10)) }

// inFlight counts the referrals added whose lead is not done.
func (d *driver) inFlight() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, r := range d.order {
		if r.adding && r.lead.stage != leadDone {
			n++
		}
	}
	return n
}

// runningFault is a fault under way, then waiting for progress.
type runningFault struct {
	done   chan chaos.Outcome
	result *chaos.Outcome
	seen   time.Time
}

func (d *driver) strike(ctx context.Context, f chaos.Fault) *runningFault {
	rf := &runningFault{done: make(chan chaos.Outcome, 1)}
	d.ops.Add(1)
	go func() {
		defer d.ops.Done()
		rf.done <- d.st.Inject(ctx, f)
	}()
	return rf
}

func (rf *runningFault) running() bool { return rf.result == nil }

// recovered tells whether the fault is over: its part is back and the
// driver has since seen a referral progress (or the stall time passed).
func (rf *runningFault) recovered(d *driver, now time.Time) bool {
	if rf.result == nil {
		select {
		case o := <-rf.done:
			rf.result = &o
			if o.Err != nil {
				d.problem("fault %s: %v", o.Fault, o.Err)
				d.logf("fault %s failed: %v", o.Fault, o.Err)
			}
		default:
			return false
		}
	}
	up := rf.result.Up
	if up.IsZero() {
		up = now
	}
	d.mu.Lock()
	for _, p := range d.progress {
		if p.After(up) {
			rf.seen = p
			break
		}
	}
	d.mu.Unlock()
	if !rf.seen.IsZero() {
		d.logf("fault %s: progress seen again %s after it struck", rf.result.Target(), rf.seen.Sub(rf.result.Start).Round(time.Millisecond))
		return true
	}
	if d.inFlight() == 0 {
		d.logf("fault %s: nothing in flight to show progress", rf.result.Target())
		return true
	}
	return now.Sub(up) > d.cfg.stall
}

func (rf *runningFault) outcome() faultOutcome {
	if rf.result == nil {
		return faultOutcome{}
	}
	return faultOutcome{Outcome: *rf.result, ProgressSeen: rf.seen}
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// add adds one referral through the API as a script would: it sends again
// when it got no answer or a 5xx, and takes a 409 (the lead is already
// referred: an earlier attempt got through) as done. A 503 saying the
// referral was saved but its workflow could not start is taken as done
// too, like a client that gives up there: referflow must start that
// workflow itself.
func (d *driver) add(ctx context.Context, r *ref) {
	d.mu.Lock()
	r.adding, r.addedAt = true, time.Now()
	d.mu.Unlock()
	d.ops.Add(1)
	go func() {
		defer d.ops.Done()
		select {
		case d.addSlots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-d.addSlots }()
		c := d.w.campaigns[r.campaign]
		body := map[string]any{"member_code": r.member, "lead": map[string]any{"email": r.lead.email, "first_name": r.lead.first}}
		for {
			var view struct {
				ID string `json:"id"`
			}
			status, raw, err := d.w.api.do(ctx, http.MethodPost, "/api/v1/campaigns/"+c.id+"/referrals", body, &view)
			answer, id, again := "", "", false
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				answer, again = "no answer (API down)", true
			case status == http.StatusCreated || status == http.StatusOK:
				answer, id = strconv.Itoa(status), view.ID
			case status == http.StatusConflict:
				answer, id = "409 already referred (an earlier attempt got through)", uuidRE.FindString(string(raw))
			case status == http.StatusServiceUnavailable && strings.Contains(string(raw), "was saved"):
				answer, id = "503 saved, workflow not started (client gives up)", uuidRE.FindString(string(raw))
			case status >= 500:
				answer, again = fmt.Sprintf("%d (sent again)", status), true
			default:
				answer = fmt.Sprintf("%d refused", status)
				d.problem("adding lead %s to %s: %d %s", r.lead.email, c.name, status, raw)
			}
			d.mu.Lock()
			d.answers[answer]++
			if id != "" {
				r.id = id
			}
			d.mu.Unlock()
			if !again {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond): // a client's pause before sending again
			}
		}
	}()
}

// observe reads every referral's status, HubSpot contact and reward from
// the database (skipping a turn while PostgreSQL is down) and notes
// progress: a referral newly approved or rewarded.
func (d *driver) observe(ctx context.Context) bool {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rows, err := d.pool.Query(qctx, `
		SELECT r.id::text, r.status, r.hubspot_contact_id,
		       EXISTS (SELECT 1 FROM rewards w WHERE w.referral_id = r.id AND w.status = 'issued')
		FROM referrals r`)
	if err != nil {
		return false
	}
	type row struct {
		status  string
		contact *int64
		issued  bool
	}
	seen := map[string]row{}
	for rows.Next() {
		var id string
		var r row
		if err := rows.Scan(&id, &r.status, &r.contact, &r.issued); err != nil {
			rows.Close()
			return false
		}
		seen[id] = r
	}
	rows.Close()
	if rows.Err() != nil {
		return false
	}
	delivered := map[string]bool{}
	for _, ds := range d.recv.Deliveries() {
		delivered[ds[0].ReferralID] = true
	}
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	progressed := false
	for _, r := range d.order {
		s, ok := seen[r.id]
		if r.id == "" || !ok {
			continue
		}
		if s.status == string(referral.Approved) && r.status != referral.Approved {
			d.progress = append(d.progress, now)
			progressed = true
		}
		r.status, r.issued = referral.Status(s.status), s.issued
		if s.contact != nil {
			r.contact = *s.contact
		}
		if s.issued && delivered[r.id] && !r.rewarded {
			r.rewarded, r.rewardedAt = true, now
			d.progress = append(d.progress, now)
			progressed = true
		}
	}
	return progressed
}

// advance moves each lead whose referrals are ready on to the next stage
// of its contact.
func (d *driver) advance(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.leads {
		if l.busy || l.stage == leadDone {
			continue
		}
		switch l.stage {
		case leadAdding:
			contacts := map[string]bool{}
			for _, r := range l.refs {
				if r.id == "" || r.contact == 0 {
					contacts = nil
					break
				}
				contacts[strconv.FormatInt(r.contact, 10)] = true
			}
			if contacts == nil {
				continue
			}
			for c := range contacts {
				l.contacts = append(l.contacts, c)
			}
			sort.Strings(l.contacts)
			if len(l.contacts) > 1 {
				d.problems = append(d.problems, fmt.Sprintf("lead %s is one person but its referrals hold %d HubSpot contacts %v", l.email, len(l.contacts), l.contacts))
			}
			stages, then := []string{stageQualified}, leadQualifying
			if l.fast {
				stages, then = []string{stageQualified, stageApproved}, leadApproving
			}
			d.move(ctx, l, stages, then)
		case leadQualifying:
			if l.all(func(r *ref) bool { return r.status == referral.Qualified || r.status == referral.Approved }) {
				d.move(ctx, l, []string{stageApproved}, leadApproving)
			}
		case leadApproving:
			if l.all(func(r *ref) bool { return r.status == referral.Approved && r.rewarded }) {
				l.stage = leadDone
			}
		}
	}
}

func (l *lead) all(ok func(*ref) bool) bool {
	for _, r := range l.refs {
		if !ok(r) {
			return false
		}
	}
	return true
}

// move sets the lead's contacts' lifecycle stage to each of stages in turn,
// as a salesperson in HubSpot would (through the simulator's control API,
// retried while the simulator is down), then puts the lead at stage then.
// The caller holds d.mu.
func (d *driver) move(ctx context.Context, l *lead, stages []string, then leadStage) {
	l.busy = true
	contacts := l.contacts
	d.ops.Add(1)
	go func() {
		defer d.ops.Done()
		for _, stage := range stages {
			for _, c := range contacts {
				if err := d.setLifecycleStage(ctx, c, stage); err != nil {
					if ctx.Err() == nil {
						d.problem("lead %s: set contact %s to %s: %v", l.email, c, stage, err)
					}
					return // the lead stays busy: it is reported as stuck
				}
			}
		}
		d.mu.Lock()
		l.busy, l.stage = false, then
		d.mu.Unlock()
	}()
}

func (d *driver) setLifecycleStage(ctx context.Context, contact, stage string) error {
	for {
		_, err := d.sim.UpdateObject(ctx, d.w.portalID, "contacts", contact, map[string]string{"lifecyclestage": stage})
		var refused *hubspotsim.APIError
		if err == nil || errors.As(err, &refused) {
			return err
		}
		select { // the simulator is down: a person tries again a moment later
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (d *driver) allDone() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.leads {
		if l.stage != leadDone {
			return false
		}
	}
	return true
}

// counts says how far the run is.
func (d *driver) counts(added int) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var sent, qualified, approved, rewarded, done int
	for _, r := range d.order {
		if r.contact != 0 {
			sent++
		}
		switch r.status {
		case referral.Qualified:
			qualified++
		case referral.Approved:
			approved++
		}
		if r.rewarded {
			rewarded++
		}
	}
	for _, l := range d.leads {
		if l.stage == leadDone {
			done++
		}
	}
	return fmt.Sprintf("referrals added %d/%d, sent to HubSpot %d, qualified now %d, approved %d, rewarded %d; leads done %d/%d",
		added, len(d.order), sent, qualified, approved, rewarded, done, len(d.leads))
}

// noteStuck records the leads that are not done, with where each referral
// stands.
func (d *driver) noteStuck() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.leads {
		if l.stage == leadDone {
			continue
		}
		var refs []string
		for _, r := range l.refs {
			id := r.id
			if id == "" {
				id = "(not added)"
			}
			refs = append(refs, fmt.Sprintf("%s %s contact=%d rewarded=%v", id, r.status, r.contact, r.rewarded))
		}
		d.stuck = append(d.stuck, fmt.Sprintf("lead %s at %s (busy=%v): %s", l.email, l.stage, l.busy, strings.Join(refs, "; ")))
	}
}
