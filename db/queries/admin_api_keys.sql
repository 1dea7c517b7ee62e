-- name: AdminAPIKeyCreate :one
-- AdminAPIKeyCreate stores the hash of a new key; the key is never stored.
INSERT INTO admin_api_keys (admin_id, name, prefix, key_hash)
VALUES (@admin_id, @name, @prefix, @key_hash)
RETURNING *;

-- name: AdminAPIKeyGetAdmin :one
-- AdminAPIKeyGetAdmin finds the admin holding a key that is not revoked.
SELECT a.*
FROM admin_api_keys k
JOIN admins a ON a.id = k.admin_id
WHERE k.key_hash = @key_hash
  AND k.revoked_at IS NULL;

-- name: AdminAPIKeyTouch :exec
-- AdminAPIKeyTouch records that a key was used, at most once a minute per key
-- so a busy script does not turn every request into a write.
UPDATE admin_api_keys
SET last_used_at = now()
WHERE key_hash = @key_hash
  AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');

-- name: AdminAPIKeyListByWorkspace :many
-- AdminAPIKeyListByWorkspace lists the API keys of a workspace's admins
-- (revoked ones too, for the record), newest first, with their admin's email.
SELECT sqlc.embed(k), a.email AS admin_email
FROM admin_api_keys k
JOIN admins a ON a.id = k.admin_id
WHERE a.workspace_id = @workspace_id
ORDER BY k.created_at DESC, k.id DESC;

-- name: AdminAPIKeyRevoke :one
-- AdminAPIKeyRevoke revokes a key of a workspace's admin; a key revoked
-- before keeps its first revoked_at. No row: no such key in the workspace.
UPDATE admin_api_keys k
SET revoked_at = COALESCE(k.revoked_at, now())
FROM admins a
WHERE k.id = @id AND a.id = k.admin_id AND a.workspace_id = @workspace_id
RETURNING k.*;
