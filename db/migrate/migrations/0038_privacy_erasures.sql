-- 0038: privacy erasure (GDPR's right to erasure, HubSpot's
-- contact.privacyDeletion). One verb erases a person — by email, in one
-- workspace — from every table (internal/privacy.Erase, run by the
-- PrivacyErasureWorkflow's ErasePerson activity): rows are kept, so counts
-- and reports do not change, with their personal columns replaced by an
-- erased placeholder and the person's email, name and phone scrubbed out of
-- the text and JSON that name them.

-- A workspace's key for the subject hash of an erasure: an HMAC of the
-- normalized email under it names the person in workflow IDs and in
-- privacy_erasures without the email (and cannot be recomputed from an
-- email without the database).
ALTER TABLE workspaces ADD COLUMN privacy_subject_key bytea NOT NULL
    DEFAULT decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex');
COMMENT ON COLUMN workspaces.privacy_subject_key IS
    'Key of the subject hashes of privacy erasures (HMAC-SHA256 of the normalized email): the person is named without the email.';

-- The erasures, for the record: never the email.
CREATE TABLE privacy_erasures (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    subject_hash  text NOT NULL CHECK (subject_hash ~ '^[0-9a-f]{32}$'),
    source        text NOT NULL CHECK (source IN ('admin_api', 'hubspot_privacy_deletion')),
    -- Who asked: admin:<id>, or hubspot:sales-entry:<id> for a webhook.
    actor         text NOT NULL,
    -- Makes a request idempotent where its source retries (a sales entry
    -- routed again): sales-entry:<id>:<subject hash>. NULL for the API.
    source_key    text UNIQUE,
    status        text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'completed', 'failed')),
    -- What was erased, as counts of rows per table.
    counts        jsonb NOT NULL DEFAULT '{}',
    error         text,
    workflow_id   text NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz
);
COMMENT ON TABLE privacy_erasures IS
    'Privacy erasures of a person (GDPR): who asked, when, how it ended and what was erased as counts; the person only as a keyed hash of their email.';
CREATE INDEX privacy_erasures_workspace_idx ON privacy_erasures (workspace_id, requested_at DESC);
CREATE INDEX privacy_erasures_subject_idx ON privacy_erasures (workspace_id, subject_hash);

