-- 0022: emails to members (welcome, referral approved, reward earned).
--
-- emails is the idempotency key of every email referflow sends a member:
-- one row per (kind, subject) — the member for a welcome, the referral for
-- "your referral was approved", the reward for "you earned a reward" —
-- written before anything is sent, so a retried activity or a second start
-- finds the row and never sends twice. status walks
--   pending -> sending -> sent
-- with skipped (nothing to send: unsubscribed, turned off, no SMTP), failed
-- (given up after the workflow's bounds) and unknown (the process died after
-- the SMTP server may have accepted the message: never sent again, see
-- docs/architecture.md "Emails to members").
--
-- data_started_at marks the attempt that reached the SMTP DATA command: an
-- attempt that died before it sent nothing and is retried; one that died
-- after it may have been delivered and is not. locked_until is the attempt's
-- lease, so a second attempt never runs beside a live one.
--
-- members.email_unsubscribed_at: the member followed an unsubscribe link; no
-- email goes to them any more. campaigns.email_settings holds
-- settings.emails (each email on or off, its templates); {} means the
-- defaults.

CREATE TABLE emails (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    campaign_id     uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    member_id       uuid NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('welcome', 'referral_approved', 'reward_earned')),
    -- The member (welcome), the referral (referral_approved) or the reward
    -- (reward_earned) the email is about.
    subject_id      uuid NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'skipped', 'failed', 'unknown')),
    -- Why the email was skipped or failed, or why its last attempt did not
    -- send (the SMTP server's answer; never the address or the body).
    reason          text,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- The Message-ID header every attempt of this email carries.
    message_id      text NOT NULL CHECK (message_id <> ''),
    -- Who asked: 'system' for an event, 'admin:<id>' for an invite.
    actor           text NOT NULL DEFAULT 'system',
    locked_until    timestamptz,
    data_started_at timestamptz,
    next_attempt_at timestamptz,
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT emails_kind_subject_id_key UNIQUE (kind, subject_id)
);
COMMENT ON TABLE emails IS
    'One row per email to a member, keyed by (kind, subject): the idempotency key that makes each email go out at most once.';

CREATE INDEX emails_campaign_id_created_at_idx ON emails (campaign_id, created_at DESC, id DESC);
CREATE INDEX emails_member_id_idx ON emails (member_id);

ALTER TABLE members ADD COLUMN email_unsubscribed_at timestamptz;
COMMENT ON COLUMN members.email_unsubscribed_at IS 'When the member unsubscribed from the campaign''s emails; NULL while subscribed.';

ALTER TABLE campaigns
    ADD COLUMN email_settings jsonb NOT NULL DEFAULT '{}'
        CHECK (jsonb_typeof(email_settings) = 'object');
COMMENT ON COLUMN campaigns.email_settings IS 'settings.emails: each email to members on or off, and its templates; {} means the defaults.';
