-- name: RepointReferralHubSpotObject :one
-- RepointReferralHubSpotObject follows a HubSpot merge: when the referral
-- holds one of the merged records of object_type, it now holds the survivor.
-- No row when it holds none of them (already re-pointed, or never held).
UPDATE referrals
SET hubspot_contact_id = CASE WHEN sqlc.arg(object_type)::text = 'contact' AND hubspot_contact_id = ANY(sqlc.arg(merged_ids)::bigint[])
                              THEN sqlc.arg(surviving_id)::bigint ELSE hubspot_contact_id END,
    hubspot_deal_id = CASE WHEN sqlc.arg(object_type)::text = 'deal' AND hubspot_deal_id = ANY(sqlc.arg(merged_ids)::bigint[])
                           THEN sqlc.arg(surviving_id)::bigint ELSE hubspot_deal_id END,
    hubspot_company_id = CASE WHEN sqlc.arg(object_type)::text = 'company' AND hubspot_company_id = ANY(sqlc.arg(merged_ids)::bigint[])
                              THEN sqlc.arg(surviving_id)::bigint ELSE hubspot_company_id END,
    updated_at = now()
WHERE id = @id
  AND CASE sqlc.arg(object_type)::text
        WHEN 'contact' THEN hubspot_contact_id = ANY(sqlc.arg(merged_ids)::bigint[])
        WHEN 'deal' THEN hubspot_deal_id = ANY(sqlc.arg(merged_ids)::bigint[])
        WHEN 'company' THEN hubspot_company_id = ANY(sqlc.arg(merged_ids)::bigint[])
        ELSE false
      END
RETURNING *;
