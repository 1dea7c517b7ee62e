-- name: OAuthStateCreate :exec
-- OAuthStateCreate records a connect flow an admin started.
INSERT INTO oauth_states (state_hash, admin_id, workspace_id, created_at, expires_at)
VALUES (@state_hash, @admin_id, @workspace_id, @created_at, @expires_at);

-- name: OAuthStateConsume :one
-- OAuthStateConsume marks a state used, atomically: only the admin who
-- started it, only once, only before it expires. No row means one of those
-- failed; OAuthStateGet then tells which.
UPDATE oauth_states
SET used_at = @now::timestamptz
WHERE state_hash = @state_hash AND admin_id = @admin_id
  AND used_at IS NULL AND expires_at > @now::timestamptz
RETURNING *;

-- name: OAuthStateGet :one
-- OAuthStateGet explains why a state could not be consumed.
SELECT * FROM oauth_states
WHERE state_hash = @state_hash;

-- name: OAuthStateDeleteStale :execrows
-- OAuthStateDeleteStale forgets states that expired before a cutoff.
DELETE FROM oauth_states
WHERE expires_at < @before;
