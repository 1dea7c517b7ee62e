-- 0004_hubspot_rate_limits: the state of the rate limiter every referflow
-- process shares, so that together they stay under HubSpot's per-portal
-- limits (110 requests per 10 s, 5 searches per second).

-- One row per HubSpot portal, holding the theoretical arrival time (GCRA) of
-- each of its two budgets: all calls, and searches. A call is admitted by one
-- INSERT … ON CONFLICT DO UPDATE … WHERE on the portal's row (see
-- queries/hubspot_rate_limits.sql), timed by the database's clock. Both
-- budgets live in one row because a search draws on both at once, all or
-- nothing: one row lock makes that one atomic statement.
CREATE TABLE hubspot_rate_limits (
    portal_id  bigint PRIMARY KEY CHECK (portal_id > 0),
    -- GCRA's theoretical arrival time of the next call (a time at or before
    -- now means the budget is full).
    tat_all    timestamptz NOT NULL,
    tat_search timestamptz NOT NULL,
    -- When the last call was admitted (database clock).
    updated_at timestamptz NOT NULL
);
COMMENT ON TABLE hubspot_rate_limits IS
    'Per HubSpot portal, the GCRA state (theoretical arrival times) of the rate limiter all referflow processes share: one budget for all calls, one for searches.';
