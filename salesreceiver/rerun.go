package salesreceiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/salesentry"
)

// RerunRequest is an admin's re-run of a sales entry: the entry (of the
// admin's workspace), the event to run instead of the stored one (nil: the
// stored one, unchanged) and who asked.
type RerunRequest struct {
	WorkspaceID uuid.UUID
	EntryID     int64
	// Payload is the HubSpot event JSON of that one event, as the entry
	// stores it; nil or empty re-runs the stored payload.
	Payload json.RawMessage
	// Actor is who re-runs it ("admin:<id>"), recorded as the new entry's
	// first action.
	Actor string
}

// ErrEntryNotFound: no such entry in the workspace (another workspace's
// entry is not found either).
var ErrEntryNotFound = errors.New("no such sales entry in your workspace")

// RerunRefused says why an entry cannot be re-run now (it is still being
// processed, or it is not a webhook event): the caller answers 409.
type RerunRefused struct{ Reason string }

func (e *RerunRefused) Error() string { return e.Reason }

// RerunInvalid says what is wrong with an edited payload: Field is "payload"
// or a field of it ("payload.objectId"). The caller answers 400.
type RerunInvalid struct{ Field, Problem string }

func (e *RerunInvalid) Error() string { return e.Field + " " + e.Problem }

// StepRerun is the first action of a re-run entry: who re-ran which entry.
const StepRerun salesentry.Step = "rerun"

// rerunKinds are the webhook events routing acts on (route.go): an edit to
// any other kind would only be recorded and ignored.
var rerunKinds = []salesentry.Kind{salesentry.Creation, salesentry.PropertyChange, salesentry.Deletion, salesentry.Merge, salesentry.AssociationChange}

