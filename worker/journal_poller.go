package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/salesreceiver"
)

// Defaults of the JournalPoller's tuning fields.
const (
	DefaultJournalPollInterval = 5 * time.Second
	// DefaultJournalMaxWait bounds the wait after failures (HubSpot down,
	// the token refused): the wait doubles from the poll interval up to it.
	DefaultJournalMaxWait = 5 * time.Minute
	// journalBatchesPerRound bounds how much one portal reads in a round
	// (batches of hubspot.MaxJournalBatch entries), so that one busy portal
	// does not hold the others back; it reads on at the next round.
	journalBatchesPerRound = 10
)

// JournalPoller reads HubSpot's webhooks journal for every connected portal
// whose workspace has a campaign (not archived) enrolling members on lists
// (process_rules.enrol_members.on_list_ids), and hands each event to the
// Sales Receiver's intake (salesreceiver.RecordJournal), which records it
// as a sales entry, deduplicated, that the dispatcher routes like a
// webhook's: a contact added to a chosen list is enrolled by the sales-entry
// workflow (activities.EnrolContact), a removal is recorded and ignored.
//
// Each round, for each such portal, under the row lock of its
// hubspot_journal_positions row (so one worker process polls a portal at a
// time; the others skip it):
//   - the app's LIST_MEMBERSHIP subscription for the portal is made to name
//     exactly the lists the campaigns choose (created or updated through the
//     subscriptions API when the set changed: a campaign saved, HubSpot
//     connected; deleted when no campaign wants lists any more);
//   - the journal is read from the stored offset (from its earliest entry
//     the first time), each entry's events recorded before the offset is
//     stored, so a crash or restart reads the last entries again and the
//     intake's dedupe keys make that harmless: nothing is lost, nothing
//     enrolled twice. An offset older than the journal keeps (3 days) starts
//     the portal over from the earliest entry, with a warning.
//
// HubSpot failing (5xx, the journal unreachable, its token refused, a 429)
// makes the portal wait: the reason is stored on its position
// (waiting_reason, waiting_since) and logged, and the wait doubles from
// Interval up to MaxWait (a 429's wait is HubSpot's, which the client also
// tells the portal's shared limiter). Journal calls wait on the portal's
// rate limiter like its CRM calls (hubspotconn.JournalClient).
//
// Not a Temporal workflow: reading a log from a durable position and
// recording what it says is what the Sales Receiver's intake already does
// for webhooks; a workflow per portal would put every entry in its history
// to learn what one row holds.
type JournalPoller struct {
	Pool    *pgxpool.Pool
	HubSpot *hubspotconn.Manager
	Logger  *slog.Logger
	// Interval is the pause between rounds; MaxWait the longest wait after
	// failures.
	Interval time.Duration
	MaxWait  time.Duration

	mu      sync.Mutex
	backoff map[int64]journalBackoff
}

type journalBackoff struct {
	until    time.Time
	failures int
}

func (p *JournalPoller) fill() {
	if p.Interval <= 0 {
		p.Interval = DefaultJournalPollInterval
	}
	if p.MaxWait <= 0 {
		p.MaxWait = DefaultJournalMaxWait
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.backoff == nil {
		p.backoff = map[int64]journalBackoff{}
	}
}

// Run polls until ctx ends.
func (p *JournalPoller) Run(ctx context.Context) {
	p.mu.Lock()
	p.fill()
	p.mu.Unlock()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := p.Round(ctx); err != nil && ctx.Err() == nil {
			p.Logger.Warn("webhooks journal: round failed", "error", err)
		}
		t.Reset(p.Interval)
	}
}

// journalPortal is a connected portal and the lists its workspace's
// campaigns enrol on.
type journalPortal struct {
	workspace uuid.UUID
	portalID  int64
	lists     []string
}

// Round polls every portal that is due once.
func (p *JournalPoller) Round(ctx context.Context) error {
	p.mu.Lock()
	p.fill()
	p.mu.Unlock()
	portals, err := p.portals(ctx)
	if err != nil {
		return err
	}
	for _, jp := range portals {
		if ctx.Err() != nil {
			return nil
		}
		if !p.due(jp.portalID) {
			continue
		}
		if err := p.poll(ctx, jp); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.wait(ctx, jp, err)
			continue
		}
		p.mu.Lock()
		delete(p.backoff, jp.portalID)
		p.mu.Unlock()
	}
	return nil
}

