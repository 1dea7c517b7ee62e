package salesreceiver

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// NotifyChannel is the Postgres channel Record notifies, in the transaction
// that records new sales entries, and the Dispatcher LISTENs on: the one
// name both halves (and the SQL, which takes it as an argument) use. The
// payload is empty: the rows themselves say what is due.
const NotifyChannel = "sales_entries"

// Result is what Record did with a delivery's events. Received = Recorded +
// Duplicates + Skipped.
type Result struct {
	Received int `json:"received"`
	// Recorded is how many events became new sales entries.
	Recorded int `json:"recorded"`
	// Duplicates were recorded before (a redelivery, a retry with a higher
	// attemptNumber, or a repeat within the delivery).
	Duplicates int `json:"duplicates"`
	// Skipped are about objects referflow does not handle (tickets,
	// conversations, custom objects): not recorded, but answered 2xx so
	// HubSpot does not retry them for a day.
	Skipped int `json:"skipped"`
	// EntryIDs are the new sales entries' ids.
	EntryIDs []int64 `json:"-"`
}

// entryRow is one event as SalesEntryRecord reads it (jsonb_to_recordset).
type entryRow struct {
	Ord              int                `json:"ord"`
	PortalID         int64              `json:"portal_id"`
	DedupeKey        string             `json:"dedupe_key"`
	EventID          *int64             `json:"event_id"`
	SubscriptionType string             `json:"subscription_type"`
	ObjectType       hubspotobject.Type `json:"object_type"`
	ObjectID         int64              `json:"object_id"`
	PropertyName     *string            `json:"property_name"`
	PropertyValue    *string            `json:"property_value"`
	OccurredAt       time.Time          `json:"occurred_at"`
	AttemptNumber    int64              `json:"attempt_number"`
	ChangeSource     *string            `json:"change_source"`
	Payload          json.RawMessage    `json:"payload"`
	// A re-run's (Rerun): the entry it re-runs and its first action.
	RerunOf *int64          `json:"rerun_of,omitempty"`
	Actions json.RawMessage `json:"actions,omitempty"`
}

// Record stores a parsed delivery in one transaction: every event about a
// contact, deal or company becomes a sales entry (once: redeliveries are
// recognised by portal and DedupeKey), attributed to the workspace whose
// connection holds the portal (none when no workspace is connected: the entry
// is still kept). The portals' connections get last_webhook_at, and
// last_entry_at when new entries came, and the dispatchers are notified on
// NotifyChannel. Either all of it is committed or nothing is: an error means
// the delivery must be answered with a 5xx so HubSpot retries it.
func Record(ctx context.Context, pool *pgxpool.Pool, events []Event) (Result, error) {
	res := Result{Received: len(events)}
	rows := make([]entryRow, 0, len(events))
	type entryKey struct {
		portalID  int64
		dedupeKey string
	}
	seen := make(map[entryKey]bool, len(events))
	portals := make([]int64, 0, 1)
	for _, ev := range events {
		if !slices.Contains(portals, ev.PortalID) {
			portals = append(portals, ev.PortalID)
		}
		row, ok := entryRowOf(ev)
		if !ok {
			res.Skipped++
			continue
		}
		if seen[entryKey{ev.PortalID, row.DedupeKey}] {
			res.Duplicates++
			continue
		}
		seen[entryKey{ev.PortalID, row.DedupeKey}] = true
		rows = append(rows, row)
	}
	// One lock order for every delivery: concurrent deliveries that share
	// events wait for each other on the unique index instead of deadlocking.
	slices.SortFunc(rows, func(a, b entryRow) int {
		return cmp.Or(cmp.Compare(a.PortalID, b.PortalID), cmp.Compare(a.DedupeKey, b.DedupeKey))
	})
	for i := range rows {
		rows[i].Ord = i
	}
	slices.Sort(portals)

	// Deadlocks can still happen between deliveries of several portals
	// touching the same connections; Postgres aborts one and it is retried.
	// (A delivery whose events are all skipped still touches the portal's
	// connection: HubSpot did deliver.)
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var recorded []db.SalesEntryRecordRow
		recorded, err = record(ctx, pool, rows, portals)
		if err == nil {
			res.Recorded = len(recorded)
			res.Duplicates += len(rows) - len(recorded)
			res.EntryIDs = make([]int64, len(recorded))
			for i, r := range recorded {
				res.EntryIDs[i] = r.ID
			}
			return res, nil
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "40P01" && pgErr.Code != "40001") {
			break
		}
	}
	return Result{}, err
}

// entryRowOf is the sales entry an event becomes; false for an event about
// an object referflow does not handle (it is skipped).
func entryRowOf(ev Event) (entryRow, bool) {
	objectType := ev.ObjectType()
	if objectType == "" {
		return entryRow{}, false
	}
	row := entryRow{
		PortalID:         ev.PortalID,
		DedupeKey:        ev.DedupeKey(),
		SubscriptionType: ev.SubscriptionType,
		ObjectType:       objectType,
		ObjectID:         ev.ObjectID,
		PropertyValue:    ev.PropertyValue,
		OccurredAt:       ev.OccurredAt,
		AttemptNumber:    ev.AttemptNumber,
		Payload:          ev.Raw,
	}
	if ev.EventID != 0 {
		row.EventID = &ev.EventID
	}
	if ev.PropertyName != "" {
		row.PropertyName = &ev.PropertyName
	}
	if ev.ChangeSource != "" {
		row.ChangeSource = &ev.ChangeSource
	}
	return row, true
}

func record(ctx context.Context, conn db.DBTX, rows []entryRow, portals []int64) ([]db.SalesEntryRecordRow, error) {
	entries, err := json.Marshal(rows)
	if err != nil {
		return nil, fmt.Errorf("encode sales entries: %w", err)
	}
	// One statement: one transaction, one round trip (see the query).
	recorded, err := db.New(conn).SalesEntryRecord(ctx, db.SalesEntryRecordParams{Entries: entries, PortalIds: portals, Channel: NotifyChannel})
	if err != nil {
		return nil, fmt.Errorf("record sales entries: %w", err)
	}
	return recorded, nil
}
