package hubspotconn_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// TestReconnectingToAResetPortalRunsTheResetHook: connecting again to a
// portal whose referflow properties were set up runs OnPortalReset only when
// the portal lost them (it was reset), inside the connect.
func TestReconnectingToAResetPortalRunsTheResetHook(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hubspotsim.Options{})
	var resets atomic.Int32
	w.manager = w.newManager(t, func(o *hubspotconn.Options) {
		o.OnPortalReset = func(ctx context.Context, q *db.Queries, ws uuid.UUID, portalID int64) error {
			if ws != w.workspace.ID || portalID != w.portal.ID {
				t.Errorf("hook for workspace %s portal %d", ws, portalID)
			}
			resets.Add(1)
			return nil
		}
	})
	ctx := context.Background()
	setUp := func() {
		t.Helper()
		c, _, err := w.manager.Client(ctx, w.workspace.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, ot := range hubspotobject.PropertyTypes {
			if _, err := hubspotconn.EnsureProperties(ctx, c, hubspot.ObjectTypeOf(ot)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.db.Queries.HubSpotConnectionSetPropertySetup(ctx, db.HubSpotConnectionSetPropertySetupParams{
			WorkspaceID: w.workspace.ID, PortalID: w.portal.ID, PropertySetupStatus: hubspotconn.SetupDone,
		}); err != nil {
			t.Fatal(err)
		}
	}
	w.connect(t)
	setUp()
	w.connect(t) // the properties are there: not a reset
	if n := resets.Load(); n != 0 {
		t.Fatalf("the hook ran %d times for a portal that kept referflow's properties", n)
	}
	setUp()
	if err := w.sim.ResetPortal(w.portal.ID); err != nil {
		t.Fatal(err)
	}
	w.connect(t)
	if n := resets.Load(); n != 1 {
		t.Fatalf("the hook ran %d times for a reset portal, want 1", n)
	}
	if st := w.status(t); st.Status != hubspotconn.StatusConnected {
		t.Fatalf("status %+v", st)
	}
}