// portals lists the connected portals that want lists or still hold a
// subscription to drop.
func (p *JournalPoller) portals(ctx context.Context) ([]journalPortal, error) {
	q := db.New(p.Pool)
	conns, err := q.HubSpotConnectionList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list HubSpot connections: %w", err)
	}
	var ws []uuid.UUID
	for _, c := range conns {
		if c.Status == hubspotconn.StatusConnected && c.DisconnectedAt == nil {
			ws = append(ws, c.WorkspaceID)
		}
	}
	if len(ws) == 0 {
		return nil, nil
	}
	camps, err := q.CampaignListUnarchivedOfWorkspaces(ctx, ws)
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	settings := map[uuid.UUID][]campaign.Settings{}
	for _, c := range camps {
		s, err := activities.CampaignSettings(c)
		if err != nil {
			continue // unreadable settings enrol no one until saved again
		}
		settings[c.WorkspaceID] = append(settings[c.WorkspaceID], s)
	}
	var out []journalPortal
	for _, c := range conns {
		if !slices.Contains(ws, c.WorkspaceID) {
			continue
		}
		jp := journalPortal{workspace: c.WorkspaceID, portalID: c.PortalID, lists: campaign.EnrolListIDs(settings[c.WorkspaceID]...)}
		if len(jp.lists) == 0 {
			pos, err := q.HubSpotJournalPositionGet(ctx, c.PortalID)
			if errors.Is(err, pgx.ErrNoRows) || (err == nil && pos.SubscriptionID == nil) {
				continue
			}
		}
		out = append(out, jp)
	}
	return out, nil
}

func (p *JournalPoller) due(portalID int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !time.Now().Before(p.backoff[portalID].until)
}

// poll keeps the portal's subscription and reads its journal on, under its
// position's row lock.
func (p *JournalPoller) poll(ctx context.Context, jp journalPortal) error {
	client, portalID, err := p.HubSpot.JournalClient(ctx, jp.workspace)
	if err != nil {
		return err
	}
	if portalID != jp.portalID {
		return nil // reconnected to another portal meanwhile: next round
	}
	q := db.New(p.Pool)
	// Ensure only when needed: its upsert would wait on the row lock of a
	// worker polling the portal now.
	if have, err := q.HubSpotJournalPositionGet(ctx, portalID); err != nil || have.WorkspaceID != jp.workspace {
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("journal position: %w", err)
		}
		if err := q.HubSpotJournalPositionEnsure(ctx, db.HubSpotJournalPositionEnsureParams{PortalID: portalID, WorkspaceID: jp.workspace}); err != nil {
			return fmt.Errorf("journal position: %w", err)
		}
	}
	tx, err := p.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("journal position: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit, a no-op
	qtx := q.WithTx(tx)
	pos, err := qtx.HubSpotJournalPositionLock(ctx, portalID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // another worker polls this portal now
	}
	if err != nil {
		return fmt.Errorf("lock journal position: %w", err)
	}
	if err := p.subscribe(ctx, qtx, client, pos, jp.lists); err != nil {
		return err
	}
	if len(jp.lists) > 0 {
		if err := p.read(ctx, qtx, client, pos); err != nil {
			// What was read and recorded so far stays read.
			if cerr := tx.Commit(ctx); cerr != nil {
				return errors.Join(err, cerr)
			}
			return err
		}
	}
	return tx.Commit(ctx)
}

// subscribe makes the portal's LIST_MEMBERSHIP subscription name lists.
func (p *JournalPoller) subscribe(ctx context.Context, q *db.Queries, client *hubspot.Client, pos db.HubspotJournalPosition, lists []string) error {
	if slices.Equal(pos.SubscribedListIds, lists) && (pos.SubscriptionID != nil) == (len(lists) > 0) {
		return nil
	}
	if len(lists) == 0 {
		if err := client.DeleteJournalSubscription(ctx, *pos.SubscriptionID); err != nil {
			return fmt.Errorf("delete the journal subscription %d: %w", *pos.SubscriptionID, err)
		}
		p.Logger.Info("webhooks journal: subscription deleted: no campaign enrols on lists", "portal_id", pos.PortalID)
		return q.HubSpotJournalPositionSetSubscription(ctx, db.HubSpotJournalPositionSetSubscriptionParams{PortalID: pos.PortalID, SubscribedListIds: []string{}})
	}
	sub, err := client.UpsertListMembershipSubscription(ctx, pos.PortalID, lists, []string{hubspot.JournalAddedToList, hubspot.JournalRemovedFromList})
	if err != nil {
		return fmt.Errorf("subscribe to lists %v in the journal: %w", lists, err)
	}
	p.Logger.Info("webhooks journal: LIST_MEMBERSHIP subscription kept", "portal_id", pos.PortalID, "subscription_id", sub.ID, "lists", lists)
	return q.HubSpotJournalPositionSetSubscription(ctx, db.HubSpotJournalPositionSetSubscriptionParams{PortalID: pos.PortalID, SubscriptionID: &sub.ID, SubscribedListIds: lists})
}

