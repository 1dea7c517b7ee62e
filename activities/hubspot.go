package activities

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// HubSpot holds the activities that call HubSpot. The worker registers them
// on the HubSpot task queue only, whose dispatch rate the Temporal server
// caps across all workers; their errors go through hubspot.TemporalError, so
// a 429 is retried after HubSpot's wait and a broken connection is not
// retried at all.
type HubSpot struct {
	Conn *hubspotconn.Manager
	// Queries reads and writes what HubSpot activities load and record (the
	// lead activities in leads.go); PublicURL is REFERFLOW_PUBLIC_URL, the
	// base of referral links (<PublicURL>/r/<code>). Both are set by the
	// worker next to Conn.
	Queries   *db.Queries
	PublicURL string
}

// NewHubSpot builds the HubSpot activities over a connection manager.
func NewHubSpot(conn *hubspotconn.Manager) *HubSpot { return &HubSpot{Conn: conn} }

// EnsurePropertiesInput names the object type whose referflow properties
// must exist in a workspace's portal.
type EnsurePropertiesInput struct {
	WorkspaceID string
	// PortalID is the portal the setup was started for; a connection since
	// moved to another portal fails the activity (a new setup runs for it).
	PortalID   int64
	ObjectType hubspotobject.Type
}

// EnsurePropertiesResult lists what the activity created.
type EnsurePropertiesResult struct {
	Created []string
}

// Error types of HubSpot activities besides hubspot's ErrorType constants.
const (
	ErrorTypeHubSpotNotConfigured = "HubSpotNotConfigured"
	ErrorTypeConnectionChanged    = "HubSpotConnectionChanged"
)

// EnsureHubSpotProperties creates referflow's property group and properties
// on one object type of the workspace's portal where they are missing.
func (h *HubSpot) EnsureHubSpotProperties(ctx context.Context, in EnsurePropertiesInput) (EnsurePropertiesResult, error) {
	if h == nil || h.Conn == nil {
		return EnsurePropertiesResult{}, temporal.NewNonRetryableApplicationError("this worker has no HubSpot connection manager", ErrorTypeHubSpotNotConfigured, nil)
	}
	ws, err := parseWorkspaceID(in.WorkspaceID)
	if err != nil {
		return EnsurePropertiesResult{}, err
	}
	c, portalID, err := h.Conn.Client(ctx, ws)
	if err != nil {
		return EnsurePropertiesResult{}, hubspot.TemporalError(err)
	}
	if portalID != in.PortalID {
		return EnsurePropertiesResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the workspace is now connected to portal %d, not %d", portalID, in.PortalID), ErrorTypeConnectionChanged, nil)
	}
	created, err := hubspotconn.EnsureProperties(ctx, c, hubspot.ObjectTypeOf(in.ObjectType))
	if err != nil {
		return EnsurePropertiesResult{Created: created}, hubspot.TemporalError(err)
	}
	return EnsurePropertiesResult{Created: created}, nil
}

// PropertySetupOutcome is how a portal's property setup ended: done, or
// failed with Error.
type PropertySetupOutcome struct {
	WorkspaceID string
	PortalID    int64
	Error       string `json:",omitempty"`
}

// RecordHubSpotPropertySetup stores a property setup's outcome on the
// connection, for the status endpoint. It runs on the workflow task queue
// (database only).
func (a *Activities) RecordHubSpotPropertySetup(ctx context.Context, out PropertySetupOutcome) error {
	ws, err := parseWorkspaceID(out.WorkspaceID)
	if err != nil {
		return err
	}
	status, msg := hubspotconn.SetupDone, (*string)(nil)
	if out.Error != "" {
		status, msg = hubspotconn.SetupFailed, &out.Error
	}
	if _, err := a.Queries.HubSpotConnectionSetPropertySetup(ctx, db.HubSpotConnectionSetPropertySetupParams{
		PropertySetupStatus: status, PropertySetupError: msg, WorkspaceID: ws, PortalID: out.PortalID,
	}); err != nil {
		return fmt.Errorf("record HubSpot property setup of workspace %s: %w", ws, err)
	}
	return nil
}

func parseWorkspaceID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%q is not a workspace ID", s), "InvalidInput", err)
	}
	return id, nil
}

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
