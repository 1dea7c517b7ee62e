-- name: SalesEntryInsert :one
-- SalesEntryInsert records one inbound HubSpot event. A redelivery (same
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

-- name: SalesEntryGetByID :one
-- SalesEntryGetByID loads a sales entry by id.
SELECT * FROM sales_entries
WHERE id = @id;

-- name: SalesEntryGetByDedupeKey :one
-- SalesEntryGetByDedupeKey finds the entry a redelivered event was deduplicated
-- against.
SELECT * FROM sales_entries
WHERE portal_id = @portal_id AND dedupe_key = @dedupe_key;

-- name: SalesEntryUpdateResult :one
-- SalesEntryUpdateResult records what was matched and done with an entry.
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

-- name: SalesEntryListFiltered :many
-- SalesEntryListFiltered is the Sales Receiver log of a workspace, newest
-- first (ids are given in arrival order). Each filter is optional; since and
-- until bound received_at (since inclusive, until exclusive). The page starts
-- below before_id: the previous page's last id, or the largest bigint.
SELECT * FROM sales_entries
WHERE workspace_id = sqlc.arg(workspace_id)::uuid
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(campaign_id)::uuid IS NULL OR campaign_id = sqlc.narg(campaign_id)::uuid)
  AND (sqlc.narg(object_type)::text IS NULL OR object_type = sqlc.narg(object_type)::text)
  AND (sqlc.narg(object_id)::bigint IS NULL OR object_id = sqlc.narg(object_id)::bigint)
  AND (sqlc.narg(since)::timestamptz IS NULL OR received_at >= sqlc.narg(since)::timestamptz)
  AND (sqlc.narg(until)::timestamptz IS NULL OR received_at < sqlc.narg(until)::timestamptz)
  AND id < @before_id::bigint
ORDER BY id DESC
LIMIT sqlc.arg(page_size)::int;

