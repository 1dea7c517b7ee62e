-- 0012: a campaign's public settings and its publishable key.
--
-- public_settings holds settings.public (slug, landing URL, allowed origins,
-- attribution), validated by the Go code like the other settings columns.
-- The slug names the campaign's hosted pages (/c/{slug}/...), so two
-- campaigns of one workspace never share one; an empty slug (no hosted
-- pages) is not indexed.
--
-- publishable_key identifies a campaign to the tracking script pasted on a
-- customer's pages: public, not a secret, unique across workspaces. The
-- column's default makes one for every campaign, those already there
-- included (a volatile default is evaluated per row), and rotation sets it
-- to its default again: the key's format has this one home.

ALTER TABLE campaigns
    ADD COLUMN public_settings jsonb NOT NULL DEFAULT '{}'
        CHECK (jsonb_typeof(public_settings) = 'object'),
    ADD COLUMN publishable_key text NOT NULL
        DEFAULT 'pk_' || replace(gen_random_uuid()::text, '-', '')
        CHECK (publishable_key ~ '^pk_[0-9a-f]{32}$');

ALTER TABLE campaigns
    ADD CONSTRAINT campaigns_publishable_key_key UNIQUE (publishable_key);

CREATE UNIQUE INDEX campaigns_workspace_id_public_slug_key
    ON campaigns (workspace_id, (public_settings ->> 'slug'))
    WHERE public_settings ->> 'slug' <> '';
