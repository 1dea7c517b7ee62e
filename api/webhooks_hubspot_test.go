package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspot/signature"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/salesreceiver"
)

// testWebhookSecret stands for the HubSpot app's client secret.
const testWebhookSecret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"

// webhookAPI is the HTTP server as HubSpot reaches it: behind a proxy, so
// the URL HubSpot signs (public) is not the one the server listens on (url).
type webhookAPI struct {
	url    string
	public string
	db     *testenv.Database
	logs   *testenv.LogBuffer
}

type webhookAPIOptions struct {
	pool      *pgxpool.Pool // default: the test database's
	secret    *string       // default: testWebhookSecret
	publicURL string        // default: a host other than the listener's; "listener": the listener's
	hubspot   *hubspotconn.Manager
	appID     int64 // HUBSPOT_APP_ID
	// route, when set, sees each request first, may change it as a proxy
	// would, and sends it to a server whose Postgres is unreachable when it
	// returns true.
	route func(r *http.Request) (outage bool)
}

func newWebhookAPI(t *testing.T, d *testenv.Database, o webhookAPIOptions) *webhookAPI {
	t.Helper()
	if d == nil {
		d = testenv.NewDatabase(t)
	}
	a := &webhookAPI{db: d, logs: &testenv.LogBuffer{}}
	ts := httptest.NewUnstartedServer(nil)
	a.url = "http://" + ts.Listener.Addr().String()
	switch a.public = o.publicURL; a.public {
	case "":
		a.public = "https://referflow.example.test"
	case "listener":
		a.public = a.url
	}
	public, err := url.Parse(a.public)
	if err != nil {
		t.Fatal(err)
	}
	secret := testWebhookSecret
	if o.secret != nil {
		secret = *o.secret
	}
	deps := Deps{
		Pool: d.Pool, Logger: slog.New(slog.NewJSONHandler(a.logs, nil)), PublicURL: public, WebhookSecret: secret,
		HubSpot: o.hubspot, HubSpotAppID: o.appID,
		Auth: &adminauth.Authenticator{Queries: d.Queries, Sessions: adminauth.NewSessions([]byte("test-key-0123456789abcdef0123456"))},
	}
	if o.pool != nil {
		deps.Pool = o.pool
	}
	up := New(deps).Handler()
	ts.Config.Handler = up
	if o.route != nil {
		deps.Pool = unreachablePool(t)
		down := New(deps).Handler()
		ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if o.route(r) {
				down.ServeHTTP(w, r)
				return
			}
			up.ServeHTTP(w, r)
		})
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return a
}

