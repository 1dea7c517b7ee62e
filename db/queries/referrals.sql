-- name: ReferralInsert :one
-- ReferralInsert fails with a unique violation on
-- referrals_campaign_id_lead_email_key when the lead was already referred in
-- the campaign (duplicate-lead check).
INSERT INTO referrals (
    workspace_id, campaign_id, member_id,
    lead_email, lead_email_normalized, lead_first_name, lead_last_name, lead_company,
    lead_phone, note, source, external_id, visitor_hash,
    hubspot_contact_id, hubspot_deal_id, hubspot_company_id
) VALUES (
    @workspace_id, @campaign_id, @member_id,
    @lead_email, @lead_email_normalized, @lead_first_name, @lead_last_name, @lead_company,
    @lead_phone, @note, @source, @external_id, @visitor_hash,
    @hubspot_contact_id, @hubspot_deal_id, @hubspot_company_id
)
RETURNING *;

-- name: ReferralGetByID :one
-- ReferralGetByID loads a referral by id.
SELECT * FROM referrals
WHERE id = @id;

-- name: ReferralGetDetail :one
-- ReferralGetDetail is the one row a referral workflow loads: the referral
-- with its member's code and email and its campaign's name.
SELECT sqlc.embed(referrals),
       members.referral_code AS member_referral_code,
       members.email AS member_email,
       campaigns.name AS campaign_name
FROM referrals
JOIN members ON members.id = referrals.member_id
JOIN campaigns ON campaigns.id = referrals.campaign_id
WHERE referrals.id = @id;

-- name: ReferralGetByLeadEmail :one
-- ReferralGetByLeadEmail finds the campaign's referral of an exact email (any
-- case): the one a duplicate add collides with.
SELECT * FROM referrals
WHERE campaign_id = @campaign_id AND lower(lead_email) = lower(@lead_email::text);

-- name: ReferralGetFirstOfNormalizedLead :one
-- ReferralGetFirstOfNormalizedLead is the campaign's earliest referral of the
-- same mailbox: when it is not the referral being checked, that one is a
-- duplicate lead.
SELECT * FROM referrals
WHERE campaign_id = @campaign_id AND lead_email_normalized = @lead_email_normalized
ORDER BY created_at, id
LIMIT 1;

-- name: ReferralUpdateStatus :one
-- ReferralUpdateStatus moves a referral from expected_status to new_status
-- (compare-and-set). It returns no row (pgx.ErrNoRows) when the referral is
-- no longer in expected_status, so a caller that raced another writer finds
-- out instead of overwriting. The *_at column of the status entered is set to
-- now(); moving back clears the later ones; denied_reason is kept only while
-- denied.
UPDATE referrals
SET status = sqlc.arg(new_status)::text,
    qualified_at = CASE
        WHEN sqlc.arg(new_status)::text = 'qualified' THEN now()
        WHEN sqlc.arg(new_status)::text = 'approved' THEN COALESCE(qualified_at, now())
        WHEN sqlc.arg(new_status)::text = 'pending' THEN NULL
        ELSE qualified_at
    END,
    approved_at = CASE
        WHEN sqlc.arg(new_status)::text = 'approved' THEN now()
        WHEN sqlc.arg(new_status)::text IN ('pending', 'qualified') THEN NULL
        ELSE approved_at
    END,
    denied_at = CASE
        WHEN sqlc.arg(new_status)::text = 'denied' THEN now()
        ELSE NULL
    END,
    denied_reason = CASE
        WHEN sqlc.arg(new_status)::text = 'denied' THEN sqlc.narg(denied_reason)::text
        ELSE NULL
    END,
    updated_at = now()
WHERE id = @id AND status = sqlc.arg(expected_status)::text
RETURNING *;

