-- name: ClickInsertBatch :copyfrom
-- ClickInsertBatch writes a batch of buffered clicks in one COPY.
INSERT INTO clicks (
    workspace_id, campaign_id, member_id, clicked_at, referrer, visitor_hash
) VALUES (
    @workspace_id, @campaign_id, @member_id, @clicked_at, @referrer, @visitor_hash
);

-- name: ClickListByMember :many
-- ClickListByMember lists a member's clicks, oldest first.
SELECT * FROM clicks
WHERE member_id = @member_id
ORDER BY clicked_at, id;
