-- name: ImportRowListAfter :many
-- ImportRowListAfter reads the next batch of an import's staged records.
SELECT row_number, fields, problem FROM import_rows
WHERE import_id = @import_id AND row_number > @after_row::integer
ORDER BY row_number
LIMIT @max_results;

-- name: ImportRowSetReferral :exec
-- ImportRowSetReferral remembers the referral a row added, whose workflow
-- the import starts.
UPDATE import_rows SET referral_id = @referral_id
WHERE import_id = @import_id AND row_number = @row_number;

-- name: ImportRowListReferralsAfter :many
-- ImportRowListReferralsAfter lists the referrals added from rows after
-- after_row up to through_row, for starting their workflows.
SELECT row_number, referral_id::uuid AS referral_id FROM import_rows
WHERE import_id = @import_id AND row_number > @after_row::integer AND row_number <= @through_row::integer
  AND referral_id IS NOT NULL
ORDER BY row_number
LIMIT @max_results;

-- name: ImportRowDeleteAll :exec
-- ImportRowDeleteAll drops an ended import's staged records.
DELETE FROM import_rows WHERE import_id = @import_id;

-- name: ImportRowErase :execrows
-- ImportRowErase scrubs a person out of the staged CSV rows of a
-- workspace's imports: a row of their referral, or any row carrying their
-- email, has their email and names replaced field by field.
UPDATE import_rows
SET fields = (SELECT array_agg(privacy_scrub(f, @emails::text[], @words::text[]) ORDER BY n)
              FROM unnest(fields) WITH ORDINALITY AS u(f, n)),
    problem = privacy_scrub(problem, @emails::text[], @words::text[])
WHERE import_id IN (SELECT id FROM imports WHERE workspace_id = @workspace_id)
  AND (referral_id = ANY(@referral_ids::uuid[]) OR array_to_string(fields, ',') ILIKE ANY(@patterns::text[]));
