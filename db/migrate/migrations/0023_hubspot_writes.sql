-- 0023: what HubSpot must be told, kept in Postgres until it is told.
--
-- A member's referral counts and a lead's referral status change in
-- Postgres, in the transaction of the change; HubSpot learns them a moment
-- later, in batches (activities/hubspot_writes.go, run by every worker's
-- HubSpot writer). Between the two, a row here says "this member's contact"
-- or "this referral's lead records" must be written: durable, so a crash or
-- an outage of HubSpot loses nothing, and one row per member or referral
-- however often it changes, so a burst of changes becomes one write each.
--
-- The rows are made by triggers, like updated_at: whoever changes what
-- HubSpot shows (counts, a member's contact, a referral's status or lead
-- records) cannot forget to mark it, in the same transaction.
--
-- Columns of both tables:
--   version        taken from one sequence at every mark; a writer deletes
--                  the row only when it still has the version it wrote, so a
--                  change made during the write is written again;
--   due_at         when the row must be written: hubspot_write_window() after
--                  the first mark (later marks keep it, which is what
--                  coalesces a burst); the workspace's other fresh rows are
--                  written with it, so a workspace is written about once a
--                  window. After a failed write: when the backoff ends;
--   claimed_until  a writer's lease: set when it takes the row, cleared when
--                  it is done; a writer that died frees its rows when the
--                  lease runs out. A mark does not clear it, so two writers
--                  never write one record at once (an older write could land
--                  last);
--   attempts, last_error  failed writes since the last success, and why.

-- hubspot_write_window is how long a new mark waits before it is written,
-- gathering the other changes of the moment into the same batch: a
-- workspace is written about once per window, and a burst of changes over
-- N members costs ceil(N/100) batch calls.
CREATE FUNCTION hubspot_write_window() RETURNS interval
LANGUAGE sql IMMUTABLE AS $$ SELECT interval '2 seconds' $$;

CREATE SEQUENCE hubspot_write_versions;

CREATE TABLE member_hubspot_writes (
    member_id     uuid PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    version       bigint NOT NULL DEFAULT nextval('hubspot_write_versions'),
    marked_at     timestamptz NOT NULL DEFAULT now(),
    due_at        timestamptz NOT NULL DEFAULT now() + hubspot_write_window(),
    claimed_until timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);
COMMENT ON TABLE member_hubspot_writes IS
    'Members whose HubSpot contact must get their referral code, link and counts again (activities.WriteMarkedToHubSpot).';
CREATE INDEX member_hubspot_writes_due_idx ON member_hubspot_writes (due_at);
CREATE INDEX member_hubspot_writes_workspace_due_idx ON member_hubspot_writes (workspace_id, due_at);

CREATE TABLE referral_hubspot_writes (
    referral_id   uuid PRIMARY KEY REFERENCES referrals (id) ON DELETE CASCADE,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    version       bigint NOT NULL DEFAULT nextval('hubspot_write_versions'),
    marked_at     timestamptz NOT NULL DEFAULT now(),
    due_at        timestamptz NOT NULL DEFAULT now() + hubspot_write_window(),
    claimed_until timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);
COMMENT ON TABLE referral_hubspot_writes IS
    'Referrals whose lead records (contact, deal) must get referflow_referral_status and referflow_referred_by_code again (activities.WriteMarkedToHubSpot).';
CREATE INDEX referral_hubspot_writes_due_idx ON referral_hubspot_writes (due_at);
CREATE INDEX referral_hubspot_writes_workspace_due_idx ON referral_hubspot_writes (workspace_id, due_at);

-- The writers LISTEN on hubspot_writes (activities.HubSpotWritesChannel).
CREATE FUNCTION mark_member_for_hubspot() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO member_hubspot_writes (member_id, workspace_id)
    VALUES (NEW.id, NEW.workspace_id)
    ON CONFLICT (member_id) DO UPDATE
        SET version = nextval('hubspot_write_versions'), marked_at = now();
    PERFORM pg_notify('hubspot_writes', '');
    RETURN NULL;
END;
$$;

CREATE FUNCTION mark_referral_for_hubspot() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO referral_hubspot_writes (referral_id, workspace_id)
    VALUES (NEW.id, NEW.workspace_id)
    ON CONFLICT (referral_id) DO UPDATE
        SET version = nextval('hubspot_write_versions'), marked_at = now();
    PERFORM pg_notify('hubspot_writes', '');
    RETURN NULL;
END;
$$;

-- A member is written when what their contact shows changes, or when they
-- get a contact (its first write may have read the counts before a change:
-- writing once more closes that gap). Members without a contact are not
-- marked: there is nothing to write to.
CREATE TRIGGER members_mark_for_hubspot
    AFTER UPDATE OF referral_count, converted_referral_count, referral_code, hubspot_contact_id ON members
    FOR EACH ROW
    WHEN (NEW.hubspot_contact_id IS NOT NULL
          AND (OLD.referral_count, OLD.converted_referral_count, OLD.referral_code, OLD.hubspot_contact_id)
              IS DISTINCT FROM (NEW.referral_count, NEW.converted_referral_count, NEW.referral_code, NEW.hubspot_contact_id))
    EXECUTE FUNCTION mark_member_for_hubspot();

-- A referral is written when its status or its lead records change, and
-- when it is added already holding records (matched from HubSpot). A lead
-- HubSpot had before referflow, left alone under duplicate handling
-- do_nothing (cannot_qualify_reason), is never written.
CREATE TRIGGER referrals_mark_for_hubspot_on_insert
    AFTER INSERT ON referrals
    FOR EACH ROW
    WHEN ((NEW.hubspot_contact_id IS NOT NULL OR NEW.hubspot_deal_id IS NOT NULL)
          AND NEW.cannot_qualify_reason IS NULL)
    EXECUTE FUNCTION mark_referral_for_hubspot();

CREATE TRIGGER referrals_mark_for_hubspot_on_update
    AFTER UPDATE OF status, hubspot_contact_id, hubspot_deal_id, cannot_qualify_reason ON referrals
    FOR EACH ROW
    WHEN ((NEW.hubspot_contact_id IS NOT NULL OR NEW.hubspot_deal_id IS NOT NULL)
          AND NEW.cannot_qualify_reason IS NULL
          AND (OLD.status, OLD.hubspot_contact_id, OLD.hubspot_deal_id)
              IS DISTINCT FROM (NEW.status, NEW.hubspot_contact_id, NEW.hubspot_deal_id))
    EXECUTE FUNCTION mark_referral_for_hubspot();

-- A converted referral is one HubSpot said converted: qualified or
-- approved (it was approved only, so a qualification changed no count).
-- The counts are recomputed for every member; those that change are marked
-- by the trigger above, so HubSpot is corrected too.
COMMENT ON COLUMN members.converted_referral_count IS
    'Referrals of the member that are qualified or approved (MemberRefreshReferralCounts).';
UPDATE members
SET referral_count = counts.total, converted_referral_count = counts.converted
FROM (
    SELECT m.id,
           count(r.id)::int AS total,
           (count(r.id) FILTER (WHERE r.status IN ('qualified', 'approved')))::int AS converted
    FROM members m LEFT JOIN referrals r ON r.member_id = m.id
    GROUP BY m.id
) counts
WHERE members.id = counts.id
  AND (members.referral_count, members.converted_referral_count) IS DISTINCT FROM (counts.total, counts.converted);
