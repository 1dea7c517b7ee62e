package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/internal/outgoing"
)

// Admins learn that something entered review through a signed outgoing
// webhook (internal/outgoing) to the campaign's fulfilment URL, when the
// campaign's notify_on_review switch is on. Email through SMTP is not built:
// referflow has no SMTP configuration yet, and the webhook's receiver can
// mail, page or post to chat as the customer prefers.

// ReviewCreatedEvent is the type of the webhook announcing a review entry.
const ReviewCreatedEvent = "review.created"

// ReviewCreatedEventID is the Referflow-Event-Id of the announcement of a
// review entry: the same on every retry.
func ReviewCreatedEventID(reviewEntryID string) string {
	return ReviewCreatedEvent + ":" + reviewEntryID
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

// ReviewNotification says whether admins were told about a review entry.
type ReviewNotification struct {
	Sent bool
	// Skipped says why nothing was sent.
	Skipped string `json:",omitempty"`
	EventID string `json:",omitempty"`
}

// NotifyReview announces a review entry with a signed review.created webhook
// to its campaign's fulfilment URL when the campaign's notify_on_review is
// on. No campaign, the switch off or no URL: nothing is sent, and
// Skipped says which. A receiver that does not answer 2xx fails the activity
// retryably (WebhookDeliveryFailed), and the retry sends the same event (same
// ID, same body), as reward webhooks are; a URL the webhook policy refuses
// (WebhookPolicy) is not retried.
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
	if rev.CampaignID == nil {
		return ReviewNotification{Skipped: "the review entry has no campaign"}, nil
	}
	camp, err := a.Queries.CampaignGetByID(ctx, *rev.CampaignID)
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
	url := deref(camp.FulfilmentWebhookUrl)
	if url == "" {
		return ReviewNotification{Skipped: "the campaign has no fulfilment webhook URL"}, nil
	}
	ws, err := a.Queries.WorkspaceGetByID(ctx, rev.WorkspaceID)
	if err != nil {
		return ReviewNotification{}, fmt.Errorf("load workspace %s: %w", rev.WorkspaceID, err)
	}
	ev := outgoing.Event{
		ID: ReviewCreatedEventID(rev.ID.String()), Type: ReviewCreatedEvent, CreatedAt: rev.CreatedAt.UTC(),
		Data: ReviewCreatedData{
			ReviewEntryID: rev.ID.String(), Reason: rev.Reason, CampaignID: camp.ID.String(),
			SalesEntryID: rev.SalesEntryID, WorkflowID: deref(rev.WorkflowID),
		},
	}
	if err := outgoing.Send(ctx, a.webhooks(), url, []byte(ws.WebhookSigningSecret), ev); err != nil {
		var de *outgoing.DeliveryError
		switch {
		case errors.As(err, &de):
			return ReviewNotification{}, temporal.NewApplicationErrorWithCause(err.Error(), ErrTypeWebhookDeliveryFailed, err)
		case errors.Is(err, outgoing.ErrUnsupportedURL):
			return ReviewNotification{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidFulfilmentURL, err)
		default:
			return ReviewNotification{}, err
		}
	}
	return ReviewNotification{Sent: true, EventID: ev.ID}, nil
}
