-- name: PrivacyErasureRequestInsert :exec
-- PrivacyErasureRequestInsert holds the email an erasure is to find until
-- it runs (once: a repeated request keeps the first).
INSERT INTO privacy_erasure_requests (erasure_id, email)
VALUES (@erasure_id, @email)
ON CONFLICT (erasure_id) DO NOTHING;

-- name: PrivacyErasureRequestGet :one
-- PrivacyErasureRequestGet reads the email of an erasure not yet run,
-- locking it: two runs of one erasure take turns.
SELECT * FROM privacy_erasure_requests
WHERE erasure_id = @erasure_id
FOR UPDATE;

-- name: PrivacyErasureRequestDelete :exec
-- PrivacyErasureRequestDelete forgets the email once the erasure ran (in
-- its transaction) or could not start.
DELETE FROM privacy_erasure_requests WHERE erasure_id = @erasure_id;