-- The email an erasure is to find, held only until the erasure runs: the
-- erasure's own transaction deletes the row. Kept apart so that
-- privacy_erasures never holds an email, and Temporal never sees one (the
-- workflow carries the erasure's ID).
CREATE TABLE privacy_erasure_requests (
    erasure_id uuid PRIMARY KEY REFERENCES privacy_erasures (id) ON DELETE CASCADE,
    email      text NOT NULL CHECK (btrim(email) <> '')
);
COMMENT ON TABLE privacy_erasure_requests IS
    'The email of an erasure not yet run; deleted by the erasure itself.';

-- When a member or a referral's lead was erased: nothing about them is
-- written to HubSpot, emailed or shown as theirs again.
ALTER TABLE members ADD COLUMN erased_at timestamptz;
COMMENT ON COLUMN members.erased_at IS
    'When the member''s personal data was erased (privacy); their link stops working and nothing more is sent about them.';
ALTER TABLE referrals ADD COLUMN erased_at timestamptz;
COMMENT ON COLUMN referrals.erased_at IS
    'When the lead''s personal data was erased (privacy); the referral keeps its status and history, nothing more is written about the lead to HubSpot.';

-- normalize_email is internal/referral.NormalizeEmail in SQL (lower case,
-- no +tag, Gmail without dots), so an erasure or an export finds members
-- (who have no normalized column) under any spelling of the address. A test
-- (internal/privacy) holds the two to the same answers.
CREATE FUNCTION normalize_email(email text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    e      text := lower(btrim(email));
    local  text;
    domain text;
    at     integer := position('@' in e);
    plus   integer;
BEGIN
    IF at = 0 THEN
        RETURN e;
    END IF;
    local := substr(e, 1, at - 1);
    domain := substr(e, at + 1);
    plus := position('+' in local);
    IF plus > 1 THEN
        local := substr(local, 1, plus - 1);
    END IF;
    IF domain = 'googlemail.com' THEN
        domain := 'gmail.com';
    END IF;
    IF domain = 'gmail.com' THEN
        local := replace(local, '.', '');
    END IF;
    RETURN local || '@' || domain;
END;
$$;

-- privacy_scrub replaces, case-insensitively, every email of emails
-- (anywhere) and every word of words (whole words only: a first name
-- inside another word is left alone) with [erased]. NULL stays NULL.
CREATE FUNCTION privacy_scrub(value text, emails text[], words text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    t text;
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    FOREACH t IN ARRAY coalesce(emails, '{}') LOOP
        IF length(btrim(t)) >= 3 THEN
            value := regexp_replace(value, regexp_replace(t, '([.*+?^${}()|\[\]\\/-])', '\\\1', 'g'), '[erased]', 'gi');
        END IF;
    END LOOP;
    FOREACH t IN ARRAY coalesce(words, '{}') LOOP
        IF length(btrim(t)) >= 2 THEN
            value := regexp_replace(value, '\m' || regexp_replace(t, '([.*+?^${}()|\[\]\\/-])', '\\\1', 'g') || '\M', '[erased]', 'gi');
        END IF;
    END LOOP;
    RETURN value;
END;
$$;

-- privacy_scrub_json is privacy_scrub over a JSON document's text: the terms
-- as JSON writes them, so the document stays valid JSON.
CREATE FUNCTION privacy_scrub_json(value jsonb, emails text[], words text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    json_emails text[];
    json_words  text[];
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(substr(to_json(t)::text, 2, length(to_json(t)::text) - 2)) INTO json_emails FROM unnest(emails) t;
    SELECT array_agg(substr(to_json(t)::text, 2, length(to_json(t)::text) - 2)) INTO json_words FROM unnest(words) t;
    RETURN privacy_scrub(value::text, json_emails, json_words)::jsonb;
EXCEPTION WHEN invalid_text_representation THEN
    RETURN '{"erased": true}'::jsonb;
END;
$$;

-- The audit trail stays append-only, with one exception: a privacy erasure
-- (which sets referflow.privacy_erasure for its own transaction) may
-- rewrite an event's details, and nothing else of it.
CREATE OR REPLACE FUNCTION referral_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('referflow.privacy_erasure', true) = 'on'
       AND (NEW.id, NEW.referral_id, NEW.workspace_id, NEW.kind, NEW.from_status, NEW.to_status, NEW.actor,
            NEW.sales_entry_id, NEW.idempotency_key, NEW.occurred_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.referral_id, OLD.workspace_id, OLD.kind, OLD.from_status, OLD.to_status, OLD.actor,
            OLD.sales_entry_id, OLD.idempotency_key, OLD.occurred_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'referral_events is the append-only audit trail of referrals: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Record a correction as a new event instead.';
END;
$$;

-- Erased members and referrals are never marked for HubSpot again: the
-- triggers of 0023 with erased_at IS NULL added.
DROP TRIGGER members_mark_for_hubspot ON members;
CREATE TRIGGER members_mark_for_hubspot
    AFTER UPDATE OF referral_count, converted_referral_count, referral_code, hubspot_contact_id ON members
    FOR EACH ROW
    WHEN (NEW.hubspot_contact_id IS NOT NULL AND NEW.erased_at IS NULL
          AND (OLD.referral_count, OLD.converted_referral_count, OLD.referral_code, OLD.hubspot_contact_id)
              IS DISTINCT FROM (NEW.referral_count, NEW.converted_referral_count, NEW.referral_code, NEW.hubspot_contact_id))
    EXECUTE FUNCTION mark_member_for_hubspot();

DROP TRIGGER referrals_mark_for_hubspot_on_update ON referrals;
CREATE TRIGGER referrals_mark_for_hubspot_on_update
    AFTER UPDATE OF status, hubspot_contact_id, hubspot_deal_id, cannot_qualify_reason ON referrals
    FOR EACH ROW
    WHEN ((NEW.hubspot_contact_id IS NOT NULL OR NEW.hubspot_deal_id IS NOT NULL)
          AND NEW.cannot_qualify_reason IS NULL AND NEW.erased_at IS NULL
          AND (OLD.status, OLD.hubspot_contact_id, OLD.hubspot_deal_id)
              IS DISTINCT FROM (NEW.status, NEW.hubspot_contact_id, NEW.hubspot_deal_id))
    EXECUTE FUNCTION mark_referral_for_hubspot();
