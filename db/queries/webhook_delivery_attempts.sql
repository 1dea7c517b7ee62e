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
