package hubspotsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/hubspot/signature"
)

// receiver is a webhook target that checks every delivery as referflow
// must (v3 and v1 signatures, headers, a JSON array of at most 100 events)
// and records what arrived.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	url    string
	secret string

	// answer decides each request's status (n counts requests from 0) and
	// how long to take; nil answers 200 at once.
	answer func(n int, evs []WebhookEvent) (status int, delay time.Duration)

	mu          sync.Mutex
	requests    int
	batches     [][]WebhookEvent // in order of arrival
	raw         [][]map[string]any
	timestamps  []int64
	inFlight    map[int64]int // per portal
	maxInFlight map[int64]int
	total       int
	maxTotal    int
	problems    []string
}

func newReceiver(t *testing.T, secret string, answer func(n int, evs []WebhookEvent) (int, time.Duration)) *receiver {
	rc := &receiver{t: t, secret: secret, answer: answer, inFlight: map[int64]int{}, maxInFlight: map[int64]int{}}
	rc.srv = httptest.NewServer(rc)
	rc.url = rc.srv.URL + "/webhooks/hubspot?source=sim&x=a%3Ab"
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) problem(format string, args ...any) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.problems = append(rc.problems, fmt.Sprintf(format, args...))
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rc.problem("read body: %v", err)
		return
	}
	v := signature.Verifier{Secret: rc.secret}
	if err := v.Verify(r, body); err != nil {
		rc.problem("v3 signature: %v", err)
	}
	v1 := r.Clone(r.Context())
	v1.Header.Del(signature.HeaderV3)
	if err := v.Verify(v1, body); err != nil {
		rc.problem("v1 signature: %v", err)
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get(signature.HeaderVersion) != "v1" {
		rc.problem("method %s, headers %v", r.Method, r.Header)
	}
	ts, _ := strconv.ParseInt(r.Header.Get(signature.HeaderTimestamp), 10, 64)
	if d := time.Since(time.UnixMilli(ts)); d < -time.Second || d > 10*time.Second {
		rc.problem("timestamp %d is %s off", ts, d)
	}
	var evs []WebhookEvent
	var raw []map[string]any
	if err := json.Unmarshal(body, &evs); err != nil {
		rc.problem("body is not a JSON array of events: %v: %s", err, body)
	}
	_ = json.Unmarshal(body, &raw)
	if len(evs) == 0 || len(evs) > MaxWebhookBatch {
		rc.problem("batch of %d events", len(evs))
	}
	var portal int64
	if len(evs) > 0 {
		portal = evs[0].PortalID
	}
	rc.mu.Lock()
	n := rc.requests
	rc.requests++
	rc.inFlight[portal]++
	rc.maxInFlight[portal] = max(rc.maxInFlight[portal], rc.inFlight[portal])
	rc.total++
	rc.maxTotal = max(rc.maxTotal, rc.total)
	rc.mu.Unlock()
	defer func() {
		rc.mu.Lock()
		rc.inFlight[portal]--
		rc.total--
		rc.mu.Unlock()
	}()

	status, delay := http.StatusOK, time.Duration(0)
	if rc.answer != nil {
		status, delay = rc.answer(n, evs)
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status >= 200 && status < 300 {
		rc.mu.Lock()
		rc.batches = append(rc.batches, evs)
		rc.raw = append(rc.raw, raw)
		rc.timestamps = append(rc.timestamps, ts)
		rc.mu.Unlock()
	}
	w.WriteHeader(status)
}

// events returns the events of accepted deliveries, in order of arrival.
func (rc *receiver) events() []WebhookEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []WebhookEvent
	for _, b := range rc.batches {
		out = append(out, b...)
	}
	return out
}

func (rc *receiver) check() {
	rc.t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.problems) > 0 {
		rc.t.Fatalf("receiver saw %d problems, first: %s", len(rc.problems), rc.problems[0])
	}
}

// webhookEnv is a simulator with one portal delivering to a receiver.
func webhookEnv(t *testing.T, wo WebhookOptions, answer func(n int, evs []WebhookEvent) (int, time.Duration), subs ...string) (*env, *receiver) {
	t.Helper()
	if wo.BatchWindow == 0 {
		wo.BatchWindow = 20 * time.Millisecond
	}
	if wo.RetryBase == 0 {
		wo.RetryBase = time.Millisecond
	}
	if wo.Seed == 0 {
		wo.Seed = 42
	}
	e := newEnv(t, Options{Webhooks: wo})
	rc := newReceiver(t, DefaultClientSecret, answer)
	t.Cleanup(func() { _ = e.sim.Close() })
	if err := e.sim.SetWebhookSettings(WebhookSettings{TargetURL: rc.url}); err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		typ, prop, _ := strings.Cut(s, " ")
		if _, err := e.sim.Subscribe(typ, prop); err != nil {
			t.Fatal(err)
		}
	}
	return e, rc
}

