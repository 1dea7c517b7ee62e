-- name: CreateSync :one
-- CreateSync records a sync; the CHECKs refuse a list sync without a list id
-- and an ongoing sync without a cron spec.
INSERT INTO syncs (
    workspace_id, campaign_id, source, list_id, mode, cron_spec, schedule_id
) VALUES (
    @workspace_id, @campaign_id, @source, sqlc.narg(list_id), @mode,
    sqlc.narg(cron_spec), sqlc.narg(schedule_id)
)
RETURNING *;

-- name: GetSync :one
-- GetSync loads a sync by id.
SELECT * FROM syncs
WHERE id = @id;

-- name: ListSyncsByCampaign :many
-- ListSyncsByCampaign lists a campaign's syncs, oldest first.
SELECT * FROM syncs
WHERE campaign_id = @campaign_id
ORDER BY created_at, id;

-- name: UpdateSyncStatus :one
-- UpdateSyncStatus pauses, resumes or stops a sync.
UPDATE syncs
SET status = @status, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: RecordSyncRun :one
-- RecordSyncRun stores the state of the latest run: call it when a run
-- starts (status running) and again when it ends.
UPDATE syncs
SET last_run_started_at = COALESCE(sqlc.narg(started_at)::timestamptz, last_run_started_at),
    last_run_finished_at = sqlc.narg(finished_at)::timestamptz,
    last_run_status = @last_run_status,
    last_run_stats = sqlc.narg(last_run_stats)::jsonb,
    updated_at = now()
WHERE id = @id
RETURNING *;
