package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// FaultKind is what a fault breaks, and how.
type FaultKind string

// The faults.
const (
	KillWorker      FaultKind = "kill -9 worker"
	KillAPI         FaultKind = "kill -9 api"
	KillTemporal    FaultKind = "kill -9 temporal"
	RestartPostgres FaultKind = "restart postgres"
	RestartSim      FaultKind = "restart hubspot-sim"
)

// Fault is one planned fault.
type Fault struct {
	Kind FaultKind
	// Worker is the worker killed (0-based), for KillWorker.
	Worker int
	// At is where in the run the fault strikes, as the fraction of the
	// run's referrals added by then (0 to 1).
	At float64
	// Down is how long the broken part stays down before it is started
	// again.
	Down time.Duration
}

func (f Fault) String() string {
	verb, _, _ := strings.Cut(string(f.Kind), " ")
	if f.Kind != RestartPostgres && f.Kind != RestartSim {
		verb = "kill -9"
	}
	return fmt.Sprintf("%s %s at %.0f%% of the referrals, down %s", verb, f.Target(), 100*f.At, f.Down)
}

// Target names the part the fault breaks ("worker-2", "api", ...).
func (f Fault) Target() string {
	switch f.Kind {
	case KillWorker:
		return fmt.Sprintf("worker-%d", f.Worker+1)
	case KillAPI:
		return "api"
	case KillTemporal:
		return "temporal"
	case RestartPostgres:
		return "postgres"
	case RestartSim:
		return "hubspot-sim"
	}
	return string(f.Kind)
}

// Plan draws a run's faults from seed: workerKills kills of a worker (of
// workers, each in turn from a random one), and one each of the API, Temporal, PostgreSQL and the
// simulator, in a random order at random points between 5% and 85% of the
// run, each down for 1 to 6 seconds (Temporal 12 to 20). The same seed gives
// the same plan, so a failing run can be run again as it was.
func Plan(seed int64, workers, workerKills int) []Fault {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x5deece66d))
	var faults []Fault
	workers = max(workers, 1)
	first := rng.IntN(workers) // then the others in turn, so each is killed
	for i := range workerKills {
		faults = append(faults, Fault{Kind: KillWorker, Worker: (first + i) % workers})
	}
	faults = append(faults, Fault{Kind: KillAPI}, Fault{Kind: KillTemporal}, Fault{Kind: RestartPostgres}, Fault{Kind: RestartSim})
	rng.Shuffle(len(faults), func(i, j int) { faults[i], faults[j] = faults[j], faults[i] })
	at := make([]float64, len(faults))
	for i := range at {
		at[i] = 0.05 + 0.80*rng.Float64()
	}
	slices.Sort(at)
	for i := range faults {
		faults[i].At = at[i]
		base, spread := time.Second, 5*time.Second
		if faults[i].Kind == KillTemporal {
			base, spread = temporalOutage, 8*time.Second
		}
		faults[i].Down = base + time.Duration(rng.Int64N(int64(spread))).Round(100*time.Millisecond)
	}
	return faults
}

// temporalOutage is the shortest time Temporal stays down: longer than the
// 10 seconds a Temporal client call waits for the server, so requests meet
// the outage itself rather than a delay (a referral added then is saved
// without its workflow, which referflow must start later).
const temporalOutage = 12 * time.Second

// Outcome is what happened when a fault struck.
type Outcome struct {
	Fault
	// Start is when the part was killed or asked to stop; Down when it was
	// down; Up when it was started again and ready.
	Start, Down, Up time.Time
	Err             error
}

// Inject breaks what the fault says, keeps it down for the fault's time,
// starts it again and waits until it is ready.
func (s *Stack) Inject(ctx context.Context, f Fault) Outcome {
	o := Outcome{Fault: f, Start: time.Now()}
	s.opts.Logf("fault: %s", f)
	var restart func(context.Context) error
	switch f.Kind {
	case KillWorker:
		if f.Worker < 0 || f.Worker >= len(s.Workers) {
			o.Err = fmt.Errorf("chaos: no worker %d", f.Worker+1)
			return o
		}
		p := s.Workers[f.Worker]
		p.Kill()
		restart = p.Start
	case KillAPI:
		s.API.Kill()
		restart = s.API.Start
	case KillTemporal:
		s.mu.Lock()
		srv := s.temporal
		s.mu.Unlock()
		srv.Kill()
		restart = s.startTemporal
	case RestartPostgres:
		s.mu.Lock()
		pg := s.pg
		s.mu.Unlock()
		if err := pg.Stop(ctx); err != nil {
			o.Err = err
			return o
		}
		restart = s.startPostgres
	case RestartSim:
		s.Sim.Stop(20 * time.Second)
		restart = s.Sim.Start
	default:
		o.Err = fmt.Errorf("chaos: unknown fault %q", f.Kind)
		return o
	}
	o.Down = time.Now()
	// The outage itself, not a wait for something to happen.
	select {
	case <-ctx.Done():
		o.Err = ctx.Err()
		return o
	case <-time.After(f.Down):
	}
	if err := startWithin(ctx, restart); err != nil {
		o.Err = fmt.Errorf("chaos: start %s again: %w", f.Target(), err)
		return o
	}
	o.Up = time.Now()
	s.opts.Logf("fault: %s is back after %s", f.Target(), o.Up.Sub(o.Start).Round(time.Millisecond))
	return o
}
