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

-- name: RecordSalesEntries :many
-- RecordSalesEntries records a webhook delivery in one statement, so in one
-- transaction and one round trip:
--   * each event of entries (a JSON array of objects with the columns below,
--     built by hubspotwebhook.Record) becomes a sales entry with the
--     workspace of its portal's active connection, or none; an event already
--     recorded (same portal and dedupe key) writes nothing and returns no
--     row. Rows go in in the order given, which the caller sorts by
--     (portal_id, dedupe_key), so concurrent deliveries sharing events lock
--     them in the same order and cannot deadlock;
--   * the connections of portal_ids get last_webhook_at, and last_entry_at
--     when new entries came. The times are kept to the second: a connection
--     touched within the last second is left alone, so concurrent deliveries
--     of a portal (HubSpot keeps up to 10 in flight) do not queue on its row;
--   * when there are new entries, the dispatchers are woken:
--     NOTIFY sales_entries (hubspotwebhook.NotifyChannel) on commit.
WITH inserted AS (
    INSERT INTO sales_entries (
        portal_id, workspace_id, dedupe_key, event_id, subscription_type,
        object_type, object_id, property_name, property_value, occurred_at,
        attempt_number, change_source, payload
    )
    SELECT e.portal_id, hc.workspace_id, e.dedupe_key, e.event_id, e.subscription_type,
           e.object_type, e.object_id, e.property_name, e.property_value, e.occurred_at,
           e.attempt_number, e.change_source, e.payload
    FROM jsonb_to_recordset(@entries::jsonb) AS e(
        ord bigint, portal_id bigint, dedupe_key text, event_id bigint,
        subscription_type text, object_type text, object_id bigint,
        property_name text, property_value text, occurred_at timestamptz,
        attempt_number integer, change_source text, payload jsonb
    )
    LEFT JOIN hubspot_connections hc
        ON hc.portal_id = e.portal_id AND hc.disconnected_at IS NULL
    ORDER BY e.ord
    ON CONFLICT (portal_id, dedupe_key) DO NOTHING
    RETURNING id, portal_id, dedupe_key
),
touched AS (
    UPDATE hubspot_connections hc
    SET last_webhook_at = now(),
        last_entry_at = CASE WHEN hc.portal_id IN (SELECT portal_id FROM inserted) THEN now() ELSE hc.last_entry_at END
    WHERE hc.portal_id = ANY(@portal_ids::bigint[]) AND hc.disconnected_at IS NULL
      AND (hc.last_webhook_at IS NULL OR hc.last_webhook_at < now() - interval '1 second'
           OR (hc.portal_id IN (SELECT portal_id FROM inserted)
               AND (hc.last_entry_at IS NULL OR hc.last_entry_at < now() - interval '1 second')))
    RETURNING hc.id
),
notified AS (
    SELECT pg_notify('sales_entries', '') AS sent
    WHERE EXISTS (SELECT 1 FROM inserted)
)
SELECT i.id, i.portal_id, i.dedupe_key
FROM inserted i
LEFT JOIN notified ON true;
