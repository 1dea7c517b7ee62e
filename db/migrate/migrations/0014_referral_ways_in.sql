-- 0014: the public ways in (tracking script, hosted form, member portal, CSV
-- import) record where a referral came from, and who sent it.
--
-- referrals.source gains member_portal (tracking_script, form and csv were
-- already allowed). visitor_hash is the keyed hash of the IP address and user
-- agent of the request that added the referral through a public page (the
-- same HMAC as clicks.visitor_hash, never the raw IP): the fraud checks count
-- referrals per visitor (velocity per IP, one device converting for many
-- members). NULL for referrals added by an admin, HubSpot or an import.

ALTER TABLE referrals DROP CONSTRAINT referrals_source_check;
ALTER TABLE referrals ADD CONSTRAINT referrals_source_check
    CHECK (source IN ('link', 'form', 'tracking_script', 'member_portal', 'api', 'csv', 'hubspot', 'admin'));

ALTER TABLE referrals ADD COLUMN visitor_hash bytea CHECK (length(visitor_hash) = 32);

-- The fraud checks' question: this visitor's recent referrals in a campaign.
CREATE INDEX referrals_campaign_id_visitor_hash_created_at_idx
    ON referrals (campaign_id, visitor_hash, created_at) WHERE visitor_hash IS NOT NULL;

-- The hosted lead form and the member portal also ask for the lead's phone
-- and a note from the member ("why they need us"); both optional.
ALTER TABLE referrals ADD COLUMN lead_phone text CHECK (length(lead_phone) <= 50);
ALTER TABLE referrals ADD COLUMN note text CHECK (length(note) <= 2000);
