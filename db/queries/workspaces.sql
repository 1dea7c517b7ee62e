-- name: WorkspaceCreate :one
-- WorkspaceCreate adds a tenant; the app generates the webhook signing secret.
INSERT INTO workspaces (name, webhook_signing_secret)
VALUES (@name, @webhook_signing_secret)
RETURNING *;

-- name: WorkspaceGetByID :one
-- WorkspaceGetByID loads a tenant by id.
SELECT * FROM workspaces
WHERE id = @id;

-- name: WorkspaceGetByName :one
-- WorkspaceGetByName finds the oldest workspace with a name, so the CLI can
-- add admins to a workspace it names.
SELECT * FROM workspaces
WHERE name = @name
ORDER BY created_at, id
LIMIT 1;

-- name: WorkspaceRotateWebhookSigningSecret :one
-- WorkspaceRotateWebhookSigningSecret makes new_secret the signing secret;
-- the one it replaces goes on signing beside it until previous_until (the
-- grace period), so receivers can switch over without refusing deliveries.
UPDATE workspaces
SET webhook_signing_secret_previous = webhook_signing_secret,
    webhook_signing_secret_previous_until = @previous_until::timestamptz,
    webhook_signing_secret = @new_secret::text,
    webhook_signing_secret_rotated_at = now()
WHERE id = @id
RETURNING *;
