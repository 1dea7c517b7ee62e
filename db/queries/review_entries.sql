-- name: CreateReviewEntry :one
-- CreateReviewEntry puts something in front of an admin; a NULL data stores
-- an empty object.
INSERT INTO review_entries (
    workspace_id, campaign_id, sales_entry_id, referral_id, reason, data
) VALUES (
    @workspace_id, sqlc.narg(campaign_id), sqlc.narg(sales_entry_id), sqlc.narg(referral_id),
    @reason, COALESCE(sqlc.narg(data)::jsonb, '{}')
)
RETURNING *;

-- name: GetReviewEntry :one
-- GetReviewEntry loads a review entry by id.
SELECT * FROM review_entries
WHERE id = @id;

-- name: ListOpenReviewEntries :many
-- ListOpenReviewEntries is the review queue of a workspace, oldest first.
SELECT * FROM review_entries
WHERE workspace_id = @workspace_id AND status = 'open'
ORDER BY created_at, id;

-- name: DecideReviewEntry :one
-- DecideReviewEntry closes an open entry (resolved or dismissed) with the
-- admin's decision; no row when it was already decided.
UPDATE review_entries
SET status = @status,
    decision = @decision,
    decided_by = @decided_by,
    decided_at = now(),
    updated_at = now()
WHERE id = @id AND status = 'open'
RETURNING *;

-- name: OpenSalesEntryReview :one
-- OpenSalesEntryReview puts a sales entry in the review queue, held by the
-- workflow workflow_id. A sales entry has at most one open review entry: a
-- retry, or matching run again after an admin's edit, updates that one
-- (reason, data, campaign) instead of queueing the entry twice.
INSERT INTO review_entries (
    workspace_id, campaign_id, sales_entry_id, reason, data, workflow_id
) VALUES (
    @workspace_id, sqlc.narg(campaign_id), @sales_entry_id, @reason, @data, @workflow_id
)
ON CONFLICT (sales_entry_id) WHERE status = 'open' AND sales_entry_id IS NOT NULL
DO UPDATE SET reason = EXCLUDED.reason,
              data = EXCLUDED.data,
              campaign_id = EXCLUDED.campaign_id,
              workflow_id = EXCLUDED.workflow_id,
              updated_at = now()
RETURNING *;
