package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/review"
)

// ReferralReview is a change a referral's workflow holds for an admin.
type ReferralReview struct {
	ReferralID string
	WorkflowID string
	Reason     review.Reason
	Data       map[string]any
}

// OpenReferralReview puts the referral in the review queue: it is flagged
// in review and a review entry names the workflow waiting for the decision.
// A retry finds the open entry and adds none.
func (a *Activities) OpenReferralReview(ctx context.Context, r ReferralReview) (string, error) {
	id, err := parseID(r.ReferralID)
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(r.Data)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError("review data are not JSON", "InvalidInput", err)
	}
	var entryID string
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Queries.WithTx(tx)
		ref, err := q.ReferralSetInReview(ctx, db.ReferralSetInReviewParams{ID: id, InReview: true})
		if err != nil {
			return fmt.Errorf("put referral %s in review: %w", r.ReferralID, err)
		}
		if open, err := q.ReviewEntryGetOpenOfReferral(ctx, &id); err == nil {
			entryID = open.ID.String()
			return nil
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("find the open review of referral %s: %w", r.ReferralID, err)
		}
		entry, err := q.ReviewEntryOpenForReferral(ctx, db.ReviewEntryOpenForReferralParams{
			WorkspaceID: ref.WorkspaceID, CampaignID: &ref.CampaignID, ReferralID: &id,
			Reason: string(r.Reason), Data: data, WorkflowID: &r.WorkflowID,
		})
		if err != nil {
			return fmt.Errorf("queue review of referral %s: %w", r.ReferralID, err)
		}
		entryID = entry.ID.String()
		return nil
	})
	return entryID, err
}

// CloseReferralReview takes the referral out of review and closes its open
// review entry with the admin's decision ("accepted" or "rejected").
func (a *Activities) CloseReferralReview(ctx context.Context, referralID, decision, actor string) error {
	id, err := parseID(referralID)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Queries.WithTx(tx)
		if _, err := q.ReferralSetInReview(ctx, db.ReferralSetInReviewParams{ID: id, InReview: false}); err != nil {
			return fmt.Errorf("take referral %s out of review: %w", referralID, err)
		}
		open, err := q.ReviewEntryGetOpenOfReferral(ctx, &id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // closed by an earlier attempt
		}
		if err != nil {
			return fmt.Errorf("find the open review of referral %s: %w", referralID, err)
		}
		_, err = q.ReviewEntryDecide(ctx, db.ReviewEntryDecideParams{ID: open.ID, Status: string(review.Resolved), Decision: &decision, DecidedBy: &actor})
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("close review entry %s: %w", open.ID, err)
		}
		return nil
	})
}
