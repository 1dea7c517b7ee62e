-- name: CreateMember :one
-- CreateMember adds a member. It fails with a unique violation when the
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

-- name: GetMember :one
-- GetMember loads a member by id.
SELECT * FROM members
WHERE id = @id;

-- name: GetMemberByCode :one
-- GetMemberByCode attributes a lead to the member whose code is in the link.
SELECT * FROM members
WHERE campaign_id = @campaign_id AND referral_code = @referral_code;

-- name: GetMemberByEmail :one
-- GetMemberByEmail matches a member by email, whatever its case.
SELECT * FROM members
WHERE campaign_id = @campaign_id AND lower(email) = lower(@email::text);

-- name: ListMembersByHubSpotContact :many
-- ListMembersByHubSpotContact finds the members (one per campaign at most
-- per contact in practice) linked to a HubSpot contact in a workspace.
SELECT * FROM members
WHERE workspace_id = @workspace_id AND hubspot_contact_id = @hubspot_contact_id
ORDER BY created_at, id;

-- name: SetMemberReferralCounts :one
-- SetMemberReferralCounts stores counts recomputed from referrals, so a
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

-- name: ListMembersByCampaign :many
-- ListMembersByCampaign lists a campaign's members, oldest first.
SELECT * FROM members
WHERE campaign_id = @campaign_id
ORDER BY created_at, id;

-- name: SetMemberHubSpotContact :one
-- SetMemberHubSpotContact links a member to its HubSpot contact: the one
-- found by the member's email, or the record a stored contact was merged into.
UPDATE members
SET hubspot_contact_id = @hubspot_contact_id,
    updated_at = now()
WHERE id = @id
RETURNING *;
