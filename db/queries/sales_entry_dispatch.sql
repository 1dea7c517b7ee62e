-- The Sales Receiver's dispatcher (internal/salesreceiver): recorded sales
-- entries are an outbox it claims, routes and marks.

-- name: ClaimDueSalesEntries :many
-- ClaimDueSalesEntries locks the entries due for dispatch, oldest event
-- first. SKIP LOCKED lets several dispatchers (one per worker process) claim
-- disjoint batches; the locks last as long as the caller's transaction, so a
-- dispatcher that dies releases its batch at once.
SELECT * FROM sales_entries
WHERE dispatched_at IS NULL AND next_dispatch_at <= now()
ORDER BY occurred_at, id
LIMIT sqlc.arg(batch_size)::int
FOR UPDATE SKIP LOCKED;

-- name: ListDispatchCampaigns :many
-- ListDispatchCampaigns loads the campaigns whose rules decide whether a
-- property change matters: every campaign of the workspaces but archived
-- ones.
SELECT * FROM campaigns
WHERE workspace_id = ANY(sqlc.arg(workspace_ids)::uuid[]) AND status <> 'archived'
ORDER BY workspace_id, created_at, id;

-- name: ListReferralsByHubSpotObjects :many
-- ListReferralsByHubSpotObjects is ListReferralsByHubSpotObject for many
-- objects in one round trip: lookup is the 1-based position of the object in
-- the arrays. One join per column so each uses its index.
WITH lookups AS (
    -- Set-returning functions in one select list advance in lockstep.
    SELECT unnest(sqlc.arg(workspace_ids)::uuid[]) AS workspace_id,
           unnest(sqlc.arg(object_types)::text[]) AS object_type,
           unnest(sqlc.arg(object_ids)::bigint[]) AS object_id,
           generate_subscripts(sqlc.arg(object_ids)::bigint[], 1) AS ord
)
SELECT lookups.ord::int AS lookup, r.id, r.campaign_id, r.created_at
FROM lookups JOIN referrals r
  ON r.workspace_id = lookups.workspace_id AND r.hubspot_contact_id = lookups.object_id
WHERE lookups.object_type = 'contact'
UNION ALL
SELECT lookups.ord::int AS lookup, r.id, r.campaign_id, r.created_at
FROM lookups JOIN referrals r
  ON r.workspace_id = lookups.workspace_id AND r.hubspot_deal_id = lookups.object_id
WHERE lookups.object_type = 'deal'
UNION ALL
SELECT lookups.ord::int AS lookup, r.id, r.campaign_id, r.created_at
FROM lookups JOIN referrals r
  ON r.workspace_id = lookups.workspace_id AND r.hubspot_company_id = lookups.object_id
WHERE lookups.object_type = 'company'
ORDER BY 1, 4, 2;

-- name: MarkSalesEntriesDispatched :exec
-- MarkSalesEntriesDispatched writes what routing did with each entry (the
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

-- name: DeferSalesEntries :exec
-- DeferSalesEntries leaves entries undispatched to be tried again after
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

-- name: ListOldestUndispatchedOfObjects :many
-- ListOldestUndispatchedOfObjects finds, for each object, its oldest entry
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
