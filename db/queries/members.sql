-- name: MemberCreate :one
-- MemberCreate adds a member. It fails with a unique violation when the
-- referral code, the email (any case) or the external id is already taken in
-- the campaign.
INSERT INTO members (
    workspace_id, campaign_id, referral_code, email,
    first_name, last_name, external_id, hubspot_contact_id, source
) VALUES (
    @workspace_id, @campaign_id, @referral_code, @email,
    @first_name, @last_name, @external_id, @hubspot_contact_id, @source
)
RETURNING *;

-- name: MemberGetByID :one
-- MemberGetByID loads a member by id.
SELECT * FROM members
WHERE id = @id;

-- name: MemberGetByCode :one
-- MemberGetByCode attributes a lead to the member whose code is in the link.
SELECT * FROM members
WHERE campaign_id = @campaign_id AND referral_code = @referral_code;

-- name: MemberGetByEmail :one
-- MemberGetByEmail matches a member by email, whatever its case.
SELECT * FROM members
WHERE campaign_id = @campaign_id AND lower(email) = lower(@email::text);

-- name: MemberGetByExternalID :one
-- MemberGetByExternalID resolves a matching rule holding a member's
-- external ID.
SELECT * FROM members
WHERE campaign_id = @campaign_id AND external_id = @external_id;

-- name: MemberListByCampaign :many
-- MemberListByCampaign lists a campaign's members, oldest first.
SELECT * FROM members
WHERE campaign_id = @campaign_id
ORDER BY created_at, id;

-- name: MemberRefreshReferralCounts :one
-- MemberRefreshReferralCounts stores counts recomputed from referrals, so a
-- retried activity cannot count twice.
UPDATE members
SET referral_count = (
        SELECT count(*) FROM referrals r WHERE r.member_id = members.id
    ),
    converted_referral_count = (
        SELECT count(*) FROM referrals r WHERE r.member_id = members.id AND r.status = 'approved'
    ),
    updated_at = now()
WHERE members.id = @id
RETURNING *;

-- name: MemberSetHubSpotContact :one
-- MemberSetHubSpotContact links a member to its HubSpot contact: the one
-- found by the member's email, or the record a stored contact was merged into.
UPDATE members
SET hubspot_contact_id = @hubspot_contact_id,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: MemberGetByReferralLink :one
-- MemberGetByReferralLink finds the member of a referral link (/r/{code})
-- and what the link needs of its campaign, and nothing more: it runs on
-- every click. The code is matched as written or in upper case (generated
-- codes are upper case; people retype links in lower case). A code is unique
-- per campaign only: a member of an active campaign comes first, then the
-- exact spelling, then the oldest member, whose link was handed out first.
SELECT members.id AS member_id, members.referral_code, members.workspace_id, members.campaign_id,
    campaigns.status AS campaign_status, campaigns.public_settings, campaigns.updated_at AS campaign_updated_at
FROM members
JOIN campaigns ON campaigns.id = members.campaign_id
WHERE members.referral_code = ANY(ARRAY[@referral_code::text, upper(@referral_code::text)])
ORDER BY campaigns.status = 'active' DESC, members.referral_code = @referral_code::text DESC,
    members.created_at, members.id
LIMIT 1;