-- name: ReferralSetInReview :one
-- ReferralSetInReview puts a referral on hold for an admin (or releases it).
UPDATE referrals
SET in_review = @in_review, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: ReferralUpdateFromHubSpot :one
-- ReferralUpdateFromHubSpot copies values HubSpot reported onto the referral
-- (the campaign's property updates); a NULL argument keeps the stored value.
UPDATE referrals
SET sale_value = COALESCE(sqlc.narg(sale_value)::numeric, sale_value),
    currency = COALESCE(sqlc.narg(currency)::text, currency),
    external_id = COALESCE(sqlc.narg(external_id)::text, external_id),
    lead_first_name = COALESCE(sqlc.narg(lead_first_name)::text, lead_first_name),
    lead_email = COALESCE(sqlc.narg(lead_email)::text, lead_email),
    lead_email_normalized = COALESCE(sqlc.narg(lead_email_normalized)::text, lead_email_normalized),
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: ReferralListByCampaign :many
-- ReferralListByCampaign pages through a campaign's referrals, newest first,
-- optionally of one status. Pass the created_at and id of the last row of the
-- previous page as after_created_at and after_id (both or neither).
SELECT * FROM referrals
WHERE campaign_id = @campaign_id
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(after_created_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(after_created_at)::timestamptz, sqlc.narg(after_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_size)::int;

-- name: ReferralListByMember :many
-- ReferralListByMember lists a member's referrals, newest first.
SELECT * FROM referrals
WHERE member_id = @member_id
ORDER BY created_at DESC, id DESC;

-- name: ReferralListAwaitingReferrerContact :many
-- ReferralListAwaitingReferrerContact lists a member's referrals whose lead
-- is in HubSpot but was not labelled with who referred it because the
-- member had no HubSpot contact then (a referred_by_not_labelled event that
-- says so, and no referred_by_labelled since), oldest first.
SELECT * FROM referrals
WHERE member_id = @member_id
  AND (hubspot_contact_id IS NOT NULL OR hubspot_deal_id IS NOT NULL)
  AND cannot_qualify_reason IS NULL
  AND EXISTS (SELECT 1 FROM referral_events e
              WHERE e.referral_id = referrals.id AND e.kind = 'referred_by_not_labelled'
                AND (e.details->>'member_waits')::boolean)
  AND NOT EXISTS (SELECT 1 FROM referral_events e
                  WHERE e.referral_id = referrals.id AND e.kind = 'referred_by_labelled')
ORDER BY created_at, id
LIMIT 500;

-- name: ReferralCountWaiting :many
-- ReferralCountWaiting counts, for operators' metrics, the referrals whose
-- workflow waits on the outside world by step and cause, with how long the
-- oldest has waited.
SELECT waiting_step::text AS step, waiting_cause::text AS cause, count(*)::bigint AS referrals,
       EXTRACT(EPOCH FROM now() - min(waiting_since))::float8 AS oldest_wait_seconds
FROM referrals
WHERE waiting_step IS NOT NULL
GROUP BY waiting_step, waiting_cause
ORDER BY waiting_step, waiting_cause;

-- name: ReferralCountWithoutWorkflow :one
-- ReferralCountWithoutWorkflow counts the referrals whose workflow has not
-- run its first step, and the age of the oldest (0 when there is none).
SELECT count(*)::bigint AS referrals,
       COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS oldest_age_seconds
FROM referrals
WHERE workflow_started_at IS NULL;

-- name: ReferralListFiltered :many
-- ReferralListFiltered is the admin's referral list across a workspace,
-- newest first, keyset paged. Each filter is optional (NULL: any).
-- lead_email_normalized compares mailboxes (internal/referral.NormalizeEmail),
-- so one search finds every spelling of a lead's address. The page starts
-- below (before_created_at, before_id): the previous page's last row, or a
-- time after every row for the first page. The cursor is never NULL so it
-- stays a plain row comparison whatever plan the server caches.
SELECT * FROM referrals
WHERE workspace_id = @workspace_id
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(member_id)::uuid IS NULL OR member_id = sqlc.narg(member_id)::uuid)
  AND (sqlc.narg(lead_email_normalized)::text IS NULL
       OR lead_email_normalized = sqlc.narg(lead_email_normalized)::text)
  AND (created_at, id) < (@before_created_at::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_size)::int;

-- name: ReferralListOfLeadFiltered :many
-- ReferralListOfLeadFiltered is ReferralListFiltered for one lead's mailbox
-- (lead_email_normalized), in any campaign of the workspace. The mailbox is
-- not optional here so that every plan, custom or cached generic, reads the
-- lead's few rows from the (workspace_id, lead_email_normalized) index
-- instead of walking the whole workspace's list for them.
SELECT * FROM referrals
WHERE workspace_id = @workspace_id
  AND lead_email_normalized = @lead_email_normalized
  AND (sqlc.narg(campaign_id)::uuid IS NULL OR campaign_id = sqlc.narg(campaign_id)::uuid)
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(member_id)::uuid IS NULL OR member_id = sqlc.narg(member_id)::uuid)
  AND (created_at, id) < (@before_created_at::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_size)::int;

