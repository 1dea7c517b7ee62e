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
-- MemberGetByCode attributes a lead to the member whose code is in the link
-- (an erased member's link attributes nothing).
SELECT * FROM members
WHERE campaign_id = @campaign_id AND referral_code = @referral_code AND erased_at IS NULL;

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

-- name: MemberSearchByCampaign :many
-- MemberSearchByCampaign is a page of a campaign's members, newest first,
-- keyset paged on (created_at, id): those whose email or name contains
-- search (a LIKE pattern, lower case) or whose referral code is code, or all
-- when both are null.
SELECT * FROM members
WHERE campaign_id = @campaign_id AND workspace_id = @workspace_id
  AND (sqlc.narg(search)::text IS NULL
       OR lower(email) LIKE sqlc.narg(search)::text
       OR lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) LIKE sqlc.narg(search)::text
       OR referral_code = sqlc.narg(code)::text)
  AND (created_at, id) < (@before_created_at::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_size)::int;

-- name: MemberAddToReferralCounts :exec
-- MemberAddToReferralCounts adds to a member's referral count and converted
-- referral count, in the transaction that adds one of their referrals or
-- changes its status: the change and its count commit together, so a
-- retried activity (which finds its change already made) never counts twice.
-- An increment, not a recount: the member's row is locked only from here to
-- the commit, so it is the transaction's last statement, and referrals of
-- one member changing at once wait on each other for no more than that.
UPDATE members
SET referral_count = referral_count + sqlc.arg(referrals)::int,
    converted_referral_count = converted_referral_count + sqlc.arg(converted)::int,
    updated_at = now()
WHERE id = @id;

