-- name: WebhookDeliveryInsert :one
-- WebhookDeliveryInsert puts an event in the outbox, in the caller's
-- transaction (the change it reports), and wakes the dispatchers with a
-- NOTIFY on channel (webhookdelivery.NotifyChannel) at commit. An event
-- already there (a retried activity) is kept as it is: no row comes back.
WITH inserted AS (
    INSERT INTO webhook_deliveries (workspace_id, campaign_id, event_id, event_type, body, created_at, next_attempt_at, retry_until)
    VALUES (@workspace_id, @campaign_id, @event_id, @event_type, @body, @created_at, @created_at, @retry_until)
    ON CONFLICT (workspace_id, event_id) DO NOTHING
    RETURNING *
),
notified AS (
    SELECT pg_notify(sqlc.arg(channel)::text, '') AS sent
    WHERE EXISTS (SELECT 1 FROM inserted)
)
SELECT i.* FROM inserted i LEFT JOIN notified ON true;

-- name: WebhookDeliveryClaim :many
-- WebhookDeliveryClaim leases up to batch_size due deliveries to one
-- dispatcher until locked_until: pending, due, and not leased by another
-- (or their lease has run out: that dispatcher died mid-delivery). SKIP
-- LOCKED lets dispatchers claim disjoint rows at once. It returns what an
-- attempt needs: the body, the campaign's URL and the workspace's secrets.
WITH due AS (
    SELECT d.id FROM webhook_deliveries d
    WHERE d.status = 'pending' AND d.next_attempt_at <= @now::timestamptz
      AND (d.locked_until IS NULL OR d.locked_until <= @now::timestamptz)
    ORDER BY d.next_attempt_at, d.id
    LIMIT sqlc.arg(batch_size)::int
    FOR UPDATE SKIP LOCKED
),
claimed AS (
    UPDATE webhook_deliveries d
    SET locked_until = @locked_until::timestamptz, lease_token = @lease_token::uuid
    FROM due WHERE d.id = due.id
    RETURNING d.*
)
SELECT c.id, c.workspace_id, c.campaign_id, c.event_id, c.event_type, c.body, c.attempt_count,
       c.retry_until, c.lease_token, c.created_at,
       camp.fulfilment_webhook_url,
       w.webhook_signing_secret, w.webhook_signing_secret_previous, w.webhook_signing_secret_previous_until
FROM claimed c
JOIN campaigns camp ON camp.id = c.campaign_id
JOIN workspaces w ON w.id = c.workspace_id
ORDER BY c.next_attempt_at, c.id;

-- name: WebhookDeliveryRecordResult :one
-- WebhookDeliveryRecordResult writes what an attempt came to, if the
-- caller still holds the lease (lease_token): delivered, failed (retries
-- over) or pending again at next_attempt_at; the lease is released. No row:
-- the lease had run out and another dispatcher took the delivery over.
UPDATE webhook_deliveries
SET status = sqlc.arg(status)::text,
    attempt_count = attempt_count + 1,
    last_attempt_at = @attempted_at::timestamptz,
    next_attempt_at = @next_attempt_at::timestamptz,
    delivered_at = CASE WHEN sqlc.arg(status)::text = 'delivered' THEN @attempted_at::timestamptz ELSE delivered_at END,
    failed_at = CASE WHEN sqlc.arg(status)::text = 'failed' THEN @attempted_at::timestamptz ELSE NULL END,
    locked_until = NULL,
    lease_token = NULL
WHERE id = @id AND lease_token = @lease_token::uuid
RETURNING *;

-- name: WebhookDeliveryGet :one
-- WebhookDeliveryGet reads one delivery of a workspace (another
-- workspace's: no row).
SELECT * FROM webhook_deliveries
WHERE id = @id AND workspace_id = @workspace_id;

-- name: WebhookDeliveryGetByEvent :one
-- WebhookDeliveryGetByEvent reads the delivery of an event.
SELECT * FROM webhook_deliveries
WHERE workspace_id = @workspace_id AND event_id = @event_id;

-- name: WebhookDeliveryListFiltered :many
-- WebhookDeliveryListFiltered is the admin's delivery list, newest first,
-- keyset paged below (before_created_at, before_id) like the referral list.
-- Each filter is optional (NULL: any).
SELECT * FROM webhook_deliveries
WHERE workspace_id = @workspace_id
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(event_type)::text IS NULL OR event_type = sqlc.narg(event_type)::text)
  AND (sqlc.narg(campaign_id)::uuid IS NULL OR campaign_id = sqlc.narg(campaign_id)::uuid)
  AND (created_at, id) < (@before_created_at::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_size)::int;

