-- name: HubSpotJournalPositionEnsure :exec
-- HubSpotJournalPositionEnsure creates the portal's journal position when it
-- has none (a portal that moved to another workspace follows it).
INSERT INTO hubspot_journal_positions (portal_id, workspace_id)
VALUES (@portal_id, @workspace_id)
ON CONFLICT (portal_id) DO UPDATE SET workspace_id = EXCLUDED.workspace_id, updated_at = now()
WHERE hubspot_journal_positions.workspace_id <> EXCLUDED.workspace_id;

-- name: HubSpotJournalPositionLock :one
-- HubSpotJournalPositionLock takes the portal's position for this
-- transaction; another worker polling the same portal gets no row (SKIP
-- LOCKED) and leaves the portal to the one that has it.
SELECT * FROM hubspot_journal_positions
WHERE portal_id = @portal_id
FOR UPDATE SKIP LOCKED;

-- name: HubSpotJournalPositionGet :one
SELECT * FROM hubspot_journal_positions
WHERE portal_id = @portal_id;

-- name: HubSpotJournalPositionAdvance :exec
-- HubSpotJournalPositionAdvance stores the offset of the last entry read
-- (its events recorded) and says the poller no longer waits.
UPDATE hubspot_journal_positions
SET journal_offset = COALESCE(sqlc.narg(journal_offset)::text, journal_offset),
    entries_read = entries_read + @entries,
    events_recorded = events_recorded + @events,
    last_read_at = now(),
    waiting_reason = NULL,
    waiting_since = NULL,
    updated_at = now()
WHERE portal_id = @portal_id;

-- name: HubSpotJournalPositionSetSubscription :exec
-- HubSpotJournalPositionSetSubscription records the portal's LIST_MEMBERSHIP
-- subscription and its lists (NULL and none once deleted).
UPDATE hubspot_journal_positions
SET subscription_id = sqlc.narg(subscription_id),
    subscribed_list_ids = @subscribed_list_ids::text[],
    updated_at = now()
WHERE portal_id = @portal_id;

-- name: HubSpotJournalPositionWait :exec
-- HubSpotJournalPositionWait says why the poller waits (since when: the
-- first time it had to).
UPDATE hubspot_journal_positions
SET waiting_reason = @waiting_reason,
    waiting_since = COALESCE(waiting_since, now()),
    updated_at = now()
WHERE portal_id = @portal_id;

-- name: HubSpotJournalPositionForget :exec
-- HubSpotJournalPositionForget starts the portal's journal over (its stored
-- offset is older than the journal keeps).
UPDATE hubspot_journal_positions
SET journal_offset = NULL, updated_at = now()
WHERE portal_id = @portal_id;
