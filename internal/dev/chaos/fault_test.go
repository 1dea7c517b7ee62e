package chaos

import (
	"reflect"
	"testing"
	"time"
)

// A seed is a run: the same seed draws the same faults, another seed others,
// and every plan breaks each part within the run.
func TestPlanIsDrawnFromTheSeed(t *testing.T) {
	a, b := Plan(42, 2, 3), Plan(42, 2, 3)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("the same seed drew two plans:\n%v\n%v", a, b)
	}
	if reflect.DeepEqual(a, Plan(43, 2, 3)) {
		t.Fatal("seeds 42 and 43 drew the same plan")
	}
	for seed := range int64(200) {
		plan := Plan(seed, 2, 3)
		kinds := map[FaultKind]int{}
		workers := map[int]bool{}
		for i, f := range plan {
			kinds[f.Kind]++
			if f.Kind == KillWorker {
				workers[f.Worker] = true
			}
			if f.At < 0.05 || f.At > 0.85 || (i > 0 && f.At < plan[i-1].At) {
				t.Fatalf("seed %d: fault %d at %v: points must rise within 5%%-85%%: %v", seed, i, f.At, plan)
			}
			lo, hi := time.Second, 6*time.Second
			if f.Kind == KillTemporal {
				lo, hi = temporalOutage, temporalOutage+8*time.Second
			}
			if f.Down < lo || f.Down > hi {
				t.Fatalf("seed %d: %s down %s, want %s to %s", seed, f.Kind, f.Down, lo, hi)
			}
		}
		want := map[FaultKind]int{KillWorker: 3, KillAPI: 1, KillTemporal: 1, RestartPostgres: 1, RestartSim: 1}
		if !reflect.DeepEqual(kinds, want) || len(workers) != 2 {
			t.Fatalf("seed %d: plan %v breaks %v (workers %v), want %v and both workers", seed, plan, kinds, workers, want)
		}
	}
}