// read reads the journal on from the stored offset, recording each entry's
// events before storing its offset.
func (p *JournalPoller) read(ctx context.Context, q *db.Queries, client *hubspot.Client, pos db.HubspotJournalPosition) error {
	offset := pos.JournalOffset
	for range journalBatchesPerRound {
		var entries []hubspot.JournalEntry
		var err error
		if offset == nil {
			entries, err = client.JournalEarliest(ctx, pos.PortalID, hubspot.MaxJournalBatch)
		} else {
			entries, err = client.JournalNext(ctx, pos.PortalID, *offset, hubspot.MaxJournalBatch)
			var gone *hubspot.NotFoundError
			if errors.As(err, &gone) {
				p.Logger.Warn("webhooks journal: the stored offset is no longer in the journal (older than its 3 days): reading from its earliest entry; events between may be lost", "portal_id", pos.PortalID)
				if err := q.HubSpotJournalPositionForget(ctx, pos.PortalID); err != nil {
					return err
				}
				offset = nil
				continue
			}
		}
		if err != nil {
			return fmt.Errorf("read the journal: %w", err)
		}
		for _, e := range entries {
			evs, err := client.JournalFile(ctx, e)
			if err != nil {
				return fmt.Errorf("read journal entry %s: %w", e.Offset, err)
			}
			res, err := salesreceiver.RecordJournal(ctx, p.Pool, evs)
			if err != nil {
				return fmt.Errorf("record journal entry %s: %w", e.Offset, err)
			}
			off := e.Offset
			if err := q.HubSpotJournalPositionAdvance(ctx, db.HubSpotJournalPositionAdvanceParams{PortalID: pos.PortalID, JournalOffset: &off, Entries: 1, Events: int64(res.Recorded)}); err != nil {
				return fmt.Errorf("store the journal offset: %w", err)
			}
			offset = &off
			if res.Recorded > 0 {
				p.Logger.Info("webhooks journal: events recorded", "portal_id", pos.PortalID, "recorded", res.Recorded, "duplicates", res.Duplicates, "skipped", res.Skipped)
			}
		}
		if len(entries) < hubspot.MaxJournalBatch {
			if len(entries) == 0 {
				// Caught up: the position says it does not wait.
				return q.HubSpotJournalPositionAdvance(ctx, db.HubSpotJournalPositionAdvanceParams{PortalID: pos.PortalID})
			}
			return nil
		}
	}
	return nil
}

// wait records why the portal waits, and until when.
func (p *JournalPoller) wait(ctx context.Context, jp journalPortal, cause error) {
	p.mu.Lock()
	b := p.backoff[jp.portalID]
	b.failures++
	d := p.Interval << min(b.failures, 16)
	if d > p.MaxWait || d <= 0 {
		d = p.MaxWait
	}
	var rl *hubspot.RateLimitError
	if errors.As(cause, &rl) && rl.RetryAfter > 0 {
		d = rl.RetryAfter
	}
	d += time.Duration(rand.Int64N(int64(d)/5 + 1))
	b.until = time.Now().Add(d)
	p.backoff[jp.portalID] = b
	p.mu.Unlock()
	reason := journalWaitReason(cause)
	p.Logger.Warn("webhooks journal: waiting", "portal_id", jp.portalID, "workspace_id", jp.workspace.String(), "reason", reason, "retry_in", d.Round(time.Second).String(), "failures", b.failures)
	_ = db.New(p.Pool).HubSpotJournalPositionWait(context.WithoutCancel(ctx), db.HubSpotJournalPositionWaitParams{PortalID: jp.portalID, WaitingReason: &reason})
}

// journalWaitReason says why in a sentence (HubSpot's message, never a
// token).
func journalWaitReason(err error) string {
	var rl *hubspot.RateLimitError
	var server *hubspot.ServerError
	var tok *hubspot.TokenError
	var unauthorized *hubspot.UnauthorizedError
	var transport *hubspot.TransportError
	switch {
	case errors.Is(err, hubspotconn.ErrNotConfigured):
		return "the webhooks journal needs the HubSpot app's client credentials (HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET)"
	case errors.Is(err, hubspot.ErrConnectionBroken):
		return "HubSpot is not connected or the connection is broken: " + err.Error()
	case errors.As(err, &rl):
		return fmt.Sprintf("HubSpot's rate limit (%s): %s", rl.Policy, err.Error())
	case errors.As(err, &tok), errors.As(err, &unauthorized):
		return "HubSpot refused the app's client-credentials token: " + err.Error()
	case errors.As(err, &server):
		return "HubSpot's webhooks journal is failing: " + err.Error()
	case errors.As(err, &transport):
		return "HubSpot's webhooks journal is unreachable: " + err.Error()
	}
	return err.Error()
}
