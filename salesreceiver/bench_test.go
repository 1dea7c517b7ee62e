package salesreceiver_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/referflow/referflow/db"
)

// BenchmarkNotifyToRouted measures how long an entry waits between the
// commit that records it (and notifies) and the write that marks it routed
// (dispatched_at: the database's clock at that write), on the real stack:
// Postgres, the shared Temporal dev server and a real worker running the
// referral's workflow. One entry is in flight at a time, except in
// batch100.
//
//	signal:  a known deal's dealstage change, signalled to its referral
//	ignored: a property no rule reads (no Temporal call)
//	start:   an unknown deal's creation, which starts sales-entry/<id>
//	batch100-unknown: 100 unknown deals committed together, as one webhook
//	         delivery is (routed concurrently); the time until the last is
//	         routed
//	batch100-one-referral: 100 changes of one deal committed together
//	         (routed one after the other, in occurredAt order)
//
// Reported: p50 and p99 in milliseconds, per entry (per batch for batch100).
func BenchmarkNotifyToRouted(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const deal = 4901
	w := newWorld(ctx, b, deal, 0)
	dispatch(b, w.dispatcher())
	ws := w.fx.Workspace.ID
	minute := 0
	change := func(property string) entry {
		minute++
		return entry{portal: 77, workspace: &ws, subType: "deal.propertyChange", objectID: deal,
			property: property, value: "qualifiedtobuy", occurredAt: t0.Add(time.Duration(minute) * time.Minute)}
	}
	unknown := func(string) entry {
		minute++
		return entry{portal: 77, workspace: &ws, subType: "deal.creation", objectID: int64(100000 + minute), occurredAt: t0.Add(time.Duration(minute) * time.Minute)}
	}
	run := func(b *testing.B, size int, make1 func(string) entry, property string) {
		var took []time.Duration
		for b.Loop() {
			batch := make([]entry, size)
			for i := range batch {
				batch[i] = make1(property)
			}
			ids := record(ctx, b, w.d, batch...)
			committed := time.Now()
			var last time.Time
			for _, id := range ids {
				row := waitEntryFast(ctx, b, w.d.Queries, id)
				if row.DispatchedAt.After(last) {
					last = *row.DispatchedAt
				}
			}
			took = append(took, last.Sub(committed))
		}
		slices.Sort(took)
		b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
		b.ReportMetric(ms(took[min(len(took)-1, len(took)*99/100)]), "p99-ms")
	}
	b.Run("signal", func(b *testing.B) { run(b, 1, change, "dealstage") })
	b.Run("ignored", func(b *testing.B) { run(b, 1, change, "dealtype") })
	b.Run("start", func(b *testing.B) { run(b, 1, unknown, "") })
	b.Run("batch100-unknown", func(b *testing.B) { run(b, 100, unknown, "") })
	b.Run("batch100-one-referral", func(b *testing.B) { run(b, 100, change, "dealstage") })
}

// waitEntryFast polls every millisecond, so polling adds little to what is
// measured (the measure itself comes from dispatched_at).
func waitEntryFast(ctx context.Context, b *testing.B, d interface {
	SalesEntryGetByID(context.Context, int64) (db.SalesEntry, error)
}, id int64) db.SalesEntry {
	for {
		row, err := d.SalesEntryGetByID(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if row.DispatchedAt != nil {
			return row
		}
		time.Sleep(time.Millisecond)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
