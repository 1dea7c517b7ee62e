package temporalclient

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// TimerBuckets are the histogram buckets, in seconds, of the SDK's timers
// (latencies from a millisecond for a local activity to ten minutes for a
// task that waited on a backlog), so schedule-to-start latency shows when
// workers fall behind.
var TimerBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// NewMetricsHandler returns the Temporal SDK's client.MetricsHandler that
// reports into reg, named as Temporal's Prometheus integration names them: a
// counter gets the suffix _total (temporal_request_total), a timer becomes
// a histogram in seconds with the suffix _seconds
// (temporal_activity_schedule_to_start_latency_seconds), a gauge keeps its
// name; the SDK's tags are the labels. Give it to client.Options.MetricsHandler
// of the client the workers poll with.
//
// It is a small adapter over client_golang rather than the SDK's tally
// integration: that module is not served to this project, and tally would
// add a reporting loop and two dependencies for what is a map of metrics.
// The SDK emits one metric name with different tag sets (a failed request
// adds status_code), which a fixed-label prometheus Vec cannot hold, so each
// series is its own metric, collected by an unchecked collector.
func NewMetricsHandler(reg prometheus.Registerer) client.MetricsHandler {
	s := &sdkMetrics{series: map[string]prometheus.Metric{}}
	reg.MustRegister(s)
	return &metricsHandler{store: s}
}

// sdkMetrics holds every series the SDK has reported, by name and labels.
type sdkMetrics struct {
	mu     sync.Mutex
	series map[string]prometheus.Metric
}

// Describe sends nothing: the SDK names its metrics as it goes, so the
// collector is unchecked.
func (s *sdkMetrics) Describe(chan<- *prometheus.Desc) {}

func (s *sdkMetrics) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	all := slices.Collect(maps.Values(s.series))
	s.mu.Unlock()
	for _, m := range all {
		ch <- m
	}
}

// get returns the series of name with labels, made by newMetric the first
// time.
func (s *sdkMetrics) get(name string, labels map[string]string, newMetric func(prometheus.Opts) prometheus.Metric) prometheus.Metric {
	var key strings.Builder
	key.WriteString(name)
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		key.WriteString("\xff" + k + "=" + labels[k])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.series[key.String()]; ok {
		return m
	}
	m := newMetric(prometheus.Opts{
		Name:        name,
		Help:        "Temporal SDK metric " + name + " (see Temporal's SDK metrics reference).",
		ConstLabels: labels,
	})
	s.series[key.String()] = m
	return m
}

type metricsHandler struct {
	store *sdkMetrics
	tags  map[string]string
}

func (h *metricsHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(h.tags)
	if merged == nil {
		merged = map[string]string{}
	}
	for k, v := range tags {
		merged[sanitize(k)] = v
	}
	return &metricsHandler{store: h.store, tags: merged}
}

func (h *metricsHandler) Counter(name string) client.MetricsCounter {
	name = sanitize(name)
	if !strings.HasSuffix(name, "_total") {
		name += "_total"
	}
	c := h.store.get(name, h.tags, func(o prometheus.Opts) prometheus.Metric {
		return prometheus.NewCounter(prometheus.CounterOpts(o))
	}).(prometheus.Counter)
	return counter{c}
}

func (h *metricsHandler) Gauge(name string) client.MetricsGauge {
	g := h.store.get(sanitize(name), h.tags, func(o prometheus.Opts) prometheus.Metric {
		return prometheus.NewGauge(prometheus.GaugeOpts(o))
	}).(prometheus.Gauge)
	return gauge{g}
}

func (h *metricsHandler) Timer(name string) client.MetricsTimer {
	name = sanitize(name)
	if !strings.HasSuffix(name, "_seconds") {
		name += "_seconds"
	}
	hist := h.store.get(name, h.tags, func(o prometheus.Opts) prometheus.Metric {
		return prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: o.Name, Help: o.Help, ConstLabels: o.ConstLabels, Buckets: TimerBuckets,
		})
	}).(prometheus.Histogram)
	return timer{hist}
}

type counter struct{ c prometheus.Counter }

func (c counter) Inc(d int64) {
	if d > 0 { // a Prometheus counter only goes up
		c.c.Add(float64(d))
	}
}

type gauge struct{ g prometheus.Gauge }

func (g gauge) Update(v float64) { g.g.Set(v) }

type timer struct{ h prometheus.Histogram }

func (t timer) Record(d time.Duration) { t.h.Observe(d.Seconds()) }

// sanitize makes a metric or label name of the characters Prometheus
// allows (the SDK's are already; a custom one might not be).
func sanitize(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
}
