-- name: WebhookDeliveryAttemptInsert :one
-- WebhookDeliveryAttemptInsert records one try of a delivery.
INSERT INTO webhook_delivery_attempts (delivery_id, attempted_at, status_code, latency_ms, error, response_excerpt)
VALUES (@delivery_id, @attempted_at, @status_code, @latency_ms, @error, @response_excerpt)
RETURNING *;

-- name: WebhookDeliveryAttemptListByDelivery :many
-- WebhookDeliveryAttemptListByDelivery lists a delivery's attempts, oldest
-- first.
SELECT * FROM webhook_delivery_attempts
WHERE delivery_id = @delivery_id
ORDER BY id;

-- name: WebhookDeliveryAttemptErase :execrows
-- WebhookDeliveryAttemptErase scrubs a person's email and names out of the
-- receivers' answers and errors of a workspace's deliveries: those of the
-- deliveries named, and any other that carries the email.
UPDATE webhook_delivery_attempts
SET response_excerpt = privacy_scrub(response_excerpt, @emails::text[], @words::text[]),
    error = privacy_scrub(error, @emails::text[], @words::text[])
WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE workspace_id = @workspace_id)
  AND (delivery_id = ANY(@delivery_ids::uuid[])
       OR response_excerpt ILIKE ANY(@patterns::text[]) OR error ILIKE ANY(@patterns::text[]));
