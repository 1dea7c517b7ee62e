package testenv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/google/uuid"

	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/tokencrypt"
)

// HubSpotWorld is a workspace connected to a portal of an in-process HubSpot
// simulator through the real OAuth flow, with referflow's properties set up.
type HubSpotWorld struct {
	Sim      *hubspotsim.Simulator
	URL      string
	PortalID int64
	Manager  *hubspotconn.Manager
	// ManagerOptions are Manager's options, for a test that needs another
	// manager of the same connection (with metrics, say; NewManager builds
	// one).
	ManagerOptions hubspotconn.Options

	db *Database
}

// ConnectHubSpot starts a simulator and connects the workspace to a new
// portal of it, as an admin would.
// Options, when given, configure the simulator (webhook chaos, limits).
func ConnectHubSpot(t testing.TB, d *Database, workspaceID uuid.UUID, publicURL string, options ...hubspotsim.Options) *HubSpotWorld {
	t.Helper()
	ctx := context.Background()
	var opts hubspotsim.Options
	if len(options) > 0 {
		opts = options[0]
	}
	w := &HubSpotWorld{Sim: hubspotsim.New(opts)}
	srv := httptest.NewServer(w.Sim.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = w.Sim.Close() })
	w.URL = srv.URL
	w.PortalID = w.Sim.CreatePortal("Acme HubSpot").ID

	box, err := tokencrypt.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse(srv.URL)
	public, _ := url.Parse(publicURL)
	w.db = d
	w.ManagerOptions = hubspotconn.Options{
		BaseURL: base, PublicURL: public,
		ClientID: hubspotsim.DefaultClientID, ClientSecret: hubspotsim.DefaultClientSecret,
		Box: box, Limiter: hubspot.NewLimiter(hubspot.Limits{}, nil),
	}
	w.Manager = w.NewManager(t, nil)
	admin, _, err := adminauth.CreateAdmin(ctx, d.Queries, workspaceID, "ops-"+randomHex(3)+"@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	authorize, err := w.Manager.Start(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	back, err := url.Parse(HubSpotConsent(t, http.DefaultClient, authorize, w.PortalID, "allow"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Manager.Complete(ctx, admin, back.Query().Get("state"), back.Query().Get("code")); err != nil {
		t.Fatalf("connect the workspace: %v", err)
	}
	c, _, err := w.Manager.Client(ctx, workspaceID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ot := range hubspotobject.PropertyTypes {
		if _, err := hubspotconn.EnsureProperties(ctx, c, hubspot.ObjectTypeOf(ot)); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// NewManager is another connection manager over the same database, simulator
// and token key, as another process would have: ManagerOptions, edited by
// change when it is not nil (a shorter HTTP timeout; a nil Limiter for the
// production SharedLimiter instead of the world's in-process one).
func (w *HubSpotWorld) NewManager(t testing.TB, change func(*hubspotconn.Options)) *hubspotconn.Manager {
	t.Helper()
	opts := w.ManagerOptions
	if change != nil {
		change(&opts)
	}
	m, err := hubspotconn.New(w.db.Pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
