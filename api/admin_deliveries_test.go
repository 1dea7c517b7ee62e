package api

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
)

// TestDeliveriesPages: the deliveries page lists the workspace's webhooks
// with filters; a delivery's page shows each attempt (status, answer,
// latency, error) and the payload; replay queues a failed one again.
func TestDeliveriesPages(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	fx := d.SeedReferral(t)
	ctx := context.Background()
	b := signInAdmin(t, srv, d, fx.Workspace, "ops@acme.test")
	now := time.Now()
	insert := func(eventType string) db.WebhookDeliveryInsertRow {
		dl, err := d.Queries.WebhookDeliveryInsert(ctx, db.WebhookDeliveryInsertParams{
			WorkspaceID: fx.Workspace.ID, CampaignID: fx.Campaign.ID, EventID: eventType + ":" + uuid.NewString(),
			EventType: eventType, Body: []byte(`{"type":"` + eventType + `","amount":"40.00"}`), CreatedAt: now, RetryUntil: now.Add(time.Hour),
			Channel: "fulfilment",
		})
		if err != nil {
			t.Fatal(err)
		}
		return dl
	}
	failed, pending := insert("reward.issued"), insert("review.created")
	status := int32(502)
	for i, a := range []db.WebhookDeliveryAttemptInsertParams{
		{StatusCode: &status, LatencyMs: 1234, ResponseExcerpt: ptrTo("upstream down")},
		{LatencyMs: 10000, Error: ptrTo("timed out after 10s")},
	} {
		a.DeliveryID, a.AttemptedAt = failed.ID, now.Add(time.Duration(i)*time.Minute)
		if _, err := d.Queries.WebhookDeliveryAttemptInsert(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Pool.Exec(ctx, `UPDATE webhook_deliveries SET status = 'failed', failed_at = now(), attempt_count = 2 WHERE id = $1`, failed.ID); err != nil {
		t.Fatal(err)
	}

	page := b.get("/admin/deliveries", http.StatusOK)
	for _, want := range []string{"<h1>Webhook deliveries</h1>", "/admin/deliveries/" + failed.ID.String(), "/admin/deliveries/" + pending.ID.String(), "review.created", fx.Campaign.Name} {
		if !strings.Contains(page, want) {
			t.Errorf("deliveries page lacks %q", want)
		}
	}
	page = b.get("/admin/deliveries?status=failed&event_type=reward.issued", http.StatusOK)
	if !strings.Contains(page, failed.ID.String()) || strings.Contains(page, pending.ID.String()) {
		t.Errorf("filtered to failed:\n%s", page)
	}
	rec := b.send(http.MethodGet, "/admin/deliveries?status=lost", nil)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "must be one of pending, delivered, failed") {
		t.Errorf("bad filter = %d %s", rec.Code, rec.Body)
	}

	page = b.get("/admin/deliveries/"+failed.ID.String(), http.StatusOK)
	for _, want := range []string{"502", "1234 ms", "upstream down", "no answer", "timed out after 10s", "&#34;amount&#34;:&#34;40.00&#34;", "Replay this delivery"} {
		if !strings.Contains(page, want) {
			t.Errorf("delivery page lacks %q:\n%s", want, page)
		}
	}
	if rec := b.send(http.MethodPost, "/admin/deliveries/"+failed.ID.String()+"/replay", url.Values{}); rec.Code != http.StatusForbidden {
		t.Errorf("replay without a CSRF token = %d", rec.Code)
	}
	rec = b.post("/admin/deliveries/"+failed.ID.String(), "/admin/deliveries/"+failed.ID.String()+"/replay", nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/deliveries/"+failed.ID.String() {
		t.Fatalf("replay = %d %s", rec.Code, rec.Body)
	}
	if page := b.get("/admin/deliveries/"+failed.ID.String(), http.StatusOK); !strings.Contains(page, "Queued again") || !strings.Contains(page, ">pending<") {
		t.Errorf("after replay:\n%s", page)
	}
	for _, id := range []string{"nope", uuid.NewString()} {
		if rec := b.send(http.MethodGet, "/admin/deliveries/"+id, nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET delivery %s = %d", id, rec.Code)
		}
	}
}
