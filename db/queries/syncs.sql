-- name: SyncCreate :one
-- SyncCreate records a sync; the CHECKs refuse a list sync without a list id
-- and an ongoing sync without a cron spec. The ID is the caller's: an
-- ongoing sync's schedule is named after it.
INSERT INTO syncs (
    id, workspace_id, campaign_id, source, list_id, mode, cron_spec, schedule_id,
    mapping, return_fields
) VALUES (
    @id, @workspace_id, @campaign_id, @source, sqlc.narg(list_id), @mode,
    sqlc.narg(cron_spec), sqlc.narg(schedule_id), @mapping, @return_fields
)
RETURNING *;

-- name: SyncGetByID :one
-- SyncGetByID loads a sync by id.
SELECT * FROM syncs
WHERE id = @id;

-- name: SyncListByCampaign :many
-- SyncListByCampaign lists a campaign's syncs, newest first.
SELECT * FROM syncs
WHERE campaign_id = @campaign_id
ORDER BY created_at DESC, id;

-- name: SyncListPausedByWorkspace :many
-- SyncListPausedByWorkspace lists a workspace's paused ongoing syncs (the
-- HubSpot connection's status names them after a reconnect).
SELECT * FROM syncs
WHERE workspace_id = @workspace_id AND mode = 'ongoing' AND status = 'paused'
ORDER BY created_at, id;

-- name: SyncListActiveSchedulesByWorkspace :many
-- SyncListActiveSchedulesByWorkspace lists the ongoing syncs whose schedule
-- runs: disconnecting HubSpot pauses them.
SELECT * FROM syncs
WHERE workspace_id = @workspace_id AND mode = 'ongoing' AND status = 'active'
ORDER BY created_at, id;

-- name: SyncUpdateSettings :one
-- SyncUpdateSettings saves what PATCH /api/v1/syncs/{id} changes.
UPDATE syncs
SET cron_spec = sqlc.narg(cron_spec), mapping = @mapping, return_fields = @return_fields
WHERE id = @id
RETURNING *;

-- name: SyncSetStatus :one
-- SyncSetStatus pauses, resumes or completes a sync, with why when
-- referflow paused it.
UPDATE syncs
SET status = @status, paused_reason = sqlc.narg(paused_reason)
WHERE id = @id
RETURNING *;

-- name: SyncDelete :exec
-- SyncDelete deletes a sync and its failures.
DELETE FROM syncs WHERE id = @id;

-- name: SyncStartRun :one
-- SyncStartRun begins a run: counts zeroed, the first page to read, the
-- newest modification the run reads (run_until), and the previous run's
-- failures forgotten (sync_failures, by the caller).
UPDATE syncs
SET last_run_started_at = clock_timestamp(), last_run_finished_at = NULL,
    last_run_status = 'running', last_run_error = NULL, last_run_stats = @stats,
    run_page = 0, run_cursor = @cursor, run_until = clock_timestamp()
WHERE id = @id
RETURNING *;

-- name: SyncRecordPage :one
-- SyncRecordPage commits one page of a run: its counts and where the next
-- page starts, only when the page is the one the run is at (a retried page
-- that was committed already changes nothing and returns no row).
UPDATE syncs
SET run_page = run_page + 1, run_cursor = @cursor, last_run_stats = @stats,
    last_run_status = 'running', last_run_error = NULL
WHERE id = @id AND run_page = @page
RETURNING *;

-- name: SyncRecordWaiting :exec
-- SyncRecordWaiting says why a run waits (HubSpot not connected, ...).
UPDATE syncs
SET last_run_status = 'waiting', last_run_error = @reason
WHERE id = @id;

-- name: SyncFinishRun :one
-- SyncFinishRun ends a run: succeeded (the watermark moves to what it read,
-- a one-time sync is completed) or failed with why.
UPDATE syncs
SET last_run_status = @run_status::text, last_run_error = sqlc.narg(error),
    last_run_finished_at = clock_timestamp(), run_cursor = NULL,
    watermark = coalesce(sqlc.narg(watermark), watermark),
    runs_completed = runs_completed + CASE WHEN @run_status::text = 'succeeded' THEN 1 ELSE 0 END,
    status = CASE WHEN mode = 'one_time' THEN 'completed' ELSE status END
WHERE id = @id
RETURNING *;

-- name: SyncListWaitingByWorkspace :many
-- SyncListWaitingByWorkspace lists the workspace's syncs whose run waits
-- (on HubSpot): connecting HubSpot wakes them.
SELECT * FROM syncs
WHERE workspace_id = @workspace_id AND status = 'active' AND last_run_status = 'waiting'
ORDER BY created_at, id;
