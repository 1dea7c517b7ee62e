-- name: RewardCreate :one
-- RewardCreate records a reward once per idempotency key. When the key is
-- already taken it writes nothing and returns no row (pgx.ErrNoRows); the
-- caller then loads the existing one with RewardGetByIdempotencyKey.
INSERT INTO rewards (
    workspace_id, referral_id, campaign_id, member_id, recipient,
    amount, currency, status, idempotency_key, conversion_number, hold_until
) VALUES (
    @workspace_id, @referral_id, @campaign_id, sqlc.narg(member_id), @recipient,
    @amount, @currency, COALESCE(sqlc.narg(status)::text, 'pending'), @idempotency_key,
    COALESCE(sqlc.narg(conversion_number)::int, 1), sqlc.narg(hold_until)
)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING *;

-- name: RewardGetByID :one
-- RewardGetByID loads a reward by id.
SELECT * FROM rewards
WHERE id = @id;

-- name: RewardGetByIdempotencyKey :one
-- RewardGetByIdempotencyKey finds the reward a retried RewardCreate already
-- wrote.
SELECT * FROM rewards
WHERE idempotency_key = @idempotency_key;

-- name: RewardGetForUpdate :one
-- RewardGetForUpdate loads a reward and locks its row until the transaction
-- ends, so concurrent issue, cancel and paid decisions on one reward are
-- serialised and each sees the status the other left.
SELECT * FROM rewards
WHERE id = @id
FOR UPDATE;

-- name: RewardListByReferral :many
-- RewardListByReferral lists a referral's rewards (member and friend, every
-- conversion).
SELECT * FROM rewards
WHERE referral_id = @referral_id
ORDER BY created_at, id;

-- name: RewardUpdateStatus :one
-- RewardUpdateStatus moves a reward from expected_status to new_status
-- (compare-and-set; no row when it raced). issued_at / cancelled_at are set
-- on entering those statuses; cancel_reason and failure_reason are kept for
-- cancelled and failed.
UPDATE rewards
SET status = sqlc.arg(new_status)::text,
    issued_at = CASE WHEN sqlc.arg(new_status)::text = 'issued' THEN now() ELSE issued_at END,
    cancelled_at = CASE WHEN sqlc.arg(new_status)::text = 'cancelled' THEN now() ELSE cancelled_at END,
    cancel_reason = CASE WHEN sqlc.arg(new_status)::text = 'cancelled' THEN sqlc.narg(reason)::text ELSE cancel_reason END,
    failure_reason = CASE WHEN sqlc.arg(new_status)::text = 'failed' THEN sqlc.narg(reason)::text ELSE failure_reason END,
    updated_at = now()
WHERE id = @id AND status = sqlc.arg(expected_status)::text
RETURNING *;

-- name: RewardMarkPaid :one
-- RewardMarkPaid records that an issued reward was paid out. A reward already
-- paid keeps its first paid_at (a retry changes nothing); no row means the
-- reward is not issued.
UPDATE rewards
SET paid_at = COALESCE(paid_at, now()),
    updated_at = CASE WHEN paid_at IS NULL THEN now() ELSE updated_at END
WHERE id = @id AND status = 'issued'
RETURNING *;

-- name: RewardCountByStatus :many
-- RewardCountByStatus counts every reward by status, for operators' metrics.
SELECT status, count(*)::bigint AS rewards
FROM rewards
GROUP BY status
ORDER BY status;

-- name: RewardTotalsForMemberPortal :many
-- RewardTotalsForMemberPortal sums a member's own rewards (not their
-- friends') by currency and where they stand: pending, issued and not yet
-- paid, paid; cancelled and failed ones are counted too, the portal says so.
SELECT currency::text AS currency, status, (paid_at IS NOT NULL)::bool AS paid,
       sum(amount)::numeric AS total, count(*)::int AS rewards
FROM rewards
WHERE member_id = @member_id AND recipient = 'member'
GROUP BY currency, status, paid_at IS NOT NULL
ORDER BY currency, status, paid_at IS NOT NULL;

-- name: RewardListForMemberPortal :many
-- RewardListForMemberPortal lists a member's own most recent rewards with
-- the lead each was earned for.
SELECT rewards.id, rewards.amount, rewards.currency::text AS currency, rewards.status,
       rewards.paid_at, rewards.created_at, referrals.lead_email, referrals.lead_first_name
FROM rewards
JOIN referrals ON referrals.id = rewards.referral_id
WHERE rewards.member_id = @member_id AND rewards.recipient = 'member'
ORDER BY rewards.created_at DESC, rewards.id DESC
LIMIT sqlc.arg(page_size)::int;