-- name: ReferralListOfCampaignFiltered :many
-- ReferralListOfCampaignFiltered is ReferralListFiltered within one
-- campaign. The campaign is not optional here so that every plan, custom or
-- cached generic, walks the campaign's (campaign_id, created_at, id) index
-- from the cursor and stops after a page, instead of scanning the table.
SELECT * FROM referrals
WHERE campaign_id = @campaign_id
  AND workspace_id = @workspace_id
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(member_id)::uuid IS NULL OR member_id = sqlc.narg(member_id)::uuid)
  AND (sqlc.narg(lead_email_normalized)::text IS NULL
       OR lead_email_normalized = sqlc.narg(lead_email_normalized)::text)
  AND (created_at, id) < (@before_created_at::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_size)::int;

-- name: ReferralSetHubSpotObjects :one
-- ReferralSetHubSpotObjects records the HubSpot objects a referral's lead was
-- sent to, and why it cannot qualify when HubSpot already knew the lead. A
-- NULL argument keeps the stored value, so each object's ID can be written as
-- soon as it is known and a retry never clears one.
UPDATE referrals
SET hubspot_contact_id = COALESCE(sqlc.narg(hubspot_contact_id)::bigint, hubspot_contact_id),
    hubspot_deal_id = COALESCE(sqlc.narg(hubspot_deal_id)::bigint, hubspot_deal_id),
    cannot_qualify_reason = COALESCE(sqlc.narg(cannot_qualify_reason)::text, cannot_qualify_reason),
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: ReferralListByHubSpotObject :many
-- ReferralListByHubSpotObject routes a HubSpot webhook event to the
-- referrals created from (or matched to) that contact, deal or company.
SELECT * FROM referrals
WHERE workspace_id = @workspace_id
  AND CASE sqlc.arg(object_type)::text
        WHEN 'contact' THEN hubspot_contact_id = sqlc.arg(object_id)::bigint
        WHEN 'deal' THEN hubspot_deal_id = sqlc.arg(object_id)::bigint
        WHEN 'company' THEN hubspot_company_id = sqlc.arg(object_id)::bigint
        ELSE false
      END
ORDER BY created_at, id;

-- name: ReferralListByHubSpotObjects :many
-- ReferralListByHubSpotObjects is ReferralListByHubSpotObject for many
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

-- name: ReferralGetOfCampaignByHubSpotObject :one
-- ReferralGetOfCampaignByHubSpotObject finds the referral of a campaign that
-- holds a HubSpot object: a referral added from HubSpot by an earlier attempt
-- of the same step.
SELECT * FROM referrals
WHERE campaign_id = @campaign_id
  AND CASE sqlc.arg(object_type)::text
        WHEN 'contact' THEN hubspot_contact_id = sqlc.arg(object_id)::bigint
        WHEN 'deal' THEN hubspot_deal_id = sqlc.arg(object_id)::bigint
        WHEN 'company' THEN hubspot_company_id = sqlc.arg(object_id)::bigint
        ELSE false
      END
ORDER BY created_at, id
LIMIT 1;