func (e *env) waitIdle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.sim.WaitIdle(ctx); err != nil {
		e.t.Fatalf("WaitIdle: %v (stats %+v)", err, e.sim.WebhookStats())
	}
}

func TestWebhookCreationAndPropertyChange(t *testing.T) {
	t.Parallel()
	e, rc := webhookEnv(t, WebhookOptions{}, nil, "contact.creation", "contact.propertyChange lifecyclestage")
	id := e.createContact("ann@example.com", map[string]string{"firstname": "Ann", "lifecyclestage": "lead"})
	e.clock.Advance(time.Second)
	e.must(e.do("PATCH", "/crm/v3/objects/contacts/"+id, "", `{"properties":{"lifecyclestage":"customer","firstname":"Anne"}}`), 200)
	// A change through an OAuth token carries the app as its source.
	access, _ := e.sim.IssueTokens(e.p.ID)
	e.must(e.do("PATCH", "/crm/v3/objects/contacts/"+id, access, `{"properties":{"lifecyclestage":""}}`), 200)
	e.waitIdle()
	rc.check()

	evs := rc.events()
	slices.SortFunc(evs, func(a, b WebhookEvent) int { return int(a.EventID - b.EventID) })
	if len(evs) != 4 {
		t.Fatalf("want 4 events (creation, 3 lifecyclestage changes), got %d: %+v", len(evs), evs)
	}
	oid := idInt(id)
	subs := e.sim.WebhookSettings().Subscriptions
	c := evs[0]
	if c.SubscriptionType != "contact.creation" || c.ObjectID != oid || c.PortalID != e.p.ID || c.AppID != 1 ||
		c.ChangeFlag != "NEW" || c.ChangeSource != SourceIntegration || c.AttemptNumber != 0 || c.SubscriptionID != subs[0].ID ||
		c.OccurredAt != e.clock.Now().Add(-time.Second).UnixMilli() || c.PropertyName != "" || c.PropertyValue != nil {
		t.Fatalf("creation event: %+v", c)
	}
	want := []struct{ value, source string }{{"lead", SourceIntegration}, {"customer", SourceIntegration}, {"", SourceIntegration}}
	for i, w := range want {
		ev := evs[i+1]
		if ev.SubscriptionType != "contact.propertyChange" || ev.PropertyName != "lifecyclestage" || ev.PropertyValue == nil ||
			*ev.PropertyValue != w.value || ev.ObjectID != oid || ev.SubscriptionID != subs[1].ID || ev.ChangeSource != w.source || ev.ChangeFlag != "" {
			t.Fatalf("property change %d: %+v", i, ev)
		}
		if ev.EventID <= evs[i].EventID {
			t.Fatalf("eventIds do not increase: %+v", evs)
		}
	}
	if evs[3].SourceID != "1" {
		t.Fatalf("OAuth change: sourceId %q, want the app ID", evs[3].SourceID)
	}
	// The wire shape: propertyValue present even when empty; no merge or
	// association fields on these events.
	rc.mu.Lock()
	var cleared map[string]any
	for _, b := range rc.raw {
		for _, m := range b {
			if m["propertyValue"] == "" {
				cleared = m
			}
			for _, k := range []string{"mergedObjectIds", "associationType", "associationRemoved"} {
				if _, ok := m[k]; ok {
					t.Errorf("unexpected %s in %v", k, m)
				}
			}
		}
	}
	rc.mu.Unlock()
	if cleared == nil {
		t.Fatal("a cleared property must arrive with propertyValue \"\"")
	}
}

