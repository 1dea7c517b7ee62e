package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/outgoing"
	"github.com/referflow/referflow/internal/webhookdelivery"
)

// Admins learn that something entered review through a signed outgoing
// webhook to the campaign's fulfilment URL, when the campaign's
// notify_on_review switch is on: OpenSalesEntryReview queues it in the
// outbox (internal/webhookdelivery) in the transaction that opens the review
// entry, and the worker's dispatcher sends it. Email through SMTP is not
// built: referflow has no SMTP configuration yet, and the webhook's receiver
// can mail, page or post to chat as the customer prefers.

// ReviewCreatedEventID is the Referflow-Event-Id of the announcement of a
// review entry: the same on every retry.
func ReviewCreatedEventID(reviewEntryID string) string {
	return webhookdelivery.EventReviewCreated + ":" + reviewEntryID
}

// ReviewCreatedData is the "data" of a review.created webhook: IDs only, no
// personal data; the receiver reads the entry through the admin API.
type ReviewCreatedData struct {
	ReviewEntryID string `json:"review_entry_id"`
	Reason        string `json:"reason"`
	CampaignID    string `json:"campaign_id,omitempty"`
	SalesEntryID  *int64 `json:"sales_entry_id,omitempty"`
	WorkflowID    string `json:"workflow_id,omitempty"`
}

// ReviewNotification says whether admins are told about a review entry.
type ReviewNotification struct {
	// Sent is true when the review.created webhook is in the outbox.
	Sent bool
	// Skipped says why nothing is sent.
	Skipped string `json:",omitempty"`
	EventID string `json:",omitempty"`
}

// NotifyReview queues the review.created webhook of a review entry, as
// OpenSalesEntryReview does in its transaction. Only sales-entry workflows
// started before the outbox call it (their histories replay with it); it
// queues the event once whatever retries.
func (a *Activities) NotifyReview(ctx context.Context, reviewEntryID string) (ReviewNotification, error) {
	id, err := parseEntityID(reviewEntryID, "review entry")
	if err != nil {
		return ReviewNotification{}, err
	}
	rev, err := a.Queries.ReviewEntryGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ReviewNotification{}, temporal.NewNonRetryableApplicationError("review entry "+reviewEntryID+" does not exist", "ReviewEntryNotFound", err)
	}
	if err != nil {
		return ReviewNotification{}, fmt.Errorf("load review entry %s: %w", reviewEntryID, err)
	}
	return queueReviewCreated(ctx, a.Queries, rev)
}

// queueReviewCreated puts a review entry's review.created webhook in the
// outbox, in q's transaction, when its campaign notifies on review and has
// a fulfilment URL; otherwise Skipped says why not.
func queueReviewCreated(ctx context.Context, q *db.Queries, rev db.ReviewEntry) (ReviewNotification, error) {
	if rev.CampaignID == nil {
		return ReviewNotification{Skipped: "the review entry has no campaign"}, nil
	}
	camp, err := q.CampaignGetByID(ctx, *rev.CampaignID)
	if err != nil {
		return ReviewNotification{}, fmt.Errorf("load campaign %s: %w", *rev.CampaignID, err)
	}
	settings, err := CampaignSettings(camp)
	if err != nil {
		return ReviewNotification{Skipped: "the campaign's settings cannot be read: " + err.Error()}, nil
	}
	if !settings.ProcessRules.NotifyOnReview {
		return ReviewNotification{Skipped: "the campaign does not notify on review"}, nil
	}
	if deref(camp.FulfilmentWebhookUrl) == "" {
		return ReviewNotification{Skipped: "the campaign has no fulfilment webhook URL"}, nil
	}
	ev := outgoing.Event{
		ID: ReviewCreatedEventID(rev.ID.String()), Type: webhookdelivery.EventReviewCreated, CreatedAt: rev.CreatedAt.UTC(),
		Data: ReviewCreatedData{
			ReviewEntryID: rev.ID.String(), Reason: rev.Reason, CampaignID: camp.ID.String(),
			SalesEntryID: rev.SalesEntryID, WorkflowID: deref(rev.WorkflowID),
		},
	}
	if _, err := webhookdelivery.Enqueue(ctx, q, rev.WorkspaceID, camp.ID, ev); err != nil {
		return ReviewNotification{}, err
	}
	return ReviewNotification{Sent: true, EventID: ev.ID}, nil
}
