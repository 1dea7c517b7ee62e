package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/outgoing"
	"github.com/referflow/referflow/internal/webhookdelivery"
)

func decodeAs[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
	}
	return v
}

// An admin lists the workspace's deliveries (filtered, paged), reads one
// with its attempts and the receiver's answers, and replays one or every
// failed one; another workspace's deliveries are not found.
func TestWebhookDeliveriesAPI(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)
	srv, d, fx, api, logs := w.srv, w.d, w.fx, w.api, w.logs
	ctx := context.Background()

	var failing atomic.Bool
	failing.Store(true)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() && strings.Contains(r.Header.Get(outgoing.EventIDHeader), "reward") {
			http.Error(w, "fulfilment is down", http.StatusBadGateway)
		}
	}))
	defer receiver.Close()
	url := receiver.URL
	if _, err := d.Queries.CampaignUpdateDetails(ctx, db.CampaignUpdateDetailsParams{ID: fx.Campaign.ID, WorkspaceID: fx.Workspace.ID, FulfilmentWebhookUrl: &url}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-73 * time.Hour) // their retries are over at the first failure
	for i := range 3 {
		for _, typ := range []string{webhookdelivery.EventRewardIssued, webhookdelivery.EventReviewCreated} {
			ev := outgoing.Event{ID: fmt.Sprintf("%s:%d", typ, i), Type: typ, CreatedAt: t0.Add(time.Duration(i) * time.Minute), Data: map[string]int{"n": i}}
			if _, err := webhookdelivery.Enqueue(ctx, d.Queries, fx.Workspace.ID, fx.Campaign.ID, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	dispatcher := &webhookdelivery.Dispatcher{Pool: d.Pool, Client: outgoing.NewClient(testenv.LoopbackWebhooks(t))}
	if _, err := dispatcher.Once(ctx); err != nil {
		t.Fatal(err)
	}

	failed := decodeAs[WebhookDeliveryList](t, api.call("GET", "/api/v1/webhook-deliveries?status=failed", ""))
	if len(failed.WebhookDeliveries) != 3 {
		t.Fatalf("failed deliveries: %+v", failed)
	}
	for _, v := range failed.WebhookDeliveries {
		if v.EventType != "reward.issued" || v.Status != "failed" || v.AttemptCount != 1 || v.Payload != nil || v.Attempts != nil {
			t.Fatalf("listed %+v", v)
		}
	}
	reviews := decodeAs[WebhookDeliveryList](t, api.call("GET", "/api/v1/webhook-deliveries?event_type=review.created&campaign_id="+fx.Campaign.ID.String(), ""))
	if len(reviews.WebhookDeliveries) != 3 || reviews.WebhookDeliveries[0].Status != "delivered" || reviews.WebhookDeliveries[0].EventID != "review.created:2" {
		t.Fatalf("review deliveries, newest first: %+v", reviews)
	}
	// Paging: two pages of 4 and 2, no delivery twice.
	first := decodeAs[WebhookDeliveryList](t, api.call("GET", "/api/v1/webhook-deliveries?limit=4", ""))
	if len(first.WebhookDeliveries) != 4 || first.NextCursor == nil {
		t.Fatalf("first page %+v", first)
	}
	second := decodeAs[WebhookDeliveryList](t, api.call("GET", "/api/v1/webhook-deliveries?limit=4&cursor="+*first.NextCursor, ""))
	if len(second.WebhookDeliveries) != 2 || second.NextCursor != nil || second.WebhookDeliveries[0].ID == first.WebhookDeliveries[3].ID {
		t.Fatalf("second page %+v", second)
	}
	for _, bad := range []string{"status=lost", "event_type=reward", "campaign_id=x", "cursor=abc", "colour=red"} {
		if rec := api.call("GET", "/api/v1/webhook-deliveries?"+bad, ""); rec.Code != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", bad, rec.Code)
		}
	}

	one := decodeAs[WebhookDeliveryView](t, api.call("GET", "/api/v1/webhook-deliveries/"+failed.WebhookDeliveries[0].ID, ""))
	var body struct{ ID string }
	if err := json.Unmarshal(one.Payload, &body); err != nil || body.ID != one.EventID {
		t.Fatalf("payload %s: %v", one.Payload, err)
	}
	if len(one.Attempts) != 1 || one.Attempts[0].StatusCode == nil || *one.Attempts[0].StatusCode != 502 ||
		one.Attempts[0].ResponseExcerpt == nil || *one.Attempts[0].ResponseExcerpt != "fulfilment is down" {
		t.Fatalf("attempts %+v", one.Attempts)
	}

	// Replay one: pending again, same event.
	failing.Store(false)
	rec := api.call("POST", "/api/v1/webhook-deliveries/"+one.ID+"/replay", "")
	replayed := decodeAs[WebhookDeliveryView](t, rec)
	if rec.Code != http.StatusAccepted || replayed.Status != "pending" || replayed.EventID != one.EventID || replayed.NextAttemptAt == nil {
		t.Fatalf("replay: %d %+v", rec.Code, replayed)
	}
	// Replay every failed one: the two others.
	rec = api.call("POST", "/api/v1/webhook-deliveries/replay?event_type=reward.issued", "")
	all := decodeAs[WebhookReplayResult](t, rec)
	if rec.Code != http.StatusAccepted || all.Replayed != 2 {
		t.Fatalf("replay all: %d %+v", rec.Code, all)
	}
	if _, err := dispatcher.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if left := decodeAs[WebhookDeliveryList](t, api.call("GET", "/api/v1/webhook-deliveries?status=failed", "")); len(left.WebhookDeliveries) != 0 {
		t.Fatalf("still failed after the replays: %+v", left)
	}
	again := decodeAs[WebhookDeliveryView](t, api.call("GET", "/api/v1/webhook-deliveries/"+one.ID, ""))
	if again.Status != "delivered" || len(again.Attempts) != 2 || string(again.Payload) != string(one.Payload) {
		t.Fatalf("after the replay %+v", again)
	}

	// Another workspace's admin sees none of it.
	other, err := d.Queries.WorkspaceCreate(ctx, db.WorkspaceCreateParams{Name: "other", WebhookSigningSecret: "whsec_other"})
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := adminauth.CreateAdmin(ctx, d.Queries, other.ID, "ops@other.test", "")
	if err != nil {
		t.Fatal(err)
	}
	stranger := adminClient{t: t, h: srv.Handler(), key: otherKey}
	for _, c := range []struct{ method, path string }{{"GET", "/api/v1/webhook-deliveries/" + one.ID}, {"POST", "/api/v1/webhook-deliveries/" + one.ID + "/replay"}, {"GET", "/api/v1/webhook-deliveries/not-a-uuid"}} {
		if rec := stranger.call(c.method, c.path, ""); rec.Code != http.StatusNotFound {
			t.Errorf("%s %s from another workspace: %d, want 404", c.method, c.path, rec.Code)
		}
	}
	if list := decodeAs[WebhookDeliveryList](t, stranger.call("GET", "/api/v1/webhook-deliveries", "")); len(list.WebhookDeliveries) != 0 {
		t.Fatalf("another workspace lists %+v", list)
	}
	if rec := stranger.call("POST", "/api/v1/webhook-deliveries/replay", ""); decodeAs[WebhookReplayResult](t, rec).Replayed != 0 {
		t.Fatalf("another workspace replayed: %s", rec.Body)
	}
	if rec := do(t, srv.Handler(), "GET", "/api/v1/webhook-deliveries", nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("without a key: %d", rec.Code)
	}
	if strings.Contains(logs.String(), "fulfilment is down") {
		t.Fatal("the receiver's answer is in the API's logs")
	}
}

// An admin reads the signing secret and rotates it: the previous one stays
// valid for the grace period asked for.
func TestWebhookSigningSecretAPI(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)
	fx, api, logs := w.fx, w.api, w.logs
	got := decodeAs[WebhookSigningSecretView](t, api.call("GET", "/api/v1/webhook-signing-secret", ""))
	if got.Secret != fx.Workspace.WebhookSigningSecret || got.RotatedAt != nil || got.PreviousValidUntil != nil {
		t.Fatalf("secret %+v", got)
	}
	rec := api.call("POST", "/api/v1/webhook-signing-secret/rotate", `{"grace_period_hours": 2}`)
	rotated := decodeAs[WebhookSigningSecretView](t, rec)
	if rec.Code != http.StatusOK || rotated.Secret == got.Secret || !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.PreviousValidUntil == nil ||
		rotated.PreviousValidUntil.Sub(time.Now()) < 119*time.Minute || rotated.PreviousValidUntil.Sub(time.Now()) > 2*time.Hour {
		t.Fatalf("rotated %d %+v", rec.Code, rotated)
	}
	if now := decodeAs[WebhookSigningSecretView](t, api.call("GET", "/api/v1/webhook-signing-secret", "")); now.Secret != rotated.Secret {
		t.Fatalf("read after rotation %+v", now)
	}
	// No body: the default grace period; a bad one is a 422 naming it.
	if rec := api.call("POST", "/api/v1/webhook-signing-secret/rotate", ""); rec.Code != http.StatusOK {
		t.Fatalf("rotate without a body: %d %s", rec.Code, rec.Body)
	}
	for _, bad := range []string{`{"grace_period_hours": -1}`, `{"grace_period_hours": 100000}`, `{"grace": 1}`} {
		if rec := api.call("POST", "/api/v1/webhook-signing-secret/rotate", bad); rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d, want 422", bad, rec.Code)
		}
	}
	if strings.Contains(logs.String(), rotated.Secret) || strings.Contains(logs.String(), got.Secret) {
		t.Fatal("a signing secret is in the logs")
	}
}