-- name: RewardListFiltered :many
-- RewardListFiltered is one keyset page of a workspace's rewards, newest
-- first, with the member's email and the referred lead's, for the rewards
-- list and the finance CSV. Each filter applies when set; the period is
-- created_at in [created_from, created_before); paid tells paid_at is set.
SELECT sqlc.embed(rewards), members.email AS member_email, referrals.lead_email
FROM rewards
JOIN referrals ON referrals.id = rewards.referral_id
LEFT JOIN members ON members.id = rewards.member_id
WHERE rewards.workspace_id = @workspace_id
  AND (sqlc.narg(campaign_id)::uuid IS NULL OR rewards.campaign_id = sqlc.narg(campaign_id)::uuid)
  AND (sqlc.narg(status)::text IS NULL OR rewards.status = sqlc.narg(status)::text)
  AND (sqlc.narg(paid)::bool IS NULL OR (rewards.paid_at IS NOT NULL) = sqlc.narg(paid)::bool)
  AND (sqlc.narg(member_id)::uuid IS NULL OR rewards.member_id = sqlc.narg(member_id)::uuid)
  AND (sqlc.narg(recipient)::text IS NULL OR rewards.recipient = sqlc.narg(recipient)::text)
  AND (sqlc.narg(created_from)::timestamptz IS NULL OR rewards.created_at >= sqlc.narg(created_from)::timestamptz)
  AND (sqlc.narg(created_before)::timestamptz IS NULL OR rewards.created_at < sqlc.narg(created_before)::timestamptz)
  AND (rewards.created_at, rewards.id) < (@before_created_at::timestamptz, @before_id::uuid)
ORDER BY rewards.created_at DESC, rewards.id DESC
LIMIT sqlc.arg(page_size)::int;

-- name: RewardGetInWorkspace :one
-- RewardGetInWorkspace loads a reward of a workspace; another workspace's is
-- no row, like an unknown one.
SELECT * FROM rewards
WHERE id = @id AND workspace_id = @workspace_id;

-- name: RewardReportTotals :many
-- RewardReportTotals sums the rewards created in [from_time, to_time) in a
-- workspace's campaigns (or one of them, campaign_id) by currency and where
-- they stand now: status, and for issued ones whether they were marked
-- paid. Amounts are text so no precision is lost on the way.
SELECT currency::text AS currency, status, (paid_at IS NOT NULL)::bool AS paid,
       count(*)::bigint AS rewards, sum(amount)::text AS total
FROM rewards
WHERE rewards.campaign_id IN (SELECT campaigns.id FROM campaigns
                      WHERE campaigns.workspace_id = @workspace_id
                        AND (sqlc.narg(campaign_id)::uuid IS NULL OR campaigns.id = sqlc.narg(campaign_id)::uuid))
  AND rewards.created_at >= @from_time AND rewards.created_at < @to_time
GROUP BY currency, status, paid_at IS NOT NULL
ORDER BY currency, status, paid_at IS NOT NULL;

-- name: RewardReportTotalsOfMembers :many
-- RewardReportTotalsOfMembers sums the members' own rewards (not their
-- friends') created in [from_time, to_time) by member and currency, leaving
-- out cancelled and failed ones: the leaderboard's reward column.
SELECT member_id::uuid AS member_id, currency::text AS currency,
       count(*)::bigint AS rewards, sum(amount)::text AS total
FROM rewards
WHERE member_id = ANY(@member_ids::uuid[]) AND recipient = 'member'
  AND status NOT IN ('cancelled', 'failed')
  AND created_at >= @from_time AND created_at < @to_time
GROUP BY member_id, currency
ORDER BY member_id, currency;

-- name: RewardListByReferrals :many
-- RewardListByReferrals loads the rewards of several referrals in one round
-- trip (the referral card on a HubSpot record), each referral's in the order
-- they were earned.
SELECT * FROM rewards
WHERE referral_id = ANY(@referral_ids::uuid[])
ORDER BY referral_id, conversion_number, created_at, id;

-- name: RewardListOfPerson :many
-- RewardListOfPerson lists the rewards of a person's referrals (as lead: the
-- friend's reward) and of their members (an export).
SELECT * FROM rewards
WHERE referral_id = ANY(@referral_ids::uuid[]) OR member_id = ANY(@member_ids::uuid[])
ORDER BY created_at, id;

-- name: RewardErase :execrows
-- RewardErase scrubs a person out of the reasons of those rewards; amounts
-- and statuses stay (reports do not change).
UPDATE rewards
SET cancel_reason = privacy_scrub(cancel_reason, @emails::text[], @words::text[]),
    failure_reason = privacy_scrub(failure_reason, @emails::text[], @words::text[])
WHERE (referral_id = ANY(@referral_ids::uuid[]) OR member_id = ANY(@member_ids::uuid[]))
  AND (cancel_reason IS NOT NULL OR failure_reason IS NOT NULL);
