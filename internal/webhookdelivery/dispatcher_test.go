package webhookdelivery_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/outgoing"
	"github.com/referflow/referflow/internal/webhookdelivery"
)

// world is a workspace with a campaign whose fulfilment URL is a receiver
// that records every delivery and answers what the test says.
type world struct {
	d    *testenv.Database
	fx   testenv.ReferralFixture
	rcv  *receiver
	ctx  context.Context
	logs *syncBuffer
	// client sends to the loopback receiver (the policy allows it).
	client *http.Client
}

type received struct {
	eventID, signature string
	body               []byte
}

type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	status int
	answer string
	// While hang is set, requests are not recorded nor answered: their IDs
	// go to started and they wait for release (a sender killed mid-request).
	hang    bool
	started chan string
	release chan struct{}
}

func (r *receiver) set(status int, answer string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.answer = status, answer
}

func (r *receiver) deliveries() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// syncBuffer is a log sink the dispatcher's goroutines share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newWorld(t *testing.T) *world {
	t.Helper()
	d := testenv.NewDatabase(t)
	w := &world{d: d, fx: d.SeedReferral(t), ctx: context.Background(), logs: &syncBuffer{}, client: outgoing.NewClient(testenv.LoopbackWebhooks(t))}
	w.rcv = &receiver{status: http.StatusOK, answer: "ok"}
	w.rcv.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.rcv.mu.Lock()
		if w.rcv.hang {
			w.rcv.mu.Unlock()
			w.rcv.started <- r.Header.Get(outgoing.EventIDHeader)
			<-w.rcv.release
			return
		}
		w.rcv.got = append(w.rcv.got, received{r.Header.Get(outgoing.EventIDHeader), r.Header.Get(outgoing.SignatureHeader), body})
		status, answer := w.rcv.status, w.rcv.answer
		w.rcv.mu.Unlock()
		rw.WriteHeader(status)
		_, _ = io.WriteString(rw, answer)
	}))
	t.Cleanup(w.rcv.srv.Close)
	url := w.rcv.srv.URL + "/fulfil?token=abc"
	if _, err := d.Queries.CampaignUpdateDetails(w.ctx, db.CampaignUpdateDetailsParams{ID: w.fx.Campaign.ID, WorkspaceID: w.fx.Workspace.ID, FulfilmentWebhookUrl: &url}); err != nil {
		t.Fatal(err)
	}
	return w
}

// enqueue queues an event created at created and returns its delivery.
func (w *world) enqueue(t *testing.T, eventID string, created time.Time) db.WebhookDelivery {
	t.Helper()
	ev := outgoing.Event{ID: eventID, Type: webhookdelivery.EventRewardIssued, CreatedAt: created, Data: map[string]string{"reward_id": eventID}}
	if queued, err := webhookdelivery.Enqueue(w.ctx, w.d.Queries, w.fx.Workspace.ID, w.fx.Campaign.ID, ev); err != nil || !queued {
		t.Fatalf("enqueue %s: %v %v", eventID, queued, err)
	}
	return w.delivery(t, eventID)
}

func (w *world) delivery(t *testing.T, eventID string) db.WebhookDelivery {
	t.Helper()
	row, err := w.d.Queries.WebhookDeliveryGetByEvent(w.ctx, db.WebhookDeliveryGetByEventParams{WorkspaceID: w.fx.Workspace.ID, EventID: eventID})
	if err != nil {
		t.Fatal(err)
	}
	return row
}

