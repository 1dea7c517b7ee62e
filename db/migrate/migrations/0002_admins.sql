-- 0002_admins: the people who run a workspace's referral programs, and the
-- API keys they authenticate with.

CREATE TABLE admins (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email        text NOT NULL CHECK (btrim(email) <> ''),
    name         text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE admins IS
    'A program admin of one workspace: connects HubSpot, sets up campaigns, works the review queue. Audit trail actors read admin:<id>.';

CREATE UNIQUE INDEX admins_workspace_email_key ON admins (workspace_id, lower(email));

CREATE TRIGGER admins_set_updated_at BEFORE UPDATE ON admins
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE admin_api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    admin_id     uuid NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    name         text NOT NULL DEFAULT '',
    -- The first characters of the key, shown so a person can tell keys apart;
    -- the key itself is shown once, at creation, and only its hash is kept.
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
COMMENT ON TABLE admin_api_keys IS
    'API keys of admins (SHA-256 hashes only). A revoked key stays for the record.';

CREATE INDEX admin_api_keys_admin_idx ON admin_api_keys (admin_id);