-- name: ReferralLinkHubSpotObject :one
-- ReferralLinkHubSpotObject stores a matched HubSpot object on a referral
-- when the referral holds no object of that type yet; one it holds is kept.
UPDATE referrals
SET hubspot_contact_id = CASE WHEN sqlc.arg(object_type)::text = 'contact'
        THEN COALESCE(hubspot_contact_id, sqlc.arg(object_id)::bigint) ELSE hubspot_contact_id END,
    hubspot_deal_id = CASE WHEN sqlc.arg(object_type)::text = 'deal'
        THEN COALESCE(hubspot_deal_id, sqlc.arg(object_id)::bigint) ELSE hubspot_deal_id END,
    hubspot_company_id = CASE WHEN sqlc.arg(object_type)::text = 'company'
        THEN COALESCE(hubspot_company_id, sqlc.arg(object_id)::bigint) ELSE hubspot_company_id END,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: ReferralRepointHubSpotObject :one
-- ReferralRepointHubSpotObject follows a HubSpot merge: when the referral
-- holds one of the merged records of object_type, it now holds the survivor.
-- No row when it holds none of them (already re-pointed, or never held).
UPDATE referrals
SET hubspot_contact_id = CASE WHEN sqlc.arg(object_type)::text = 'contact' AND hubspot_contact_id = ANY(sqlc.arg(merged_ids)::bigint[])
                              THEN sqlc.arg(surviving_id)::bigint ELSE hubspot_contact_id END,
    hubspot_deal_id = CASE WHEN sqlc.arg(object_type)::text = 'deal' AND hubspot_deal_id = ANY(sqlc.arg(merged_ids)::bigint[])
                           THEN sqlc.arg(surviving_id)::bigint ELSE hubspot_deal_id END,
    hubspot_company_id = CASE WHEN sqlc.arg(object_type)::text = 'company' AND hubspot_company_id = ANY(sqlc.arg(merged_ids)::bigint[])
                              THEN sqlc.arg(surviving_id)::bigint ELSE hubspot_company_id END,
    updated_at = now()
WHERE id = @id
  AND CASE sqlc.arg(object_type)::text
        WHEN 'contact' THEN hubspot_contact_id = ANY(sqlc.arg(merged_ids)::bigint[])
        WHEN 'deal' THEN hubspot_deal_id = ANY(sqlc.arg(merged_ids)::bigint[])
        WHEN 'company' THEN hubspot_company_id = ANY(sqlc.arg(merged_ids)::bigint[])
        ELSE false
      END
RETURNING *;

-- name: ReferralFindByExternalID :many
-- ReferralFindByExternalID is the direct match on a campaign's external ID
-- property.
SELECT * FROM referrals
WHERE campaign_id = @campaign_id AND external_id = @external_id
ORDER BY created_at, id
LIMIT 10;

-- name: ReferralFindByNormalizedEmail :many
-- ReferralFindByNormalizedEmail is the fuzzy match on email: the
-- workspace's referrals of the same mailbox, in every campaign.
SELECT * FROM referrals
WHERE campaign_id IN (SELECT c.id FROM campaigns c WHERE c.workspace_id = @workspace_id)
  AND lead_email_normalized = @lead_email_normalized
ORDER BY created_at, id
LIMIT 20;

-- name: ReferralFindByNameAndDomain :many
-- ReferralFindByNameAndDomain is the fuzzy match on name: the workspace's
-- referrals with the same first and last name (any case) whose lead email
-- domain, or company, is one of the object's company domains.
SELECT * FROM referrals
WHERE workspace_id = @workspace_id
  AND lower(lead_first_name) = lower(@first_name::text)
  AND lower(lead_last_name) = lower(@last_name::text)
  AND (split_part(lead_email_normalized, '@', 2) = ANY(@domains::text[])
       OR lower(lead_company) = ANY(@domains::text[]))
ORDER BY created_at, id
LIMIT 20;

