-- name: MemberHubSpotWriteClaim :many
-- MemberHubSpotWriteClaim takes up to max_rows of a workspace's member
-- marks, oldest due first, under a lease of lease_ms (skipping rows another
-- writer holds): those due, and with them every fresh one not due yet, so
-- that the workspace's marks of one window go in one batch (a mark waiting
-- out the backoff of a failed write waits on). version is what MemberHubSpotWriteDone deletes by. The
-- members are read afterwards (MemberListByIDs), in a statement of their
-- own: this one may return a version committed after it began, with which
-- a join here would pair the member as it was before.
UPDATE member_hubspot_writes w
SET claimed_until = now() + sqlc.arg(lease_ms)::bigint * interval '1 millisecond'
WHERE w.member_id IN (
    SELECT d.member_id FROM member_hubspot_writes d
    WHERE d.workspace_id = @workspace_id
      AND (d.due_at <= now() OR d.attempts = 0)
      AND (d.claimed_until IS NULL OR d.claimed_until <= now())
    ORDER BY d.due_at
    LIMIT sqlc.arg(max_rows)::int
    FOR UPDATE SKIP LOCKED
)
RETURNING w.member_id, w.version, w.attempts;

-- name: MemberHubSpotWriteDone :exec
-- MemberHubSpotWriteDone deletes the marks of written members that are still
-- at the version written. One marked again meanwhile stays, for
-- MemberHubSpotWriteRelease.
DELETE FROM member_hubspot_writes w
USING (
    SELECT unnest(sqlc.arg(member_ids)::uuid[]) AS member_id,
           unnest(sqlc.arg(versions)::bigint[]) AS version
) written
WHERE w.member_id = written.member_id AND w.version = written.version;

-- name: MemberHubSpotWriteRelease :exec
-- MemberHubSpotWriteRelease frees the claims MemberHubSpotWriteDone left:
-- members marked again while they were written, due a window later, so
-- one is written at most once a window. (A statement of its own: one that
-- also deleted would miss a mark changed while it waited on the row's lock.)
UPDATE member_hubspot_writes
SET claimed_until = NULL, attempts = 0, last_error = NULL,
    due_at = greatest(due_at, now() + hubspot_write_window())
WHERE member_id = ANY(sqlc.arg(member_ids)::uuid[]);

-- name: MemberHubSpotWriteFailed :exec
-- MemberHubSpotWriteFailed frees the claims of members whose write failed,
-- due again after retry_ms, with the reason.
UPDATE member_hubspot_writes
SET claimed_until = NULL, attempts = attempts + 1, last_error = @last_error,
    due_at = now() + sqlc.arg(retry_ms)::bigint * interval '1 millisecond'
WHERE member_id = ANY(sqlc.arg(member_ids)::uuid[]);

-- name: MemberHubSpotWriteDueWorkspaces :many
-- MemberHubSpotWriteDueWorkspaces lists the workspaces with member marks
-- due and free.
SELECT workspace_id FROM member_hubspot_writes
WHERE due_at <= now() AND (claimed_until IS NULL OR claimed_until <= now())
GROUP BY workspace_id
LIMIT sqlc.arg(max_rows)::int;

-- name: MemberHubSpotWriteNextDue :one
-- MemberHubSpotWriteNextDue is how long until the next member mark falls
-- due, in milliseconds by the database's clock (0 when one is due, -1 when
-- there is none). A claimed mark counts from its lease's end.
SELECT coalesce(greatest(0, extract(epoch FROM min(greatest(due_at, coalesce(claimed_until, due_at))) - now()) * 1000), -1)::bigint AS wait_ms
FROM member_hubspot_writes;

-- name: MemberHubSpotWriteList :many
-- MemberHubSpotWriteList lists a workspace's member marks (tests).
SELECT * FROM member_hubspot_writes
WHERE workspace_id = @workspace_id
ORDER BY due_at, member_id;

-- name: MemberHubSpotWriteForget :execrows
-- MemberHubSpotWriteForget drops the pending HubSpot writes of erased
-- members: nothing more about them goes to HubSpot.
DELETE FROM member_hubspot_writes WHERE member_id = ANY(@member_ids::uuid[]);
