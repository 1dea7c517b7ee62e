-- name: SyncFailureAdd :copyfrom
-- SyncFailureAdd records contacts a sync run could not handle.
INSERT INTO sync_failures (sync_id, run_started_at, hubspot_contact_id, reason)
VALUES (@sync_id, @run_started_at, @hubspot_contact_id, @reason);

-- name: SyncFailureDeleteBySync :exec
-- SyncFailureDeleteBySync forgets a sync's failures when a new run starts.
DELETE FROM sync_failures WHERE sync_id = @sync_id;

-- name: SyncFailureListBySync :many
-- SyncFailureListBySync lists a sync's failures (its last run's), first
-- first, at most @max_rows.
SELECT * FROM sync_failures
WHERE sync_id = @sync_id
ORDER BY id
LIMIT @max_rows;

-- name: SyncFailureErase :execrows
-- SyncFailureErase scrubs a person out of the failures of a workspace's
-- syncs: those of their HubSpot contacts, and any naming their email.
UPDATE sync_failures
SET reason = privacy_scrub(reason, @emails::text[], @words::text[])
WHERE sync_id IN (SELECT id FROM syncs WHERE workspace_id = @workspace_id)
  AND (hubspot_contact_id = ANY(@contact_ids::text[]) OR reason ILIKE ANY(@patterns::text[]));
