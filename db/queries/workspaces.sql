-- name: CreateWorkspace :one
-- CreateWorkspace adds a tenant; the app generates the webhook signing secret.
INSERT INTO workspaces (name, webhook_signing_secret)
VALUES (@name, @webhook_signing_secret)
RETURNING *;

-- name: GetWorkspace :one
-- GetWorkspace loads a tenant by id.
SELECT * FROM workspaces
WHERE id = @id;

-- name: UpdateWorkspaceName :one
-- UpdateWorkspaceName renames a tenant (shown to admins only).
UPDATE workspaces
SET name = @name, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: GetWorkspaceByName :one
-- GetWorkspaceByName finds the oldest workspace with a name, so the CLI can
-- add admins to a workspace it names.
SELECT * FROM workspaces
WHERE name = @name
ORDER BY created_at, id
LIMIT 1;
