-- name: EmailQueue :one
-- EmailQueue records an email to send, once per (kind, subject): a second
-- call for the same event returns the row the first one wrote, whatever its
-- status, so an event never queues two emails.
INSERT INTO emails (workspace_id, campaign_id, member_id, kind, subject_id, message_id, actor)
VALUES (@workspace_id, @campaign_id, @member_id, @kind, @subject_id, @message_id, @actor)
ON CONFLICT (kind, subject_id) DO UPDATE SET kind = EXCLUDED.kind
RETURNING *;

-- name: EmailGetByID :one
-- EmailGetByID loads an email.
SELECT * FROM emails
WHERE id = @id;

-- name: EmailGetByKey :one
-- EmailGetByKey finds the email of an event.
SELECT * FROM emails
WHERE kind = @kind AND subject_id = @subject_id;

-- name: EmailClaim :one
-- EmailClaim starts an attempt: only an email still to send (pending), or
-- one whose earlier attempt died before it reached DATA (its lease ran out,
-- data_started_at unset), is taken; the lease keeps a second attempt from
-- running beside this one. No row: the email is sent, skipped, failed,
-- unknown, or another attempt holds it.
UPDATE emails
SET status = 'sending',
    attempts = attempts + 1,
    locked_until = now() + make_interval(secs => @lease_seconds::double precision),
    data_started_at = NULL,
    updated_at = now()
WHERE id = @id
  AND (status = 'pending'
       OR (status = 'sending' AND locked_until < now() AND data_started_at IS NULL))
RETURNING *;

-- name: EmailMarkDataStarted :exec
-- EmailMarkDataStarted records, before the SMTP DATA command, that this
-- attempt may from now on deliver the message.
UPDATE emails
SET data_started_at = now(), updated_at = now()
WHERE id = @id AND status = 'sending';

-- name: EmailMarkSent :exec
-- EmailMarkSent records that the SMTP server accepted the message.
UPDATE emails
SET status = 'sent', sent_at = now(), reason = NULL, locked_until = NULL,
    next_attempt_at = NULL, updated_at = now()
WHERE id = @id;

-- name: EmailAttemptFailed :exec
-- EmailAttemptFailed records an attempt the SMTP server did not accept: the
-- email is to send again (pending), with why.
UPDATE emails
SET status = 'pending', reason = @reason, locked_until = NULL, data_started_at = NULL,
    updated_at = now()
WHERE id = @id AND status = 'sending';

-- name: EmailFinish :exec
-- EmailFinish ends an email that is not sent: skipped (nothing to send any
-- more), failed (refused for good, or given up) or unknown (its attempt died
-- after DATA), with why. A sent email stays sent.
UPDATE emails
SET status = @status, reason = @reason, locked_until = NULL, next_attempt_at = NULL,
    updated_at = now()
WHERE id = @id AND status <> 'sent';

-- name: EmailSetNextAttempt :exec
-- EmailSetNextAttempt records when the email's workflow tries again after
-- its attempts failed.
UPDATE emails
SET next_attempt_at = @next_attempt_at, updated_at = now()
WHERE id = @id AND status = 'pending';

-- name: EmailListByCampaign :many
-- EmailListByCampaign lists a campaign's emails, newest first, a page at a
-- time (keyset on created_at, id).
SELECT * FROM emails
WHERE campaign_id = @campaign_id
  AND (created_at, id) < (@before_created_at::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT @page_size;

-- name: EmailListOfMembers :many
-- EmailListOfMembers lists the emails sent (or queued) to members, oldest
-- first (an export).
SELECT * FROM emails
WHERE member_id = ANY(@member_ids::uuid[])
ORDER BY created_at, id;

-- name: EmailErase :execrows
-- EmailErase scrubs a person out of the outcomes of the emails to their
-- members (addresses and bodies are never stored: an email is composed when
-- sent).
UPDATE emails
SET reason = privacy_scrub(reason, @emails::text[], @words::text[])
WHERE member_id = ANY(@member_ids::uuid[]) AND reason IS DISTINCT FROM privacy_scrub(reason, @emails::text[], @words::text[]);