-- name: MemberRefreshReferralCounts :one
-- MemberRefreshReferralCounts recomputes a member's counts from its
-- referrals: every referral, and the converted ones (qualified or approved:
-- HubSpot said the lead converted). A repair, not the everyday path
-- (MemberAddToReferralCounts is).
UPDATE members
SET referral_count = (
        SELECT count(*) FROM referrals r WHERE r.member_id = members.id
    ),
    converted_referral_count = (
        SELECT count(*) FROM referrals r WHERE r.member_id = members.id AND r.status IN ('qualified', 'approved')
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
-- MemberGetByReferralLink finds the member of a referral link (/r/{code};
-- an erased member's link finds none)
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
  AND members.erased_at IS NULL
ORDER BY campaigns.status = 'active' DESC, members.referral_code = @referral_code::text DESC,
    members.created_at, members.id
LIMIT 1;

-- name: MemberCreateMany :many
-- MemberCreateMany adds members of one campaign in one statement (CSV
-- imports add a thousand at once). A row whose email (any case), referral
-- code or external ID is taken — by an existing member or an earlier row of
-- the same call — is left out: the rows returned are those added, and the
-- caller finds out why the others were not. Empty names and external IDs
-- are stored as NULL, and so is a HubSpot contact ID of 0 (none known).
-- workflow_started_at is set for members whose way in writes them back to
-- HubSpot itself (workflows/member.go).
INSERT INTO members (
    workspace_id, campaign_id, referral_code, email,
    first_name, last_name, external_id, hubspot_contact_id, source, workflow_started_at
)
SELECT @workspace_id, @campaign_id, r.referral_code, r.email,
    nullif(btrim(r.first_name), ''), nullif(btrim(r.last_name), ''), nullif(btrim(r.external_id), ''),
    nullif(r.hubspot_contact_id, 0), @source, sqlc.narg(workflow_started_at)::timestamptz
FROM (
    SELECT unnest(@referral_codes::text[]) AS referral_code, unnest(@emails::text[]) AS email,
        unnest(@first_names::text[]) AS first_name, unnest(@last_names::text[]) AS last_name,
        unnest(@external_ids::text[]) AS external_id, unnest(@hubspot_contact_ids::bigint[]) AS hubspot_contact_id
) r
ON CONFLICT DO NOTHING
RETURNING *;

-- name: MemberListByEmails :many
-- MemberListByEmails finds a campaign's members among emails, whatever
-- their case.
SELECT * FROM members
WHERE campaign_id = @campaign_id AND lower(email) = ANY(@lower_emails::text[]);

-- name: MemberGetWithCampaign :one
-- MemberGetWithCampaign loads a member with what the member portal and its
-- access links need of the campaign: its name, status and public settings.
SELECT sqlc.embed(members), campaigns.name AS campaign_name, campaigns.status AS campaign_status,
    campaigns.public_settings
FROM members
JOIN campaigns ON campaigns.id = members.campaign_id
WHERE members.id = @id;

-- name: MemberListByHubSpotContacts :many
-- MemberListByHubSpotContacts finds a campaign's members linked to any of
-- the HubSpot contacts (a contact sync's page).
SELECT * FROM members
WHERE campaign_id = @campaign_id AND hubspot_contact_id = ANY(@hubspot_contact_ids::bigint[]);

-- name: MemberUpdateFromContact :one
-- MemberUpdateFromContact takes a synced contact's names onto its member and
-- links the contact; it returns no row when nothing changed.
UPDATE members
SET first_name = nullif(btrim(@first_name::text), ''), last_name = nullif(btrim(@last_name::text), ''),
    hubspot_contact_id = @hubspot_contact_id, updated_at = now()
WHERE id = @id AND (
    first_name IS DISTINCT FROM nullif(btrim(@first_name::text), '')
    OR last_name IS DISTINCT FROM nullif(btrim(@last_name::text), '')
    OR hubspot_contact_id IS DISTINCT FROM @hubspot_contact_id)
RETURNING *;

-- name: MemberMarkWorkflowStarted :exec
-- MemberMarkWorkflowStarted records that the member's workflow ran its first
-- step (the reconciler then leaves it alone).
UPDATE members
SET workflow_started_at = COALESCE(workflow_started_at, now())
WHERE id = @id;

-- name: MemberListWithoutWorkflow :many
-- MemberListWithoutWorkflow returns the IDs of members added before
-- created_before whose workflow never ran its first step, oldest first.
SELECT id FROM members
WHERE workflow_started_at IS NULL
  AND created_at < @created_before
ORDER BY created_at
LIMIT @max_results;

-- name: MemberSetWaiting :exec
-- MemberSetWaiting records what the member's workflow waits on (step, cause
-- and reason), keeping waiting_since while the step stays the same.
UPDATE members
SET waiting_step   = @waiting_step::text,
    waiting_cause  = @waiting_cause::text,
    waiting_reason = @waiting_reason::text,
    waiting_since  = CASE WHEN waiting_step IS NOT DISTINCT FROM @waiting_step::text
                          THEN waiting_since ELSE now() END
WHERE id = @id;

-- name: MemberClearWaiting :exec
-- MemberClearWaiting records that the member's workflow waits on nothing.
UPDATE members
SET waiting_step = NULL, waiting_cause = NULL, waiting_reason = NULL, waiting_since = NULL
WHERE id = @id AND waiting_step IS NOT NULL;

-- name: MemberListWaiting :many
-- MemberListWaiting returns the IDs of a workspace's members whose workflow
-- waits on the outside world, of one campaign when campaign_id is set,
-- oldest wait first: those to wake when HubSpot is connected or the
-- campaign's settings are saved.
SELECT id FROM members
WHERE workspace_id = @workspace_id
  AND waiting_step IS NOT NULL
  AND (sqlc.narg(campaign_id)::uuid IS NULL OR campaign_id = sqlc.narg(campaign_id)::uuid)
ORDER BY waiting_since, id
LIMIT @max_results;

-- name: MemberSetHubSpotDeal :one
-- MemberSetHubSpotDeal stores the deal referflow created for a member.
UPDATE members
SET hubspot_deal_id = @hubspot_deal_id,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: MemberListByHubSpotDeal :many
-- MemberListByHubSpotDeal returns the workspace's members a HubSpot deal is
-- stored on.
SELECT * FROM members
WHERE workspace_id = @workspace_id AND hubspot_deal_id = @hubspot_deal_id;

-- name: MemberListByIDs :many
-- MemberListByIDs loads members by ID (the HubSpot writer's batch).
SELECT * FROM members
WHERE id = ANY(sqlc.arg(ids)::uuid[]);

-- name: MemberUnsubscribeFromEmails :one
-- MemberUnsubscribeFromEmails stops every email to the member; the first
-- unsubscription's time stays.
UPDATE members
SET email_unsubscribed_at = COALESCE(email_unsubscribed_at, now()),
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: MemberListForHubSpotCard :many
-- MemberListForHubSpotCard is the referral card on a member's HubSpot
-- contact: the workspace's members linked to that contact (one per campaign
-- at most), newest first, with their campaign's name, at most max_results,
-- and total, how many there are in all.
SELECT sqlc.embed(members), campaigns.name AS campaign_name, (count(*) OVER ())::int AS total
FROM members
JOIN campaigns ON campaigns.id = members.campaign_id
WHERE members.workspace_id = @workspace_id AND members.hubspot_contact_id = @hubspot_contact_id
ORDER BY members.created_at DESC, members.id DESC
LIMIT @max_results;

-- name: MemberListOfPerson :many
-- MemberListOfPerson lists a workspace's members who are the person with
-- this normalized email (internal/referral.NormalizeEmail, in SQL
-- normalize_email), in every campaign: a privacy erasure's or export's
-- subject. An erased member no longer has the email.
SELECT * FROM members
WHERE workspace_id = @workspace_id AND normalize_email(email) = @email_normalized::text
ORDER BY created_at, id;

-- name: MemberEmailsOfHubSpotContact :many
-- MemberEmailsOfHubSpotContact lists the emails of a workspace's members
-- (not erased) who are this HubSpot contact: the people a
-- contact.privacyDeletion names.
SELECT DISTINCT email FROM members
WHERE workspace_id = @workspace_id AND hubspot_contact_id = @hubspot_contact_id AND erased_at IS NULL;

-- name: MemberErase :execrows
-- MemberErase erases members' personal data (privacy): the email becomes a
-- placeholder unique to the row, and so does the referral code (codes are
-- often made of a name; the link stops working anyway), names and external
-- ID are dropped, the waiting reason is scrubbed, emails stop
-- (unsubscribed). The row and its counts stay, so campaign totals do not
-- change.
UPDATE members
SET email = 'erased-' || replace(id::text, '-', '') || '@erased.invalid',
    referral_code = 'erased-' || replace(id::text, '-', ''),
    first_name = NULL, last_name = NULL, external_id = NULL,
    waiting_reason = privacy_scrub(waiting_reason, @emails::text[], @words::text[]),
    email_unsubscribed_at = coalesce(email_unsubscribed_at, now()),
    erased_at = now()
WHERE id = ANY(@ids::uuid[]);
