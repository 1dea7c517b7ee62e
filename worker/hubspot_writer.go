package worker

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/pglisten"
)

// Defaults of the HubSpotWriter's tuning fields.
const (
	DefaultHubSpotWriteConcurrency = 4
	DefaultHubSpotWritePoll        = 5 * time.Second
	// hubSpotWriteMinPause spaces the writer's passes: during a burst every
	// committed change notifies, and one pass serves them all.
	hubSpotWriteMinPause = 100 * time.Millisecond
)

// HubSpotWriter keeps HubSpot's copy of members' counts and leads'
// statuses fresh: it writes what Postgres marked for HubSpot
// (member_hubspot_writes, referral_hubspot_writes, made by migration 0023's
// triggers in the transaction of each change) through
// activities.HubSpot.WriteMarkedToHubSpot, a batch of up to 100 records per
// call, each workspace's batches one after the other (their calls wait on
// the portal's shared rate limiter like every HubSpot call).
//
// It wakes when a mark is made (NOTIFY on activities.HubSpotWritesChannel),
// sleeps until the next mark falls due (a mark waits the write window, 2 s,
// gathering the burst it belongs to; the workspace's other marks go with
// it, so a workspace is written about once a window however steady the
// stream of changes), and polls every PollInterval for what
// a lost notification or another process left. A write that fails keeps its
// marks, due again after a backoff the marks carry (so every process honours
// it); a process killed mid-write leaves its marks to the others when its
// lease runs out, a minute later. Run one per worker process: writers take
// disjoint marks.
//
// Not a Temporal workflow: the marks must be made in the transaction of the
// change, which a signal cannot join, and a long-running workflow per
// workspace would carry a signal per change in its history (10,000 for a
// burst of 10,000 changes) to learn what one indexed query tells.
type HubSpotWriter struct {
	HubSpot *activities.HubSpot
	Pool    *pgxpool.Pool
	Logger  *slog.Logger
	// Concurrency is how many workspaces are written at once; PollInterval
	// the longest sleep without a notification.
	Concurrency  int
	PollInterval time.Duration

	listenerPID atomic.Uint32
}

func (w *HubSpotWriter) fill() {
	if w.Concurrency <= 0 {
		w.Concurrency = DefaultHubSpotWriteConcurrency
	}
	if w.PollInterval <= 0 {
		w.PollInterval = DefaultHubSpotWritePoll
	}
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
}

// Run writes marks until ctx ends, then lets the batches in flight finish.
func (w *HubSpotWriter) Run(ctx context.Context) {
	w.fill()
	q := db.New(w.Pool)
	wake := pglisten.NewWaker()
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		pglisten.Listen(ctx, w.Pool, activities.HubSpotWritesChannel, wake.Poke, w.Logger, &w.listenerPID)
	}()
	defer func() { <-listening }()

	var (
		mu   sync.Mutex
		busy = map[uuid.UUID]bool{}
		wg   sync.WaitGroup
	)
	defer wg.Wait()
	slots := make(chan struct{}, w.Concurrency)
	for ctx.Err() == nil {
		passStart := time.Now()
		due, err := w.dueWorkspaces(ctx, q)
		if err != nil && ctx.Err() == nil {
			w.Logger.Error("list workspaces with HubSpot writes due", "error", err.Error())
		}
	start:
		for _, ws := range due {
			mu.Lock()
			taken := busy[ws]
			mu.Unlock()
			if taken {
				continue
			}
			select {
			case slots <- struct{}{}:
			default:
				break start // every slot busy: a finished one pokes
			}
			mu.Lock()
			busy[ws] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(busy, ws)
					mu.Unlock()
					<-slots
					wake.Poke()
				}()
				w.drain(ctx, ws)
			})
		}
		sleep := w.PollInterval
		if next, err := w.nextDue(ctx, q); err == nil && next >= 0 {
			sleep = min(sleep, next)
		}
		sleep = max(sleep, hubSpotWriteMinPause-time.Since(passStart))
		timer := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
		case <-wake:
			if rest := hubSpotWriteMinPause - time.Since(passStart); rest > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(rest):
				}
			}
		case <-timer.C:
		}
		timer.Stop()
	}
}

// drain writes a workspace's marks, batch after batch while batches come
// full, until a write fails (its marks then wait out their backoff).
func (w *HubSpotWriter) drain(ctx context.Context, ws uuid.UUID) {
	for ctx.Err() == nil {
		res, err := w.HubSpot.WriteMarkedToHubSpot(ctx, ws.String())
		if err != nil {
			if ctx.Err() == nil {
				w.Logger.Warn("HubSpot write failed; its marks are kept for a retry", "workspace_id", ws.String(),
					"members", res.Members, "referrals", res.Referrals, "failed", res.Failed, "error", err.Error())
			}
			return
		}
		if res.Taken() > 0 {
			w.Logger.Debug("wrote marks to HubSpot", "workspace_id", ws.String(), "members", res.Members,
				"referrals", res.Referrals, "contacts", res.Contacts, "deals", res.Deals, "calls", res.Calls)
		}
		if !res.More {
			return
		}
	}
}

// dueWorkspaces lists the workspaces with member or referral marks due.
func (w *HubSpotWriter) dueWorkspaces(ctx context.Context, q *db.Queries) ([]uuid.UUID, error) {
	members, err := q.MemberHubSpotWriteDueWorkspaces(ctx, 100)
	if err != nil {
		return nil, err
	}
	referrals, err := q.ReferralHubSpotWriteDueWorkspaces(ctx, 100)
	if err != nil {
		return members, err
	}
	for _, ws := range referrals {
		if !slices.Contains(members, ws) {
			members = append(members, ws)
		}
	}
	return members, nil
}

// nextDue is how long until the next mark falls due (-1: none waiting).
func (w *HubSpotWriter) nextDue(ctx context.Context, q *db.Queries) (time.Duration, error) {
	m, err := q.MemberHubSpotWriteNextDue(ctx)
	if err != nil {
		return 0, err
	}
	r, err := q.ReferralHubSpotWriteNextDue(ctx)
	if err != nil {
		return 0, err
	}
	switch {
	case m < 0 && r < 0:
		return -1, nil
	case m < 0:
		m = r
	case r >= 0:
		m = min(m, r)
	}
	return time.Duration(m) * time.Millisecond, nil
}
