-- 0016: the hosted pages (/c/{slug}/join, /c/{slug}/refer) find a campaign
-- by its public slug alone: their URL names no workspace. The unique index
-- of 0012 leads with workspace_id, so it cannot answer "which campaigns have
-- this slug"; this one can. A slug is unique per workspace only, so it may
-- name campaigns of several workspaces (CampaignGetBySlug picks one).

CREATE INDEX campaigns_public_slug_idx
    ON campaigns ((public_settings ->> 'slug'))
    WHERE public_settings ->> 'slug' <> '';
