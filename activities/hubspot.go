package activities

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
)

// HubSpot holds the activities that call HubSpot. The worker registers them
// on the HubSpot task queue only, whose dispatch rate the Temporal server
// caps across all workers; their errors go through hubspot.TemporalError, so
// a 429 is retried after HubSpot's wait and a broken connection is not
// retried at all.
type HubSpot struct {
	Conn *hubspotconn.Manager
	// Queries reads and writes what HubSpot activities load and record (the
	// lead activities in hubspot_leads.go); PublicURL is REFERFLOW_PUBLIC_URL, the
	// base of referral links (<PublicURL>/r/<code>). Both are set by the
	// worker next to Conn.
	Queries   *db.Queries
	PublicURL string
	// Pool is for what HubSpot activities write in one transaction with
	// their members (a contact sync's page, SyncContactsPage).
	Pool *pgxpool.Pool
}

// NewHubSpot builds the HubSpot activities over a connection manager.
func NewHubSpot(conn *hubspotconn.Manager) *HubSpot { return &HubSpot{Conn: conn} }

// Error types of HubSpot activities besides hubspot's ErrorType constants.
const (
	ErrorTypeHubSpotNotConfigured = "HubSpotNotConfigured"
	ErrorTypeConnectionChanged    = "HubSpotConnectionChanged"
)

// client is the workspace's rate-limited HubSpot client, with errors already
// in the form activities return (hubspot.TemporalError); a worker without a
// connection manager fails for good, saying so.
func (h *HubSpot) client(ctx context.Context, workspaceID uuid.UUID) (*hubspot.Client, error) {
	if h == nil || h.Conn == nil {
		return nil, temporal.NewNonRetryableApplicationError("this worker's HubSpot activities have no connection manager", ErrorTypeHubSpotNotConfigured, nil)
	}
	c, _, err := h.Conn.Client(ctx, workspaceID)
	if err != nil {
		return nil, hubspot.TemporalError(err)
	}
	return c, nil
}