-- name: WebhookDeliveryReplay :one
-- WebhookDeliveryReplay sends a delivery of a workspace again, with the
-- same event ID and body: pending, due at once, retried until retry_until
-- (a new window), whatever it was. A delivery leased right now is left
-- to its dispatcher (no row).
WITH replayed AS (
    UPDATE webhook_deliveries
    SET status = 'pending', next_attempt_at = @now::timestamptz, retry_until = @retry_until::timestamptz,
        failed_at = NULL
    WHERE id = @id AND workspace_id = @workspace_id
      AND (locked_until IS NULL OR locked_until <= @now::timestamptz)
    RETURNING *
),
notified AS (
    SELECT pg_notify(sqlc.arg(channel)::text, '') AS sent
    WHERE EXISTS (SELECT 1 FROM replayed)
)
SELECT r.* FROM replayed r LEFT JOIN notified ON true;

-- name: WebhookDeliveryReplayFailed :many
-- WebhookDeliveryReplayFailed replays every failed delivery of a
-- workspace, optionally of one event type and campaign, and returns their
-- IDs.
WITH replayed AS (
    UPDATE webhook_deliveries
    SET status = 'pending', next_attempt_at = @now::timestamptz, retry_until = @retry_until::timestamptz,
        failed_at = NULL
    WHERE workspace_id = @workspace_id AND status = 'failed'
      AND (sqlc.narg(event_type)::text IS NULL OR event_type = sqlc.narg(event_type)::text)
      AND (sqlc.narg(campaign_id)::uuid IS NULL OR campaign_id = sqlc.narg(campaign_id)::uuid)
    RETURNING id
),
notified AS (
    SELECT pg_notify(sqlc.arg(channel)::text, '') AS sent
    WHERE EXISTS (SELECT 1 FROM replayed)
)
SELECT r.id FROM replayed r LEFT JOIN notified ON true;

-- name: WebhookDeliveryCountUndelivered :one
-- WebhookDeliveryCountUndelivered counts the deliveries still pending and
-- the age of the oldest (0 when none), and those failed (retries over, not
-- replayed): a growing age means a receiver is down or no dispatcher runs.
SELECT count(*) FILTER (WHERE status = 'pending')::bigint AS pending,
       COALESCE(EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE status = 'pending')), 0)::float8 AS oldest_pending_age_seconds,
       count(*) FILTER (WHERE status = 'failed')::bigint AS failed
FROM webhook_deliveries
WHERE status <> 'delivered';

-- name: WebhookDeliveryListOfPerson :many
-- WebhookDeliveryListOfPerson lists a workspace's outgoing webhooks whose
-- body names a person (their email, or the ID of one of their referrals or
-- members as patterns): an export, at most 1,000, oldest first.
SELECT * FROM webhook_deliveries
WHERE workspace_id = @workspace_id AND convert_from(body, 'UTF8') ILIKE ANY(@patterns::text[])
ORDER BY created_at, id
LIMIT 1000;

-- name: WebhookDeliveryErase :many
-- WebhookDeliveryErase scrubs a person's email and names out of the bodies
-- of the outgoing webhooks that name them (as WebhookDeliveryListOfPerson
-- finds them); it returns the deliveries whose attempts are to be scrubbed
-- too. A delivery still pending is sent scrubbed.
UPDATE webhook_deliveries
SET body = convert_to(privacy_scrub(convert_from(body, 'UTF8'), @emails::text[], @words::text[]), 'UTF8')
WHERE workspace_id = @workspace_id AND convert_from(body, 'UTF8') ILIKE ANY(@patterns::text[])
RETURNING id;
