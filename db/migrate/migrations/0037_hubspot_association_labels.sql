-- 0037: the association labels referflow defines in a connected portal
-- (hubspotconn.EnsureAssociationLabels): the paired contact-to-contact
-- labels "Referrer" / "Referred" and the deal-to-contact label "Referred
-- by". Each referral associates its lead's contact (or deal) with its
-- member's contact under them. Their type IDs are the portal's own, found
-- or created when the portal is connected and kept here with the
-- connection; a reconnect clears them and the setup finds them again.
ALTER TABLE hubspot_connections
    ADD COLUMN referrer_association_type_id integer CHECK (referrer_association_type_id > 0),
    ADD COLUMN referred_association_type_id integer CHECK (referred_association_type_id > 0),
    ADD COLUMN referred_by_association_type_id integer CHECK (referred_by_association_type_id > 0);
COMMENT ON COLUMN hubspot_connections.referrer_association_type_id IS
    'Contact-to-contact type "Referrer": from the lead''s contact to the member''s (NULL until the portal''s labels are set up).';
COMMENT ON COLUMN hubspot_connections.referred_association_type_id IS
    'Contact-to-contact type "Referred", the inverse of "Referrer": from the member''s contact to the lead''s.';
COMMENT ON COLUMN hubspot_connections.referred_by_association_type_id IS
    'Deal-to-contact type "Referred by": from the lead''s deal to the member''s contact.';