-- name: SalesEntryRecord :many
-- SalesEntryRecord records a webhook delivery in one statement, so in one
-- transaction and one round trip:
--   * each event of entries (a JSON array of objects with the columns below,
--     built by salesreceiver.Record) becomes a sales entry with the
--     workspace of its portal's active connection, or none; an event already
--     recorded (same portal and dedupe key) writes nothing and returns no
--     row. Rows go in in the order given, which the caller sorts by
--     (portal_id, dedupe_key), so concurrent deliveries sharing events lock
--     them in the same order and cannot deadlock;
--   * the connections of portal_ids get last_webhook_at, and last_entry_at
--     when new entries came. The times are kept to the second: a connection
--     touched within the last second is left alone, so concurrent deliveries
--     of a portal (HubSpot keeps up to 10 in flight) do not queue on its row;
--   * when there are new entries, the dispatchers are woken: a NOTIFY on
--     channel (salesreceiver.NotifyChannel, which they LISTEN on) at commit.
-- An admin's re-run (salesreceiver.Rerun) goes through here too, with
-- rerun_of and its first action set, and no portal_ids (HubSpot did not
-- deliver it).
WITH inserted AS (
    INSERT INTO sales_entries (
        portal_id, workspace_id, dedupe_key, event_id, subscription_type,
        object_type, object_id, property_name, property_value, occurred_at,
        attempt_number, change_source, payload, rerun_of, actions
    )
    SELECT e.portal_id, hc.workspace_id, e.dedupe_key, e.event_id, e.subscription_type,
           e.object_type, e.object_id, e.property_name, e.property_value, e.occurred_at,
           e.attempt_number, e.change_source, e.payload, e.rerun_of, COALESCE(e.actions, '[]'::jsonb)
    FROM jsonb_to_recordset(@entries::jsonb) AS e(
        ord bigint, portal_id bigint, dedupe_key text, event_id bigint,
        subscription_type text, object_type text, object_id bigint,
        property_name text, property_value text, occurred_at timestamptz,
        attempt_number integer, change_source text, payload jsonb,
        rerun_of bigint, actions jsonb
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
    SELECT pg_notify(sqlc.arg(channel)::text, '') AS sent
    WHERE EXISTS (SELECT 1 FROM inserted)
)
SELECT i.id, i.portal_id, i.dedupe_key
FROM inserted i
LEFT JOIN notified ON true;

-- name: SalesEntryClaimBatch :many
-- SalesEntryClaimBatch locks the entries due for dispatch, oldest event
-- first. SKIP LOCKED lets several dispatchers (one per worker process) claim
-- disjoint batches; the locks last as long as the caller's transaction, so a
-- dispatcher that dies releases its batch at once.
SELECT * FROM sales_entries
WHERE dispatched_at IS NULL AND next_dispatch_at <= now()
ORDER BY occurred_at, id
LIMIT sqlc.arg(batch_size)::int
FOR UPDATE SKIP LOCKED;

-- name: SalesEntryListOldestUndispatched :many
-- SalesEntryListOldestUndispatched finds, for each object, its oldest entry
-- not yet dispatched: a claimed entry with an older one waiting outside the
-- batch (deferred after a failure, or claimed by another dispatcher) is held
-- back, so a referral never gets an object's changes out of order.
SELECT DISTINCT ON (s.portal_id, s.object_type, s.object_id)
       s.portal_id, s.object_type, s.object_id, s.id, s.occurred_at, s.next_dispatch_at
FROM sales_entries s
JOIN (
    SELECT unnest(sqlc.arg(portal_ids)::bigint[]) AS portal_id,
           unnest(sqlc.arg(object_types)::text[]) AS object_type,
           unnest(sqlc.arg(object_ids)::bigint[]) AS object_id
) AS o ON s.portal_id = o.portal_id AND s.object_type = o.object_type AND s.object_id = o.object_id
WHERE s.dispatched_at IS NULL
ORDER BY s.portal_id, s.object_type, s.object_id, s.occurred_at, s.id;

-- name: SalesEntryCountUndispatched :one
-- SalesEntryCountUndispatched counts the entries the dispatcher has not
-- routed yet and the age of the oldest (0 when there is none): a growing
-- age means routing is stuck.
SELECT count(*)::bigint AS entries,
       COALESCE(EXTRACT(EPOCH FROM now() - min(received_at)), 0)::float8 AS oldest_age_seconds
FROM sales_entries
WHERE dispatched_at IS NULL;

-- name: SalesEntryMarkDispatched :exec
-- SalesEntryMarkDispatched writes what routing did with each entry (the
-- arrays are parallel; an empty string stands for NULL). Actions are appended to those
-- already recorded. A status another writer already moved on from
-- 'received' (a sales-entry workflow that finished while an earlier attempt
-- was being recorded) is kept. dispatched_at is the time of the write, not
-- of the claim, so it measures how long routing took.
UPDATE sales_entries s
SET status = CASE WHEN s.status = 'received' THEN o.status ELSE s.status END,
    referral_id = COALESCE(NULLIF(o.referral_id, '')::uuid, s.referral_id),
    campaign_id = COALESCE(NULLIF(o.campaign_id, '')::uuid, s.campaign_id),
    actions = s.actions || o.actions::jsonb,
    error = COALESCE(NULLIF(o.error, ''), s.error),
    workflow_id = COALESCE(NULLIF(o.workflow_id, ''), s.workflow_id),
    processed_at = CASE
        WHEN s.status = 'received' AND o.status IN ('processed', 'ignored', 'failed') THEN now()
        ELSE s.processed_at
    END,
    dispatch_error = NULL,
    dispatched_at = clock_timestamp(),
    updated_at = now()
FROM (
    SELECT unnest(sqlc.arg(ids)::bigint[]) AS id,
           unnest(sqlc.arg(statuses)::text[]) AS status,
           unnest(sqlc.arg(referral_ids)::text[]) AS referral_id,
           unnest(sqlc.arg(campaign_ids)::text[]) AS campaign_id,
           unnest(sqlc.arg(actions)::text[]) AS actions,
           unnest(sqlc.arg(errors)::text[]) AS error,
           unnest(sqlc.arg(workflow_ids)::text[]) AS workflow_id
) AS o
WHERE s.id = o.id AND s.dispatched_at IS NULL;

-- name: SalesEntryDefer :exec
-- SalesEntryDefer leaves entries undispatched to be tried again after
-- their delay: attempted counts the attempt (0 for an entry that waited
-- behind a failed one of the same referral), error says why.
UPDATE sales_entries s
SET dispatch_attempts = s.dispatch_attempts + o.attempted,
    dispatch_error = o.error,
    next_dispatch_at = now() + make_interval(secs => o.delay_ms / 1000.0),
    updated_at = now()
FROM (
    SELECT unnest(sqlc.arg(ids)::bigint[]) AS id,
           unnest(sqlc.arg(errors)::text[]) AS error,
           unnest(sqlc.arg(delays_ms)::bigint[]) AS delay_ms,
           unnest(sqlc.arg(attempted)::int[]) AS attempted
) AS o
WHERE s.id = o.id AND s.dispatched_at IS NULL;

-- name: SalesEntryRecordStep :one
-- SalesEntryRecordStep appends one action to a sales entry and, when given,
-- sets its status and what it was matched to (a NULL argument keeps the
-- stored value). An action whose "key" is already in the array is not
-- appended again, so a retried activity records its step once.
UPDATE sales_entries
SET status = COALESCE(sqlc.narg(status)::text, status),
    campaign_id = COALESCE(sqlc.narg(campaign_id)::uuid, campaign_id),
    referral_id = COALESCE(sqlc.narg(referral_id)::uuid, referral_id),
    member_id = COALESCE(sqlc.narg(member_id)::uuid, member_id),
    error = COALESCE(sqlc.narg(error)::text, error),
    workflow_id = COALESCE(sqlc.narg(workflow_id)::text, workflow_id),
    actions = CASE
        WHEN sqlc.narg(action)::jsonb IS NULL THEN actions
        WHEN EXISTS (
            SELECT 1 FROM jsonb_array_elements(actions) AS a
            WHERE a->>'key' = sqlc.narg(action)::jsonb->>'key'
        ) THEN actions
        ELSE actions || jsonb_build_array(sqlc.narg(action)::jsonb)
    END,
    processed_at = CASE
        WHEN sqlc.narg(status)::text IN ('processed', 'review', 'ignored', 'failed') THEN now()
        ELSE processed_at
    END,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: SalesEntryLockForRerun :one
-- SalesEntryLockForRerun loads a workspace's entry and locks it for the
-- transaction that re-runs it, so two re-runs of one entry take turns (each
-- gets its own number) and the entry cannot change under the check that it
-- is not in flight.
SELECT * FROM sales_entries
WHERE id = @id AND workspace_id = @workspace_id
FOR UPDATE;

-- name: SalesEntryListReruns :many
-- SalesEntryListReruns are the entries an entry was re-run as, oldest first.
SELECT id FROM sales_entries
WHERE rerun_of = @rerun_of
ORDER BY id;

-- name: SalesEntryListOfPerson :many
-- SalesEntryListOfPerson lists a workspace's sales entries that name a
-- person: about their HubSpot contacts, linked to their referrals or
-- members, or carrying their email (an export; at most 1,000, oldest first).
SELECT * FROM sales_entries
WHERE workspace_id = @workspace_id
  AND ((object_type = 'contact' AND object_id = ANY(@contact_ids::bigint[]))
       OR referral_id = ANY(@referral_ids::uuid[]) OR member_id = ANY(@member_ids::uuid[])
       OR payload::text ILIKE ANY(@patterns::text[]))
ORDER BY id
LIMIT 1000;

-- name: SalesEntryErase :execrows
-- SalesEntryErase scrubs a person out of the sales entries that name them
-- (as SalesEntryListOfPerson finds them): an event about their own contact
-- loses its property value outright (an email, a name, a phone...), every
-- other entry has their email and names replaced; actions and errors too.
-- The entries stay, with what was matched and done.
UPDATE sales_entries
SET payload = CASE WHEN object_type = 'contact' AND object_id = ANY(@contact_ids::bigint[]) AND payload ? 'propertyValue'
        THEN privacy_scrub_json(payload - 'propertyValue', @emails::text[], @words::text[]) || '{"propertyValue": "[erased]"}'::jsonb
        ELSE privacy_scrub_json(payload, @emails::text[], @words::text[]) END,
    property_value = CASE WHEN object_type = 'contact' AND object_id = ANY(@contact_ids::bigint[]) AND property_value IS NOT NULL
        THEN '[erased]'
        ELSE privacy_scrub(property_value, @emails::text[], @words::text[]) END,
    actions = privacy_scrub_json(actions, @emails::text[], @words::text[]),
    error = privacy_scrub(error, @emails::text[], @words::text[]),
    dispatch_error = privacy_scrub(dispatch_error, @emails::text[], @words::text[])
WHERE workspace_id = @workspace_id
  AND ((object_type = 'contact' AND object_id = ANY(@contact_ids::bigint[]))
       OR referral_id = ANY(@referral_ids::uuid[]) OR member_id = ANY(@member_ids::uuid[])
       OR payload::text ILIKE ANY(@patterns::text[]) OR actions::text ILIKE ANY(@patterns::text[]));
