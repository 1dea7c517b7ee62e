package hubspotsim

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// A simulator restarted from its saved state is the same HubSpot: records,
// associations, lists and OAuth tokens survive, webhooks not yet delivered
// are delivered after the restart with their event IDs, new events carry
// on from the last ID, and the delivery log keeps what happened before.
func TestStateSurvivesARestart(t *testing.T) {
	t.Parallel()
	var up atomic.Bool // the receiver answers 503 until the restart
	answer := func(int, []WebhookEvent) (int, time.Duration) {
		if up.Load() {
			return http.StatusOK, 0
		}
		return http.StatusServiceUnavailable, 0
	}
	e, rc := webhookEnv(t, WebhookOptions{RetryBase: 20 * time.Millisecond}, answer, "contact.creation", "contact.propertyChange lifecyclestage")
	ann := e.createContact("ann@example.com", map[string]string{"firstname": "Ann", "lifecyclestage": "lead"})
	dealID, err := e.sim.CreateObject(e.p.ID, "deals", map[string]string{"dealname": "Ann's deal", "pipeline": "default", "dealstage": "closedwon"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Associate(e.p.ID, "contacts", ann, "deals", dealID); err != nil {
		t.Fatal(err)
	}
	listID, err := e.sim.CreateList(e.p.ID, "Customers", "contacts", "MANUAL", nil, ann)
	if err != nil {
		t.Fatal(err)
	}
	access, refresh := e.sim.IssueTokens(e.p.ID)
	// A misbehaviour mode in force stays in force (it spares reads).
	mode, err := ParseMode("server_errors,status=502,calls=5,writes_only")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.SetMode(e.p.ID, mode); err != nil {
		t.Fatal(err)
	}
	// Wait until the first delivery failed: its batch is held for a retry.
	waitFor(t, func() bool { return e.sim.WebhookStats().Failed > 0 })
	before := e.sim.Deliveries()

	if err := e.sim.SaveState(new(bytes.Buffer)); !errors.Is(err, ErrDeliveryRunning) {
		t.Fatalf("SaveState while delivering = %v, want ErrDeliveryRunning", err)
	}
	if err := e.sim.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sim.json")
	if err := e.sim.SaveStateFile(path); err != nil {
		t.Fatal(err)
	}

	up.Store(true)
	again := New(Options{Now: e.clock.Now, Webhooks: WebhookOptions{BatchWindow: 20 * time.Millisecond, RetryBase: time.Millisecond}})
	t.Cleanup(func() { _ = again.Close() })
	if ok, err := again.LoadStateFile(path); !ok || err != nil {
		t.Fatalf("LoadStateFile = %v, %v", ok, err)
	}
	e2 := &env{t: t, sim: again, h: again.Handler(), p: again.Portal(e.p.ID), clock: e.clock}
	if e2.p == nil || e2.p.Name != "Test portal" || e2.p.TimeZone.String() != e.p.TimeZone.String() {
		t.Fatalf("portal %d not restored: %+v", e.p.ID, e2.p)
	}
	if ms := again.Modes(e.p.ID); len(ms) != 1 || ms[0].Kind != ModeServerErrors || ms[0].CallsLeft != 5 || !ms[0].WritesOnly {
		t.Fatalf("modes after restart: %+v", ms)
	}
	e2.must(e2.do("POST", "/crm/v3/objects/contacts", "", `{"properties":{"email":"bo@example.com"}}`), 502)
	// The OAuth access token and the private-app token still work, and the
	// refresh token still refreshes.
	e2.must(e2.do("GET", "/crm/v3/objects/contacts/"+ann, access, nil), 200)
	got := e2.must(e2.do("GET", "/crm/v3/objects/deals/"+dealID+"?associations=contacts", "", nil), 200)
	if got.str("properties.dealname") != "Ann's deal" || got.str("associations.contacts.results.0.id") != ann {
		t.Fatalf("deal after restart: %s", got)
	}
	if r := e2.must(e2.do("GET", "/crm/v3/lists/"+listID+"/memberships", "", nil), 200); r.str("results.0.recordId") != ann {
		t.Fatalf("list after restart: %s", r)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}, "refresh_token": {refresh}}
	if r := e2.form("/oauth/v1/token", form); r.status != 200 {
		t.Fatalf("refresh after restart: %s", r)
	}
	// Search sees the restored records at once.
	if r := e2.must(e2.do("POST", "/crm/v3/objects/contacts/search", "", `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"ann@example.com"}]}]}`), 200); r.str("total") != "1" {
		t.Fatalf("search after restart: %s", r)
	}

	// The held events are delivered now, and a new change gets the next ID.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := again.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := again.UpdateObject(e.p.ID, "contacts", ann, map[string]string{"lifecyclestage": "customer"}); err != nil {
		t.Fatal(err)
	}
	if err := again.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	rc.check()
	var ids []int64
	for _, ev := range rc.events() {
		ids = append(ids, ev.EventID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []int64{1, 2, 3}) {
		t.Fatalf("delivered event IDs %v, want 1 and 2 from before the restart and 3 after", ids)
	}
	log := again.Deliveries()
	if len(log) <= len(before) || log[0].StatusCode != http.StatusServiceUnavailable || !log[len(log)-1].OK {
		t.Fatalf("delivery log after restart: %+v", log)
	}
	if st := again.WebhookStats(); st.Events != 3 || st.Pending != 0 {
		t.Fatalf("stats after restart: %+v", st)
	}
}

func TestLoadStateRefusesAUsedSimulatorAndAnotherFormat(t *testing.T) {
	t.Parallel()
	used := New(Options{})
	used.CreatePortal("x")
	if err := used.LoadState(bytes.NewBufferString(`{"Version":1}`)); err == nil {
		t.Fatal("LoadState into a simulator with portals succeeded")
	}
	if err := New(Options{}).LoadState(bytes.NewBufferString(`{"Version":99}`)); err == nil {
		t.Fatal("LoadState of format 99 succeeded")
	}
	if ok, err := New(Options{}).LoadStateFile(filepath.Join(t.TempDir(), "none.json")); ok || err != nil {
		t.Fatalf("LoadStateFile of a missing file = %v, %v; want a first start", ok, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A checkpoint taken while the simulator runs (no Close: the process may be
// killed next) restores the records, their next IDs and the OAuth tokens.
func TestCheckpointWhileRunning(t *testing.T) {
	t.Parallel()
	sim := New(Options{})
	t.Cleanup(func() { _ = sim.Close() })
	p := sim.CreatePortal("Demo portal")
	first, err := sim.CreateObject(p.ID, "deals", map[string]string{"dealname": "First", "pipeline": "default", "dealstage": "appointmentscheduled"})
	if err != nil {
		t.Fatal(err)
	}
	access, _ := sim.IssueTokens(p.ID)
	path := filepath.Join(t.TempDir(), "sim.json")
	if err := sim.CheckpointFile(path); err != nil {
		t.Fatalf("checkpoint while running: %v", err)
	}

	again := New(Options{})
	t.Cleanup(func() { _ = again.Close() })
	if ok, err := again.LoadStateFile(path); !ok || err != nil {
		t.Fatalf("LoadStateFile = %v, %v", ok, err)
	}
	if _, ok := again.GetObject(p.ID, "deals", first); !ok {
		t.Fatalf("deal %s lost", first)
	}
	next, err := again.CreateObject(p.ID, "deals", map[string]string{"dealname": "Next", "pipeline": "default", "dealstage": "appointmentscheduled"})
	if err != nil {
		t.Fatal(err)
	}
	if next == first {
		t.Fatalf("the restored simulator handed out deal ID %s again", first)
	}
	e := &env{t: t, sim: again, h: again.Handler(), p: again.Portal(p.ID)}
	e.must(e.do("GET", "/crm/v3/objects/deals/"+first, access, ""), 200)
}
