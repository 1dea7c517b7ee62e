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
