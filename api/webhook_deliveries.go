package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/webhookdelivery"
)

// The outbox of outgoing webhooks, for a workspace's admins: what was sent
// where, every attempt with the receiver's answer, and replays
// (internal/webhookdelivery does the work).

func (s *Server) routeWebhookDeliveries(g *echo.Group) {
	g.GET("/webhook-deliveries", s.listWebhookDeliveries)
	g.POST("/webhook-deliveries/replay", s.replayFailedWebhookDeliveries)
	g.GET("/webhook-deliveries/:id", s.getWebhookDelivery)
	g.POST("/webhook-deliveries/:id/replay", s.replayWebhookDelivery)
	g.GET("/webhook-signing-secret", s.getWebhookSigningSecret)
	g.POST("/webhook-signing-secret/rotate", s.rotateWebhookSigningSecret)
}

// WebhookDeliveryView is one event's delivery. Payload (the exact body
// sent) and Attempts are filled on reads of one delivery.
type WebhookDeliveryView struct {
	ID            string                       `json:"id"`
	EventID       string                       `json:"event_id"`
	EventType     string                       `json:"event_type"`
	CampaignID    string                       `json:"campaign_id"`
	Status        string                       `json:"status"`
	AttemptCount  int32                        `json:"attempt_count"`
	NextAttemptAt *time.Time                   `json:"next_attempt_at"`
	RetryUntil    time.Time                    `json:"retry_until"`
	LastAttemptAt *time.Time                   `json:"last_attempt_at"`
	DeliveredAt   *time.Time                   `json:"delivered_at"`
	FailedAt      *time.Time                   `json:"failed_at"`
	CreatedAt     time.Time                    `json:"created_at"`
	Payload       json.RawMessage              `json:"payload,omitempty"`
	Attempts      []WebhookDeliveryAttemptView `json:"attempts,omitempty"`
}

// WebhookDeliveryAttemptView is one try: the receiver's status (null when
// it did not answer), how long it took, and the start of its answer.
type WebhookDeliveryAttemptView struct {
	AttemptedAt     time.Time `json:"attempted_at"`
	StatusCode      *int32    `json:"status_code"`
	LatencyMs       int32     `json:"latency_ms"`
	Error           *string   `json:"error"`
	ResponseExcerpt *string   `json:"response_excerpt"`
}

// WebhookDeliveryList is one page of deliveries, newest first.
type WebhookDeliveryList struct {
	WebhookDeliveries []WebhookDeliveryView `json:"webhook_deliveries"`
	NextCursor        *string               `json:"next_cursor"`
}

// WebhookReplayResult lists the deliveries a bulk replay queued again.
type WebhookReplayResult struct {
	Replayed int      `json:"replayed"`
	IDs      []string `json:"ids"`
}

func webhookDeliveryView(d db.WebhookDelivery) WebhookDeliveryView {
	v := WebhookDeliveryView{
		ID: d.ID.String(), EventID: d.EventID, EventType: d.EventType, CampaignID: d.CampaignID.String(), Status: d.Status,
		AttemptCount: d.AttemptCount, RetryUntil: d.RetryUntil, LastAttemptAt: d.LastAttemptAt,
		DeliveredAt: d.DeliveredAt, FailedAt: d.FailedAt, CreatedAt: d.CreatedAt,
	}
	if d.Status == string(webhookdelivery.Pending) {
		next := d.NextAttemptAt
		v.NextAttemptAt = &next
	}
	return v
}

