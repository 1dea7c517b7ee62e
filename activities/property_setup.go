package activities

import (
	"context"
	"fmt"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspotconn"
)

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
