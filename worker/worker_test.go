package worker_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/salesentry"
	"github.com/referflow/referflow/salesreceiver"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.WithSearchAttributes(workflows.SearchAttributes)))
}

// A worker process routes what the webhook endpoint records: Run starts the
// Sales Receiver's dispatcher next to the Temporal workers, and returns when
// its context ends.
func TestRunDispatchesRecordedSalesEntries(t *testing.T) {
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, tc.Client, d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue})
	}()

	// A delivery from a portal no workspace has connected: recorded as it
	// comes, then marked ignored by the dispatcher, saying why.
	events, err := salesreceiver.Parse([]byte(`[{"eventId":1,"subscriptionId":2,"portalId":987654,"occurredAt":1764547200000,
		"subscriptionType":"contact.creation","attemptNumber":0,"objectId":31}]`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := salesreceiver.Record(ctx, d.Pool, events)
	if err != nil || res.Recorded != 1 {
		t.Fatalf("record = %+v, %v", res, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		row, err := d.Queries.SalesEntryGetByID(ctx, res.EntryIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		if salesentry.Status(row.Status) == salesentry.Ignored && row.DispatchedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry %d is still %s after 30 s: no dispatcher runs", row.ID, row.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v when its context ended, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
