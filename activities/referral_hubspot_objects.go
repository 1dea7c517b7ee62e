package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/salesentry"
)

// HubSpot reports more than property changes about a referral's objects: a
// record can be deleted, merged into another, or associated with another
// (a deal with the referred contact). Each is kept in the referral's audit
// trail, and merges and associations keep the referral pointing at the
// records HubSpot now has, so later changes still reach it.

// HubSpotObjectEvent is a deletion, merge or association HubSpot reported
// about one of a referral's objects.
type HubSpotObjectEvent struct {
	ReferralID string
	// Kind is salesentry.ChangeDeletion, ChangeMerge or ChangeAssociation.
	Kind       salesentry.ChangeKind
	ObjectType hubspotobject.Type
	ObjectID   int64
	// Merge: the records merged and the one that survives.
	MergedObjectIDs   []int64 `json:",omitempty"`
	SurvivingObjectID int64   `json:",omitempty"`
	// Association: ObjectType ObjectID and ToObjectType ToObjectID were
	// associated (or dissociated, when AssociationRemoved).
	ToObjectType       hubspotobject.Type `json:",omitempty"`
	ToObjectID         int64              `json:",omitempty"`
	AssociationRemoved bool               `json:",omitempty"`
	OccurredAt         time.Time
	SalesEntryID       int64 `json:",omitempty"`
	// IdempotencyKey makes a retried write a no-op.
	IdempotencyKey string
}

// ApplyHubSpotObjectEvent applies a deletion, merge or association to the
// referral and appends it to the audit trail, in one transaction, and says
// what became of it:
//   - deletion: recorded (the referral keeps the ID, to show what it was);
//   - merge: the referral now holds the surviving record;
//   - association: the other end is linked when the referral has no object
//     of that type yet (a deal associated with its contact, so deal-stage
//     rules apply); an existing link is kept, and a removed association is
//     only recorded.
func (a *Activities) ApplyHubSpotObjectEvent(ctx context.Context, ev HubSpotObjectEvent) (string, error) {
	id, err := parseID(ev.ReferralID)
	if err != nil {
		return "", err
	}
	var outcome string
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Queries.WithTx(tx)
		ref, err := q.ReferralGetByID(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return temporal.NewNonRetryableApplicationError("referral "+ev.ReferralID+" does not exist", "ReferralNotFound", err)
		}
		if err != nil {
			return fmt.Errorf("load referral %s: %w", ev.ReferralID, err)
		}
		var kind referral.EventKind
		switch ev.Kind {
		case salesentry.ChangeDeletion:
			kind = referral.EventHubSpotObjectDeleted
			outcome = fmt.Sprintf("HubSpot deleted %s %d", ev.ObjectType, ev.ObjectID)
		case salesentry.ChangeMerge:
			kind = referral.EventHubSpotObjectMerged
			outcome, err = repoint(ctx, q, ref, ev)
		case salesentry.ChangeAssociation:
			kind = referral.EventHubSpotObjectAssociated
			if ev.AssociationRemoved {
				kind = referral.EventHubSpotObjectDissociated
			}
			outcome, err = associate(ctx, q, ref, ev)
		default:
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("unknown HubSpot object event %q", ev.Kind), "InvalidInput", nil)
		}
		if err != nil {
			return err
		}
		details, err := json.Marshal(map[string]any{
			"object_type": ev.ObjectType, "object_id": ev.ObjectID, "occurred_at": ev.OccurredAt,
			"merged_object_ids": ev.MergedObjectIDs, "surviving_object_id": ev.SurvivingObjectID,
			"to_object_type": ev.ToObjectType, "to_object_id": ev.ToObjectID, "outcome": outcome,
		})
		if err != nil {
			return temporal.NewNonRetryableApplicationError("event details are not JSON", "InvalidInput", err)
		}
		params := db.ReferralEventInsertParams{
			ReferralID: id, WorkspaceID: ref.WorkspaceID, Kind: string(kind), Actor: "hubspot",
			Details: details, IdempotencyKey: &ev.IdempotencyKey,
		}
		if ev.SalesEntryID != 0 {
			params.SalesEntryID = &ev.SalesEntryID
		}
		if _, err := q.ReferralEventInsert(ctx, params); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("record %s of referral %s: %w", kind, ev.ReferralID, err)
		}
		return nil
	})
	return outcome, err
}

