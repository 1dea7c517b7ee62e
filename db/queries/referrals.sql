-- name: CreateReferral :one
-- CreateReferral fails with a unique violation on
-- referrals_campaign_id_lead_email_key when the lead was already referred in
-- the campaign (duplicate-lead check).
INSERT INTO referrals (
    workspace_id, campaign_id, member_id,
    lead_email, lead_email_normalized, lead_first_name, lead_last_name, lead_company,
    source, external_id,
    hubspot_contact_id, hubspot_deal_id, hubspot_company_id
) VALUES (
    @workspace_id, @campaign_id, @member_id,
    @lead_email, @lead_email_normalized, @lead_first_name, @lead_last_name, @lead_company,
    @source, @external_id,
    @hubspot_contact_id, @hubspot_deal_id, @hubspot_company_id
)
RETURNING *;

-- name: GetReferral :one
-- GetReferral loads a referral by id.
SELECT * FROM referrals
WHERE id = @id;

-- name: GetReferralDetail :one
-- GetReferralDetail is the one row a referral workflow loads: the referral
-- with its member's code and email and its campaign's name.
SELECT sqlc.embed(referrals),
       members.referral_code AS member_referral_code,
       members.email AS member_email,
       campaigns.name AS campaign_name
FROM referrals
JOIN members ON members.id = referrals.member_id
JOIN campaigns ON campaigns.id = referrals.campaign_id
WHERE referrals.id = @id;

-- name: UpdateReferralStatus :one
-- UpdateReferralStatus moves a referral from expected_status to new_status
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

-- name: SetReferralInReview :one
-- SetReferralInReview puts a referral on hold for an admin (or releases it).
UPDATE referrals
SET in_review = @in_review, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: ListReferralsByCampaign :many
-- ListReferralsByCampaign pages through a campaign's referrals, newest first,
-- optionally of one status. Pass the created_at and id of the last row of the
-- previous page as after_created_at and after_id (both or neither).
SELECT * FROM referrals
WHERE campaign_id = @campaign_id
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(after_created_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(after_created_at)::timestamptz, sqlc.narg(after_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_size)::int;

-- name: ListReferralsByMember :many
-- ListReferralsByMember lists a member's referrals, newest first.
SELECT * FROM referrals
WHERE member_id = @member_id
ORDER BY created_at DESC, id DESC;

-- name: ListReferralsByHubSpotObject :many
-- ListReferralsByHubSpotObject routes a HubSpot webhook event to the
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

-- name: GetReferralByLeadEmail :one
-- GetReferralByLeadEmail finds the campaign's referral of an exact email (any
-- case): the one a duplicate add collides with.
SELECT * FROM referrals
WHERE campaign_id = @campaign_id AND lower(lead_email) = lower(@lead_email::text);

-- name: FirstReferralOfNormalizedLead :one
-- FirstReferralOfNormalizedLead is the campaign's earliest referral of the
-- same mailbox: when it is not the referral being checked, that one is a
-- duplicate lead.
SELECT * FROM referrals
WHERE campaign_id = @campaign_id AND lead_email_normalized = @lead_email_normalized
ORDER BY created_at, id
LIMIT 1;

-- name: SetReferralHubSpotObjects :one
-- SetReferralHubSpotObjects records the HubSpot objects a referral's lead was
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

-- name: UpdateReferralFromHubSpot :one
-- UpdateReferralFromHubSpot copies values HubSpot reported onto the referral
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