-- name: ReferralSetWaiting :one
-- ReferralSetWaiting records what the referral's workflow waits on (step,
-- cause and reason), keeping waiting_since while the step stays the same.
UPDATE referrals
SET waiting_step   = @waiting_step::text,
    waiting_cause  = @waiting_cause::text,
    waiting_reason = @waiting_reason::text,
    waiting_since  = CASE WHEN waiting_step IS NOT DISTINCT FROM @waiting_step::text
                          THEN waiting_since ELSE now() END
WHERE id = @id
RETURNING *;

-- name: ReferralClearWaiting :one
-- ReferralClearWaiting records that the referral's workflow waits on nothing.
UPDATE referrals
SET waiting_step = NULL, waiting_cause = NULL, waiting_reason = NULL, waiting_since = NULL
WHERE id = @id
RETURNING *;

-- name: ReferralListWaiting :many
-- ReferralListWaiting returns the IDs of a workspace's referrals whose
-- workflow waits on the outside world, of one campaign when campaign_id is
-- set, oldest wait first.
SELECT id FROM referrals
WHERE workspace_id = @workspace_id
  AND waiting_step IS NOT NULL
  AND (sqlc.narg(campaign_id)::uuid IS NULL OR campaign_id = sqlc.narg(campaign_id)::uuid)
ORDER BY waiting_since, id
LIMIT @max_results;

-- name: ReferralMarkWorkflowStarted :exec
-- ReferralMarkWorkflowStarted records that the referral's workflow ran its
-- first step (the reconciler then leaves it alone).
UPDATE referrals
SET workflow_started_at = COALESCE(workflow_started_at, now())
WHERE id = @id;

-- name: ReferralListWithoutWorkflow :many
-- ReferralListWithoutWorkflow returns the IDs of referrals saved before
-- created_before whose workflow never ran its first step (saved while
-- Temporal was unreachable), oldest first. A referral a CSV import added is
-- left to the import while it runs (it starts imported referrals'
-- workflows at its own pace; an import whose progress has not moved for 10
-- minutes is taken to be stuck, and its referrals are no longer left to it).
SELECT referrals.id FROM referrals
WHERE referrals.workflow_started_at IS NULL
  AND referrals.created_at < @created_before
  AND NOT EXISTS (
      SELECT 1 FROM import_rows ir JOIN imports i ON i.id = ir.import_id
      WHERE ir.referral_id = referrals.id
        AND i.status IN ('queued', 'running') AND i.updated_at > now() - interval '10 minutes'
  )
ORDER BY referrals.created_at, referrals.id
LIMIT @max_results;

-- name: ReferralForgetHubSpotObjects :many
-- ReferralForgetHubSpotObjects makes a workspace's referrals forget the
-- HubSpot records they hold: the portal was reset, so those IDs name records
-- that are gone, or new records that reuse them. It returns what each
-- referral held, for its audit trail.
WITH held AS (
    SELECT h.id, h.hubspot_contact_id, h.hubspot_deal_id, h.hubspot_company_id
    FROM referrals h
    WHERE h.workspace_id = sqlc.arg(workspace_id)::uuid
      AND (h.hubspot_contact_id IS NOT NULL OR h.hubspot_deal_id IS NOT NULL OR h.hubspot_company_id IS NOT NULL)
    FOR UPDATE
)
UPDATE referrals r
SET hubspot_contact_id = NULL, hubspot_deal_id = NULL, hubspot_company_id = NULL, updated_at = now()
FROM held
WHERE r.id = held.id
RETURNING r.id, r.workspace_id, held.hubspot_contact_id AS contact_id, held.hubspot_deal_id AS deal_id, held.hubspot_company_id AS company_id;

-- name: ReferralCountOfVisitorSince :one
-- ReferralCountOfVisitorSince counts the campaign's referrals sent by one
-- visitor (referrals.visitor_hash) from since up to until, both included:
-- the visitor_velocity fraud check
-- (referrals_campaign_id_visitor_hash_created_at_idx).
SELECT count(*) FROM referrals
WHERE campaign_id = @campaign_id AND visitor_hash = @visitor_hash
  AND created_at >= @since AND created_at <= @until;

