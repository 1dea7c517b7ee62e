-- name: CreateCampaign :one
-- CreateCampaign adds a campaign; status defaults to draft and a NULL
-- settings argument stores an empty object.
INSERT INTO campaigns (
    workspace_id, name, status,
    lead_settings, referrer_settings, status_rules,
    property_updates, process_rules, reward_rules,
    fulfilment_webhook_url
) VALUES (
    @workspace_id, @name, COALESCE(sqlc.narg(status)::text, 'draft'),
    COALESCE(sqlc.narg(lead_settings)::jsonb, '{}'),
    COALESCE(sqlc.narg(referrer_settings)::jsonb, '{}'),
    COALESCE(sqlc.narg(status_rules)::jsonb, '{}'),
    COALESCE(sqlc.narg(property_updates)::jsonb, '{}'),
    COALESCE(sqlc.narg(process_rules)::jsonb, '{}'),
    COALESCE(sqlc.narg(reward_rules)::jsonb, '{}'),
    sqlc.narg(fulfilment_webhook_url)
)
RETURNING *;

-- name: GetCampaign :one
-- GetCampaign loads a campaign by id; API handlers must compare its
-- workspace_id with the caller's workspace.
SELECT * FROM campaigns
WHERE id = @id;

-- name: ListCampaigns :many
-- ListCampaigns lists a workspace's campaigns, oldest first.
SELECT * FROM campaigns
WHERE workspace_id = @workspace_id
ORDER BY created_at, id;

-- name: UpdateCampaignStatus :one
-- UpdateCampaignStatus activates, pauses or archives a campaign.
UPDATE campaigns
SET status = @status, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: UpdateCampaignSettings :one
-- UpdateCampaignSettings replaces a campaign's settings (validated by the
-- caller) within the workspace that owns it; no row means no such campaign
-- in that workspace.
UPDATE campaigns
SET lead_settings = @lead_settings,
    referrer_settings = @referrer_settings,
    status_rules = @status_rules,
    property_updates = @property_updates,
    process_rules = @process_rules,
    reward_rules = @reward_rules,
    updated_at = now()
WHERE id = @id AND workspace_id = @workspace_id
RETURNING *;

-- name: UpdateCampaignDetails :one
-- UpdateCampaignDetails changes a campaign's name, status and fulfilment
-- URL; a NULL argument keeps the current value, an empty URL clears it.
UPDATE campaigns
SET name = COALESCE(sqlc.narg(name)::text, name),
    status = COALESCE(sqlc.narg(status)::text, status),
    fulfilment_webhook_url = CASE
        WHEN sqlc.narg(fulfilment_webhook_url)::text IS NULL THEN fulfilment_webhook_url
        ELSE NULLIF(sqlc.narg(fulfilment_webhook_url)::text, '')
    END,
    updated_at = now()
WHERE id = @id AND workspace_id = @workspace_id
RETURNING *;