func TestWebhookOnlySubscribedTypesAndProperties(t *testing.T) {
	t.Parallel()
	e, rc := webhookEnv(t, WebhookOptions{}, nil,
		"deal.propertyChange dealstage", "contact.deletion", "contact.merge", "deal.associationChange")
	if _, err := e.sim.Subscribe("contact.propertyChange", "email"); err != nil {
		t.Fatal(err)
	}
	paused, err := e.sim.Subscribe("contact.creation", "")
	if err != nil {
		t.Fatal(err)
	}
	e.must(e.do("PATCH", fmt.Sprintf("/webhooks/v3/1/subscriptions/%d?hapikey=%s", paused.ID, DefaultDeveloperAPIKey), "-", `{"active":false}`), 200)
	if !e.sim.Unsubscribe(e.sim.WebhookSettings().Subscriptions[4].ID) { // contact.propertyChange email
		t.Fatal("unsubscribe")
	}

	a := e.createContact("a@example.com", map[string]string{"firstname": "A"})
	b := e.createContact("b@example.com", nil)
	d := e.must(e.do("POST", "/crm/objects/2026-03/deals", "", `{"properties":{"dealname":"D","pipeline":"default","dealstage":"appointmentscheduled","amount":"10"}}`), 201).str("id")
	e.must(e.do("PATCH", "/crm/objects/2026-03/deals/"+d, "", `{"properties":{"amount":"20","dealtype":"newbusiness"}}`), 200)
	if err := e.sim.UpdateObject(e.p.ID, "deals", d, map[string]string{"dealstage": "closedwon"}); err != nil {
		t.Fatal(err)
	}
	e.must(e.do("PUT", "/crm/v4/objects/deals/"+d+"/associations/default/contacts/"+a, "", nil), 200)
	if err := e.sim.MergeObjects(e.p.ID, "contacts", a, b); err != nil {
		t.Fatal(err)
	}
	e.must(e.do("DELETE", "/crm/v3/objects/contacts/"+a, "", nil), 204)
	e.waitIdle()
	rc.check()

	got := map[string][]WebhookEvent{}
	for _, ev := range rc.events() {
		key := ev.SubscriptionType
		if ev.PropertyName != "" {
			key += " " + ev.PropertyName
		}
		got[key] = append(got[key], ev)
	}
	if len(got) != 4 {
		t.Fatalf("want exactly the 4 active subscriptions' types, got %v", got)
	}
	stages := got["deal.propertyChange dealstage"]
	if len(stages) != 2 || *stages[0].PropertyValue == *stages[1].PropertyValue {
		t.Fatalf("dealstage events: %+v", stages)
	}
	for _, ev := range stages {
		if *ev.PropertyValue == "closedwon" && (ev.ChangeSource != SourceCRMUI || !strings.HasPrefix(ev.SourceID, "userId:")) {
			t.Fatalf("a person's change: %+v", ev)
		}
	}
	as := got["deal.associationChange"]
	if len(as) == 0 {
		t.Fatal("no deal.associationChange")
	}
	for _, ev := range as {
		if ev.AssociationType != "DEAL_TO_CONTACT" || ev.FromObjectID != idInt(d) || ev.AssociationRemoved == nil ||
			ev.IsPrimaryAssociation == nil || *ev.IsPrimaryAssociation {
			t.Fatalf("association event: %+v", ev)
		}
	}
	if !slices.ContainsFunc(as, func(ev WebhookEvent) bool { return ev.ToObjectID == idInt(a) && !*ev.AssociationRemoved }) {
		t.Fatalf("association added: %+v", as)
	}
	m := got["contact.merge"]
	if len(m) != 1 || m[0].PrimaryObjectID != idInt(a) || !slices.Equal(m[0].MergedObjectIDs, []int64{idInt(b)}) || m[0].NewObjectID != idInt(a) {
		t.Fatalf("merge event: %+v", m)
	}
	if del := got["contact.deletion"]; len(del) != 1 || del[0].ObjectID != idInt(a) {
		t.Fatalf("deletion: %+v", del)
	}
}

func TestWebhookBatchesOfAtMost100(t *testing.T) {
	t.Parallel()
	e, rc := webhookEnv(t, WebhookOptions{BatchWindow: 300 * time.Millisecond}, nil, "contact.creation")
	for i := range 250 {
		if _, err := e.sim.CreateObject(e.p.ID, "contacts", map[string]string{"firstname": fmt.Sprint("c", i)}); err != nil {
			t.Fatal(err)
		}
	}
	e.waitIdle()
	rc.check()
	ds := e.sim.Deliveries()
	sizes, biggest := 0, 0
	for _, d := range ds {
		if d.Events > MaxWebhookBatch || !d.OK {
			t.Fatalf("delivery %+v", d)
		}
		sizes += d.Events
		biggest = max(biggest, d.Events)
	}
	if sizes != 250 || len(ds) < 3 || biggest != MaxWebhookBatch {
		t.Fatalf("250 events in %d deliveries, biggest %d, total %d", len(ds), biggest, sizes)
	}
	seen := map[int64]bool{}
	for _, ev := range rc.events() {
		seen[ev.EventID] = true
	}
	if len(seen) != 250 {
		t.Fatalf("%d distinct events arrived", len(seen))
	}
	if st := e.sim.WebhookStats(); st.Events != 250 || st.Delivered != 250 || st.Pending != 0 || st.Requests != len(ds) {
		t.Fatalf("stats %+v", st)
	}
}

