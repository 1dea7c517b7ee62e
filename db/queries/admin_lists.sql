-- name: ListReferralsFiltered :many
-- ListReferralsFiltered is the admin's referral list across a workspace,
-- newest first, keyset paged. Each filter is optional (NULL: any).
-- lead_email_normalized compares mailboxes (internal/referral.NormalizeEmail),
-- so one search finds every spelling of a lead's address. The page starts
-- below (before_created_at, before_id): the previous page's last row, or a
-- time after every row for the first page. The cursor is never NULL so it
-- stays a plain row comparison whatever plan the server caches.
SELECT * FROM referrals
WHERE workspace_id = @workspace_id
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(member_id)::uuid IS NULL OR member_id = sqlc.narg(member_id)::uuid)
  AND (sqlc.narg(lead_email_normalized)::text IS NULL
       OR lead_email_normalized = sqlc.narg(lead_email_normalized)::text)
  AND (created_at, id) < (@before_created_at::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_size)::int;

-- name: ListCampaignReferralsFiltered :many
-- ListCampaignReferralsFiltered is ListReferralsFiltered within one
-- campaign. The campaign is not optional here so that every plan, custom or
-- cached generic, walks the campaign's (campaign_id, created_at, id) index
-- from the cursor and stops after a page, instead of scanning the table.
SELECT * FROM referrals
WHERE campaign_id = @campaign_id
  AND workspace_id = @workspace_id
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(member_id)::uuid IS NULL OR member_id = sqlc.narg(member_id)::uuid)
  AND (sqlc.narg(lead_email_normalized)::text IS NULL
       OR lead_email_normalized = sqlc.narg(lead_email_normalized)::text)
  AND (created_at, id) < (@before_created_at::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_size)::int;

-- name: ListSalesEntriesFiltered :many
-- ListSalesEntriesFiltered is the Sales Receiver log of a workspace, newest
-- first (ids are given in arrival order). Each filter is optional; since and
-- until bound received_at (since inclusive, until exclusive). The page starts
-- below before_id: the previous page's last id, or the largest bigint.
SELECT * FROM sales_entries
WHERE workspace_id = sqlc.arg(workspace_id)::uuid
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(campaign_id)::uuid IS NULL OR campaign_id = sqlc.narg(campaign_id)::uuid)
  AND (sqlc.narg(object_type)::text IS NULL OR object_type = sqlc.narg(object_type)::text)
  AND (sqlc.narg(object_id)::bigint IS NULL OR object_id = sqlc.narg(object_id)::bigint)
  AND (sqlc.narg(since)::timestamptz IS NULL OR received_at >= sqlc.narg(since)::timestamptz)
  AND (sqlc.narg(until)::timestamptz IS NULL OR received_at < sqlc.narg(until)::timestamptz)
  AND id < @before_id::bigint
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
-- status, oldest first (first come, first decided). The page starts above
-- (after_created_at, after_id): the previous page's last row, or a time
-- before every row for the first page.
SELECT * FROM review_entries
WHERE workspace_id = @workspace_id
  AND status = @status
  AND (created_at, id) > (@after_created_at::timestamptz, @after_id::uuid)
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
