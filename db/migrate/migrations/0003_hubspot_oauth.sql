-- 0003_hubspot_oauth: the OAuth connect flow's state values, and the state of
-- the property setup run on each HubSpot connection.

-- One row per started connect. Only a SHA-256 of the state is kept (the state
-- itself travels through the browser); a state is consumed once, by the admin
-- who started it, before it expires.
CREATE TABLE oauth_states (
    state_hash   bytea PRIMARY KEY CHECK (length(state_hash) = 32),
    admin_id     uuid NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    CHECK (expires_at > created_at)
);
COMMENT ON TABLE oauth_states IS
    'OAuth connect flows under way: SHA-256 of the state parameter, who started it for which workspace, when it expires and when it was used (single use).';

CREATE INDEX oauth_states_expires_idx ON oauth_states (expires_at);

-- referflow creates its property group and properties in the portal after each
-- connect, as a Temporal workflow; admins see how far it got.
ALTER TABLE hubspot_connections
    ADD COLUMN property_setup_status text NOT NULL DEFAULT 'pending'
        CHECK (property_setup_status IN ('pending', 'done', 'failed')),
    ADD COLUMN property_setup_error text,
    ADD COLUMN property_setup_at timestamptz;
