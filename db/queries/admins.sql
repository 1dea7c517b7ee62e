-- name: AdminCreate :one
-- AdminCreate adds an admin to a workspace; an email already used there (any
-- case) is a unique violation on admins_workspace_email_key.
INSERT INTO admins (workspace_id, email, name)
VALUES (@workspace_id, @email, sqlc.narg('name'))
RETURNING *;

-- name: AdminGetByID :one
-- AdminGetByID loads an admin by id.
SELECT * FROM admins
WHERE id = @id;

-- name: AdminListByEmail :many
-- AdminListByEmail finds the admins with an email (any case) in every
-- workspace, with the workspace's name: `referflow apikey create --admin`
-- needs one, and names the workspaces when the email is in several.
SELECT sqlc.embed(admins), workspaces.name AS workspace_name
FROM admins
JOIN workspaces ON workspaces.id = admins.workspace_id
WHERE lower(admins.email) = lower(@email::text)
ORDER BY workspaces.name, admins.id;

-- name: AdminCount :one
-- AdminCount tells `referflow dev` whether a first admin must be created.
SELECT count(*) FROM admins;

-- name: AdminOldest :one
-- AdminOldest is the first admin made, with the workspace's name: `referflow
-- dev` names them in the command it prints when the database has admins but
-- the data folder has no key.
SELECT sqlc.embed(admins), workspaces.name AS workspace_name
FROM admins
JOIN workspaces ON workspaces.id = admins.workspace_id
ORDER BY admins.created_at, admins.id
LIMIT 1;

-- name: AdminListByWorkspace :many
-- AdminListByWorkspace lists a workspace's admins, oldest first (settings).
SELECT * FROM admins
WHERE workspace_id = @workspace_id
ORDER BY created_at, id;

-- name: AdminGetInWorkspace :one
-- AdminGetInWorkspace loads an admin of a workspace; another workspace's
-- admin is no row, like an unknown one.
SELECT * FROM admins
WHERE id = @id AND workspace_id = @workspace_id;

-- name: AdminRemoveUnlessLast :one
-- AdminRemoveUnlessLast removes an admin of a workspace unless they are its
-- last: the workspace's admins are locked first, so two removals at once
-- cannot leave it with none (the second sees the first's removal). No row
-- means the admin was the last one (or is not of the workspace).
WITH locked AS (
    SELECT id FROM admins WHERE workspace_id = @workspace_id ORDER BY id FOR UPDATE
)
DELETE FROM admins
WHERE admins.id = @id AND admins.workspace_id = @workspace_id
  AND (SELECT count(*) FROM locked) > 1
RETURNING *;
