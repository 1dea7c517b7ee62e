package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
)

// ForgetPortalObjects is what referflow does when a workspace's HubSpot
// portal turns out to have been reset (hubspotconn.PortalResetHook; the
// connect flow runs it in the transaction that stores the new connection).
// The portal's records are gone and new records may get the IDs the
// referrals stored, so every referral of the workspace forgets the contact,
// deal and company it held; otherwise a new record reusing an ID would move
// an old referral (approve it, reward it). Each referral's audit trail
// records what it held and why it let go (hubspot_object_deleted). Nothing
// else changes: statuses, rewards and history stay, and a lead already sent
// is not sent again (it went to the portal as it was).
func ForgetPortalObjects(ctx context.Context, q *db.Queries, workspaceID uuid.UUID, portalID int64) error {
	rows, err := q.ReferralForgetHubSpotObjects(ctx, workspaceID)
	if err != nil {
		return fmt.Errorf("forget the HubSpot records of workspace %s's referrals: %w", workspaceID, err)
	}
	key := "portal_reset:" + strconv.FormatInt(portalID, 10) + ":" + time.Now().UTC().Format(time.RFC3339Nano)
	for _, r := range rows {
		forgotten := map[hubspotobject.Type]int64{}
		for t, id := range map[hubspotobject.Type]*int64{hubspotobject.Contact: r.ContactID, hubspotobject.Deal: r.DealID, hubspotobject.Company: r.CompanyID} {
			if id != nil {
				forgotten[t] = *id
			}
		}
		details, err := json.Marshal(map[string]any{
			"forgotten": forgotten,
			"outcome": fmt.Sprintf("HubSpot portal %d was reset (referflow's properties were gone when it was connected again): "+
				"its records are gone and new ones may reuse their IDs, so the referral no longer points to them", portalID),
		})
		if err != nil {
			return err
		}
		if _, err := q.ReferralEventInsert(ctx, db.ReferralEventInsertParams{
			ReferralID: r.ID, WorkspaceID: r.WorkspaceID, Kind: string(referral.EventHubSpotObjectDeleted), Actor: "hubspot",
			Details: details, IdempotencyKey: &key,
		}); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("record what referral %s forgot: %w", r.ID, err)
		}
	}
	return nil
}
