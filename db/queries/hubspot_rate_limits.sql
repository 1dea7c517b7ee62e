-- name: HubSpotRateLimitAcquire :one
-- HubSpotRateLimitAcquire admits one call to a HubSpot portal, or refuses it
-- (no row), in one atomic statement: GCRA on the portal's row, with the
-- database's clock so that the processes' clocks do not matter. A call is
-- admitted when max(tat, now) + emission − now ≤ limit for the budget of all
-- calls and, for a search, for the search budget too; then each budget it
-- draws on moves its tat to max(tat, now) + emission. A refused call changes
-- nothing. The row lock ON CONFLICT takes serialises concurrent callers, and
-- the WHERE and SET see the latest committed row; "now" there is
-- EXCLUDED.updated_at, one reading of clock_timestamp() (a portal's first
-- call, which is always admitted, reads the clock for each column, some
-- microseconds apart).
INSERT INTO hubspot_rate_limits AS r (portal_id, tat_all, tat_search, updated_at)
VALUES (
    @portal_id::bigint,
    clock_timestamp() + sqlc.arg(all_emission)::interval,
    CASE WHEN @search::boolean
        THEN clock_timestamp() + sqlc.arg(search_emission)::interval
        ELSE clock_timestamp() END,
    clock_timestamp()
)
ON CONFLICT (portal_id) DO UPDATE SET
    tat_all = greatest(r.tat_all, EXCLUDED.updated_at) + sqlc.arg(all_emission)::interval,
    tat_search = CASE WHEN @search::boolean
        THEN greatest(r.tat_search, EXCLUDED.updated_at) + sqlc.arg(search_emission)::interval
        ELSE r.tat_search END,
    updated_at = EXCLUDED.updated_at
WHERE greatest(r.tat_all, EXCLUDED.updated_at) + sqlc.arg(all_emission)::interval - EXCLUDED.updated_at
        <= sqlc.arg(all_limit)::interval
  AND (NOT @search::boolean
       OR greatest(r.tat_search, EXCLUDED.updated_at) + sqlc.arg(search_emission)::interval - EXCLUDED.updated_at
        <= sqlc.arg(search_limit)::interval)
RETURNING r.updated_at AS admitted_at;

-- name: HubSpotRateLimitGet :one
-- HubSpotRateLimitGet reads a portal's limiter state and the database's clock,
-- for a refused caller to work out how long to wait.
SELECT tat_all, tat_search, clock_timestamp()::timestamptz AS now
FROM hubspot_rate_limits
WHERE portal_id = @portal_id;

-- name: HubSpotRateLimitHoldOff :exec
-- HubSpotRateLimitHoldOff keeps a portal's calls (only its searches when
-- @search) from being admitted before now + @hold: HubSpot answered 429 and
-- asked to wait that long. It moves the budget's tat to at least
-- now + hold + (limit − emission), the tat at which the next call is
-- admitted exactly at now + hold, with the burst spent (calls resume one per
-- emission, not all at once); a later tat already there stays.
INSERT INTO hubspot_rate_limits AS r (portal_id, tat_all, tat_search, updated_at)
VALUES (
    @portal_id::bigint,
    CASE WHEN @search::boolean THEN clock_timestamp()
        ELSE clock_timestamp() + sqlc.arg(hold)::interval + sqlc.arg(all_limit)::interval - sqlc.arg(all_emission)::interval END,
    CASE WHEN @search::boolean
        THEN clock_timestamp() + sqlc.arg(hold)::interval + sqlc.arg(search_limit)::interval - sqlc.arg(search_emission)::interval
        ELSE clock_timestamp() END,
    clock_timestamp()
)
ON CONFLICT (portal_id) DO UPDATE SET
    tat_all = CASE WHEN @search::boolean THEN r.tat_all ELSE greatest(r.tat_all, EXCLUDED.tat_all) END,
    tat_search = CASE WHEN @search::boolean THEN greatest(r.tat_search, EXCLUDED.tat_search) ELSE r.tat_search END;
