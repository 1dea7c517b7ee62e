-- name: ImportErrorInsert :exec
-- ImportErrorInsert records a row an import could not add.
INSERT INTO import_errors (import_id, row_number, email, reason)
VALUES (@import_id, @row_number, @email, @reason)
ON CONFLICT (import_id, row_number) DO NOTHING;

-- name: ImportErrorListAfter :many
-- ImportErrorListAfter pages through an import's bad rows in row order.
SELECT row_number, email, reason FROM import_errors
WHERE import_id = @import_id AND row_number > @after_row::integer
ORDER BY row_number
LIMIT @max_results;

-- name: ImportErrorErase :execrows
-- ImportErrorErase scrubs a person's email and names out of the rows a
-- workspace's imports could not add.
UPDATE import_errors
SET email = privacy_scrub(email, @emails::text[], @words::text[]),
    reason = privacy_scrub(reason, @emails::text[], @words::text[])
WHERE import_id IN (SELECT id FROM imports WHERE workspace_id = @workspace_id)
  AND (email ILIKE ANY(@patterns::text[]) OR reason ILIKE ANY(@patterns::text[]));
