package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
)

// EnsurePropertiesInput names the object type whose referflow properties
// must exist in a workspace's portal.
type EnsurePropertiesInput struct {
	WorkspaceID string
	// PortalID is the portal the setup was started for; a connection since
	// moved to another portal fails the activity (a new setup runs for it).
	PortalID int64
	// ObjectType is the type as HubSpot's paths name it (hubspotobject's
	// Plural: contacts, deals), as it always was in this input.
	ObjectType string
}

// EnsurePropertiesResult lists what the activity created.
type EnsurePropertiesResult struct {
	Created []string
}

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
	created, err := hubspotconn.EnsureProperties(ctx, c, hubspot.ObjectType(in.ObjectType))
	if err != nil {
		return EnsurePropertiesResult{Created: created}, hubspot.TemporalError(err)
	}
	return EnsurePropertiesResult{Created: created}, nil
}
