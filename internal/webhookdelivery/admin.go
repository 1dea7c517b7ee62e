package webhookdelivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/db"
)

// What admins do with deliveries and signing secrets: the admin API calls
// these, and so do the tests.

// ErrNotFound: no such delivery in the workspace (another workspace's is
// not found either).
var ErrNotFound = errors.New("webhook delivery not found")

// ErrInFlight: the delivery is being sent right now; replaying it would
// race its dispatcher.
var ErrInFlight = errors.New("the webhook delivery is being sent right now; try again in a minute")

// Replay sends one delivery of a workspace again, whatever its status, with
// the same event ID and body, retried for a new RetryWindow from now.
func Replay(ctx context.Context, q *db.Queries, workspaceID, id uuid.UUID, now time.Time) (db.WebhookDelivery, error) {
	row, err := q.WebhookDeliveryReplay(ctx, db.WebhookDeliveryReplayParams{
		ID: id, WorkspaceID: workspaceID, Now: now, RetryUntil: now.Add(RetryWindow), Channel: NotifyChannel,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := q.WebhookDeliveryGet(ctx, db.WebhookDeliveryGetParams{ID: id, WorkspaceID: workspaceID}); err == nil {
			return db.WebhookDelivery{}, ErrInFlight
		}
		return db.WebhookDelivery{}, ErrNotFound
	}
	if err != nil {
		return db.WebhookDelivery{}, fmt.Errorf("replay webhook delivery %s: %w", id, err)
	}
	return db.WebhookDelivery(row), nil
}

// ReplayFailed replays every failed delivery of a workspace (of one event
// type and campaign when given) and returns their IDs.
func ReplayFailed(ctx context.Context, q *db.Queries, workspaceID uuid.UUID, eventType *string, campaignID *uuid.UUID, now time.Time) ([]uuid.UUID, error) {
	ids, err := q.WebhookDeliveryReplayFailed(ctx, db.WebhookDeliveryReplayFailedParams{
		WorkspaceID: workspaceID, EventType: eventType, CampaignID: campaignID, Now: now, RetryUntil: now.Add(RetryWindow), Channel: NotifyChannel,
	})
	if err != nil {
		return nil, fmt.Errorf("replay failed webhook deliveries: %w", err)
	}
	return ids, nil
}

// DefaultGrace is how long a rotated-out signing secret goes on signing
// when the admin does not say.
const DefaultGrace = 24 * time.Hour

// MaxGrace bounds the grace period of a rotation.
const MaxGrace = 30 * 24 * time.Hour

// RotateSigningSecret gives a workspace a new signing secret; the one it
// replaces signs too (a second v1 in Referflow-Signature) for grace.
func RotateSigningSecret(ctx context.Context, q *db.Queries, workspaceID uuid.UUID, grace time.Duration, now time.Time) (db.Workspace, error) {
	if grace < 0 || grace > MaxGrace {
		return db.Workspace{}, fmt.Errorf("a grace period is from 0 to %s", MaxGrace)
	}
	secret, err := NewSigningSecret()
	if err != nil {
		return db.Workspace{}, err
	}
	ws, err := q.WorkspaceRotateWebhookSigningSecret(ctx, db.WorkspaceRotateWebhookSigningSecretParams{
		ID: workspaceID, NewSecret: secret, PreviousUntil: now.Add(grace),
	})
	if err != nil {
		return db.Workspace{}, fmt.Errorf("rotate the webhook signing secret of workspace %s: %w", workspaceID, err)
	}
	return ws, nil
}
