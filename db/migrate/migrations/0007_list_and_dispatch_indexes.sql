-- 0007: indexes for two reads that grow with the tables.

-- The admin API's workspace-wide referral list pages newest first by
-- (created_at, id); without this it sorted the workspace's whole table.
CREATE INDEX referrals_workspace_created_idx
    ON referrals (workspace_id, created_at DESC, id DESC);

-- The dispatcher claims undispatched entries oldest event first; after an
-- outage many are due at once, and this keeps each claim a short index walk.
CREATE INDEX sales_entries_undispatched_occurred_idx
    ON sales_entries (occurred_at, id) WHERE dispatched_at IS NULL;
