-- 0009: what a referral's workflow is waiting on, and whether it started.
--
-- A step that needs the outside world (sending the lead to HubSpot, issuing
-- a reward to the fulfilment endpoint) and cannot succeed leaves the
-- referral where it is and waits: for HubSpot to be connected, a setting to
-- be fixed, or its retry timer. The workflow writes here what it waits on and
-- why, and clears it when the step succeeds or an admin gives up, so the API
-- shows it, metrics count it, and the paths that fix the cause know which
-- referrals to wake.
ALTER TABLE referrals
    ADD COLUMN waiting_step   text CHECK (btrim(waiting_step) <> ''),
    ADD COLUMN waiting_cause  text CHECK (btrim(waiting_cause) <> ''),
    ADD COLUMN waiting_reason text,
    ADD COLUMN waiting_since  timestamptz,
    ADD CONSTRAINT referrals_waiting_complete CHECK (
        (waiting_step IS NULL) = (waiting_cause IS NULL)
        AND (waiting_step IS NULL) = (waiting_reason IS NULL)
        AND (waiting_step IS NULL) = (waiting_since IS NULL));

COMMENT ON COLUMN referrals.waiting_step IS
    'The workflow step waiting on the outside world (send_lead, issue_reward), or NULL.';
COMMENT ON COLUMN referrals.waiting_cause IS
    'What the step waits on, one word from a short list (metrics group by it), e.g. HubSpotConnectionBroken.';

-- Waking the referrals of a workspace that wait (HubSpot connected, settings
-- fixed) reads only those.
CREATE INDEX referrals_waiting_idx ON referrals (workspace_id, campaign_id) WHERE waiting_step IS NOT NULL;

-- A referral saved while Temporal was unreachable has no workflow until the
-- reconciler starts it. The workflow's first write sets workflow_started_at;
-- the reconciler reads the few rows where it is still NULL.
ALTER TABLE referrals ADD COLUMN workflow_started_at timestamptz;
UPDATE referrals r SET workflow_started_at = e.first
FROM (SELECT referral_id, min(occurred_at) AS first FROM referral_events
      WHERE kind = 'workflow_started' GROUP BY referral_id) e
WHERE e.referral_id = r.id;
CREATE INDEX referrals_workflow_not_started_idx ON referrals (created_at) WHERE workflow_started_at IS NULL;
