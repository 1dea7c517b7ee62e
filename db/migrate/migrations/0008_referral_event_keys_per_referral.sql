-- 0008: an audit event's idempotency key is unique within its referral, not
-- across the whole table.
--
-- One HubSpot change reaches every referral that holds the object (the same
-- lead referred in two campaigns holds one contact), and each records it
-- under the key "hubspot:<the event's dedupe key>". With the key unique
-- table-wide the second referral's write collided with the first's and its
-- workflow failed; keyed per referral, each referral records the change once.
ALTER TABLE referral_events DROP CONSTRAINT referral_events_idempotency_key_key;
ALTER TABLE referral_events
    ADD CONSTRAINT referral_events_referral_id_idempotency_key_key UNIQUE (referral_id, idempotency_key);
