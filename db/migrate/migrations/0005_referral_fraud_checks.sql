-- 0005_referral_fraud_checks: what the fraud checks compare.
--
-- lead_email_normalized is the lead's email in the form two addresses of one
-- mailbox share (lower case, no +tag, Gmail without dots), written by the app
-- (internal/referral.NormalizeEmail). The exact-email unique index stays; this
-- one lets the duplicate-lead check find the same person under another
-- spelling. Rows from before this migration are filled with the lower-cased
-- email, which is what the exact index already compared.

ALTER TABLE referrals ADD COLUMN lead_email_normalized text;
UPDATE referrals SET lead_email_normalized = lower(btrim(lead_email));
ALTER TABLE referrals ALTER COLUMN lead_email_normalized SET NOT NULL;
ALTER TABLE referrals ADD CONSTRAINT referrals_lead_email_normalized_check
    CHECK (btrim(lead_email_normalized) <> '');

CREATE INDEX referrals_campaign_normalized_email_idx
    ON referrals (campaign_id, lead_email_normalized, created_at);
