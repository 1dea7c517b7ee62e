-- Queries of the Sales Receiver's matching (SalesEntryWorkflow's
-- activities): finding the referral or member a HubSpot object belongs to,
-- linking it, and recording what was done with the sales entry.

-- name: RecordSalesEntryStep :one
-- RecordSalesEntryStep appends one action to a sales entry and, when given,
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

-- name: FindReferralsByExternalID :many
-- FindReferralsByExternalID is the direct match on a campaign's external ID
-- property.
SELECT * FROM referrals
WHERE campaign_id = @campaign_id AND external_id = @external_id
ORDER BY created_at, id
LIMIT 10;

-- name: FindReferralsByNormalizedEmail :many
-- FindReferralsByNormalizedEmail is the fuzzy match on email: the
-- workspace's referrals of the same mailbox, in every campaign.
SELECT * FROM referrals
WHERE campaign_id IN (SELECT c.id FROM campaigns c WHERE c.workspace_id = @workspace_id)
  AND lead_email_normalized = @lead_email_normalized
ORDER BY created_at, id
LIMIT 20;

-- name: FindReferralsByNameAndDomain :many
-- FindReferralsByNameAndDomain is the fuzzy match on name: the workspace's
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

-- name: GetReferralOfCampaignByHubSpotObject :one
-- GetReferralOfCampaignByHubSpotObject finds the referral of a campaign that
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

-- name: LinkReferralHubSpotObject :one
-- LinkReferralHubSpotObject stores a matched HubSpot object on a referral
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

-- name: GetMemberByExternalID :one
-- GetMemberByExternalID resolves a matching rule holding a member's
-- external ID.
SELECT * FROM members
WHERE campaign_id = @campaign_id AND external_id = @external_id;
