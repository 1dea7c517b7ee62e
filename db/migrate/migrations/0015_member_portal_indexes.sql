-- 0015: the member portal reads a member's own rewards (totals and the most
-- recent ones). Without this index each portal page scanned the whole rewards
-- table, and so did deleting a member (rewards.member_id cascades).
-- A member's referrals are already indexed (referrals_member_idx).
CREATE INDEX rewards_member_created_idx
    ON rewards (member_id, created_at DESC, id DESC) WHERE member_id IS NOT NULL;
