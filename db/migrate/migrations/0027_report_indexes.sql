-- 0027: indexes (and daily click totals) for the reports (internal/reports), so each report reads
-- only the index entries of its campaigns and period, never the tables.
--
-- Every report counts rows of some campaigns whose time falls in a period.
-- The indexes lead with campaign_id and the time, and INCLUDE the few columns
-- the report aggregates, so Postgres answers from the index alone (an
-- index-only scan; autovacuum keeps the visibility map current). A
-- workspace-wide report reads the same indexes once per campaign. Measured
-- on 1,000,000 referrals in docs/benchmarks.md (#reports): without them a
-- 90-day report read the whole table.
--
-- Exact counts straight from the rows were chosen over pre-aggregated
-- totals where they are fast enough: they are always current and stay right
-- when a referral moves back or a reward is cancelled, with nothing to keep
-- in step. Clicks are the exception (below): a program has several per
-- referral, counting them row by row was the slowest part of the funnel,
-- and a click never changes once recorded, so a daily total is exact.

-- Funnel (referrals, qualified, approved, denied) and leaderboard.
CREATE INDEX referrals_campaign_created_report_idx
    ON referrals (campaign_id, created_at) INCLUDE (status, member_id);

-- Time from referral to approval: the approvals of a period.
CREATE INDEX referrals_campaign_approved_report_idx
    ON referrals (campaign_id, approved_at) INCLUDE (created_at)
    WHERE status = 'approved';

-- Funnel: clicks on members' links in a period, as daily totals per
-- campaign (days in UTC, as report periods are). Kept by statement triggers
-- on clicks, so every writer (the click recorder's COPY batches, a cascade
-- deleting a member's clicks) keeps them exact without knowing about them.
CREATE TABLE click_days (
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    day         date NOT NULL,
    clicks      bigint NOT NULL CHECK (clicks >= 0),
    PRIMARY KEY (campaign_id, day)
);
COMMENT ON TABLE click_days IS
    'How many clicks each campaign''s referral links had each day (UTC): the reports'' funnel. Kept by the triggers on clicks.';

INSERT INTO click_days (campaign_id, day, clicks)
SELECT campaign_id, (clicked_at AT TIME ZONE 'UTC')::date, count(*)
FROM clicks
GROUP BY 1, 2;

-- click_days_count adds a statement's inserted clicks to the day totals and
-- takes its deleted ones off. Rows are taken in key order so two writers
-- lock the totals in the same order.
CREATE FUNCTION click_days_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE click_days d
        SET clicks = d.clicks - o.clicks
        FROM (SELECT campaign_id, (clicked_at AT TIME ZONE 'UTC')::date AS day, count(*) AS clicks
              FROM old_clicks GROUP BY 1, 2 ORDER BY 1, 2) o
        WHERE d.campaign_id = o.campaign_id AND d.day = o.day;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO click_days (campaign_id, day, clicks)
        SELECT campaign_id, (clicked_at AT TIME ZONE 'UTC')::date, count(*)
        FROM new_clicks GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (campaign_id, day) DO UPDATE SET clicks = click_days.clicks + EXCLUDED.clicks;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER clicks_count_days_insert AFTER INSERT ON clicks
    REFERENCING NEW TABLE AS new_clicks
    FOR EACH STATEMENT EXECUTE FUNCTION click_days_count();
CREATE TRIGGER clicks_count_days_update AFTER UPDATE ON clicks
    REFERENCING OLD TABLE AS old_clicks NEW TABLE AS new_clicks
    FOR EACH STATEMENT EXECUTE FUNCTION click_days_count();
CREATE TRIGGER clicks_count_days_delete AFTER DELETE ON clicks
    REFERENCING OLD TABLE AS old_clicks
    FOR EACH STATEMENT EXECUTE FUNCTION click_days_count();

-- Funnel: members who joined in a period.
CREATE INDEX members_campaign_created_idx ON members (campaign_id, created_at);

-- Rewards owed, issued and paid per currency.
CREATE INDEX rewards_campaign_created_report_idx
    ON rewards (campaign_id, created_at) INCLUDE (status, paid_at, currency, amount);
