-- name: ReferralHubSpotWriteClaim :many
-- ReferralHubSpotWriteClaim takes up to max_rows of a workspace's referral
-- marks, oldest due first, under a lease of lease_ms (skipping rows another
-- writer holds): those due and every fresh one, as MemberHubSpotWriteClaim. version is what ReferralHubSpotWriteDone deletes
-- by. The referrals are read afterwards (ReferralListForHubSpotWrite), in a
-- statement of their own, for the reason MemberHubSpotWriteClaim gives.
UPDATE referral_hubspot_writes w
SET claimed_until = now() + sqlc.arg(lease_ms)::bigint * interval '1 millisecond'
WHERE w.referral_id IN (
    SELECT d.referral_id FROM referral_hubspot_writes d
    WHERE d.workspace_id = @workspace_id
      AND (d.due_at <= now() OR d.attempts = 0)
      AND (d.claimed_until IS NULL OR d.claimed_until <= now())
    ORDER BY d.due_at
    LIMIT sqlc.arg(max_rows)::int
    FOR UPDATE SKIP LOCKED
)
RETURNING w.referral_id, w.version, w.attempts;

-- name: ReferralHubSpotWriteDone :exec
-- ReferralHubSpotWriteDone deletes the marks of written referrals that are still
-- at the version written. One marked again meanwhile stays, for
-- ReferralHubSpotWriteRelease.
DELETE FROM referral_hubspot_writes w
USING (
    SELECT unnest(sqlc.arg(referral_ids)::uuid[]) AS referral_id,
           unnest(sqlc.arg(versions)::bigint[]) AS version
) written
WHERE w.referral_id = written.referral_id AND w.version = written.version;

-- name: ReferralHubSpotWriteRelease :exec
-- ReferralHubSpotWriteRelease frees the claims ReferralHubSpotWriteDone left:
-- referrals marked again while they were written, due a window later, so
-- one is written at most once a window. (A statement of its own: one that
-- also deleted would miss a mark changed while it waited on the row's lock.)
UPDATE referral_hubspot_writes
SET claimed_until = NULL, attempts = 0, last_error = NULL,
    due_at = greatest(due_at, now() + hubspot_write_window())
WHERE referral_id = ANY(sqlc.arg(referral_ids)::uuid[]);

-- name: ReferralHubSpotWriteFailed :exec
-- ReferralHubSpotWriteFailed frees the claims of referrals whose write
-- failed, due again after retry_ms, with the reason.
UPDATE referral_hubspot_writes
SET claimed_until = NULL, attempts = attempts + 1, last_error = @last_error,
    due_at = now() + sqlc.arg(retry_ms)::bigint * interval '1 millisecond'
WHERE referral_id = ANY(sqlc.arg(referral_ids)::uuid[]);

-- name: ReferralHubSpotWriteDueWorkspaces :many
-- ReferralHubSpotWriteDueWorkspaces lists the workspaces with referral
-- marks due and free.
SELECT workspace_id FROM referral_hubspot_writes
WHERE due_at <= now() AND (claimed_until IS NULL OR claimed_until <= now())
GROUP BY workspace_id
LIMIT sqlc.arg(max_rows)::int;

-- name: ReferralHubSpotWriteNextDue :one
-- ReferralHubSpotWriteNextDue is how long until the next referral mark
-- falls due, in milliseconds by the database's clock (0 when one is due,
-- -1 when there is none). A claimed mark counts from its lease's end.
SELECT coalesce(greatest(0, extract(epoch FROM min(greatest(due_at, coalesce(claimed_until, due_at))) - now()) * 1000), -1)::bigint AS wait_ms
FROM referral_hubspot_writes;

-- name: ReferralHubSpotWriteList :many
-- ReferralHubSpotWriteList lists a workspace's referral marks (tests).
SELECT * FROM referral_hubspot_writes
WHERE workspace_id = @workspace_id
ORDER BY due_at, referral_id;

-- name: ReferralHubSpotWriteForget :execrows
-- ReferralHubSpotWriteForget drops the pending HubSpot writes of referrals
-- whose lead was erased: nothing more about the lead goes to HubSpot.
DELETE FROM referral_hubspot_writes WHERE referral_id = ANY(@referral_ids::uuid[]);