-- name: ReferralCountPublicOfMemberSince :one
-- ReferralCountPublicOfMemberSince counts a member's referrals that came in
-- through a public page (a visitor hash) from since up to until, both
-- included: the member_velocity fraud check (referrals_member_idx).
SELECT count(*) FROM referrals
WHERE member_id = @member_id AND visitor_hash IS NOT NULL
  AND created_at >= @since AND created_at <= @until;

-- name: ReferralCountMembersOfVisitorSince :one
-- ReferralCountMembersOfVisitorSince counts the distinct members of the
-- campaign one visitor sent referrals for from since up to until, both
-- included: the shared_visitor fraud check, read from
-- referrals_campaign_id_visitor_hash_created_at_idx alone (it includes
-- member_id).
SELECT count(DISTINCT member_id) FROM referrals
WHERE campaign_id = @campaign_id AND visitor_hash = @visitor_hash
  AND created_at >= @since AND created_at <= @until;
-- name: ReferralListForMemberPortal :many
-- ReferralListForMemberPortal is one page of a member's referrals as their
-- portal shows them, newest first, keyset paged like ReferralListFiltered
-- (the cursor is the previous page's last row, or a time after every row):
-- only what the member may see of each.
SELECT id, lead_email, lead_first_name, status, in_review, created_at
FROM referrals
WHERE member_id = @member_id
  AND (created_at, id) < (@before_created_at::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_size)::int;

-- name: ReferralCountForMemberPortal :one
-- ReferralCountForMemberPortal counts a member's referrals by where they
-- stand: in review is a hold (counted apart), the others by status.
SELECT count(*)::int AS total,
       count(*) FILTER (WHERE in_review)::int AS in_review,
       count(*) FILTER (WHERE NOT in_review AND status = 'pending')::int AS pending,
       count(*) FILTER (WHERE NOT in_review AND status = 'qualified')::int AS qualified,
       count(*) FILTER (WHERE NOT in_review AND status = 'approved')::int AS approved,
       count(*) FILTER (WHERE NOT in_review AND status = 'denied')::int AS denied
FROM referrals
WHERE member_id = @member_id;

-- name: ReferralListForHubSpotWrite :many
-- ReferralListForHubSpotWrite loads what the HubSpot writer sends of
-- referrals to their lead records: status, the member's code, the records.
-- A referral whose lead was erased is left out: nothing more about them is
-- written (a mark claimed just before the erasure is dropped).
SELECT r.id, r.status, r.hubspot_contact_id, r.hubspot_deal_id, r.cannot_qualify_reason,
       m.referral_code AS member_referral_code
FROM referrals r
JOIN members m ON m.id = r.member_id
WHERE r.id = ANY(sqlc.arg(ids)::uuid[]) AND r.erased_at IS NULL;

-- name: ReferralReportFunnel :one
-- ReferralReportFunnel counts the funnel of a workspace's campaigns (or one
-- of them, campaign_id) over the period [from_time, to_time): clicks on
-- members' links made in it, members who joined in it, referrals added in
-- it, and of those referrals how many stand at qualified or beyond
-- (qualified, approved), at approved, and at denied now. The reports package
-- explains the definitions; each count reads its own report index (0027)
-- per campaign, clicks their daily totals from first_day to last_day (the
-- UTC days of [from_time, to_time)).
WITH scope AS (
    SELECT campaigns.id FROM campaigns
    WHERE campaigns.workspace_id = @workspace_id
      AND (sqlc.narg(campaign_id)::uuid IS NULL OR campaigns.id = sqlc.narg(campaign_id)::uuid)
), refs AS (
    SELECT count(*)::bigint AS referrals,
           count(*) FILTER (WHERE referrals.status IN ('qualified', 'approved'))::bigint AS qualified,
           count(*) FILTER (WHERE referrals.status = 'approved')::bigint AS approved,
           count(*) FILTER (WHERE referrals.status = 'denied')::bigint AS denied
    FROM referrals
    WHERE referrals.campaign_id IN (SELECT id FROM scope)
      AND referrals.created_at >= @from_time AND referrals.created_at < @to_time
)
SELECT (SELECT coalesce(sum(click_days.clicks), 0) FROM click_days
        WHERE click_days.campaign_id IN (SELECT id FROM scope)
          AND click_days.day >= sqlc.arg(first_day)::date
          AND click_days.day <= sqlc.arg(last_day)::date)::bigint AS clicks,
       (SELECT count(*) FROM members
        WHERE members.campaign_id IN (SELECT id FROM scope)
          AND members.created_at >= @from_time AND members.created_at < @to_time)::bigint AS joins,
       refs.referrals, refs.qualified, refs.approved, refs.denied
