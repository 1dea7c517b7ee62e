-- 0024: a HubSpot event may make a contact a member (a campaign's
-- process_rules.enrol_members: a contact created, or reaching a lifecycle
-- stage), through the Sales Receiver. Such members' source is hubspot.

ALTER TABLE members DROP CONSTRAINT members_source_check;
ALTER TABLE members ADD CONSTRAINT members_source_check
    CHECK (source IN ('admin', 'api', 'join_page', 'csv', 'sync', 'hubspot'));
