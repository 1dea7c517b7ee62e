package activities

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
)

// refreshMemberCounts recomputes a member's referral count and converted
// referral count in the transaction q runs in: the one that adds one of
// their referrals or changes its status (AddReferral, ChangeReferralStatus),
// so the counts are right the moment the change commits. When they change,
// the member is marked for HubSpot by the members_mark_for_hubspot trigger
// in the same transaction (migration 0023), and the worker's HubSpot writer
// sends them to the member's contact a moment later.
//
// The member's row is locked first: two referrals of one member changing at
// once then recount one after the other, the second seeing the first.
func refreshMemberCounts(ctx context.Context, q *db.Queries, memberID uuid.UUID) error {
	if err := q.MemberLockForCounts(ctx, memberID); err != nil {
		return fmt.Errorf("lock member %s to recount its referrals: %w", memberID, err)
	}
	if _, err := q.MemberRefreshReferralCounts(ctx, memberID); err != nil {
		return fmt.Errorf("refresh member %s's referral counts: %w", memberID, err)
	}
	return nil
}
