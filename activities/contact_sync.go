package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/contactsync"
)

// A contact sync's run, on the workflow task queue: its start and its end
// (Postgres only). The pages between them read HubSpot and are the HubSpot
// activity SyncContactsPage (hubspot_contact_sync.go).

// SyncProgress is where a sync's run stands: the pages it committed, its
// counts, and whether the last page was read.
type SyncProgress struct {
	SyncID string
	// Page is the number of pages committed; the next page's number.
	Page  int
	Stats contactsync.Stats
	Done  bool `json:",omitempty"`
	// Stopped says why the run ended without reading (the sync was
	// deleted, the campaign is not active).
	Stopped string `json:",omitempty"`
}

// ErrorTypeSyncNotFound is the error type of a sync that was deleted.
const ErrorTypeSyncNotFound = "SyncNotFound"

// SyncRunEnd ends a run: Failure empty is success.
type SyncRunEnd struct {
	SyncID  string
	Failure string `json:",omitempty"`
}

// SyncWaiting records why a run waits.
type SyncWaiting struct {
	SyncID string
	Reason string
}

// StartContactSyncRun begins a run of a sync: counts zeroed, the last run's
// failures forgotten, and where it reads first — an all-contacts sync pages
// through every contact on its first run and searches what changed since
// its watermark afterwards; a list sync pages through the list. A sync
// deleted, or a campaign not active, is Stopped with why (nothing read). A
// run already under way (the same run started again) keeps its place.
func (a *Activities) StartContactSyncRun(ctx context.Context, syncID string) (SyncProgress, error) {
	id, err := parseEntityID(syncID, "sync")
	if err != nil {
		return SyncProgress{}, err
	}
	s, err := a.Queries.SyncGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return SyncProgress{SyncID: syncID, Stopped: "the sync was deleted"}, nil
	}
	if err != nil {
		return SyncProgress{}, fmt.Errorf("load sync %s: %w", id, err)
	}
	camp, err := a.Queries.CampaignGetByID(ctx, s.CampaignID)
	if err != nil {
		return SyncProgress{}, fmt.Errorf("load campaign %s: %w", s.CampaignID, err)
	}
	if err := campaign.CheckTakesNew(campaign.Status(camp.Status)); err != nil {
		return SyncProgress{SyncID: syncID, Stopped: err.Error()}, nil
	}
	cur := contactsync.Cursor{Phase: contactsync.PhaseContacts}
	switch {
	case contactsync.Source(s.Source) == contactsync.SourceList:
		cur.Phase = contactsync.PhaseMemberships
	case contactsync.Mode(s.Mode) == contactsync.ModeOngoing && s.Watermark != nil:
		cur.Phase, cur.Since, cur.Tied = contactsync.PhaseSearch, s.Watermark.UTC(), true
	}
	curJSON, _ := json.Marshal(cur)
	statsJSON, _ := json.Marshal(contactsync.Stats{})
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if err := q.SyncFailureDeleteBySync(ctx, id); err != nil {
			return err
		}
		_, err := q.SyncStartRun(ctx, db.SyncStartRunParams{ID: id, Stats: statsJSON, Cursor: curJSON})
		return err
	})
	if err != nil {
		return SyncProgress{}, fmt.Errorf("start a run of sync %s: %w", id, err)
	}
	return SyncProgress{SyncID: syncID}, nil
}

// RecordContactSyncWaiting says in the sync why its run waits.
func (a *Activities) RecordContactSyncWaiting(ctx context.Context, in SyncWaiting) error {
	id, err := parseEntityID(in.SyncID, "sync")
	if err != nil {
		return err
	}
	if err := a.Queries.SyncRecordWaiting(ctx, db.SyncRecordWaitingParams{ID: id, Reason: &in.Reason}); err != nil {
		return fmt.Errorf("record sync %s waiting: %w", id, err)
	}
	return nil
}

// FinishContactSyncRun ends a run: succeeded moves an all-contacts sync's
// watermark to the run's start (less contactsync.WatermarkOverlap), so the
// next run reads what changed since; a one-time sync is then completed.
// A deleted sync is nothing to record.
func (a *Activities) FinishContactSyncRun(ctx context.Context, in SyncRunEnd) error {
	id, err := parseEntityID(in.SyncID, "sync")
	if err != nil {
		return err
	}
	s, err := a.Queries.SyncGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load sync %s: %w", id, err)
	}
	arg := db.SyncFinishRunParams{ID: id, RunStatus: string(contactsync.RunSucceeded)}
	if in.Failure != "" {
		arg.RunStatus, arg.Error = string(contactsync.RunFailed), &in.Failure
	} else if contactsync.Source(s.Source) == contactsync.SourceAllContacts && s.RunUntil != nil {
		w := s.RunUntil.Add(-contactsync.WatermarkOverlap)
		arg.Watermark = &w
	}
	if _, err := a.Queries.SyncFinishRun(ctx, arg); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("finish the run of sync %s: %w", id, err)
	}
	return nil
}

// syncOf loads a sync for a page; a deleted one fails for good.
func syncOf(ctx context.Context, q *db.Queries, syncID string) (db.Sync, error) {
	id, err := parseEntityID(syncID, "sync")
	if err != nil {
		return db.Sync{}, err
	}
	s, err := q.SyncGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Sync{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("sync %s was deleted", id), ErrorTypeSyncNotFound, err)
	}
	if err != nil {
		return db.Sync{}, fmt.Errorf("load sync %s: %w", id, err)
	}
	return s, nil
}

// progressOfSync is what the sync's row says of its run.
func progressOfSync(s db.Sync) SyncProgress {
	p := SyncProgress{SyncID: s.ID.String(), Page: int(s.RunPage)}
	_ = json.Unmarshal(s.LastRunStats, &p.Stats)
	var cur contactsync.Cursor
	if len(s.RunCursor) > 0 && json.Unmarshal(s.RunCursor, &cur) == nil {
		p.Done = cur.Done
	}
	return p
}
