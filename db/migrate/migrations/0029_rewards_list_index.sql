-- 0029: the rewards list and the finance CSV (GET /api/v1/rewards) page a
-- workspace's rewards newest first by (created_at, id). Without this index
-- each page sorted all of the workspace's rewards.
CREATE INDEX rewards_workspace_created_idx
    ON rewards (workspace_id, created_at DESC, id DESC);
