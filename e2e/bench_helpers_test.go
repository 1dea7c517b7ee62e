package e2e_test

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
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
