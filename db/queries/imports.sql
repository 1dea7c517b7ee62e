-- name: ImportCreate :one
-- ImportCreate records an upload, before its rows are copied in.
INSERT INTO imports (workspace_id, campaign_id, kind, header, file_name, created_by)
VALUES (@workspace_id, @campaign_id, @kind, @header::text[], @file_name, @created_by)
RETURNING *;

-- name: ImportSetRowsRead :exec
-- ImportSetRowsRead records how many records the upload held.
UPDATE imports SET rows_read = @rows_read, updated_at = now()
WHERE id = @id;

-- name: ImportGetByID :one
SELECT * FROM imports
WHERE id = @id;

-- name: ImportListByCampaign :many
-- ImportListByCampaign lists a campaign's imports, newest first.
SELECT * FROM imports
WHERE campaign_id = @campaign_id
ORDER BY created_at DESC, id
LIMIT @max_results;

-- name: ImportStart :exec
-- ImportStart marks an import running when its workflow takes it up.
UPDATE imports
SET status = 'running', started_at = COALESCE(started_at, now()), updated_at = now()
WHERE id = @id AND status IN ('queued', 'running');

-- name: ImportRecordBatch :execrows
-- ImportRecordBatch adds one batch's outcome and moves processed_through,
-- only from the row the batch started after: a second attempt of the same
-- batch (a retry while the first still ran) changes nothing, and its
-- transaction is rolled back.
UPDATE imports
SET rows_processed = rows_processed + @processed::integer,
    rows_added = rows_added + @added::integer,
    rows_skipped = rows_skipped + @skipped::integer,
    rows_failed = rows_failed + @failed::integer,
    processed_through = @through::integer,
    updated_at = now()
WHERE id = @id AND processed_through = @from_row::integer;

-- name: ImportRecordStarts :execrows
-- ImportRecordStarts adds workflows started for imported referrals and moves
-- started_through, from the row the starts began after (as ImportRecordBatch).
UPDATE imports
SET workflows_started = workflows_started + @started::integer,
    started_through = @through::integer,
    updated_at = now()
WHERE id = @id AND started_through = @from_row::integer;

-- name: ImportFinish :one
-- ImportFinish ends an import: completed, or failed with the reason.
UPDATE imports
SET status = @status, failure_reason = @failure_reason, finished_at = COALESCE(finished_at, now()), updated_at = now()
WHERE id = @id
RETURNING *;
