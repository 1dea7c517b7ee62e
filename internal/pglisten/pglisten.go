// Package pglisten turns a Postgres NOTIFY channel into wake-ups for an
// outbox's dispatcher (the Sales Receiver's, the webhook deliveries'): a
// transaction that adds due rows notifies at commit, and the dispatcher
// claims them at once instead of waiting for its next poll.
package pglisten

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Listen holds a connection of its own (configured as pool's) LISTENing on
// channel (a plain identifier, one of the code's constants) and calls poke on each notification, and once each time it starts
// listening (covering what was notified while it was not), until ctx ends.
// A lost connection is logged and reopened after a pause (100 ms, doubling
// up to 5 s); the caller keeps polling meanwhile. pid, when not nil, holds
// the listening backend's PID (0 while there is none), for tests that cut
// the connection.
func Listen(ctx context.Context, pool *pgxpool.Pool, channel string, poke func(), logger *slog.Logger, pid *atomic.Uint32) {
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := listenOnce(ctx, pool, channel, poke, pid)
		if ctx.Err() != nil {
			return
		}
		logger.Warn("listening for notifications failed; polling until it is back", "channel", channel, "error", err, "retry_in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(pause*2, 5*time.Second)
	}
}

func listenOnce(ctx context.Context, pool *pgxpool.Pool, channel string, poke func(), pid *atomic.Uint32) error {
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return fmt.Errorf("LISTEN %s: %w", channel, err)
	}
	if pid != nil {
		pid.Store(conn.PgConn().PID())
		defer pid.Store(0)
	}
	poke()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		poke()
	}
}

// Waker is a wake-up channel that holds at most one pending wake-up: a
// dispatcher woken once claims every due row anyway.
type Waker chan struct{}

// NewWaker makes a Waker.
func NewWaker() Waker { return make(Waker, 1) }

// Poke wakes the dispatcher unless a wake-up is already pending.
func (w Waker) Poke() {
	select {
	case w <- struct{}{}:
	default:
	}
}
