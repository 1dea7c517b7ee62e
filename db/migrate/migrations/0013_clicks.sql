-- 0013: clicks on referral links (GET /r/{code}).
--
-- The api process buffers clicks in memory and writes them in batches
-- (COPY), so a crash may lose the clicks of the last flush interval; a click
-- is a measurement, never a referral. No raw IP address is stored: only a
-- keyed hash of the visitor's IP and user agent (HMAC-SHA256 under a key
-- derived from REFERFLOW_ENCRYPTION_KEY), which tells repeat visitors apart
-- without being reversible.

CREATE TABLE clicks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    campaign_id  uuid NOT NULL,
    member_id    uuid NOT NULL,
    clicked_at   timestamptz NOT NULL,
    -- The page the link was clicked on: origin and path only (its query and
    -- fragment may hold personal data), at most 512 characters; NULL when the
    -- browser sent none.
    referrer     text CHECK (length(referrer) <= 512),
    -- HMAC-SHA256 of the IP address and the user agent.
    visitor_hash bytea NOT NULL CHECK (length(visitor_hash) = 32),
    CONSTRAINT clicks_campaign_fkey FOREIGN KEY (campaign_id, workspace_id)
        REFERENCES campaigns (id, workspace_id) ON DELETE CASCADE,
    CONSTRAINT clicks_member_fkey FOREIGN KEY (member_id, campaign_id)
        REFERENCES members (id, campaign_id) ON DELETE CASCADE
);
COMMENT ON TABLE clicks IS
    'A click on a member''s referral link: when, from which page, and a keyed hash of the visitor (never the raw IP).';

-- A member's clicks over time (portal, fraud checks).
CREATE INDEX clicks_member_id_clicked_at_idx ON clicks (member_id, clicked_at);

-- A referral link carries only the code: find its member whatever the campaign.
CREATE INDEX members_referral_code_idx ON members (referral_code);
