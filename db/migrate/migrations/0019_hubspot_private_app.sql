-- 0019: HubSpot connections made with a private app's access token.
--
-- A self-hosted install with one portal may connect with a HubSpot private
-- app's static access token instead of OAuth. Such a token has no refresh
-- token and does not expire: the row keeps only the sealed access token, with
-- no expiry. kind tells the two apart; every other column means the same.
ALTER TABLE hubspot_connections
    ADD COLUMN kind text NOT NULL DEFAULT 'oauth' CHECK (kind IN ('oauth', 'private_app')),
    ADD CONSTRAINT hubspot_connections_private_app_has_no_refresh
        CHECK (kind = 'oauth' OR (refresh_token_ciphertext IS NULL AND access_token_expires_at IS NULL));

COMMENT ON COLUMN hubspot_connections.kind IS
    'How the connection was made: oauth (authorization-code flow: access and refresh tokens) or private_app (a private app''s static access token: no refresh token, no expiry).';
