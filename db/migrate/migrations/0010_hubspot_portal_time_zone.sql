-- 0010: the time zone of a connection's HubSpot portal.
--
-- HubSpot resets a portal's daily API limit at midnight in the portal's time
-- zone. The connect flow reads the zone from HubSpot's account details and
-- keeps it here, so that a DAILY 429 waits until that midnight rather than
-- one guessed in UTC (up to a day off). NULL: not known (connected before
-- this column, or HubSpot did not say): waits fall back on midnight UTC.
ALTER TABLE hubspot_connections ADD COLUMN portal_time_zone text CHECK (btrim(portal_time_zone) <> '');

COMMENT ON COLUMN hubspot_connections.portal_time_zone IS
    'The HubSpot portal''s time zone (IANA name), read at connect; its daily API limit resets at midnight there. NULL when unknown.';
