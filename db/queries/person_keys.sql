-- name: PersonKeyGet :one
-- PersonKeyGet reads a person's key row: sealed_key NULL means erased.
SELECT * FROM person_keys WHERE subject = $1;

-- name: PersonKeyCreate :one
-- PersonKeyCreate stores a new person's key, or returns the row already
-- there (another process made it first, or the person was erased: then
-- sealed_key is NULL and stays so).
INSERT INTO person_keys AS k (subject, sealed_key)
VALUES ($1, $2)
ON CONFLICT (subject) DO UPDATE SET subject = k.subject
RETURNING *;

-- name: PersonKeyErase :exec
-- PersonKeyErase deletes a person's key for good, leaving a tombstone
-- (also for a person who never had one, so none is made later).
INSERT INTO person_keys AS k (subject, sealed_key, erased_at)
VALUES ($1, NULL, now())
ON CONFLICT (subject) DO UPDATE SET sealed_key = NULL, erased_at = coalesce(k.erased_at, now());