FROM refs;

-- name: ReferralReportApprovalTime :one
-- ReferralReportApprovalTime summarizes how long the referrals approved in
-- [from_time, to_time) (and approved still) took from being added to being
-- approved, in seconds: how many, the median and the 90th percentile (0
-- when there are none: the caller reads approved first).
SELECT count(*)::bigint AS approved,
       coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY greatest(0, extract(epoch FROM approved_at - created_at))), 0)::float8 AS median_seconds,
       coalesce(percentile_cont(0.9) WITHIN GROUP (ORDER BY greatest(0, extract(epoch FROM approved_at - created_at))), 0)::float8 AS p90_seconds
FROM referrals
WHERE referrals.campaign_id IN (SELECT campaigns.id FROM campaigns
                      WHERE campaigns.workspace_id = @workspace_id
                        AND (sqlc.narg(campaign_id)::uuid IS NULL OR campaigns.id = sqlc.narg(campaign_id)::uuid))
  AND status = 'approved'
  AND approved_at >= @from_time AND approved_at < @to_time;

-- name: ReferralReportApprovalBuckets :many
-- ReferralReportApprovalBuckets counts the same approvals as
-- ReferralReportApprovalTime per bucket of time taken: bucket i (1-based)
-- holds the durations from bounds[i] up to bounds[i+1] seconds, bucket 0
-- those under bounds[1], the last those from the last bound up (Postgres's
-- width_bucket). Empty buckets have no row.
SELECT width_bucket(greatest(0, extract(epoch FROM approved_at - created_at))::float8, @bounds::float8[])::int AS bucket,
       count(*)::bigint AS approved
FROM referrals
WHERE referrals.campaign_id IN (SELECT campaigns.id FROM campaigns
                      WHERE campaigns.workspace_id = @workspace_id
                        AND (sqlc.narg(campaign_id)::uuid IS NULL OR campaigns.id = sqlc.narg(campaign_id)::uuid))
  AND status = 'approved'
  AND approved_at >= @from_time AND approved_at < @to_time
GROUP BY 1
ORDER BY 1;

-- name: ReferralReportLeaderboard :many
-- ReferralReportLeaderboard ranks the members by the referrals they added
-- in [from_time, to_time) (then by approved ones, then by ID so ties keep
-- one order) and returns the first row_limit, with how many of those
-- referrals stand at qualified or beyond and at approved now.
WITH top AS (
    SELECT referrals.member_id,
           count(*)::bigint AS referrals,
           count(*) FILTER (WHERE referrals.status IN ('qualified', 'approved'))::bigint AS qualified,
           count(*) FILTER (WHERE referrals.status = 'approved')::bigint AS approved
    FROM referrals
    WHERE referrals.campaign_id IN (SELECT campaigns.id FROM campaigns
                                    WHERE campaigns.workspace_id = @workspace_id
                                      AND (sqlc.narg(campaign_id)::uuid IS NULL OR campaigns.id = sqlc.narg(campaign_id)::uuid))
      AND referrals.created_at >= @from_time AND referrals.created_at < @to_time
    GROUP BY referrals.member_id
    ORDER BY referrals DESC, approved DESC, referrals.member_id
    LIMIT sqlc.arg(row_limit)::int
)
SELECT top.member_id, members.campaign_id, members.referral_code, members.email,
       members.first_name, members.last_name, top.referrals, top.qualified, top.approved
