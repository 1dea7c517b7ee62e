-- name: InsertSalesEntry :one
-- InsertSalesEntry records one inbound HubSpot event. A redelivery (same
-- portal and dedupe key) writes nothing and returns no row (pgx.ErrNoRows).
INSERT INTO sales_entries (
    portal_id, workspace_id, dedupe_key, event_id, subscription_type,
    object_type, object_id, property_name, property_value, occurred_at,
    attempt_number, change_source, payload
) VALUES (
    @portal_id, sqlc.narg(workspace_id), @dedupe_key, sqlc.narg(event_id), @subscription_type,
    @object_type, @object_id, sqlc.narg(property_name), sqlc.narg(property_value), @occurred_at,
    sqlc.narg(attempt_number), sqlc.narg(change_source), @payload
)
ON CONFLICT (portal_id, dedupe_key) DO NOTHING
RETURNING *;

-- name: GetSalesEntry :one
-- GetSalesEntry loads a sales entry by id.
SELECT * FROM sales_entries
WHERE id = @id;

-- name: GetSalesEntryByDedupeKey :one
-- GetSalesEntryByDedupeKey finds the entry a redelivered event was deduplicated
-- against.
SELECT * FROM sales_entries
WHERE portal_id = @portal_id AND dedupe_key = @dedupe_key;

-- name: UpdateSalesEntryResult :one
-- UpdateSalesEntryResult records what was matched and done with an entry.
UPDATE sales_entries
SET status = @status,
    campaign_id = sqlc.narg(campaign_id),
    referral_id = sqlc.narg(referral_id),
    member_id = sqlc.narg(member_id),
    actions = COALESCE(sqlc.narg(actions)::jsonb, '[]'),
    error = sqlc.narg(error),
    processed_at = CASE WHEN @status::text = 'received' THEN NULL ELSE now() END,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: ListSalesEntriesByWorkspace :many
-- ListSalesEntriesByWorkspace pages through a workspace's entries, newest
-- first; pass the last row's id as before_id for the next page.
SELECT * FROM sales_entries
WHERE workspace_id = @workspace_id
  AND (sqlc.narg(before_id)::bigint IS NULL OR id < sqlc.narg(before_id)::bigint)
ORDER BY id DESC
LIMIT sqlc.arg(page_size)::int;