func TestWebhookAtMostTenInFlightPerPortal(t *testing.T) {
	t.Parallel()
	// No request is answered before each portal has as many in flight as
	// the limit lets it (or 15 s have passed, when the assertions below say
	// how many did), however slowly a loaded machine creates the events:
	// the limit, not the trickle of events, is what caps the requests in
	// flight. Each answer then takes a while, so the requests overlap.
	full := make(chan struct{})
	slow := func(int, []WebhookEvent) (int, time.Duration) {
		<-full
		return 200, 400 * time.Millisecond
	}
	e, rc := webhookEnv(t, WebhookOptions{BatchWindow: 200 * time.Millisecond, Timeout: time.Minute}, slow, "contact.creation")
	other := e.sim.CreatePortal("Second portal")
	go func() {
		defer close(full)
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			rc.mu.Lock()
			reached := rc.maxInFlight[e.p.ID] >= DefaultMaxConcurrentRequests && rc.maxInFlight[other.ID] >= DefaultMaxConcurrentRequests
			rc.mu.Unlock()
			if reached {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	for i := range 1500 {
		for _, p := range []int64{e.p.ID, other.ID} {
			if _, err := e.sim.CreateObject(p, "contacts", map[string]string{"firstname": fmt.Sprint("c", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.waitIdle()
	rc.check()
	rc.mu.Lock()
	perPortal, total := rc.maxInFlight, rc.maxTotal
	rc.mu.Unlock()
	for _, p := range []int64{e.p.ID, other.ID} {
		if perPortal[p] != DefaultMaxConcurrentRequests {
			t.Fatalf("portal %d: at most %d in flight, want exactly %d", p, perPortal[p], DefaultMaxConcurrentRequests)
		}
	}
	if total <= DefaultMaxConcurrentRequests {
		t.Fatalf("the limit is per portal: two portals should have more than 10 in flight together, got %d", total)
	}
	if n := len(rc.events()); n != 3000 {
		t.Fatalf("%d events arrived", n)
	}
}

func TestWebhookRetriesAfter500WithNextAttemptNumber(t *testing.T) {
	t.Parallel()
	answer := func(n int, _ []WebhookEvent) (int, time.Duration) {
		if n == 0 {
			return 500, 0
		}
		return 200, 0
	}
	e, rc := webhookEnv(t, WebhookOptions{}, answer, "contact.creation")
	e.createContact("r@example.com", nil)
	e.waitIdle()
	rc.check()
	ds := e.sim.Deliveries()
	if len(ds) != 2 || ds[0].StatusCode != 500 || ds[0].OK || ds[0].Attempt != 0 || !ds[1].OK || ds[1].Attempt != 1 || ds[1].StatusCode != 200 {
		t.Fatalf("deliveries: %+v", ds)
	}
	if !slices.Equal(ds[0].EventIDs, ds[1].EventIDs) {
		t.Fatalf("the retry must carry the same events: %v vs %v", ds[0].EventIDs, ds[1].EventIDs)
	}
	evs := rc.events()
	if len(evs) != 1 || evs[0].AttemptNumber != 1 || evs[0].SubscriptionType != "contact.creation" {
		t.Fatalf("accepted events: %+v", evs)
	}
	if st := e.sim.WebhookStats(); st.Delivered != 1 || st.Failed != 1 || st.GaveUp != 0 || st.Requests != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestWebhookSlowAnswerIsRetried(t *testing.T) {
	t.Parallel()
	answer := func(n int, _ []WebhookEvent) (int, time.Duration) {
		if n == 0 {
			return 200, time.Second
		}
		return 204, 0
	}
	e, rc := webhookEnv(t, WebhookOptions{Timeout: 100 * time.Millisecond}, answer, "contact.creation")
	if got := New(Options{}).Options().Webhooks.Timeout; got != 5*time.Second {
		t.Fatalf("default timeout %s, want HubSpot's 5s", got)
	}
	e.createContact("slow@example.com", nil)
	e.waitIdle()
	rc.check()
	ds := e.sim.Deliveries()
	if len(ds) != 2 || ds[0].OK || !strings.Contains(ds[0].Err, "timeout") || ds[0].Latency < 90*time.Millisecond || ds[0].Latency > 900*time.Millisecond {
		t.Fatalf("first delivery should time out after 100ms: %+v", ds)
	}
	if !ds[1].OK || ds[1].Attempt != 1 || ds[1].StatusCode != 204 {
		t.Fatalf("retry: %+v", ds[1])
	}
	if evs := rc.events(); len(evs) != 1 || evs[0].AttemptNumber != 1 {
		t.Fatalf("accepted: %+v", evs)
	}
}

func TestWebhookGivesUpAfterTenRetries(t *testing.T) {
	t.Parallel()
	always := func(int, []WebhookEvent) (int, time.Duration) { return 503, 0 }
	e, rc := webhookEnv(t, WebhookOptions{RetryBase: 200 * time.Microsecond}, always, "contact.creation")
	e.createContact("never@example.com", nil)
	e.waitIdle()
	rc.check()
	ds := e.sim.Deliveries()
	if len(ds) != 11 {
		t.Fatalf("want the first attempt and 10 retries, got %d deliveries", len(ds))
	}
	for i, d := range ds {
		if d.Attempt != i || d.OK || d.StatusCode != 503 || d.GaveUp != (i == 10) {
			t.Fatalf("delivery %d: %+v", i, d)
		}
	}
	if st := e.sim.WebhookStats(); st.GaveUp != 1 || st.Failed != 11 || st.Delivered != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Backoff grows exponentially: retry 10 waits at least RetryBase·2^9·0.5.
	if gap := ds[10].Start.Sub(ds[9].Start); gap < 256*200*time.Microsecond {
		t.Fatalf("last retry came %s after the one before", gap)
	}
}

func TestWebhookDefaultBackoffSpreadsRetriesOverADay(t *testing.T) {
	t.Parallel()
	sim := New(Options{Webhooks: WebhookOptions{Seed: 5}})
	w := sim.wh
	if w.opts.MaxRetries != 10 || w.opts.BatchWindow != 100*time.Millisecond {
		t.Fatalf("defaults: %+v", w.opts)
	}
	for run := range 20 {
		var total time.Duration
		prev := time.Duration(0)
		for n := 1; n <= w.opts.MaxRetries; n++ {
			w.mu.Lock()
			d := w.backoffLocked(n)
			w.mu.Unlock()
			if n > 2 && d <= prev/2 {
				t.Fatalf("run %d: retry %d waits %s after %s", run, n, d, prev)
			}
			total += d
			prev = d
		}
		if total < 12*time.Hour || total > 36*time.Hour {
			t.Fatalf("run %d: 10 retries spread over %s, want about 24h", run, total)
		}
	}
}

func TestWebhookConnectionFailureIsRetried(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/hook"
	ln.Close()
	sim := New(Options{Webhooks: WebhookOptions{BatchWindow: time.Millisecond, RetryBase: time.Millisecond, MaxRetries: 2}})
	t.Cleanup(func() { _ = sim.Close() })
	p := sim.CreatePortal("P")
	if err := sim.SetWebhookSettings(WebhookSettings{TargetURL: dead, Subscriptions: []WebhookSubscription{{EventType: "contact.creation"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.CreateObject(p.ID, "contacts", nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sim.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	ds := sim.Deliveries()
	if len(ds) != 3 || ds[0].Err == "" || ds[0].StatusCode != 0 || !ds[2].GaveUp || ds[2].Attempt != 2 {
		t.Fatalf("deliveries: %+v", ds)
	}
}

func TestWebhookNoRetries(t *testing.T) {
	t.Parallel()
	always := func(int, []WebhookEvent) (int, time.Duration) { return 400, 0 }
	e, rc := webhookEnv(t, WebhookOptions{MaxRetries: -1}, always, "contact.creation")
	e.createContact("once@example.com", nil)
	e.waitIdle()
	rc.check()
	if ds := e.sim.Deliveries(); len(ds) != 1 || !ds[0].GaveUp || ds[0].StatusCode != 400 {
		t.Fatalf("MaxRetries -1: %+v", ds)
	}
}

func TestWebhookDuplicates(t *testing.T) {
	t.Parallel()
	e, rc := webhookEnv(t, WebhookOptions{DuplicateRate: 1, Seed: 7}, nil, "contact.creation")
	for range 150 {
		if _, err := e.sim.CreateObject(e.p.ID, "contacts", nil); err != nil {
			t.Fatal(err)
		}
	}
	e.waitIdle()
	rc.check()
	count := map[int64]int{}
	sameBatch, laterBatch := 0, 0
	rc.mu.Lock()
	where := map[int64][]int{}
	for bi, b := range rc.batches {
		for _, ev := range b {
			count[ev.EventID]++
			where[ev.EventID] = append(where[ev.EventID], bi)
		}
	}
	rc.mu.Unlock()
	if len(count) != 150 {
		t.Fatalf("%d distinct events", len(count))
	}
	for id, n := range count {
		if n != 2 {
			t.Fatalf("event %d arrived %d times", id, n)
		}
		if where[id][0] == where[id][1] {
			sameBatch++
		} else {
			laterBatch++
		}
	}
	if sameBatch == 0 || laterBatch == 0 {
		t.Fatalf("duplicates should land in the same and in later batches: %d same, %d later", sameBatch, laterBatch)
	}
	if st := e.sim.WebhookStats(); st.Events != 150 || st.Duplicates != 150 || st.Delivered != 300 {
		t.Fatalf("stats %+v", st)
	}
}

func TestWebhookShuffle(t *testing.T) {
	t.Parallel()
	e, rc := webhookEnv(t, WebhookOptions{Shuffle: true, Seed: 3}, nil, "contact.creation")
	for range 300 {
		if _, err := e.sim.CreateObject(e.p.ID, "contacts", nil); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Millisecond)
	}
	e.waitIdle()
	rc.check()
	evs := rc.events()
	if len(evs) != 300 {
		t.Fatalf("%d events arrived, want 300", len(evs))
	}
	seen := map[int64]bool{}
	inversions := 0
	for i, ev := range evs {
		if seen[ev.EventID] {
			t.Fatalf("event %d twice", ev.EventID)
		}
		seen[ev.EventID] = true
		if i > 0 && ev.OccurredAt < evs[i-1].OccurredAt {
			inversions++
		}
	}
	if inversions == 0 {
		t.Fatal("events arrived in occurredAt order")
	}
	// Disorder across batches too: some batch holds an event older than
	// one already delivered in an earlier batch.
	rc.mu.Lock()
	newest, across := int64(0), false
	for _, b := range rc.batches {
		for _, ev := range b {
			if ev.OccurredAt < newest {
				across = true
			}
		}
		for _, ev := range b {
			newest = max(newest, ev.OccurredAt)
		}
	}
	batches := len(rc.batches)
	rc.mu.Unlock()
	if !across || batches < 2 {
		t.Fatalf("want disorder across batches (%d batches)", batches)
	}
}

func TestWebhookEventIDsAreNotUnique(t *testing.T) {
	t.Parallel()
	e, rc := webhookEnv(t, WebhookOptions{EventIDCollisionRate: 0.5, Seed: 11}, nil, "contact.creation")
	other := e.sim.CreatePortal("Other")
	for range 20 {
		for _, p := range []int64{e.p.ID, other.ID} {
			if _, err := e.sim.CreateObject(p, "contacts", nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.waitIdle()
	rc.check()
	type key struct{ portal, id int64 }
	perPortal, across := map[key]int{}, map[int64]map[int64]bool{}
	for _, ev := range rc.events() {
		perPortal[key{ev.PortalID, ev.EventID}]++
		if across[ev.EventID] == nil {
			across[ev.EventID] = map[int64]bool{}
		}
		across[ev.EventID][ev.PortalID] = true
	}
	dupInPortal, shared := false, false
	for _, n := range perPortal {
		dupInPortal = dupInPortal || n > 1
	}
	for _, ps := range across {
		shared = shared || len(ps) > 1
	}
	if !dupInPortal || !shared {
		t.Fatalf("eventIds should collide within a portal (%v) and across portals (%v)", dupInPortal, shared)
	}
}

func TestWebhooksSettingsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	t.Cleanup(func() { _ = e.sim.Close() })
	key := "?hapikey=" + DefaultDeveloperAPIKey
	// Authentication: the developer key only.
	e.hubspotError(e.do("GET", "/webhooks/v3/1/settings", "-", nil), 401, "INVALID_AUTHENTICATION")
	e.hubspotError(e.do("GET", "/webhooks/v3/1/settings?hapikey=nope", "-", nil), 401, "INVALID_AUTHENTICATION")
	e.hubspotError(e.do("GET", "/webhooks/v3/1/settings?hapikey="+DefaultClientSecret, "-", nil), 401, "INVALID_AUTHENTICATION")
	e.hubspotError(e.do("GET", "/webhooks/v3/1/settings", "", nil), 401, "INVALID_AUTHENTICATION") // a portal token
	e.hubspotError(e.do("GET", "/webhooks/v3/2/settings"+key, "-", nil), 404, "")
	e.hubspotError(e.do("GET", "/webhooks/v3/1/settings"+key, "-", nil), 404, "") // not configured yet

	e.hubspotError(e.do("PUT", "/webhooks/v3/1/settings"+key, "-", `{"targetUrl":"not a url"}`), 400, "VALIDATION_ERROR")
	r := e.must(e.do("PUT", "/webhooks/v3/1/settings"+key, "-", `{"targetUrl":"https://refer.example.com/webhooks/hubspot","throttling":{"maxConcurrentRequests":3,"period":"SECONDLY"}}`), 200)
	if r.str("targetUrl") != "https://refer.example.com/webhooks/hubspot" || r.str("throttling.maxConcurrentRequests") != "3" || r.str("createdAt") == "" || r.str("updatedAt") == "" {
		t.Fatalf("settings: %s", r)
	}
	g := e.must(e.do("GET", "/webhooks/2026-03/1/settings", DefaultDeveloperAPIKey, nil), 200) // bearer developer key, dated path
	if g.str("targetUrl") != r.str("targetUrl") || e.sim.WebhookSettings().MaxConcurrentRequests != 3 {
		t.Fatalf("read back: %s", g)
	}

	s := e.must(e.do("POST", "/webhooks/v3/1/subscriptions"+key, "-", `{"eventType":"deal.propertyChange","propertyName":"dealstage","active":true}`), 201)
	if _, isString := s.get("id").(string); !isString || s.str("eventType") != "deal.propertyChange" || s.str("propertyName") != "dealstage" || s.get("active") != true {
		t.Fatalf("subscription: %s", s)
	}
	e.hubspotError(e.do("POST", "/webhooks/v3/1/subscriptions"+key, "-", `{"eventType":"deal.propertyChange","propertyName":"dealstage","active":true}`), 409, "CONFLICT")
	e.hubspotError(e.do("POST", "/webhooks/v3/1/subscriptions"+key, "-", `{"eventType":"deal.propertyChange"}`), 400, "VALIDATION_ERROR")
	e.hubspotError(e.do("POST", "/webhooks/v3/1/subscriptions"+key, "-", `{"eventType":"deal.propertyChange","propertyName":"hs_lastmodifieddate"}`), 400, "VALIDATION_ERROR")
	e.hubspotError(e.do("POST", "/webhooks/v3/1/subscriptions"+key, "-", `{"eventType":"contact.creation","propertyName":"email"}`), 400, "VALIDATION_ERROR")
	e.hubspotError(e.do("POST", "/webhooks/v3/1/subscriptions"+key, "-", `{"eventType":"ticket.creation"}`), 400, "VALIDATION_ERROR")
	// Created without "active": paused, as in HubSpot's app settings.
	p := e.must(e.do("POST", "/webhooks/v3/1/subscriptions"+key, "-", `{"eventType":"contact.creation"}`), 201)
	if p.get("active") != false {
		t.Fatalf("new subscription without active: %s", p)
	}
	l := e.must(e.do("GET", "/webhooks/v3/1/subscriptions"+key, "-", nil), 200)
	if l.str("results.0.id") != s.str("id") || l.str("results.1.id") != p.str("id") || l.get("results.2") != nil {
		t.Fatalf("list: %s", l)
	}
	u := e.must(e.do("PATCH", "/webhooks/v3/1/subscriptions/"+p.str("id")+key, "-", `{"active":true}`), 200)
	if u.get("active") != true {
		t.Fatalf("patch: %s", u)
	}
	b := e.must(e.do("POST", "/webhooks/v3/1/subscriptions/batch/update"+key, "-", `{"inputs":[{"id":`+s.str("id")+`,"active":false}]}`), 200)
	if b.str("status") != "COMPLETE" || b.get("results.0.active") != false {
		t.Fatalf("batch update: %s", b)
	}
	e.must(e.do("GET", "/webhooks/v3/1/subscriptions/"+s.str("id")+key, "-", nil), 200)
	e.must(e.do("DELETE", "/webhooks/v3/1/subscriptions/"+s.str("id")+key, "-", nil), 204)
	e.hubspotError(e.do("GET", "/webhooks/v3/1/subscriptions/"+s.str("id")+key, "-", nil), 404, "")
	e.hubspotError(e.do("DELETE", "/webhooks/v3/1/subscriptions/"+s.str("id")+key, "-", nil), 404, "")
	e.must(e.do("DELETE", "/webhooks/v3/1/settings"+key, "-", nil), 204)
	e.hubspotError(e.do("GET", "/webhooks/v3/1/settings"+key, "-", nil), 404, "")

	// Go validation matches.
	for _, bad := range []WebhookSettings{
		{TargetURL: "ftp://x"},
		{Subscriptions: []WebhookSubscription{{EventType: "contact.propertyChange"}}},
		{Subscriptions: []WebhookSubscription{{EventType: "deal.creation"}, {EventType: "deal.creation"}}},
	} {
		var apiErr *APIError
		if err := e.sim.SetWebhookSettings(bad); !errors.As(err, &apiErr) {
			t.Fatalf("%+v: want an *APIError, got %v", bad, err)
		}
	}
}

func TestWebhookSettingsCustomSecretAndConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Webhooks: WebhookOptions{BatchWindow: 500 * time.Millisecond}})
	t.Cleanup(func() { _ = e.sim.Close() })
	slow := func(int, []WebhookEvent) (int, time.Duration) { return 200, 80 * time.Millisecond }
	rc := newReceiver(t, "another-secret", slow)
	if err := e.sim.SetWebhookSettings(WebhookSettings{
		TargetURL: rc.url, ClientSecret: "another-secret", MaxConcurrentRequests: 3,
		Subscriptions: []WebhookSubscription{{EventType: "contact.creation"}},
	}); err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if _, err := e.sim.CreateObject(e.p.ID, "contacts", nil); err != nil {
			t.Fatal(err)
		}
	}
	e.waitIdle()
	rc.check()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.maxInFlight[e.p.ID] != 3 {
		t.Fatalf("max in flight %d, want 3", rc.maxInFlight[e.p.ID])
	}
}

func TestWebhookPausedAndNoTarget(t *testing.T) {
	t.Parallel()
	e, rc := webhookEnv(t, WebhookOptions{}, nil, "contact.creation")
	ws := e.sim.WebhookSettings()
	ws.Paused = true
	if err := e.sim.SetWebhookSettings(ws); err != nil {
		t.Fatal(err)
	}
	e.createContact("p1@example.com", nil)
	if err := e.sim.SetWebhookTarget(""); err != nil {
		t.Fatal(err)
	}
	ws = e.sim.WebhookSettings()
	ws.Paused = false
	_ = e.sim.SetWebhookSettings(ws)
	e.createContact("p2@example.com", nil)
	e.waitIdle()
	if st := e.sim.WebhookStats(); st.Events != 0 || len(rc.events()) != 0 {
		t.Fatalf("nothing should be made: %+v", st)
	}
}

func TestWebhookCloseStopsDelivery(t *testing.T) {
	t.Parallel()
	hang := func(int, []WebhookEvent) (int, time.Duration) { return 200, time.Minute }
	e, _ := webhookEnv(t, WebhookOptions{Timeout: time.Minute}, hang, "contact.creation")
	for range 300 {
		if _, err := e.sim.CreateObject(e.p.ID, "contacts", nil); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.sim.WebhookStats().Requests == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no delivery started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := e.sim.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %s", d)
	}
	_ = e.sim.Close() // idempotent
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := e.sim.WaitIdle(ctx); err != nil && !errors.Is(err, ErrSimulatorClosed) {
		t.Fatalf("WaitIdle after Close: %v", err)
	}
	before := e.sim.WebhookStats().Events
	e.createContact("after@example.com", nil)
	if e.sim.WebhookStats().Events != before {
		t.Fatal("events made after Close")
	}
}

func TestDefaultWebhookSubscriptionsAreValid(t *testing.T) {
	t.Parallel()
	sim := New(Options{})
	defer sim.Close()
	if err := sim.SetWebhookSettings(WebhookSettings{TargetURL: "http://127.0.0.1:1/x", Subscriptions: DefaultWebhookSubscriptions()}); err != nil {
		t.Fatal(err)
	}
	ids := map[int64]bool{}
	for _, s := range sim.WebhookSettings().Subscriptions {
		if s.ID == 0 || ids[s.ID] || s.Paused {
			t.Fatalf("subscription %+v", s)
		}
		ids[s.ID] = true
	}
	if len(ids) != 25 {
		t.Fatalf("%d subscriptions", len(ids))
	}
}
