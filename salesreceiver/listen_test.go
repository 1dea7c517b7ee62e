package salesreceiver

import (
	"context"
	"testing"
	"time"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
)

// When the listening connection is lost, the dispatcher LISTENs again on a
// new one: with polling out of the picture (an hour apart), an entry
// recorded afterwards is routed only if its notification arrives.
func TestListeningResumesAfterTheConnectionIsLost(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	disp := &Dispatcher{Pool: d.Pool, Temporal: tc.Client, TaskQueue: tc.TaskQueue, PollInterval: time.Hour}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- disp.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	first := waitPID(ctx, t, disp, 0)
	if _, err := d.Pool.Exec(ctx, "SELECT pg_terminate_backend($1)", int32(first)); err != nil {
		t.Fatal(err)
	}
	second := waitPID(ctx, t, disp, first)
	// The new connection's last statement is the LISTEN (waiting for
	// notifications sends none).
	var last string
	if err := d.Pool.QueryRow(ctx, "SELECT query FROM pg_stat_activity WHERE pid = $1", int32(second)).Scan(&last); err != nil || last != "LISTEN "+NotifyChannel {
		t.Fatalf("the new connection's last statement = %q, %v", last, err)
	}

	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	row, err := db.New(tx).SalesEntryInsert(ctx, db.SalesEntryInsertParams{
		PortalID: 4242, DedupeKey: "listen-test", SubscriptionType: "contact.creation", ObjectType: "contact",
		ObjectID: 1, OccurredAt: time.Now(), Payload: []byte(`{}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, '')", NotifyChannel); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		got, err := d.Queries.SalesEntryGetByID(ctx, row.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.DispatchedAt != nil {
			if got.Status != "ignored" {
				t.Fatalf("status %s", got.Status)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("the entry recorded after the reconnect was never routed: its notification was not heard")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitPID waits until the dispatcher listens on a backend other than not.
func waitPID(ctx context.Context, t *testing.T, d *Dispatcher, not uint32) uint32 {
	t.Helper()
	for {
		if pid := d.listenerPID.Load(); pid != 0 && pid != not {
			return pid
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the dispatcher is not listening (again)")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