func (s *Server) listWebhookDeliveries(c echo.Context) error {
	out, err := s.webhookDeliveryList(c, newListQuery(c, "status", "event_type", "campaign_id", "limit", "cursor"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// webhookDeliveryList reads one page of the workspace's deliveries with the
// filters of q; the JSON list and the deliveries page both call it.
func (s *Server) webhookDeliveryList(c echo.Context, q *listQuery) (WebhookDeliveryList, error) {
	params := db.WebhookDeliveryListFilteredParams{
		WorkspaceID: adminFrom(c).WorkspaceID,
		Status:      q.oneOf("status", words(webhookdelivery.Statuses)),
		EventType:   q.oneOf("event_type", webhookdelivery.EventTypes),
		CampaignID:  q.uuid("campaign_id"),
		// The first page starts after every delivery.
		BeforeCreatedAt: endOfTime, BeforeID: maxUUID,
	}
	limit := q.limit()
	if cur, ok := q.cursor("webhook-deliveries"); ok {
		params.BeforeCreatedAt, params.BeforeID = cur.timeAndUUID(q)
	}
	if err := q.err(); err != nil {
		return WebhookDeliveryList{}, err
	}
	params.PageSize = limit + 1
	rows, err := s.queries().WebhookDeliveryListFiltered(c.Request().Context(), params)
	if err != nil {
		return WebhookDeliveryList{}, fmt.Errorf("list webhook deliveries: %w", err)
	}
	out := WebhookDeliveryList{WebhookDeliveries: make([]WebhookDeliveryView, 0, min(len(rows), int(limit)))}
	for i, d := range rows {
		if i == int(limit) {
			last := rows[i-1]
			out.NextCursor = pageCursor{Kind: "webhook-deliveries", At: &last.CreatedAt, ID: last.ID.String()}.encode()
			break
		}
		out.WebhookDeliveries = append(out.WebhookDeliveries, webhookDeliveryView(d))
	}
	return out, nil
}

// webhookDeliveryID reads the path's delivery ID; not a UUID is a 404 like
// a delivery of another workspace.
func webhookDeliveryID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, NewError(http.StatusNotFound, "not_found", "no such webhook delivery: delivery IDs are UUIDs")
	}
	return id, nil
}

var errNoSuchDelivery = NewError(http.StatusNotFound, "not_found", "no such webhook delivery in your workspace")

func (s *Server) getWebhookDelivery(c echo.Context) error {
	v, err := s.webhookDeliveryWithAttempts(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// webhookDeliveryWithAttempts loads the path's delivery of the workspace
// with its payload and every attempt.
func (s *Server) webhookDeliveryWithAttempts(c echo.Context) (WebhookDeliveryView, error) {
	id, err := webhookDeliveryID(c)
	if err != nil {
		return WebhookDeliveryView{}, err
	}
	ctx := c.Request().Context()
	d, err := s.queries().WebhookDeliveryGet(ctx, db.WebhookDeliveryGetParams{ID: id, WorkspaceID: adminFrom(c).WorkspaceID})
	if errors.Is(err, pgx.ErrNoRows) {
		return WebhookDeliveryView{}, errNoSuchDelivery
	}
	if err != nil {
		return WebhookDeliveryView{}, fmt.Errorf("load webhook delivery: %w", err)
	}
	attempts, err := s.queries().WebhookDeliveryAttemptListByDelivery(ctx, d.ID)
	if err != nil {
		return WebhookDeliveryView{}, fmt.Errorf("load webhook delivery attempts: %w", err)
	}
	v := webhookDeliveryView(d)
	v.Payload = d.Body
	v.Attempts = make([]WebhookDeliveryAttemptView, len(attempts))
	for i, a := range attempts {
		v.Attempts[i] = WebhookDeliveryAttemptView{
			AttemptedAt: a.AttemptedAt, StatusCode: a.StatusCode, LatencyMs: a.LatencyMs, Error: a.Error, ResponseExcerpt: a.ResponseExcerpt,
		}
	}
	return v, nil
}

func (s *Server) replayWebhookDelivery(c echo.Context) error {
	id, err := webhookDeliveryID(c)
	if err != nil {
		return err
	}
	d, err := s.replayDelivery(c, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, webhookDeliveryView(d))
}

// replayDelivery queues a delivery of the workspace again (the JSON API and
// the delivery page).
func (s *Server) replayDelivery(c echo.Context, id uuid.UUID) (db.WebhookDelivery, error) {
	d, err := webhookdelivery.Replay(c.Request().Context(), s.queries(), adminFrom(c).WorkspaceID, id, time.Now())
	switch {
	case errors.Is(err, webhookdelivery.ErrNotFound):
		return d, errNoSuchDelivery
	case errors.Is(err, webhookdelivery.ErrInFlight):
		return d, NewError(http.StatusConflict, "conflict", err.Error())
	}
	return d, err
}

func (s *Server) replayFailedWebhookDeliveries(c echo.Context) error {
	q := newListQuery(c, "event_type", "campaign_id")
	eventType, campaignID := q.oneOf("event_type", webhookdelivery.EventTypes), q.uuid("campaign_id")
	if err := q.err(); err != nil {
		return err
	}
	ids, err := webhookdelivery.ReplayFailed(c.Request().Context(), s.queries(), adminFrom(c).WorkspaceID, eventType, campaignID, time.Now())
	if err != nil {
		return err
	}
	out := WebhookReplayResult{Replayed: len(ids), IDs: make([]string, len(ids))}
	for i, id := range ids {
		out.IDs[i] = id.String()
	}
	return c.JSON(http.StatusAccepted, out)
}
