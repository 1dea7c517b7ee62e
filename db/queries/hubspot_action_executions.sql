-- name: HubSpotActionExecutionLock :exec
-- HubSpotActionExecutionLock serialises the executions of one callbackId
-- (HubSpot retrying while the first attempt still runs) until the end of
-- the caller's transaction.
SELECT pg_advisory_xact_lock(hashtextextended('hubspot_action_executions:' || @callback_id::text, 0));

-- name: HubSpotActionExecutionGet :one
-- HubSpotActionExecutionGet is the stored execution of a callbackId: a
-- retried execution is answered with it.
SELECT * FROM hubspot_action_executions
WHERE callback_id = @callback_id;

-- name: HubSpotActionExecutionRecord :one
-- HubSpotActionExecutionRecord stores an execution and its answer.
INSERT INTO hubspot_action_executions (callback_id, portal_id, workspace_id, action, object_type, object_id, referral_id, state, answer, decision)
VALUES (@callback_id, @portal_id, @workspace_id, @action, @object_type, @object_id, sqlc.narg(referral_id), @state, @answer, sqlc.narg(decision))
RETURNING *;

-- name: HubSpotActionExecutionListBlocked :many
-- HubSpotActionExecutionListBlocked are a referral's executions waiting for
-- its decision, oldest first.
SELECT * FROM hubspot_action_executions
WHERE referral_id = @referral_id AND state = 'blocked'
ORDER BY created_at, callback_id;

-- name: HubSpotActionExecutionCountBlocked :one
-- HubSpotActionExecutionCountBlocked tells a referral's workflow whether a
-- HubSpot workflow waits for its decision.
SELECT count(*)::int FROM hubspot_action_executions
WHERE referral_id = @referral_id AND state = 'blocked';

-- name: HubSpotActionExecutionFinish :execrows
-- HubSpotActionExecutionFinish records what became of a blocked execution:
-- completed with the decision sent, or expired (HubSpot no longer knew it).
UPDATE hubspot_action_executions
SET state = @state, decision = @decision, completed_at = now()
WHERE callback_id = @callback_id AND state = 'blocked';

-- name: HubSpotActionExecutionErase :execrows
-- HubSpotActionExecutionErase scrubs a person's email and names out of the
-- answers given to HubSpot's workflow actions about them (on their contact,
-- for their referrals, or naming their email); the executions stay.
UPDATE hubspot_action_executions
SET answer = privacy_scrub_json(answer, @emails::text[], @words::text[])
WHERE workspace_id = @workspace_id
  AND (referral_id = ANY(@referral_ids::uuid[])
       OR (object_type IN ('contact', 'contacts', '0-1') AND object_id = ANY(@contact_ids::bigint[]))
       OR answer::text ILIKE ANY(@patterns::text[]))
  AND answer IS DISTINCT FROM privacy_scrub_json(answer, @emails::text[], @words::text[]);