func (w *world) attempts(t *testing.T, id uuid.UUID) []db.WebhookDeliveryAttempt {
	t.Helper()
	rows, err := w.d.Queries.WebhookDeliveryAttemptListByDelivery(w.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// clock is a dispatcher's clock the test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (w *world) dispatcher(c *clock) *webhookdelivery.Dispatcher {
	d := &webhookdelivery.Dispatcher{Pool: w.d.Pool, Client: w.client, Logger: slog.New(slog.NewTextHandler(w.logs, nil))}
	if c != nil {
		d.Now = c.Now
	}
	return d
}

func (w *world) once(t *testing.T, d *webhookdelivery.Dispatcher) int {
	t.Helper()
	n, err := d.Once(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A queued event reaches the receiver as soon as its transaction commits
// (the running dispatcher is woken by NOTIFY), signed with the workspace's
// secret, and the attempt is recorded with status, latency and the answer.
func TestDispatcherDeliversAndRecordsTheAttempt(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() { done <- w.dispatcher(nil).Run(ctx) }()
	defer func() { cancel(); <-done }()

	row := w.enqueue(t, "reward.issued:1", time.Now())
	for len(w.rcv.deliveries()) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	got := w.rcv.deliveries()[0]
	if got.eventID != "reward.issued:1" || string(got.body) != string(row.Body) {
		t.Fatalf("received %s %s, want the stored body %s", got.eventID, got.body, row.Body)
	}
	if err := outgoing.Verify([]byte(w.fx.Workspace.WebhookSigningSecret), got.signature, got.body, time.Now()); err != nil {
		t.Fatalf("signature: %v", err)
	}
	for w.delivery(t, "reward.issued:1").Status != "delivered" {
		time.Sleep(10 * time.Millisecond)
	}
	d := w.delivery(t, "reward.issued:1")
	atts := w.attempts(t, d.ID)
	if d.AttemptCount != 1 || d.DeliveredAt == nil || d.LockedUntil != nil || len(atts) != 1 {
		t.Fatalf("delivery %+v, attempts %+v", d, atts)
	}
	if a := atts[0]; a.StatusCode == nil || *a.StatusCode != 200 || a.LatencyMs < 0 || a.ResponseExcerpt == nil || *a.ResponseExcerpt != "ok" || a.Error != nil {
		t.Fatalf("attempt %+v", a)
	}
}

// A receiver that keeps failing is retried with exponential backoff and
// jitter, every attempt recorded, until 72 hours after the event; then the
// delivery is failed. Its answers are kept for admins and never logged.
func TestFailingDeliveryBacksOffThenFailsAfter72Hours(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.rcv.set(http.StatusServiceUnavailable, "down for maintenance")
	t0 := time.Now().UTC().Truncate(time.Second)
	c := &clock{now: t0}
	disp := w.dispatcher(c)
	row := w.enqueue(t, "reward.issued:2", t0)

	at := t0
	for n := 1; n <= 3; n++ {
		if got := w.once(t, disp); got != 1 {
			t.Fatalf("attempt %d: %d sent, want 1", n, got)
		}
		d := w.delivery(t, row.EventID)
		backoff := webhookdelivery.DefaultMinBackoff << (n - 1)
		if wait := d.NextAttemptAt.Sub(at); d.Status != "pending" || wait < backoff/2 || wait > backoff {
			t.Fatalf("after attempt %d: %s, next in %s, want pending and in [%s, %s]", n, d.Status, wait, backoff/2, backoff)
		}
		if got := w.once(t, disp); got != 0 {
			t.Fatalf("attempt %d: sent again before the backoff ended", n)
		}
		at = d.NextAttemptAt
		c.set(at)
	}
	c.set(t0.Add(72*time.Hour + time.Minute))
	w.once(t, disp)
	d := w.delivery(t, row.EventID)
	atts := w.attempts(t, d.ID)
	if d.Status != "failed" || d.FailedAt == nil || d.AttemptCount != 4 || len(atts) != 4 {
		t.Fatalf("after 72 hours: %+v with %d attempts, want failed after 4", d, len(atts))
	}
	for _, a := range atts {
		if a.StatusCode == nil || *a.StatusCode != 503 || a.ResponseExcerpt == nil || *a.ResponseExcerpt != "down for maintenance" {
			t.Fatalf("attempt %+v", a)
		}
	}
	if w.once(t, disp) != 0 {
		t.Fatal("a failed delivery was sent again")
	}
	if logs := w.logs.String(); strings.Contains(logs, "maintenance") || strings.Contains(logs, "token=abc") || !strings.Contains(logs, d.ID.String()) {
		t.Fatalf("logs carry the receiver's answer or URL, or not the delivery's ID:\n%s", logs)
	}
	// Every attempt sent the same event with the same body.
	for _, r := range w.rcv.deliveries() {
		if r.eventID != row.EventID || string(r.body) != string(row.Body) {
			t.Fatalf("attempt sent %s %s, want %s %s", r.eventID, r.body, row.EventID, row.Body)
		}
	}
}

// The last retry happens at the end of the window, not after it.
func TestRetriesStopAtTheEndOfTheWindow(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.rcv.set(http.StatusBadGateway, "")
	t0 := time.Now().UTC().Truncate(time.Second)
	c := &clock{now: t0.Add(72*time.Hour - time.Second)}
	disp := w.dispatcher(c)
	row := w.enqueue(t, "reward.issued:3", t0)
	w.once(t, disp)
	if d := w.delivery(t, row.EventID); d.Status != "pending" || !d.NextAttemptAt.Equal(d.RetryUntil) {
		t.Fatalf("%+v: want pending, next attempt at the window's end %s", d, d.RetryUntil)
	}
}

// A replay sends the same event again, same ID and same body, after it
// failed; the bulk replay takes only failed ones.
func TestReplayKeepsTheEventIDAndBody(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.rcv.set(http.StatusInternalServerError, "")
	t0 := time.Now().UTC().Truncate(time.Second)
	c := &clock{now: t0.Add(73 * time.Hour)}
	disp := w.dispatcher(c)
	failed := w.enqueue(t, "reward.issued:4", t0)
	w.once(t, disp)
	if d := w.delivery(t, failed.EventID); d.Status != "failed" {
		t.Fatalf("status %s, want failed", d.Status)
	}
	w.rcv.set(http.StatusOK, "")
	delivered := w.enqueue(t, "reward.issued:5", c.Now())
	w.once(t, disp)

	ids, err := webhookdelivery.ReplayFailed(w.ctx, w.d.Queries, w.fx.Workspace.ID, nil, nil, c.Now())
	if err != nil || len(ids) != 1 || ids[0] != failed.ID {
		t.Fatalf("replay failed: %v %v, want only %s", ids, err, failed.ID)
	}
	w.once(t, disp)
	if _, err := webhookdelivery.Replay(w.ctx, w.d.Queries, w.fx.Workspace.ID, delivered.ID, c.Now()); err != nil {
		t.Fatal(err)
	}
	w.once(t, disp)
	byEvent := map[string][]string{}
	for _, r := range w.rcv.deliveries() {
		byEvent[r.eventID] = append(byEvent[r.eventID], string(r.body))
	}
	if len(byEvent[failed.EventID]) != 2 || byEvent[failed.EventID][1] != string(failed.Body) ||
		len(byEvent[delivered.EventID]) != 2 || byEvent[delivered.EventID][1] != string(delivered.Body) {
		t.Fatalf("deliveries %v", byEvent)
	}
	if d := w.delivery(t, failed.EventID); d.Status != "delivered" || d.AttemptCount != 2 {
		t.Fatalf("replayed delivery %+v", d)
	}
	// Another workspace's delivery is not found.
	if _, err := webhookdelivery.Replay(w.ctx, w.d.Queries, uuid.New(), failed.ID, c.Now()); !errors.Is(err, webhookdelivery.ErrNotFound) {
		t.Fatalf("replay in another workspace: %v", err)
	}
}

// A dispatcher killed while sending leaves only its leased rows; another
// sends every other row at once, and the leased ones — only those — once
// their lease has run out. The dead one records nothing.
func TestKilledDispatcherLeavesOnlyItsLeasedRows(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	now := time.Now()
	for i := range 5 {
		w.enqueue(t, "reward.issued:kill-"+string(rune('a'+i)), now.Add(-time.Minute+time.Duration(i)*time.Second))
	}
	// The doomed dispatcher has its own pool, as a separate process would.
	pool, err := pgxpool.NewWithConfig(w.ctx, w.d.Pool.Config().Copy())
	if err != nil {
		t.Fatal(err)
	}
	w.rcv.mu.Lock()
	w.rcv.hang, w.rcv.started, w.rcv.release = true, make(chan string, 5), make(chan struct{})
	w.rcv.mu.Unlock()
	doomed := &webhookdelivery.Dispatcher{Pool: pool, Client: w.client, Concurrency: 2}
	doomedDone := make(chan struct{})
	go func() { defer close(doomedDone); _, _ = doomed.Once(w.ctx) }()
	inFlight := map[string]bool{<-w.rcv.started: true, <-w.rcv.started: true}
	pool.Close() // killed: its connections are gone
	w.rcv.mu.Lock()
	w.rcv.hang = false
	w.rcv.mu.Unlock()
	defer func() { close(w.rcv.release); <-doomedDone }()

	c := &clock{now: time.Now()}
	survivor := w.dispatcher(c)
	for w.once(t, survivor) > 0 {
	}
	first := w.rcv.deliveries()
	if len(first) != 3 {
		t.Fatalf("%d sent before the lease ran out, want the 3 not in flight", len(first))
	}
	for _, r := range first {
		if inFlight[r.eventID] {
			t.Fatalf("%s was sent while another dispatcher's lease held it", r.eventID)
		}
	}
	c.set(c.Now().Add(webhookdelivery.DefaultLease + time.Second))
	for w.once(t, survivor) > 0 {
	}
	resent := w.rcv.deliveries()[3:]
	if len(resent) != 2 || !inFlight[resent[0].eventID] || !inFlight[resent[1].eventID] {
		t.Fatalf("resent after the lease %+v, want exactly the 2 in flight %v", resent, inFlight)
	}
	for _, r := range append(first, resent...) {
		d := w.delivery(t, r.eventID)
		if d.Status != "delivered" || len(w.attempts(t, d.ID)) != 1 {
			t.Fatalf("%s: %s with %d attempts, want delivered after 1", r.eventID, d.Status, len(w.attempts(t, d.ID)))
		}
	}
}

// After a rotation both secrets sign during the grace period (two v1
// values; a receiver holding either verifies), then only the new one.
func TestRotatedSecretSignsDuringItsGracePeriod(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	old := w.fx.Workspace.WebhookSigningSecret
	now := time.Now()
	ws, err := webhookdelivery.RotateSigningSecret(w.ctx, w.d.Queries, w.fx.Workspace.ID, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if ws.WebhookSigningSecret == old || !strings.HasPrefix(ws.WebhookSigningSecret, "whsec_") {
		t.Fatalf("new secret %q", ws.WebhookSigningSecret)
	}
	c := &clock{now: now}
	disp := w.dispatcher(c)
	w.enqueue(t, "reward.issued:during", now)
	w.once(t, disp)
	c.set(now.Add(2 * time.Hour))
	w.enqueue(t, "reward.issued:after", now)
	w.once(t, disp)

	got := w.rcv.deliveries()
	if len(got) != 2 {
		t.Fatalf("%d deliveries, want 2", len(got))
	}
	during, after := got[0], got[1]
	if strings.Count(during.signature, "v1=") != 2 || strings.Count(after.signature, "v1=") != 1 {
		t.Fatalf("signatures %q / %q: want two v1 during the grace period, one after", during.signature, after.signature)
	}
	for _, s := range []string{old, ws.WebhookSigningSecret} {
		if err := outgoing.Verify([]byte(s), during.signature, during.body, time.Now()); err != nil {
			t.Fatalf("during the grace period: %v", err)
		}
	}
	if err := outgoing.Verify([]byte(ws.WebhookSigningSecret), after.signature, after.body, time.Now()); err != nil {
		t.Fatalf("after: %v", err)
	}
	if err := outgoing.Verify([]byte(old), after.signature, after.body, time.Now()); !errors.Is(err, outgoing.ErrBadSignature) {
		t.Fatalf("the old secret still verifies after the grace period: %v", err)
	}
}