// unreachablePool points at a loopback port where nothing listens: Postgres
// down.
func unreachablePool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	pool, err := pgxpool.New(context.Background(), "postgres://referflow@"+addr+"/referflow?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// counts is what a Result counts, to compare.
func counts(r salesreceiver.Result) [4]int {
	return [4]int{r.Received, r.Recorded, r.Duplicates, r.Skipped}
}

// signing says how a delivery is signed.
type signing func(r *http.Request, body []byte)

func signV3(secret, publicURL string, at time.Time) signing {
	return func(r *http.Request, body []byte) {
		ts := strconv.FormatInt(at.UnixMilli(), 10)
		r.Header.Set(signature.HeaderV3, signature.V3(secret, r.Method, publicURL, body, ts))
		r.Header.Set(signature.HeaderTimestamp, ts)
	}
}

func signV1(secret string) signing {
	return func(r *http.Request, body []byte) {
		r.Header.Set(signature.HeaderV1V2, signature.V1(secret, body))
		r.Header.Set(signature.HeaderVersion, "v1")
	}
}

func signV2(secret, publicURL string) signing {
	return func(r *http.Request, body []byte) {
		r.Header.Set(signature.HeaderV1V2, signature.V2(secret, r.Method, publicURL, body))
		r.Header.Set(signature.HeaderVersion, "v2")
	}
}

// v3 signs as HubSpot does now, over the public URL.
func (a *webhookAPI) v3() signing {
	return signV3(testWebhookSecret, a.public+"/webhooks/hubspot", time.Now())
}

type webhookAnswer struct {
	status int
	result salesreceiver.Result
	err    ErrorDetail
	raw    string
}

func (a *webhookAPI) deliver(t testing.TB, body string, sign signing) webhookAnswer {
	t.Helper()
	return a.deliverTo(t, "/webhooks/hubspot", body, sign)
}

func (a *webhookAPI) deliverTo(t testing.TB, path, body string, sign signing) webhookAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if sign != nil {
		sign(req, []byte(body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	ans := webhookAnswer{status: resp.StatusCode, raw: string(raw)}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("answer %d is not JSON: %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &ans.result); err != nil {
			t.Fatalf("200 body: %v: %s", err, raw)
		}
	} else {
		var eb ErrorBody
		if err := json.Unmarshal(raw, &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			t.Fatalf("error body %d: %s", resp.StatusCode, raw)
		}
		ans.err = eb.Error
	}
	return ans
}

func (a *webhookAPI) entries(t testing.TB) []db.SalesEntry {
	t.Helper()
	rows, err := a.db.Pool.Query(context.Background(), "SELECT * FROM sales_entries ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []db.SalesEntry
	for rows.Next() {
		var e db.SalesEntry
		if err := rows.Scan(&e.ID, &e.PortalID, &e.WorkspaceID, &e.DedupeKey, &e.EventID, &e.SubscriptionType,
			&e.ObjectType, &e.ObjectID, &e.PropertyName, &e.PropertyValue, &e.OccurredAt, &e.AttemptNumber,
			&e.ChangeSource, &e.Payload, &e.Status, &e.CampaignID, &e.ReferralID, &e.MemberID, &e.Actions, &e.Error,
			&e.ReceivedAt, &e.ProcessedAt, &e.UpdatedAt, &e.DispatchAttempts, &e.NextDispatchAt, &e.DispatchError,
			&e.DispatchedAt, &e.WorkflowID, &e.RerunOf); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// webhookDealEvent is a deal stage change as HubSpot sends it.
func webhookDealEvent(eventID, portalID, objectID int64, value string, attempt int) string {
	return fmt.Sprintf(`{"eventId":%d,"subscriptionId":4,"portalId":%d,"appId":7,"occurredAt":%d,"subscriptionType":"deal.propertyChange",`+
		`"attemptNumber":%d,"objectId":%d,"propertyName":"dealstage","propertyValue":%q,"changeSource":"CRM_UI"}`,
		eventID, portalID, 1700000000000+eventID, attempt, objectID, value)
}

func webhookBatch(events ...string) string { return "[" + strings.Join(events, ",") + "]" }

func TestHubSpotWebhookSignatureVersions(t *testing.T) {
	t.Parallel()
	a := newWebhookAPI(t, nil, webhookAPIOptions{publicURL: "https://referflow.example.test/base"})
	public := a.public + "/webhooks/hubspot?portal=1&note=a%3Ab"
	cases := []struct {
		name string
		sign signing
	}{
		{"v3", signV3(testWebhookSecret, public, time.Now())},
		{"v3 from a clock 2 minutes ahead", signV3(testWebhookSecret, public, time.Now().Add(2*time.Minute))},
		{"v3 4 minutes old", signV3(testWebhookSecret, public, time.Now().Add(-4*time.Minute))},
		{"v1", signV1(testWebhookSecret)},
		{"v2", signV2(testWebhookSecret, public)},
	}
	for i, tc := range cases {
		ans := a.deliverTo(t, "/webhooks/hubspot?portal=1&note=a%3Ab", webhookBatch(webhookDealEvent(int64(i+1), 62515, 9, "closedwon", 0)), tc.sign)
		if ans.status != http.StatusOK || counts(ans.result) != counts(salesreceiver.Result{Received: 1, Recorded: 1}) {
			t.Errorf("%s: %d %s", tc.name, ans.status, ans.raw)
		}
	}
	if n := len(a.entries(t)); n != len(cases) {
		t.Fatalf("%d entries, want %d", n, len(cases))
	}
}

func TestHubSpotWebhookRefusesBadSignatures(t *testing.T) {
	t.Parallel()
	a := newWebhookAPI(t, nil, webhookAPIOptions{})
	public := a.public + "/webhooks/hubspot"
	body := webhookBatch(webhookDealEvent(1, 62515, 9, "closedwon", 0))
	unset := func(h string) signing { return func(r *http.Request, _ []byte) { r.Header.Del(h) } }
	both := func(s ...signing) signing {
		return func(r *http.Request, b []byte) {
			for _, f := range s {
				f(r, b)
			}
		}
	}
	cases := []struct {
		name, code, message string
		sign                signing
	}{
		{"no signature", "missing_signature", "no HubSpot signature", nil},
		{"v3 with another secret", "invalid_signature", "does not match", signV3("other-secret", public, time.Now())},
		{"v3 over the URL the server sees, not the public one", "invalid_signature", "does not match", signV3(testWebhookSecret, a.url+"/webhooks/hubspot", time.Now())},
		{"v3 six minutes old", "stale_signature", "more than 5 minutes old", signV3(testWebhookSecret, public, time.Now().Add(-6*time.Minute))},
		{"v3 six minutes ahead", "stale_signature", "in the future", signV3(testWebhookSecret, public, time.Now().Add(6*time.Minute))},
		{"v3 in seconds", "stale_signature", "more than 5 minutes old", signV3(testWebhookSecret, public, time.Unix(time.Now().Unix()/1000, 0))},
		{"v3 without timestamp", "invalid_signature", "X-HubSpot-Request-Timestamp", both(signV3(testWebhookSecret, public, time.Now()), unset(signature.HeaderTimestamp))},
		{"v3 with a bad v3 but a good v1", "invalid_signature", "does not match", both(signV1(testWebhookSecret), signV3("other", public, time.Now()))},
		{"v1 with another secret", "invalid_signature", "does not match", signV1("other-secret")},
		{"v2 over the wrong URL", "invalid_signature", "does not match", signV2(testWebhookSecret, a.url+"/webhooks/hubspot")},
		{"unknown version", "invalid_signature", "Signature-Version", both(signV1(testWebhookSecret), func(r *http.Request, _ []byte) { r.Header.Set(signature.HeaderVersion, "v9") })},
		{"signature of another body", "invalid_signature", "does not match", func(r *http.Request, _ []byte) {
			signV1(testWebhookSecret)(r, []byte(webhookBatch(webhookDealEvent(1, 62515, 9, "closedlost", 0))))
		}},
	}
	for _, tc := range cases {
		ans := a.deliver(t, body, tc.sign)
		if ans.status != http.StatusUnauthorized || ans.err.Code != tc.code || !strings.Contains(ans.err.Message, tc.message) {
			t.Errorf("%s: %d %s", tc.name, ans.status, ans.raw)
		}
	}
	// An unsigned malformed body is refused for its signature: nothing of it
	// is read.
	if ans := a.deliver(t, "not json", nil); ans.status != http.StatusUnauthorized {
		t.Errorf("unsigned garbage: %d %s", ans.status, ans.raw)
	}
	if n := len(a.entries(t)); n != 0 {
		t.Fatalf("%d entries recorded from refused deliveries", n)
	}
}

func TestHubSpotWebhookRefusesMalformedDeliveries(t *testing.T) {
	t.Parallel()
	a := newWebhookAPI(t, nil, webhookAPIOptions{})
	good := webhookDealEvent(1, 62515, 9, "closedwon", 0)
	many := make([]string, 101)
	for i := range many {
		many[i] = webhookDealEvent(int64(i+1), 62515, 9, "closedwon", 0)
	}
	cases := []struct {
		name, body, field string
	}{
		{"not JSON", `[{"eventId":1,`, "body"},
		{"not an array", good, "body"},
		{"empty array", `[]`, "body"},
		{"empty body", ``, "body"},
		{"101 events", webhookBatch(many...), "body"},
		{"an event that is not an object", webhookBatch(good, `"x"`), "[1]"},
		{"second event without portalId", webhookBatch(good, strings.Replace(good, `"portalId":62515,`, "", 1)), "[1].portalId"},
		{"without objectId", webhookBatch(strings.Replace(good, `"objectId":9,`, "", 1)), "[0].objectId"},
		{"without occurredAt", webhookBatch(strings.Replace(good, `"occurredAt":1700000000001,`, "", 1)), "[0].occurredAt"},
		{"without subscriptionType", webhookBatch(strings.Replace(good, `"subscriptionType":"deal.propertyChange",`, "", 1)), "[0].subscriptionType"},
		{"occurredAt as a string", webhookBatch(strings.Replace(good, `1700000000001`, `"1700000000001"`, 1)), "[0].occurredAt"},
		{"object.* without a type", webhookBatch(strings.Replace(good, `deal.propertyChange`, `object.propertyChange`, 1)), "[0].objectTypeId"},
		{"subscription type without an object", webhookBatch(strings.Replace(good, `deal.propertyChange`, `propertyChange`, 1)), "[0].subscriptionType"},
	}
	for _, tc := range cases {
		ans := a.deliver(t, tc.body, a.v3())
		if ans.status != http.StatusBadRequest || ans.err.Code != "invalid_events" || ans.err.Fields[tc.field] == "" {
			t.Errorf("%s: %d %s", tc.name, ans.status, ans.raw)
		}
	}
	if n := len(a.entries(t)); n != 0 {
		t.Fatalf("%d entries recorded from refused deliveries (a 400 records nothing)", n)
	}
}

func TestHubSpotWebhookRecordsAHundredEventsOnce(t *testing.T) {
	t.Parallel()
	a := newWebhookAPI(t, nil, webhookAPIOptions{})
	events := make([]string, 100)
	for i := range events {
		events[i] = webhookDealEvent(int64(i+1), 62515, int64(1000+i), "closedwon", 0)
	}
	ans := a.deliver(t, webhookBatch(events...), a.v3())
	if ans.status != http.StatusOK || counts(ans.result) != counts(salesreceiver.Result{Received: 100, Recorded: 100}) {
		t.Fatalf("100 events: %d %s", ans.status, ans.raw)
	}
	// HubSpot's retry of the same delivery, attemptNumber 1: recorded once.
	retry := make([]string, 100)
	for i := range retry {
		retry[i] = webhookDealEvent(int64(i+1), 62515, int64(1000+i), "closedwon", 1)
	}
	ans = a.deliver(t, webhookBatch(retry...), a.v3())
	if ans.status != http.StatusOK || counts(ans.result) != counts(salesreceiver.Result{Received: 100, Duplicates: 100}) {
		t.Fatalf("redelivery: %d %s", ans.status, ans.raw)
	}
	entries := a.entries(t)
	if len(entries) != 100 {
		t.Fatalf("%d entries, want 100", len(entries))
	}
	resp, err := http.Get(a.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`referflow_hubspot_webhook_events_total{outcome="recorded"} 100`, `referflow_hubspot_webhook_events_total{outcome="duplicate"} 100`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for i, e := range entries {
		var payload map[string]any
		if err := json.Unmarshal(e.Payload, &payload); err != nil {
			t.Fatal(err)
		}
		if e.ObjectType != "deal" || e.Status != "received" || e.WorkspaceID != nil || *e.AttemptNumber != 0 ||
			payload["attemptNumber"] != 0.0 || payload["portalId"] != 62515.0 || len(payload) != 11 {
			t.Fatalf("entry %d: %+v %s", i, e, e.Payload)
		}
	}
}

func TestHubSpotWebhookSameEventIDOtherContent(t *testing.T) {
	t.Parallel()
	a := newWebhookAPI(t, nil, webhookAPIOptions{})
	// HubSpot's eventId is not unique: the same ID with another value is
	// another event; the same content again, in the same delivery, is not.
	ans := a.deliver(t, webhookBatch(webhookDealEvent(5, 62515, 9, "closedwon", 0), webhookDealEvent(5, 62515, 9, "closedlost", 0), webhookDealEvent(5, 62515, 9, "closedwon", 2)), a.v3())
	if ans.status != http.StatusOK || counts(ans.result) != counts(salesreceiver.Result{Received: 3, Recorded: 2, Duplicates: 1}) {
		t.Fatalf("%d %s", ans.status, ans.raw)
	}
	entries := a.entries(t)
	if len(entries) != 2 || *entries[0].PropertyValue == *entries[1].PropertyValue {
		t.Fatalf("entries %+v", entries)
	}
}

func TestHubSpotWebhookSkipsObjectsReferflowDoesNotHandle(t *testing.T) {
	t.Parallel()
	a := newWebhookAPI(t, nil, webhookAPIOptions{})
	body := webhookBatch(
		`{"eventId":1,"portalId":62515,"occurredAt":1700000000000,"subscriptionType":"ticket.creation","objectId":3}`,
		`{"eventId":2,"portalId":62515,"occurredAt":1700000000000,"subscriptionType":"object.creation","objectTypeId":"0-5","objectId":3}`,
		`{"eventId":3,"portalId":62515,"occurredAt":1700000000000,"subscriptionType":"conversation.newMessage","objectId":3,"messageId":"m1"}`,
		`{"eventId":4,"portalId":62515,"occurredAt":1700000000000,"subscriptionType":"object.propertyChange","objectTypeId":"0-2","objectId":3,"propertyName":"name","propertyValue":"Acme"}`,
		`{"eventId":5,"portalId":62515,"occurredAt":1700000000000,"subscriptionType":"contact.privacyDeletion","objectId":4}`,
	)
	ans := a.deliver(t, body, a.v3())
	if ans.status != http.StatusOK || counts(ans.result) != counts(salesreceiver.Result{Received: 5, Recorded: 2, Skipped: 3}) {
		t.Fatalf("%d %s", ans.status, ans.raw)
	}
	entries := a.entries(t)
	if len(entries) != 2 || entries[0].ObjectType+" "+entries[1].ObjectType != "company contact" && entries[0].ObjectType+" "+entries[1].ObjectType != "contact company" {
		t.Fatalf("entries %+v", entries)
	}
}

// With HUBSPOT_APP_ID set, an event another app sent is answered but not
// recorded; events without an appId are kept.
func TestHubSpotWebhookSkipsOtherAppsEvents(t *testing.T) {
	t.Parallel()
	a := newWebhookAPI(t, nil, webhookAPIOptions{appID: 7})
	other := strings.Replace(webhookDealEvent(2, 62515, 901, "closedwon", 0), `"appId":7`, `"appId":8`, 1)
	noApp := strings.Replace(webhookDealEvent(3, 62515, 902, "closedwon", 0), `"appId":7,`, ``, 1)
	ans := a.deliver(t, webhookBatch(webhookDealEvent(1, 62515, 900, "closedwon", 0), other, noApp), a.v3())
	if ans.status != http.StatusOK || counts(ans.result) != counts(salesreceiver.Result{Received: 3, Recorded: 2, Skipped: 1}) {
		t.Fatalf("%d %s", ans.status, ans.raw)
	}
	for _, e := range a.entries(t) {
		if e.ObjectID == 901 {
			t.Fatalf("another app's event was recorded: %+v", e)
		}
	}
}

func TestHubSpotWebhookNotConfigured(t *testing.T) {
	t.Parallel()
	none := ""
	a := newWebhookAPI(t, nil, webhookAPIOptions{secret: &none})
	ans := a.deliver(t, webhookBatch(webhookDealEvent(1, 62515, 9, "closedwon", 0)), signV1(""))
	if ans.status != http.StatusServiceUnavailable || ans.err.Message != "webhooks are not configured: set HUBSPOT_CLIENT_SECRET" {
		t.Fatalf("%d %s", ans.status, ans.raw)
	}
	if n := len(a.entries(t)); n != 0 {
		t.Fatalf("%d entries", n)
	}
}

// Postgres unreachable, gone or failing: 503, so HubSpot retries; never a
// 2xx for events that were not stored.
func TestHubSpotWebhookPostgresDown(t *testing.T) {
	t.Parallel()
	body := webhookBatch(webhookDealEvent(1, 62515, 9, "closedwon", 0))

	// Nothing listens where the pool points.
	a := newWebhookAPI(t, nil, webhookAPIOptions{pool: unreachablePool(t)})
	if ans := a.deliver(t, body, a.v3()); ans.status != http.StatusServiceUnavailable || ans.err.Code != "unavailable" {
		t.Fatalf("unreachable Postgres: %d %s", ans.status, ans.raw)
	}
	if !strings.Contains(a.logs.String(), "HubSpot webhook not recorded") {
		t.Fatalf("the outage is not logged: %s", a.logs.String())
	}

	// A closed pool (the process shutting down).
	closed := testenv.NewDatabase(t)
	b := newWebhookAPI(t, closed, webhookAPIOptions{})
	closed.Pool.Close()
	if ans := b.deliver(t, body, b.v3()); ans.status != http.StatusServiceUnavailable {
		t.Fatalf("closed pool: %d %s", ans.status, ans.raw)
	}

	// The schema gone under a running server.
	gone := testenv.NewDatabase(t)
	c := newWebhookAPI(t, gone, webhookAPIOptions{})
	if _, err := gone.Pool.Exec(context.Background(), "DROP TABLE sales_entries CASCADE"); err != nil {
		t.Fatal(err)
	}
	if ans := c.deliver(t, body, c.v3()); ans.status != http.StatusServiceUnavailable {
		t.Fatalf("dropped table: %d %s", ans.status, ans.raw)
	}
}

// The connected portal's entries carry its workspace, and the connection
// status shows when the last entry came.
func TestHubSpotWebhookWorkspaceAndLastEntry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testenv.NewDatabase(t)
	ws, err := d.Queries.WorkspaceCreate(ctx, db.WorkspaceCreateParams{Name: "Acme", WebhookSigningSecret: "whsec"})
	if err != nil {
		t.Fatal(err)
	}
	world := testenv.ConnectHubSpot(t, d, ws.ID, "https://referflow.example.test")
	a := newWebhookAPI(t, d, webhookAPIOptions{hubspot: world.Manager})
	_, key, err := adminauth.CreateAdmin(ctx, d.Queries, ws.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	status := func() map[string]any {
		req, _ := http.NewRequest(http.MethodGet, a.url+"/api/v1/hubspot/status", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("status: %d %v", resp.StatusCode, err)
		}
		return st
	}
	if st := status(); st["last_entry_at"] != nil || st["last_webhook_at"] != nil || st["status"] != "connected" {
		t.Fatalf("before any webhook: %v", st)
	}

	before := time.Now().Add(-time.Second)
	ans := a.deliver(t, webhookBatch(webhookDealEvent(1, world.PortalID, 9, "closedwon", 0), webhookDealEvent(2, 777, 9, "closedwon", 0)), a.v3())
	if ans.status != http.StatusOK || ans.result.Recorded != 2 {
		t.Fatalf("%d %s", ans.status, ans.raw)
	}
	entries := a.entries(t)
	byPortal := map[int64]db.SalesEntry{}
	for _, e := range entries {
		byPortal[e.PortalID] = e
	}
	if e := byPortal[world.PortalID]; e.WorkspaceID == nil || *e.WorkspaceID != ws.ID {
		t.Fatalf("connected portal's entry: %+v", e)
	}
	if e := byPortal[777]; e.ID == 0 || e.WorkspaceID != nil {
		t.Fatalf("unknown portal's entry is kept without a workspace: %+v", e)
	}
	st := status()
	last, err := time.Parse(time.RFC3339Nano, fmt.Sprint(st["last_entry_at"]))
	if err != nil || last.Before(before) || st["last_webhook_at"] == nil {
		t.Fatalf("after a webhook: %v", st)
	}

	// An hour later, a redelivery moves the webhook time only.
	if _, err := d.Pool.Exec(ctx, "UPDATE hubspot_connections SET last_webhook_at = last_webhook_at - interval '1 hour', last_entry_at = last_entry_at - interval '1 hour'"); err != nil {
		t.Fatal(err)
	}
	st = status()
	if ans := a.deliver(t, webhookBatch(webhookDealEvent(1, world.PortalID, 9, "closedwon", 1)), a.v3()); ans.result.Duplicates != 1 {
		t.Fatalf("%d %s", ans.status, ans.raw)
	}
	if st2 := status(); st2["last_entry_at"] != st["last_entry_at"] || st2["last_webhook_at"] == st["last_webhook_at"] {
		t.Fatalf("after a redelivery: %v, before %v", st2, st)
	}
}

// The simulator's real deliveries — v3 and v1 signed, batched, duplicated,
// shuffled, with colliding eventIds, and retried through a database outage
// — land as exactly one entry per event.
func TestHubSpotWebhookSimulatorDeliveries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim := hubspotsim.New(hubspotsim.Options{Webhooks: hubspotsim.WebhookOptions{
		BatchWindow: 20 * time.Millisecond, RetryBase: time.Millisecond, DuplicateRate: 0.3, Shuffle: true,
		EventIDCollisionRate: 0.2, Seed: 7,
	}})
	t.Cleanup(func() { _ = sim.Close() })
	portal := sim.CreatePortal("Acme")

	// The first deliveries meet a database outage (answered 503); of the
	// others, every second one reaches the endpoint without its v3 header,
	// so its v1 signature is what is checked.
	var requests, outages, v1 atomic.Int64
	secret := hubspotsim.DefaultClientSecret // what `referflow dev` wires
	a := newWebhookAPI(t, nil, webhookAPIOptions{secret: &secret, publicURL: "listener", route: func(r *http.Request) bool {
		n := requests.Add(1)
		if n <= 3 {
			outages.Add(1)
			return true
		}
		if n%2 == 0 {
			r.Header.Del(signature.HeaderV3)
			v1.Add(1)
		}
		return false
	}})
	if err := sim.SetWebhookSettings(hubspotsim.WebhookSettings{
		TargetURL:     a.url + "/webhooks/hubspot?source=sim&note=a%3Ab",
		Subscriptions: hubspotsim.DefaultWebhookSubscriptions(),
	}); err != nil {
		t.Fatal(err)
	}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var contacts, deals []string
	for i := range 30 {
		c, err := sim.CreateObject(portal.ID, "contacts", map[string]string{"email": fmt.Sprintf("lead%d@acme.test", i), "firstname": "Lead", "lifecyclestage": "lead"})
		must(err)
		deal, err := sim.CreateObject(portal.ID, "deals", map[string]string{"dealname": fmt.Sprint("Deal ", i), "pipeline": "default", "dealstage": "appointmentscheduled", "amount": "100"})
		must(err)
		contacts, deals = append(contacts, c), append(deals, deal)
	}
	for i := range 30 {
		must(sim.Associate(portal.ID, "deals", deals[i], "contacts", contacts[i]))
		must(sim.UpdateObject(portal.ID, "deals", deals[i], map[string]string{"dealstage": "closedwon", "amount": fmt.Sprint(200 + i)}))
		must(sim.UpdateObject(portal.ID, "contacts", contacts[i], map[string]string{"lifecyclestage": "customer", "firstname": "Changed"}))
	}
	must(sim.MergeObjects(portal.ID, "contacts", contacts[0], contacts[1]))
	must(sim.ArchiveObject(portal.ID, "deals", deals[2]))

	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := sim.WaitIdle(wctx); err != nil {
		t.Fatalf("deliveries did not finish: %v (%+v)", err, sim.WebhookStats())
	}
	stats := sim.WebhookStats()
	if stats.GaveUp != 0 || stats.Duplicates == 0 || stats.Failed == 0 || outages.Load() != 3 || v1.Load() == 0 {
		t.Fatalf("the deliveries did not go through what this test is about: %+v, %d outage answers, %d v1-only", stats, outages.Load(), v1.Load())
	}

	entries := a.entries(t)
	if len(entries) != stats.Events {
		t.Fatalf("%d entries for %d events (%+v)", len(entries), stats.Events, stats)
	}
	kinds := map[string]int{}
	eventIDs := map[int64]bool{}
	retried := 0
	for _, e := range entries {
		if e.PortalID != portal.ID || e.WorkspaceID != nil || e.Status != "received" {
			t.Fatalf("entry %+v", e)
		}
		kinds[e.SubscriptionType]++
		eventIDs[*e.EventID] = true
		if *e.AttemptNumber > 0 {
			retried++
		}
	}
	if len(eventIDs) == len(entries) {
		t.Fatalf("no eventId collided (EventIDCollisionRate): the test proves less than it says")
	}
	if retried == 0 {
		t.Fatalf("no entry came from a retry after the outage")
	}
	t.Logf("%d entries: %v; simulator %+v; %d v1-only deliveries", len(entries), kinds, stats, v1.Load())
}
