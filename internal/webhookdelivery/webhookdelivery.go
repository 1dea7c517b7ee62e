// Package webhookdelivery is referflow's outbox of outgoing webhooks, as
// Stripe runs its own: every announcement (a reward issued, a review entry
// created, a referral's status changed) is written to webhook_deliveries by
// Enqueue in the transaction of the change it reports, with its exact body,
// and the worker's Dispatcher sends it to the campaign's fulfilment URL,
// signed (internal/outgoing), retrying with exponential backoff and jitter
// for up to RetryWindow, then marking it failed. Every attempt is recorded
// (time, status, latency, the start of the answer) for the workspace's
// admins. The event ID and the body never change, through retries and
// replays.
//
// No workflow sends a webhook: a change committed is announced even when
// the worker that made it dies at once, and a dispatcher that dies
// mid-delivery leaves only the rows it had leased (at most Concurrency),
// which another dispatcher sends again when their lease runs out.
package webhookdelivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/outgoing"
)

// Status is where a delivery stands.
type Status string

// A delivery is pending (waiting for its next attempt or being sent) until
// the receiver acknowledges it (delivered) or its retries run out (failed).
// A replay makes it pending again.
const (
	Pending   Status = "pending"
	Delivered Status = "delivered"
	Failed    Status = "failed"
)

// Statuses lists every status, in their order.
var Statuses = []Status{Pending, Delivered, Failed}

// The events referflow announces: the type of the body and of
// Referflow-Event-Id's prefix.
const (
	// EventRewardIssued announces an issued reward to the campaign's
	// fulfilment URL (always, when the campaign has one).
	EventRewardIssued = "reward.issued"
	// EventReviewCreated announces a review entry, when the campaign's
	// process_rules.notify_on_review is on.
	EventReviewCreated = "review.created"
	// EventReferralStatusChanged announces each change of a referral's
	// status, when the campaign's process_rules.notify_on_status_change is
	// on (off by default, so existing receivers are not flooded).
	EventReferralStatusChanged = "referral.status_changed"
)

// EventTypes lists every event type.
var EventTypes = []string{EventRewardIssued, EventReviewCreated, EventReferralStatusChanged}

// RetryWindow is how long a delivery is retried, from its event (or from
// its replay), before it is marked failed.
const RetryWindow = 72 * time.Hour

// NotifyChannel is the Postgres channel the outbox's queries notify when a
// delivery becomes due, and the Dispatcher LISTENs on.
const NotifyChannel = "webhook_deliveries"

// Enqueue writes ev to the outbox in q's transaction, for the fulfilment
// URL of campaignID: it is sent once that transaction commits, and never if
// it rolls back. An event already in the outbox (a retried activity) is left
// as it is; queued says whether this call added it.
func Enqueue(ctx context.Context, q *db.Queries, workspaceID, campaignID uuid.UUID, ev outgoing.Event) (queued bool, err error) {
	if ev.ID == "" || ev.Type == "" {
		return false, errors.New("webhookdelivery: an event needs an id and a type")
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return false, fmt.Errorf("webhookdelivery: encode %s event %s: %w", ev.Type, ev.ID, err)
	}
	created := ev.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	_, err = q.WebhookDeliveryInsert(ctx, db.WebhookDeliveryInsertParams{
		WorkspaceID: workspaceID, CampaignID: campaignID, EventID: ev.ID, EventType: ev.Type, Body: body,
		CreatedAt: created, RetryUntil: created.Add(RetryWindow), Channel: NotifyChannel,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("queue %s event %s: %w", ev.Type, ev.ID, err)
	}
	return true, nil
}

// NewSigningSecret is a new workspace webhook signing secret: "whsec_" and
// 32 random bytes in hex.
func NewSigningSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a webhook signing secret: %w", err)
	}
	return "whsec_" + hex.EncodeToString(b), nil
}

// SigningSecrets are the secrets that sign a delivery at now: the
// workspace's, and the one it replaced while its grace period lasts.
func SigningSecrets(current string, previous *string, previousUntil *time.Time, now time.Time) [][]byte {
	secrets := [][]byte{[]byte(current)}
	if previous != nil && previousUntil != nil && now.Before(*previousUntil) {
		secrets = append(secrets, []byte(*previous))
	}
	return secrets
}
