-- 0011: the outbox of outgoing webhooks, and signing-secret rotation.
--
-- Every announcement (reward.issued, review.created,
-- referral.status_changed...) is written to webhook_deliveries in the
-- transaction of the change it reports, with its exact body, and sent by the
-- worker's dispatcher (internal/webhookdelivery), never by a workflow's
-- activity. A dispatcher claims due rows with a lease (locked_until): a
-- worker killed mid-delivery leaves only its leased rows, which another
-- dispatcher sends again once the lease has expired. Each try is a row of
-- webhook_delivery_attempts.

CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- The campaign whose fulfilment URL receives it, read at each attempt so
    -- that a corrected URL serves the retries and replays.
    campaign_id     uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    -- Referflow-Event-Id and the body's "id": the same on every attempt and
    -- replay; one delivery per event.
    event_id        text NOT NULL CHECK (btrim(event_id) <> ''),
    event_type      text NOT NULL CHECK (btrim(event_type) <> ''),
    -- The exact bytes POSTed on every attempt.
    body            bytea NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempt_count   integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- Retries stop here (72 hours after the event, or after a replay).
    retry_until     timestamptz NOT NULL DEFAULT now() + interval '72 hours',
    -- The lease of the dispatcher sending it now: nobody else claims it
    -- before locked_until; lease_token tells the holder's result from a
    -- late one whose lease ran out.
    locked_until    timestamptz,
    lease_token     uuid,
    last_attempt_at timestamptz,
    delivered_at    timestamptz,
    failed_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, event_id)
);
COMMENT ON TABLE webhook_deliveries IS
    'Outbox of outgoing webhooks: one row per event, written with the change it reports, sent and retried by the worker''s dispatcher.';

CREATE TRIGGER webhook_deliveries_set_updated_at BEFORE UPDATE ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The dispatcher's claim: due pending rows, soonest first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
-- The metrics' count of what is not delivered (pending, failed).
CREATE INDEX webhook_deliveries_undelivered ON webhook_deliveries (status, created_at) WHERE status <> 'delivered';
-- The admin list: a workspace's deliveries, newest first.
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (workspace_id, created_at DESC, id DESC);

CREATE TABLE webhook_delivery_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id      uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at     timestamptz NOT NULL,
    -- The receiver's HTTP status; NULL when it did not answer.
    status_code      integer,
    latency_ms       integer NOT NULL CHECK (latency_ms >= 0),
    -- What went wrong without an answer (timeout, refused...), or why nothing
    -- was sent (no fulfilment URL).
    error            text,
    -- The start of the receiver's answer: shown to the workspace's admins
    -- only, never logged.
    response_excerpt text
);
COMMENT ON TABLE webhook_delivery_attempts IS
    'Each try of a webhook delivery: when, the receiver''s status, latency and the start of its answer (admins only).';

CREATE INDEX webhook_delivery_attempts_of_delivery ON webhook_delivery_attempts (delivery_id, id);

-- Rotation: the new secret signs at once; the previous one signs too until
-- webhook_signing_secret_previous_until, so receivers can switch over.
ALTER TABLE workspaces
    ADD COLUMN webhook_signing_secret_previous text CHECK (webhook_signing_secret_previous <> ''),
    ADD COLUMN webhook_signing_secret_previous_until timestamptz,
    ADD COLUMN webhook_signing_secret_rotated_at timestamptz;