FROM top
JOIN members ON members.id = top.member_id
ORDER BY top.referrals DESC, top.approved DESC, top.member_id;

-- name: ReferralListForHubSpotCard :many
-- ReferralListForHubSpotCard is what the referral card on a HubSpot record
-- shows: the workspace's referrals held by that contact, deal or company
-- (one argument set, the others NULL), newest first, with their member and
-- campaign, at most max_results of them, and total, how many there are in
-- all. Equality on a NULL argument matches nothing, so each set argument
-- uses its column's index.
SELECT sqlc.embed(referrals), members.referral_code AS member_code, members.email AS member_email,
    members.first_name AS member_first_name, members.last_name AS member_last_name,
    campaigns.name AS campaign_name, (count(*) OVER ())::int AS total
FROM referrals
JOIN members ON members.id = referrals.member_id
JOIN campaigns ON campaigns.id = referrals.campaign_id
WHERE referrals.workspace_id = @workspace_id
  AND (referrals.hubspot_contact_id = sqlc.narg(contact_id)::bigint
       OR referrals.hubspot_deal_id = sqlc.narg(deal_id)::bigint
       OR referrals.hubspot_company_id = sqlc.narg(company_id)::bigint)
ORDER BY referrals.created_at DESC, referrals.id DESC
LIMIT @max_results;

-- name: ReferralGetStatusForShare :one
-- ReferralGetStatusForShare reads a referral's status and holds its row
-- until the caller's transaction ends, so a status change waits for it: a
-- HubSpot workflow action that blocks on the referral's decision is stored
-- before the decision, and found by the workflow, or sees the decision.
SELECT id, workspace_id, status FROM referrals
WHERE id = @id
FOR SHARE;

-- name: ReferralListOfLead :many
-- ReferralListOfLead lists a workspace's referrals whose lead is the person
-- with this normalized email: a privacy erasure's or export's subject.
SELECT * FROM referrals
WHERE workspace_id = @workspace_id AND lead_email_normalized = @email_normalized::text
ORDER BY created_at, id;

-- name: ReferralListOfMembers :many
-- ReferralListOfMembers lists the referrals members made (an export's
-- "referrals they referred": the leads' own details are not the member's).
SELECT id, campaign_id, member_id, status, in_review, source, created_at, qualified_at, approved_at, denied_at
FROM referrals
WHERE member_id = ANY(@member_ids::uuid[])
ORDER BY created_at, id;

-- name: ReferralLeadEmailsOfHubSpotContact :many
-- ReferralLeadEmailsOfHubSpotContact lists the lead emails of a workspace's
-- referrals (not erased) whose lead is this HubSpot contact: the people a
-- contact.privacyDeletion names.
SELECT DISTINCT lead_email FROM referrals
WHERE workspace_id = @workspace_id AND hubspot_contact_id = @hubspot_contact_id AND erased_at IS NULL;

-- name: ReferralErase :execrows
-- ReferralErase erases referrals' lead data (privacy): the email becomes a
-- placeholder unique to the row, every other lead detail is dropped and the
-- reasons scrubbed. Status, history, HubSpot record IDs and sale value stay:
-- the referral still counts, and a later contact.deletion still finds it.
UPDATE referrals
SET lead_email = 'erased-' || replace(id::text, '-', '') || '@erased.invalid',
    lead_email_normalized = 'erased-' || replace(id::text, '-', '') || '@erased.invalid',
    lead_first_name = NULL, lead_last_name = NULL, lead_company = NULL, lead_phone = NULL,
    note = NULL, external_id = NULL, visitor_hash = NULL,
    denied_reason = privacy_scrub(denied_reason, @emails::text[], @words::text[]),
    cannot_qualify_reason = privacy_scrub(cannot_qualify_reason, @emails::text[], @words::text[]),
    waiting_reason = privacy_scrub(waiting_reason, @emails::text[], @words::text[]),
    erased_at = now()
WHERE id = ANY(@ids::uuid[]);
