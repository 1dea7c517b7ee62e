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
