package activities

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/referral"
)

// countReferralChange keeps a member's referral count and converted
// referral count right as one of their referrals is added (from is "") or
// moves from one status to another, in the transaction q runs in — the one
// that adds the referral or changes its status (AddReferral,
// ChangeReferralStatus) — so the counts are right the moment the change
// commits. When they change, the member is marked for HubSpot by the
// members_mark_for_hubspot trigger in the same transaction (migration
// 0023), and the worker's HubSpot writer sends them to the member's contact
// a moment later.
//
// It adds to the counts instead of recounting the member's referrals, and
// callers make it their transaction's last statement: the member's row is
// then locked only until the commit, so the referrals of a busy member do
// not queue behind each other's whole transactions.
func countReferralChange(ctx context.Context, q *db.Queries, memberID uuid.UUID, from, to referral.Status) error {
	referrals, converted := 0, 0
	if from == "" {
		referrals = 1
	}
	if to.Converted() {
		converted++
	}
	if from.Converted() {
		converted--
	}
	if referrals == 0 && converted == 0 {
		return nil
	}
	if err := q.MemberAddToReferralCounts(ctx, db.MemberAddToReferralCountsParams{ID: memberID, Referrals: int32(referrals), Converted: int32(converted)}); err != nil {
		return fmt.Errorf("count the referral change on member %s: %w", memberID, err)
	}
	return nil
}
