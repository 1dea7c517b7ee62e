-- name: CreateAdmin :one
-- CreateAdmin adds an admin to a workspace; an email already used there (any
-- case) is a unique violation on admins_workspace_email_key.
INSERT INTO admins (workspace_id, email, name)
VALUES (@workspace_id, @email, sqlc.narg('name'))
RETURNING *;

-- name: GetAdmin :one
-- GetAdmin loads an admin by id.
SELECT * FROM admins
WHERE id = @id;

-- name: ListAdmins :many
-- ListAdmins lists a workspace's admins, oldest first.
SELECT * FROM admins
WHERE workspace_id = @workspace_id
ORDER BY created_at, id;

-- name: CountAdmins :one
-- CountAdmins tells `referflow dev` whether a first admin must be created.
SELECT count(*) FROM admins;
