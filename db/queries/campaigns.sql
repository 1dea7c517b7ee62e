-- name: CampaignCreate :one
-- CampaignCreate adds a campaign; status defaults to draft and a NULL
-- settings argument stores an empty object.
INSERT INTO campaigns (
    workspace_id, name, status,
    lead_settings, referrer_settings, status_rules,
    property_updates, process_rules, reward_rules, public_settings,
    fraud_checks, email_settings, fulfilment_webhook_url
) VALUES (
    @workspace_id, @name, COALESCE(sqlc.narg(status)::text, 'draft'),
    COALESCE(sqlc.narg(lead_settings)::jsonb, '{}'),
    COALESCE(sqlc.narg(referrer_settings)::jsonb, '{}'),
    COALESCE(sqlc.narg(status_rules)::jsonb, '{}'),
    COALESCE(sqlc.narg(property_updates)::jsonb, '{}'),
    COALESCE(sqlc.narg(process_rules)::jsonb, '{}'),
    COALESCE(sqlc.narg(reward_rules)::jsonb, '{}'),
    COALESCE(sqlc.narg(public_settings)::jsonb, '{}'),
    COALESCE(sqlc.narg(fraud_checks)::jsonb, '{}'),
    COALESCE(sqlc.narg(email_settings)::jsonb, '{}'),
    sqlc.narg(fulfilment_webhook_url)
)
RETURNING *;

-- name: CampaignGetByID :one
-- CampaignGetByID loads a campaign by id; API handlers must compare its
-- workspace_id with the caller's workspace.
SELECT * FROM campaigns
WHERE id = @id;

-- name: CampaignGetByPublishableKey :one
-- CampaignGetByPublishableKey finds the campaign a tracking script names by
-- its publishable key (public, not a secret: it proves nothing about the
-- caller); a rotated key finds nothing.
SELECT * FROM campaigns
WHERE publishable_key = @publishable_key;

-- name: CampaignListByWorkspace :many
-- CampaignListByWorkspace lists a workspace's campaigns, oldest first.
SELECT * FROM campaigns
WHERE workspace_id = @workspace_id
ORDER BY created_at, id;

-- name: CampaignLockStatus :one
-- CampaignLockStatus reads a campaign's status and holds the row (FOR SHARE)
-- until the transaction ends: a member or referral is added only while its
-- campaign is active, since a status change waits for the addition to
-- commit, and an addition waiting on a change sees the status it left.
SELECT status FROM campaigns
WHERE id = @id
FOR SHARE;

-- name: CampaignUpdateSettings :one
-- CampaignUpdateSettings replaces a campaign's settings (validated by the
-- caller) within the workspace that owns it, unless it is archived
-- (read-only); no row means no such campaign in that workspace, or an
-- archived one.
UPDATE campaigns
SET lead_settings = @lead_settings,
    referrer_settings = @referrer_settings,
    status_rules = @status_rules,
    property_updates = @property_updates,
    process_rules = @process_rules,
    reward_rules = @reward_rules,
    public_settings = @public_settings,
    fraud_checks = @fraud_checks,
    email_settings = @email_settings,
    updated_at = now()
WHERE id = @id AND workspace_id = @workspace_id AND status <> 'archived'
RETURNING *;

-- name: CampaignUpdateDetails :one
-- CampaignUpdateDetails changes a campaign's name, status and fulfilment
-- URL; a NULL argument keeps the current value, an empty URL clears it.
-- With expected_status, only a campaign still in that status changes (the
-- caller checked the move from it: campaign.CheckTransition); no row means
-- no such campaign in that workspace, or one whose status moved meanwhile.
UPDATE campaigns
SET name = COALESCE(sqlc.narg(name)::text, name),
    status = COALESCE(sqlc.narg(status)::text, status),
    fulfilment_webhook_url = CASE
        WHEN sqlc.narg(fulfilment_webhook_url)::text IS NULL THEN fulfilment_webhook_url
        ELSE NULLIF(sqlc.narg(fulfilment_webhook_url)::text, '')
    END,
    updated_at = now()
WHERE id = @id AND workspace_id = @workspace_id
  AND (sqlc.narg(expected_status)::text IS NULL OR status = sqlc.narg(expected_status)::text)
RETURNING *;

-- name: CampaignListUnarchivedOfWorkspaces :many
-- CampaignListUnarchivedOfWorkspaces loads the campaigns whose rules decide whether a
-- property change matters: every campaign of the workspaces but archived
-- ones.
SELECT * FROM campaigns
WHERE workspace_id = ANY(sqlc.arg(workspace_ids)::uuid[]) AND status <> 'archived'
ORDER BY workspace_id, created_at, id;

-- name: CampaignRotatePublishableKey :one
-- CampaignRotatePublishableKey gives a campaign of the workspace a new
-- publishable key (the column's default, its one format); the old key no
-- longer finds it. No row means no such campaign in that workspace.
UPDATE campaigns
SET publishable_key = DEFAULT,
    updated_at = now()
WHERE id = @id AND workspace_id = @workspace_id
RETURNING *;

-- name: CampaignGetBySlug :one
-- CampaignGetBySlug finds the campaign of a hosted page (/c/{slug}/...) and
-- its workspace's name, which the page shows. A slug is unique per workspace
-- only: an active campaign comes first, then the oldest, whose pages were
-- shared first (as MemberGetByReferralLink does for codes). The slug <> ''
-- condition lets the partial index campaigns_public_slug_idx answer.
SELECT sqlc.embed(campaigns), workspaces.name AS workspace_name
FROM campaigns
JOIN workspaces ON workspaces.id = campaigns.workspace_id
WHERE campaigns.public_settings ->> 'slug' = @slug::text
  AND campaigns.public_settings ->> 'slug' <> ''
ORDER BY campaigns.status = 'active' DESC, campaigns.created_at, campaigns.id
LIMIT 1;

-- name: CampaignAllowsOrigin :one
-- CampaignAllowsOrigin tells whether any campaign lists a (normalised) web
-- origin in settings.public.allowed_origins: a CORS preflight to the public
-- conversions endpoint carries no publishable key to name its campaign.
SELECT EXISTS (
    SELECT 1 FROM campaigns
    WHERE public_settings -> 'allowed_origins' ? @origin::text
);
