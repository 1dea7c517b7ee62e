-- name: HubSpotConnectionUpsert :one
-- HubSpotConnectionUpsert records a completed connect or reconnect of a
-- workspace (one row per workspace): OAuth, or a private app's access token
-- (kind private_app: no refresh token, no expiry; a NULL kind is oauth). It fails with a unique violation on
-- hubspot_connections_active_portal_key when the portal is connected to
-- another workspace; the caller then names that workspace with
-- HubSpotConnectionGetActiveByPortal.
INSERT INTO hubspot_connections (
    workspace_id, portal_id, kind, scopes,
    access_token_ciphertext, refresh_token_ciphertext, encryption_key_id,
    access_token_expires_at, connected_by, portal_time_zone
) VALUES (
    @workspace_id, @portal_id, COALESCE(sqlc.narg(kind)::text, 'oauth'), @scopes,
    @access_token_ciphertext, @refresh_token_ciphertext, @encryption_key_id,
    @access_token_expires_at, @connected_by, sqlc.narg(portal_time_zone)
)
ON CONFLICT (workspace_id) DO UPDATE SET
    portal_id = EXCLUDED.portal_id,
    kind = EXCLUDED.kind,
    portal_time_zone = EXCLUDED.portal_time_zone,
    scopes = EXCLUDED.scopes,
    access_token_ciphertext = EXCLUDED.access_token_ciphertext,
    refresh_token_ciphertext = EXCLUDED.refresh_token_ciphertext,
    encryption_key_id = EXCLUDED.encryption_key_id,
    access_token_expires_at = EXCLUDED.access_token_expires_at,
    connected_by = EXCLUDED.connected_by,
    status = 'connected',
    broken_reason = NULL,
    connected_at = now(),
    disconnected_at = NULL,
    property_setup_status = 'pending',
    property_setup_error = NULL,
    property_setup_at = NULL,
    referrer_association_type_id = NULL,
    referred_association_type_id = NULL,
    referred_by_association_type_id = NULL,
    updated_at = now()
RETURNING *;

-- name: HubSpotConnectionGetByWorkspace :one
-- HubSpotConnectionGetByWorkspace loads the workspace's connection, in any
-- status, for its settings page and token refresh.
SELECT * FROM hubspot_connections
WHERE workspace_id = @workspace_id;

-- name: HubSpotConnectionGetActiveByPortal :one
-- HubSpotConnectionGetActiveByPortal routes an inbound webhook to its
-- workspace. A broken connection is still active (the portal is still
-- claimed); only a disconnected one is not.
SELECT * FROM hubspot_connections
WHERE portal_id = @portal_id AND disconnected_at IS NULL;

-- name: HubSpotConnectionUpdateTokens :one
-- HubSpotConnectionUpdateTokens stores refreshed (or re-encrypted) tokens and marks a
-- broken connection healthy again.
UPDATE hubspot_connections
SET access_token_ciphertext = @access_token_ciphertext,
    refresh_token_ciphertext = @refresh_token_ciphertext,
    encryption_key_id = @encryption_key_id,
    access_token_expires_at = @access_token_expires_at,
    status = 'connected',
    broken_reason = NULL,
    updated_at = now()
WHERE workspace_id = @workspace_id AND disconnected_at IS NULL
RETURNING *;

-- name: HubSpotConnectionMarkBroken :one
-- HubSpotConnectionMarkBroken records that HubSpot refused the tokens (e.g.
-- BAD_REFRESH_TOKEN): an admin must reconnect.
UPDATE hubspot_connections
SET status = 'broken', broken_reason = @broken_reason, updated_at = now()
WHERE workspace_id = @workspace_id AND disconnected_at IS NULL
RETURNING *;

-- name: HubSpotConnectionDisconnect :one
-- HubSpotConnectionDisconnect releases the portal and forgets the tokens;
-- all other data is kept.
UPDATE hubspot_connections
SET status = 'disconnected',
    disconnected_at = now(),
    access_token_ciphertext = NULL,
    refresh_token_ciphertext = NULL,
    access_token_expires_at = NULL,
    updated_at = now()
WHERE workspace_id = @workspace_id AND disconnected_at IS NULL
RETURNING *;

-- name: HubSpotConnectionTouch :exec
-- HubSpotConnectionTouch records the "last connection" and "last entry
-- received" times shown to admins; NULL arguments leave a time unchanged.
UPDATE hubspot_connections
SET last_api_call_at = COALESCE(sqlc.narg(last_api_call_at)::timestamptz, last_api_call_at),
    last_webhook_at = COALESCE(sqlc.narg(last_webhook_at)::timestamptz, last_webhook_at),
    last_entry_at = COALESCE(sqlc.narg(last_entry_at)::timestamptz, last_entry_at)
WHERE workspace_id = @workspace_id;

-- name: HubSpotConnectionLock :one
-- HubSpotConnectionLock loads the workspace's connection and locks its row
-- until the transaction ends, so that one process refreshes the tokens while
-- the others wait and then read what it stored.
SELECT * FROM hubspot_connections
WHERE workspace_id = @workspace_id
FOR UPDATE;

-- name: HubSpotConnectionSetPropertySetup :execrows
-- HubSpotConnectionSetPropertySetup records how the property setup of a connection
-- went. It only touches the connection to the portal the setup ran for.
UPDATE hubspot_connections
SET property_setup_status = @property_setup_status,
    property_setup_error = sqlc.narg(property_setup_error),
    property_setup_at = now(),
    updated_at = now()
WHERE workspace_id = @workspace_id AND portal_id = @portal_id AND disconnected_at IS NULL;

-- name: HubSpotConnectionList :many
-- HubSpotConnectionList returns every workspace's connection, for operators'
-- metrics and `referflow doctor`.
SELECT * FROM hubspot_connections
ORDER BY workspace_id;

-- name: HubSpotConnectionSetAssociationLabels :execrows
-- HubSpotConnectionSetAssociationLabels stores the type IDs of referflow's
-- association labels in the connection's portal (migration 0037); a
-- connection since moved to another portal is left alone (0 rows).
UPDATE hubspot_connections
SET referrer_association_type_id = @referrer_type_id,
    referred_association_type_id = @referred_type_id,
    referred_by_association_type_id = @referred_by_type_id,
    updated_at = now()
WHERE workspace_id = @workspace_id AND portal_id = @portal_id;
