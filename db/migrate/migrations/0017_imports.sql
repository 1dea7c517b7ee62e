-- 0017: CSV imports of members and referrals (POST /api/v1/campaigns/{id}/imports).
--
-- An upload is streamed with COPY into import_rows, one row a CSV record,
-- in the same transaction that creates its imports row: an upload cut short
-- leaves nothing. The import's workflow (import/<id>) then adds the rows in
-- batches; each batch commits its outcome (counts, bad rows, and the row it
-- reached, processed_through) in one transaction, so a retried or resumed
-- batch continues where the last commit left it and never counts twice.
-- The staged rows are deleted when the import ends.

CREATE TABLE imports (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id       uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    campaign_id        uuid NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('members', 'referrals')),
    status             text NOT NULL DEFAULT 'queued'
                       CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    -- The file's header as uploaded, in order: rows' fields are read by it.
    header             text[] NOT NULL,
    -- The original file name, when a multipart upload gave one.
    file_name          text CHECK (length(file_name) <= 500),
    rows_read          integer NOT NULL DEFAULT 0 CHECK (rows_read >= 0),
    rows_processed     integer NOT NULL DEFAULT 0 CHECK (rows_processed >= 0),
    rows_added         integer NOT NULL DEFAULT 0 CHECK (rows_added >= 0),
    rows_skipped       integer NOT NULL DEFAULT 0 CHECK (rows_skipped >= 0),
    rows_failed        integer NOT NULL DEFAULT 0 CHECK (rows_failed >= 0),
    -- The last row number (file line of a record, the header being 1)
    -- whose outcome is committed; the next batch starts after it.
    processed_through  integer NOT NULL DEFAULT 1,
    -- Imported referrals whose workflow was started, and the last row
    -- number so far whose referral's workflow the import started.
    workflows_started  integer NOT NULL DEFAULT 0 CHECK (workflows_started >= 0),
    started_through    integer NOT NULL DEFAULT 1,
    failure_reason     text,
    created_by         uuid REFERENCES admins (id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    finished_at        timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT imports_campaign_fkey FOREIGN KEY (campaign_id, workspace_id)
        REFERENCES campaigns (id, workspace_id) ON DELETE CASCADE
);
COMMENT ON TABLE imports IS
    'A CSV import of members or referrals into a campaign, with its progress.';

CREATE INDEX imports_campaign_id_created_at_idx ON imports (campaign_id, created_at DESC);

-- The uploaded records, staged until the import ends. fields are the
-- record's values in header order; problem says why a record could not be
-- read (then fields is NULL). referral_id is the referral a referrals
-- import added from the row, for starting its workflow.
CREATE TABLE import_rows (
    import_id   uuid NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_number  integer NOT NULL,
    fields      text[],
    problem     text,
    referral_id uuid,
    PRIMARY KEY (import_id, row_number)
);

-- The reconciler asks whether a referral's workflow is an import's to start.
CREATE INDEX import_rows_referral_id_idx ON import_rows (referral_id) WHERE referral_id IS NOT NULL;

-- Rows an import could not add, with why; kept with the import
-- (GET /api/v1/imports/{id}/errors.csv).
CREATE TABLE import_errors (
    import_id  uuid NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_number integer NOT NULL,
    email      text,
    reason     text NOT NULL,
    PRIMARY KEY (import_id, row_number)
);
