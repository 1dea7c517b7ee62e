-- 0006: the Sales Receiver — HubSpot webhook events are recorded as sales
-- entries before they are answered, then dispatched from Postgres (an
-- outbox), so an outage of Temporal never loses an answered event.

-- Dispatch state of an entry. A received entry is dispatched when
-- next_dispatch_at has passed; a failed attempt (Temporal unreachable)
-- counts, keeps its error and waits with backoff. 'matching' means a
-- sales-entry workflow is matching it; 'review' that an admin must decide.
ALTER TABLE sales_entries
    ADD COLUMN dispatch_attempts integer NOT NULL DEFAULT 0 CHECK (dispatch_attempts >= 0),
    ADD COLUMN next_dispatch_at  timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN dispatch_error    text,
    ADD COLUMN dispatched_at     timestamptz,
    -- The workflow that matched or holds the entry (sales-entry/<id> or
    -- referral/<id>), for the Web UI link.
    ADD COLUMN workflow_id       text;

ALTER TABLE sales_entries DROP CONSTRAINT sales_entries_status_check;
ALTER TABLE sales_entries ADD CONSTRAINT sales_entries_status_check
    CHECK (status IN ('received', 'matching', 'processed', 'review', 'ignored', 'failed'));

-- The dispatcher's queue: entries not yet dispatched, by when they are due.
CREATE INDEX sales_entries_dispatch_due_idx
    ON sales_entries (next_dispatch_at, id) WHERE dispatched_at IS NULL;
CREATE INDEX sales_entries_workspace_status_idx
    ON sales_entries (workspace_id, status, id DESC);

-- A review entry is held by a workflow that waits for the admin's decision
-- as a workflow update: sales-entry/<id> or referral/<id>.
ALTER TABLE review_entries
    ADD COLUMN workflow_id text;

-- 'unconfirmed_match': a direct or fuzzy match found while the campaign does
-- not process such matches automatically; an admin approves or redirects it.
ALTER TABLE review_entries DROP CONSTRAINT review_entries_reason_check;
ALTER TABLE review_entries ADD CONSTRAINT review_entries_reason_check
    CHECK (reason IN ('no_member_match', 'denied_to_approved', 'ambiguous_match', 'unconfirmed_match', 'manual'));

-- One open review entry per sales entry: a retried activity does not queue
-- the same entry twice.
CREATE UNIQUE INDEX review_entries_open_sales_entry_key
    ON review_entries (sales_entry_id) WHERE status = 'open' AND sales_entry_id IS NOT NULL;
