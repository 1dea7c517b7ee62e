-- name: PrivacyErasureInsert :one
-- PrivacyErasureInsert records an erasure requested. A request repeated
-- under the same source_key (a sales entry routed again) finds the first:
-- the row returned is the existing one, unchanged.
INSERT INTO privacy_erasures (workspace_id, subject_hash, source, actor, source_key, workflow_id)
VALUES (@workspace_id, @subject_hash, @source, @actor, sqlc.narg(source_key), @workflow_id)
ON CONFLICT (source_key) DO UPDATE SET source_key = EXCLUDED.source_key
RETURNING *;

-- name: PrivacyErasureGet :one
-- PrivacyErasureGet reads one of a workspace's erasures.
SELECT * FROM privacy_erasures
WHERE id = @id AND workspace_id = @workspace_id;

-- name: PrivacyErasureGetByID :one
-- PrivacyErasureGetByID reads an erasure for the workflow's activity.
SELECT * FROM privacy_erasures
WHERE id = @id;

-- name: PrivacyErasureComplete :exec
-- PrivacyErasureComplete records what an erasure erased, in its
-- transaction.
UPDATE privacy_erasures
SET status = 'completed', counts = @counts, error = NULL, completed_at = now()
WHERE id = @id;

-- name: PrivacyErasureFail :exec
-- PrivacyErasureFail records an erasure that could not be started (its
-- request is deleted with it: nothing holds the email).
UPDATE privacy_erasures
SET status = 'failed', error = @error, completed_at = now()
WHERE id = @id AND status = 'requested';

-- name: PrivacyErasureSubjectKey :one
-- PrivacyErasureSubjectKey is the workspace's key of subject hashes.
SELECT privacy_subject_key FROM workspaces WHERE id = @workspace_id;

-- name: PrivacyErasureAllowAuditRewrite :exec
-- PrivacyErasureAllowAuditRewrite lets this transaction (only) rewrite the
-- details of referral events (see referral_events_append_only).
SELECT set_config('referflow.privacy_erasure', 'on', true);
