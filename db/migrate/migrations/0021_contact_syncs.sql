-- 0021: contact syncs (POST /api/v1/campaigns/{id}/syncs) bring HubSpot
-- contacts — all of them, or one list's — in as members and write their
-- referral links back, once or on a Temporal Schedule (sync/<id>).
--
-- A run's progress lives here, not in Temporal: each page of contacts
-- commits its members, its counts and the page it reached (run_page, the
-- guard that keeps a retried page from counting twice) in one transaction,
-- so a run resumed after a crash or a continue-as-new goes on from the last
-- committed page. A run's failures (a contact without an email, a refused
-- write-back) are rows of sync_failures, the last run's kept.

ALTER TABLE syncs DROP CONSTRAINT syncs_status_check;
-- 'stopped' was never written (nothing created syncs before this).
ALTER TABLE syncs ADD CONSTRAINT syncs_status_check
    CHECK (status IN ('active', 'paused', 'completed'));
ALTER TABLE syncs DROP CONSTRAINT syncs_last_run_status_check;
ALTER TABLE syncs ADD CONSTRAINT syncs_last_run_status_check
    CHECK (last_run_status IN ('running', 'waiting', 'succeeded', 'failed'));

ALTER TABLE syncs
    -- member field → HubSpot contact property ({"email":"email","first_name":"firstname"}).
    ADD COLUMN mapping jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(mapping) = 'object'),
    -- return field → HubSpot contact property ({"referral_link":"referflow_referral_link"}).
    ADD COLUMN return_fields jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(return_fields) = 'object'),
    -- Why an ongoing sync is paused when referflow paused it (HubSpot disconnected).
    ADD COLUMN paused_reason text,
    -- An ongoing all-contacts sync reads, after its first run, the contacts
    -- whose lastmodifieddate is at or after this.
    ADD COLUMN watermark timestamptz,
    -- The run under way: the pages it committed, where it reads next
    -- (contactsync.Cursor as JSON) and the newest modification it reads.
    ADD COLUMN run_page integer NOT NULL DEFAULT 0 CHECK (run_page >= 0),
    ADD COLUMN run_cursor jsonb,
    ADD COLUMN run_until timestamptz,
    -- Why the last run failed, or why it waits.
    ADD COLUMN last_run_error text,
    ADD COLUMN runs_completed integer NOT NULL DEFAULT 0 CHECK (runs_completed >= 0);

CREATE INDEX syncs_workspace_idx ON syncs (workspace_id);

CREATE TABLE sync_failures (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sync_id            uuid NOT NULL REFERENCES syncs (id) ON DELETE CASCADE,
    -- The run it happened in (syncs.last_run_started_at then).
    run_started_at     timestamptz NOT NULL,
    hubspot_contact_id text NOT NULL,
    reason             text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sync_failures IS
    'Contacts a sync run could not make members or write back, with why; the last run''s only.';

CREATE INDEX sync_failures_sync_idx ON sync_failures (sync_id, id);
