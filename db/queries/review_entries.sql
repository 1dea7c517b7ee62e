-- name: ReviewEntryCreate :one
-- ReviewEntryCreate puts something in front of an admin; a NULL data stores
-- an empty object.
INSERT INTO review_entries (
    workspace_id, campaign_id, sales_entry_id, referral_id, reason, data
) VALUES (
    @workspace_id, sqlc.narg(campaign_id), sqlc.narg(sales_entry_id), sqlc.narg(referral_id),
    @reason, COALESCE(sqlc.narg(data)::jsonb, '{}')
)
RETURNING *;

-- name: ReviewEntryGetByID :one
-- ReviewEntryGetByID loads a review entry by id.
SELECT * FROM review_entries
WHERE id = @id;

-- name: ReviewEntryListOpen :many
-- ReviewEntryListOpen is the review queue of a workspace, oldest first.
SELECT * FROM review_entries
WHERE workspace_id = @workspace_id AND status = 'open'
ORDER BY created_at, id;

-- name: ReviewEntryListFiltered :many
-- ReviewEntryListFiltered is the review queue of a workspace in one
-- status, oldest first (first come, first decided). The page starts above
-- (after_created_at, after_id): the previous page's last row, or a time
-- before every row for the first page.
SELECT * FROM review_entries
WHERE workspace_id = @workspace_id
  AND status = @status
  AND (created_at, id) > (@after_created_at::timestamptz, @after_id::uuid)
ORDER BY created_at, id
LIMIT sqlc.arg(page_size)::int;

-- name: ReviewEntryDecide :one
-- ReviewEntryDecide closes an open entry (resolved or dismissed) with the
-- admin's decision; no row when it was already decided.
UPDATE review_entries
SET status = @status,
    decision = @decision,
    decided_by = @decided_by,
    decided_at = now(),
    updated_at = now()
WHERE id = @id AND status = 'open'
RETURNING *;

-- name: ReviewEntryOpenForSalesEntry :one
-- ReviewEntryOpenForSalesEntry puts a sales entry in the review queue, held by the
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

-- name: ReviewEntryGetLatestOfSalesEntry :one
-- ReviewEntryGetLatestOfSalesEntry is the review entry a sales entry went to
-- most recently (an edited entry can go to review again).
SELECT * FROM review_entries
WHERE sales_entry_id = @sales_entry_id
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- name: ReviewEntryOpenForReferral :one
-- ReviewEntryOpenForReferral queues a change a referral's workflow holds for an
-- admin; workflow_id is that workflow, which receives the decision.
INSERT INTO review_entries (workspace_id, campaign_id, referral_id, reason, data, workflow_id)
VALUES (@workspace_id, @campaign_id, @referral_id, @reason, @data, @workflow_id)
RETURNING *;

-- name: ReviewEntryGetOpenOfReferral :one
-- ReviewEntryGetOpenOfReferral finds the review entry a referral's own
-- workflow holds (a denied referral HubSpot would move on).
SELECT * FROM review_entries
WHERE referral_id = @referral_id AND sales_entry_id IS NULL AND status = 'open'
ORDER BY created_at DESC
LIMIT 1;

-- name: ReviewEntryListOfPerson :many
-- ReviewEntryListOfPerson lists a workspace's review entries that name a
-- person: about their referrals, about an event of their HubSpot contacts,
-- or carrying their email (an export).
SELECT * FROM review_entries
WHERE review_entries.workspace_id = @workspace_id
  AND (referral_id = ANY(@referral_ids::uuid[])
       OR sales_entry_id IN (SELECT id FROM sales_entries
                             WHERE sales_entries.workspace_id = @workspace_id
                               AND object_type = 'contact' AND object_id = ANY(@contact_ids::bigint[]))
       OR data::text ILIKE ANY(@patterns::text[]))
ORDER BY review_entries.created_at, review_entries.id;

-- name: ReviewEntryErase :execrows
-- ReviewEntryErase scrubs a person's email and names out of the review
-- entries that name them (as ReviewEntryListOfPerson finds them).
UPDATE review_entries
SET data = privacy_scrub_json(data, @emails::text[], @words::text[]),
    decision = privacy_scrub(decision, @emails::text[], @words::text[])
WHERE review_entries.workspace_id = @workspace_id
  AND (referral_id = ANY(@referral_ids::uuid[])
       OR sales_entry_id IN (SELECT id FROM sales_entries
                             WHERE sales_entries.workspace_id = @workspace_id
                               AND object_type = 'contact' AND object_id = ANY(@contact_ids::bigint[]))
       OR data::text ILIKE ANY(@patterns::text[]));
