-- 0035: referflow's custom workflow actions in HubSpot workflows (HubSpot's
-- automation actions v4). HubSpot POSTs each execution of an action to
-- referflow and retries it on a 5xx or a timeout; one row per callbackId
-- makes a retried execution do its work once and get the same answer. A
-- "Wait for referral decision" execution answered BLOCK stays blocked until
-- the referral's workflow completes it through HubSpot's callback API when
-- the referral is approved or denied.
CREATE TABLE hubspot_action_executions (
    callback_id  text PRIMARY KEY CHECK (btrim(callback_id) <> ''),
    portal_id    bigint NOT NULL,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    action       text NOT NULL CHECK (btrim(action) <> ''),
    -- HubSpot's record the action ran on (its objectType, lower case, and ID).
    object_type  text NOT NULL,
    object_id    bigint NOT NULL,
    referral_id  uuid REFERENCES referrals (id) ON DELETE CASCADE,
    -- answered: the answer is final; blocked: answered BLOCK, waiting for
    -- the referral's decision; completed: the decision was sent to HubSpot's
    -- callback API; expired: HubSpot no longer knew the callback when it
    -- was completed (it gave up waiting).
    state        text NOT NULL CHECK (state IN ('answered', 'blocked', 'completed', 'expired')),
    -- The output fields answered to HubSpot (for a retry: the same answer).
    answer       jsonb NOT NULL,
    -- The decision sent through the callback API (approved, denied).
    decision     text,
    completed_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (state <> 'blocked' OR referral_id IS NOT NULL)
);
COMMENT ON TABLE hubspot_action_executions IS
    'Executions of referflow''s custom workflow actions in HubSpot workflows, one per HubSpot callbackId: a retried execution gets the stored answer.';

-- The referral's workflow finds its blocked callbacks when it is decided.
CREATE INDEX hubspot_action_executions_blocked_idx ON hubspot_action_executions (referral_id) WHERE state = 'blocked';
