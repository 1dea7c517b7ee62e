-- name: SyncCreate :one
-- SyncCreate records a sync; the CHECKs refuse a list sync without a list id
-- and an ongoing sync without a cron spec.
INSERT INTO syncs (
    workspace_id, campaign_id, source, list_id, mode, cron_spec, schedule_id
) VALUES (
    @workspace_id, @campaign_id, @source, sqlc.narg(list_id), @mode,
    sqlc.narg(cron_spec), sqlc.narg(schedule_id)
)
RETURNING *;

-- name: SyncGetByID :one
-- SyncGetByID loads a sync by id.
SELECT * FROM syncs
WHERE id = @id;