// Rerun runs an entry through the Sales Receiver again, as an admin asks
// from the Sales Receiver log (edit and re-run): the edited event is checked
// by the intake's parser (ParseEvent) and recorded as a new sales entry by
// the intake's record path, linked to the entry (rerun_of) with the admin's
// step as its first action; the dispatcher then routes it like any entry.
//
// The new entry's dedupe key is the entry's with ":rerun:<n>" (n counts the
// entry's re-runs), so HubSpot's redeliveries of the original are still
// recognised and a re-run is never taken for one. The entry itself is left
// as it was: the log shows it "re-run as #N" from the link.
//
// An entry still being processed (not dispatched yet, or its sales-entry
// workflow still matching it) is refused, as is an entry read from the
// webhooks journal (its payload is not a webhook event) or one whose portal
// is no longer connected to the workspace (the re-run would land nowhere).
// The edited event must keep the entry's portal and be a contact, deal or
// company event of a kind routing acts on.
func Rerun(ctx context.Context, pool *pgxpool.Pool, req RerunRequest) (db.SalesEntry, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return db.SalesEntry{}, fmt.Errorf("re-run sales entry %d: %w", req.EntryID, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	q := db.New(tx)
	orig, err := q.SalesEntryLockForRerun(ctx, db.SalesEntryLockForRerunParams{ID: req.EntryID, WorkspaceID: &req.WorkspaceID})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.SalesEntry{}, ErrEntryNotFound
	}
	if err != nil {
		return db.SalesEntry{}, fmt.Errorf("load sales entry %d: %w", req.EntryID, err)
	}
	if err := rerunnable(orig); err != nil {
		return db.SalesEntry{}, err
	}
	payload, edited := req.Payload, true
	if len(strings.TrimSpace(string(payload))) == 0 {
		payload, edited = orig.Payload, false
	}
	ev, err := ParseEvent(payload)
	if err != nil {
		return db.SalesEntry{}, rerunInvalid(err)
	}
	row, handled := entryRowOf(ev)
	switch {
	case ev.PortalID != orig.PortalID:
		return db.SalesEntry{}, &RerunInvalid{"payload.portalId", fmt.Sprintf("must stay %d: a re-run belongs to the portal the entry came from", orig.PortalID)}
	case !handled:
		return db.SalesEntry{}, &RerunInvalid{"payload.subscriptionType", fmt.Sprintf("%q is about an object referflow does not handle: contact, deal and company events only", ev.SubscriptionType)}
	case !slices.Contains(rerunKinds, ev.Kind()):
		return db.SalesEntry{}, &RerunInvalid{"payload.subscriptionType", fmt.Sprintf("%q is not an event referflow acts on: creation, propertyChange, deletion, merge or associationChange", ev.SubscriptionType)}
	}
	conn, err := q.HubSpotConnectionGetActiveByPortal(ctx, orig.PortalID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && conn.WorkspaceID != req.WorkspaceID) {
		return db.SalesEntry{}, &RerunRefused{fmt.Sprintf("HubSpot portal %d is no longer connected to this workspace: a re-run would reach no campaign", orig.PortalID)}
	}
	if err != nil {
		return db.SalesEntry{}, fmt.Errorf("load the connection of portal %d: %w", orig.PortalID, err)
	}

	reruns, err := q.SalesEntryListReruns(ctx, &orig.ID)
	if err != nil {
		return db.SalesEntry{}, fmt.Errorf("list the re-runs of sales entry %d: %w", orig.ID, err)
	}
	detail := fmt.Sprintf("re-run of sales entry %d, unchanged", orig.ID)
	if edited {
		detail = fmt.Sprintf("re-run of sales entry %d with an edited payload", orig.ID)
	}
	action, err := json.Marshal([]salesentry.Action{{
		Key: "rerun", Step: StepRerun, Detail: detail, Actor: req.Actor, At: time.Now().UTC(),
		Data: map[string]any{"rerun_of": orig.ID, "edited": edited},
	}})
	if err != nil {
		return db.SalesEntry{}, fmt.Errorf("encode the re-run's action: %w", err)
	}
	row.DedupeKey = fmt.Sprintf("%s:rerun:%d", orig.DedupeKey, len(reruns)+1)
	row.RerunOf, row.Actions = &orig.ID, action
	// No portal is touched: HubSpot did not deliver this.
	recorded, err := record(ctx, tx, []entryRow{row}, []int64{})
	if err != nil {
		return db.SalesEntry{}, err
	}
	if len(recorded) != 1 {
		// The entry's lock makes the number unique; a key taken anyway
		// is a bug, not a duplicate to swallow.
		return db.SalesEntry{}, fmt.Errorf("re-run of sales entry %d: dedupe key %s is taken", orig.ID, row.DedupeKey)
	}
	entry, err := q.SalesEntryGetByID(ctx, recorded[0].ID)
	if err != nil {
		return db.SalesEntry{}, fmt.Errorf("load the re-run of sales entry %d: %w", orig.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return db.SalesEntry{}, fmt.Errorf("re-run sales entry %d: %w", orig.ID, err)
	}
	return entry, nil
}

// rerunnable refuses an entry that is still being processed or cannot be
// re-run at all.
func rerunnable(e db.SalesEntry) error {
	switch status := salesentry.Status(e.Status); {
	case e.DispatchedAt == nil:
		return &RerunRefused{fmt.Sprintf("sales entry %d is still being processed: the dispatcher has not routed it yet; re-run it once it is done", e.ID)}
	case status == salesentry.Received || status == salesentry.Matching:
		return &RerunRefused{fmt.Sprintf("sales entry %d is still being processed: its sales-entry workflow is matching it; re-run it once it is done", e.ID)}
	case e.ChangeSource != nil && *e.ChangeSource == JournalChangeSource:
		return &RerunRefused{fmt.Sprintf("sales entry %d was read from HubSpot's webhooks journal, not sent as a webhook event: it cannot be re-run", e.ID)}
	}
	return nil
}

// rerunInvalid names the edited payload's problem from the parser's.
func rerunInvalid(err error) error {
	var pe *ParseError
	if !errors.As(err, &pe) {
		return err
	}
	field := "payload"
	if pe.Index >= 0 && pe.Field != "" {
		field += "." + pe.Field
	}
	return &RerunInvalid{Field: field, Problem: pe.Problem}
}
