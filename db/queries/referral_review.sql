-- name: GetOpenReviewEntryOfReferral :one
-- GetOpenReviewEntryOfReferral finds the review entry a referral's own
-- workflow holds (a denied referral HubSpot would move on).
SELECT * FROM review_entries
WHERE referral_id = @referral_id AND sales_entry_id IS NULL AND status = 'open'
ORDER BY created_at DESC
LIMIT 1;

-- name: OpenReferralReviewEntry :one
-- OpenReferralReviewEntry queues a change a referral's workflow holds for an
-- admin; workflow_id is that workflow, which receives the decision.
INSERT INTO review_entries (workspace_id, campaign_id, referral_id, reason, data, workflow_id)
VALUES (@workspace_id, @campaign_id, @referral_id, @reason, @data, @workflow_id)
RETURNING *;
