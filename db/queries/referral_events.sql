-- name: ReferralEventInsert :one
-- ReferralEventInsert appends to a referral's audit trail. With an
-- idempotency key this referral already wrote it writes nothing and returns
-- no row (pgx.ErrNoRows): a retried activity treats that as "already
-- written". Keys are per referral: one HubSpot change is recorded once by
-- each referral it reaches.
INSERT INTO referral_events (
    referral_id, workspace_id, kind, from_status, to_status,
    actor, sales_entry_id, details, idempotency_key, occurred_at
) VALUES (
    @referral_id, @workspace_id, @kind, sqlc.narg(from_status), sqlc.narg(to_status),
    @actor, sqlc.narg(sales_entry_id), COALESCE(sqlc.narg(details)::jsonb, '{}'),
    sqlc.narg(idempotency_key), COALESCE(sqlc.narg(occurred_at)::timestamptz, now())
)
ON CONFLICT (referral_id, idempotency_key) DO NOTHING
RETURNING *;

-- name: ReferralEventListByReferral :many
-- ReferralEventListByReferral returns a referral's audit trail in the order written.
SELECT * FROM referral_events
WHERE referral_id = @referral_id
ORDER BY id;

-- name: ReferralEventAddedByImportRow :one
-- ReferralEventAddedByImportRow tells whether the referral was added from
-- this row of this CSV import (its added event's details say so): a batch
-- retried after a crash counts the row as added, not as already there.
SELECT EXISTS (
    SELECT 1 FROM referral_events
    WHERE referral_id = @referral_id AND kind = 'added'
      AND details->>'import_id' = @import_id::text AND details->>'import_row' = @import_row::text
);

-- name: ReferralEventListOfKindByReferrals :many
-- ReferralEventListOfKindByReferrals loads one kind of audit event (the
-- fraud signals, for the referral card on a HubSpot record) of several
-- referrals in one round trip, oldest first.
SELECT * FROM referral_events
WHERE referral_id = ANY(@referral_ids::uuid[]) AND kind = @kind
ORDER BY referral_id, id;

-- name: ReferralEventListOfReferrals :many
-- ReferralEventListOfReferrals is the audit trail of referrals, oldest
-- first (an export).
SELECT * FROM referral_events
WHERE referral_id = ANY(@referral_ids::uuid[])
ORDER BY id;

-- name: ReferralEventErase :execrows
-- ReferralEventErase scrubs a person out of the details of the workspace's
-- audit events about their referrals or naming their email. Only a privacy
-- erasure's transaction may (PrivacyErasureAllowAuditRewrite); the events
-- themselves stay.
UPDATE referral_events
SET details = privacy_scrub_json(details, @emails::text[], @words::text[])
WHERE workspace_id = @workspace_id
  AND (referral_id = ANY(@referral_ids::uuid[]) OR details::text ILIKE ANY(@patterns::text[]))
  AND details IS DISTINCT FROM privacy_scrub_json(details, @emails::text[], @words::text[]);
