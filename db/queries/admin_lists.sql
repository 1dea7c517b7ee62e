-- name: ListReferralsFiltered :many
-- ListReferralsFiltered is the admin's referral list, newest first, keyset
-- paged (a page costs the same however deep it is). Each
-- filter is optional (NULL: any). lead_email_normalized compares mailboxes
-- (internal/referral.NormalizeEmail), so one search finds every spelling of
-- a lead's address. Pass the created_at and id of the previous page's last
-- row as after_created_at and after_id (both or neither).
SELECT * FROM referrals
WHERE workspace_id = @workspace_id
  AND (sqlc.narg(campaign_id)::uuid IS NULL OR campaign_id = sqlc.narg(campaign_id)::uuid)
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(member_id)::uuid IS NULL OR member_id = sqlc.narg(member_id)::uuid)
  AND (sqlc.narg(lead_email_normalized)::text IS NULL
       OR lead_email_normalized = sqlc.narg(lead_email_normalized)::text)
  AND (sqlc.narg(after_created_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(after_created_at)::timestamptz, sqlc.narg(after_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_size)::int;

-- name: ListSalesEntriesFiltered :many
-- ListSalesEntriesFiltered is the Sales Receiver log of a workspace, newest
-- first (ids are given in arrival order). Each filter is optional; since and
-- until bound received_at (since inclusive, until exclusive). Pass the last
-- row's id as before_id for the next page.
SELECT * FROM sales_entries
WHERE workspace_id = sqlc.arg(workspace_id)::uuid
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(campaign_id)::uuid IS NULL OR campaign_id = sqlc.narg(campaign_id)::uuid)
  AND (sqlc.narg(object_type)::text IS NULL OR object_type = sqlc.narg(object_type)::text)
  AND (sqlc.narg(object_id)::bigint IS NULL OR object_id = sqlc.narg(object_id)::bigint)
  AND (sqlc.narg(since)::timestamptz IS NULL OR received_at >= sqlc.narg(since)::timestamptz)
  AND (sqlc.narg(until)::timestamptz IS NULL OR received_at < sqlc.narg(until)::timestamptz)
  AND (sqlc.narg(before_id)::bigint IS NULL OR id < sqlc.narg(before_id)::bigint)
ORDER BY id DESC
LIMIT sqlc.arg(page_size)::int;

-- name: LatestReviewEntryOfSalesEntry :one
-- LatestReviewEntryOfSalesEntry is the review entry a sales entry went to
-- most recently (an edited entry can go to review again).
SELECT * FROM review_entries
WHERE sales_entry_id = @sales_entry_id
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- name: ListReviewEntriesFiltered :many
-- ListReviewEntriesFiltered is the review queue of a workspace in one
-- status, oldest first (first come, first decided). Pass the created_at and
-- id of the previous page's last row as after_created_at and after_id (both
-- or neither).
SELECT * FROM review_entries
WHERE workspace_id = @workspace_id
  AND status = @status
  AND (sqlc.narg(after_created_at)::timestamptz IS NULL
       OR (created_at, id) > (sqlc.narg(after_created_at)::timestamptz, sqlc.narg(after_id)::uuid))
ORDER BY created_at, id
LIMIT sqlc.arg(page_size)::int;

-- name: ListAdminsByEmail :many
-- ListAdminsByEmail finds the admins with an email (any case) in every
-- workspace, with the workspace's name: `referflow apikey create --admin`
-- needs one, and names the workspaces when the email is in several.
SELECT sqlc.embed(admins), workspaces.name AS workspace_name
FROM admins
JOIN workspaces ON workspaces.id = admins.workspace_id
WHERE lower(admins.email) = lower(@email::text)
ORDER BY workspaces.name, admins.id;
