-- 0020: every member who joins gets a workflow (member/<id>) that sends them
-- to HubSpot per the campaign's settings.referrers and writes their referral
-- code, link and counts back to their contact.
--
-- The way in starts the workflow at once; one whose start was lost (Temporal
-- unreachable, a process gone) and a CSV import's members are started by the
-- worker's reconciler, which reads the members whose workflow never ran its
-- first step. A way in that writes members back itself (a contact sync)
-- inserts them with workflow_started_at set. Members who joined before this
-- migration are taken as done: no workflow is started for them.

ALTER TABLE members ADD COLUMN workflow_started_at timestamptz;
UPDATE members SET workflow_started_at = created_at;

COMMENT ON COLUMN members.workflow_started_at IS 'When the member''s workflow (member/<id>: send to HubSpot) ran its first step, or when a way in that writes back itself added the member; NULL until then, and the reconciler starts it.';

CREATE INDEX members_workflow_not_started_idx ON members (created_at) WHERE workflow_started_at IS NULL;

-- A campaign whose referrers action is create_deal makes a deal per member:
-- its ID is kept like the contact's.
ALTER TABLE members ADD COLUMN hubspot_deal_id bigint;
COMMENT ON COLUMN members.hubspot_deal_id IS 'The deal referflow created in HubSpot for the member (settings.referrers action create_deal).';
CREATE INDEX members_hubspot_deal_id_idx ON members (workspace_id, hubspot_deal_id) WHERE hubspot_deal_id IS NOT NULL;

-- What the member's workflow waits on, as referrals.waiting_* say it for a
-- referral: the API shows it, and connecting HubSpot or saving a campaign's
-- settings wakes exactly these members.
ALTER TABLE members
    ADD COLUMN waiting_step text,
    ADD COLUMN waiting_cause text,
    ADD COLUMN waiting_reason text,
    ADD COLUMN waiting_since timestamptz;
COMMENT ON COLUMN members.waiting_step IS 'The step of the member''s workflow that waits on the outside world (send_to_hubspot, write_back); NULL when it waits on nothing.';
CREATE INDEX members_waiting_idx ON members (workspace_id, waiting_since) WHERE waiting_step IS NOT NULL;
