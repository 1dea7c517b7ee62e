package opsmetrics_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/opsmetrics"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// A database that does not answer in time costs a scrape the timeout, not
// the scrape: its gauges are left out and referflow_ops_source_up says 0.
func TestASlowDatabaseDoesNotHangTheScrape(t *testing.T) {
	d := testenv.NewDatabase(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	reg.MustRegister(&opsmetrics.Collector{Pool: d.Pool, Timeout: 300 * time.Millisecond})

	read := func() (up float64, gauges int, took time.Duration) {
		start := time.Now()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		up = -1
		for _, f := range families {
			if f.GetName() == "referflow_ops_source_up" {
				up = f.GetMetric()[0].GetGauge().GetValue()
			} else {
				gauges += len(f.GetMetric())
			}
		}
		return up, gauges, time.Since(start)
	}
	if up, gauges, _ := read(); up != 1 || gauges == 0 {
		t.Fatalf("an answering database: up %v with %d gauges, want 1 and some", up, gauges)
	}

	// Someone holds a lock every read waits for.
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "LOCK TABLE sales_entries IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	up, gauges, took := read()
	if up != 0 || gauges != 0 {
		t.Errorf("a database that does not answer: up %v with %d gauges, want 0 and none", up, gauges)
	}
	if took > 5*time.Second {
		t.Errorf("the scrape took %s with a 300 ms timeout", took)
	}
	_ = tx.Rollback(ctx)
	if up, _, _ := read(); up != 1 {
		t.Errorf("after the lock is gone: up %v, want 1", up)
	}
}
