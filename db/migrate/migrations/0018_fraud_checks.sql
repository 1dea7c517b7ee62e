-- 0018: the fraud checks at the door, per campaign.
--
-- fraud_checks holds settings.fraud_checks (what each fraud signal does:
-- deny, review or off, and its thresholds), validated by the Go code like
-- the other settings columns; an empty object means the defaults.
--
-- The shared_visitor check counts the distinct members one visitor sent
-- referrals for within a window: the visitor index of 0014 now carries the
-- member too, so the count is read from the index alone. Its other two
-- questions (visitor velocity here, member velocity on referrals_member_idx)
-- were already answered by indexes.

ALTER TABLE campaigns
    ADD COLUMN fraud_checks jsonb NOT NULL DEFAULT '{}'
        CHECK (jsonb_typeof(fraud_checks) = 'object');

COMMENT ON COLUMN campaigns.fraud_checks IS 'settings.fraud_checks: what each fraud signal does (deny, review, off) and its thresholds; {} means the defaults.';

DROP INDEX referrals_campaign_id_visitor_hash_created_at_idx;
CREATE INDEX referrals_campaign_id_visitor_hash_created_at_idx
    ON referrals (campaign_id, visitor_hash, created_at) INCLUDE (member_id)
    WHERE visitor_hash IS NOT NULL;

-- A referral the fraud checks hold for an admin waits in the review queue
-- with the reason fraud_check.
ALTER TABLE review_entries DROP CONSTRAINT review_entries_reason_check;
ALTER TABLE review_entries ADD CONSTRAINT review_entries_reason_check
    CHECK (reason IN ('no_member_match', 'denied_to_approved', 'ambiguous_match', 'unconfirmed_match', 'manual', 'fraud_check'));