// repoint follows a merge: the referral's record of that type, if it was
// one of the merged ones, becomes the survivor.
func repoint(ctx context.Context, q *db.Queries, ref db.Referral, ev HubSpotObjectEvent) (string, error) {
	merged := append([]int64{ev.ObjectID}, ev.MergedObjectIDs...)
	if ev.SurvivingObjectID == 0 {
		return "", temporal.NewNonRetryableApplicationError("a merge without the surviving record", "InvalidInput", nil)
	}
	_, err := q.ReferralRepointHubSpotObject(ctx, db.ReferralRepointHubSpotObjectParams{
		ID: ref.ID, ObjectType: string(ev.ObjectType), MergedIds: merged, SurvivingID: ev.SurvivingObjectID,
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if held := heldIDs(ref).Of(ev.ObjectType); held == ev.SurvivingObjectID {
			return fmt.Sprintf("merged into %s %d, which the referral already holds", ev.ObjectType, held), nil
		}
		return fmt.Sprintf("none of the merged %ss is the referral's", ev.ObjectType), nil
	case err != nil:
		return "", fmt.Errorf("re-point referral %s after a merge: %w", ref.ID, err)
	}
	return fmt.Sprintf("now points to %s %d (merged from %s %d)", ev.ObjectType, ev.SurvivingObjectID, ev.ObjectType, heldIDs(ref).Of(ev.ObjectType)), nil
}

// associate links the other end of an association to the referral when it
// has no object of that type yet.
func associate(ctx context.Context, q *db.Queries, ref db.Referral, ev HubSpotObjectEvent) (string, error) {
	mineType, mineID, otherType, otherID := ev.ObjectType, ev.ObjectID, ev.ToObjectType, ev.ToObjectID
	if heldIDs(ref).Of(mineType) != mineID {
		mineType, mineID, otherType, otherID = otherType, otherID, mineType, mineID
	}
	if heldIDs(ref).Of(mineType) != mineID {
		return "neither end of the association is the referral's", nil
	}
	if ev.AssociationRemoved {
		return fmt.Sprintf("%s %d was dissociated from the referral's %s %d; the referral keeps its records", otherType, otherID, mineType, mineID), nil
	}
	switch held := heldIDs(ref).Of(otherType); {
	case held == otherID:
		return fmt.Sprintf("%s %d is already the referral's", otherType, otherID), nil
	case held != 0:
		return fmt.Sprintf("kept %s %d: the referral already has a %s (associated %s %d not linked)", otherType, held, otherType, otherType, otherID), nil
	}
	linked, err := q.ReferralLinkHubSpotObject(ctx, db.ReferralLinkHubSpotObjectParams{ID: ref.ID, ObjectType: string(otherType), ObjectID: otherID})
	if err != nil {
		return "", fmt.Errorf("link %s %d to referral %s: %w", otherType, otherID, ref.ID, err)
	}
	if held := heldIDs(linked).Of(otherType); held != otherID {
		return fmt.Sprintf("kept %s %d: the referral already has a %s (associated %s %d not linked)", otherType, held, otherType, otherType, otherID), nil
	}
	return fmt.Sprintf("linked %s %d (associated with the referral's %s %d)", otherType, otherID, mineType, mineID), nil
}

// heldIDs are the HubSpot records a referral holds, by type.
func heldIDs(r db.Referral) hubspotobject.IDs {
	return hubspotobject.IDs{Contact: r.HubspotContactID, Deal: r.HubspotDealID, Company: r.HubspotCompanyID}
}
