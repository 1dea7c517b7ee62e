-- 0025: where referflow's worker stands in HubSpot's webhooks journal, per
-- portal. A campaign's process_rules.enrol_members.on_list_ids enrols
-- contacts added to HubSpot lists; HubSpot reports those additions only in
-- the webhooks journal (LIST_MEMBERSHIP), which referflow polls. The journal
-- offset is stored after the entry's events are recorded as sales entries
-- (deduplicated), so a restart reads on from here and never loses or
-- double-counts an event. The row also keeps the app's LIST_MEMBERSHIP
-- subscription for the portal and why the poller waits, if it does.

CREATE TABLE hubspot_journal_positions (
    portal_id            bigint PRIMARY KEY,
    workspace_id         uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- journal_offset is the last entry whose events are recorded (NULL:
    -- none yet; reading starts at the journal's earliest entry).
    journal_offset       text CHECK (journal_offset <> ''),
    subscription_id      bigint,
    subscribed_list_ids  text[] NOT NULL DEFAULT '{}',
    entries_read         bigint NOT NULL DEFAULT 0,
    events_recorded      bigint NOT NULL DEFAULT 0,
    last_read_at         timestamptz,
    waiting_reason       text,
    waiting_since        timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX hubspot_journal_positions_workspace ON hubspot_journal_positions (workspace_id);
