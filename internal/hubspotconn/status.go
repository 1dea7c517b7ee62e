package hubspotconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Connection statuses shown to admins.
const (
	StatusConnected    = "connected"
	StatusBroken       = "broken"
	StatusDisconnected = "disconnected"
	StatusNotConnected = "not_connected"
)

// Property setup states.
const (
	SetupPending = "pending"
	SetupDone    = "done"
	SetupFailed  = "failed"
)

// Status is what an admin sees of the workspace's HubSpot connection.
type Status struct {
	Status   string   `json:"status"`
	PortalID int64    `json:"portal_id,omitempty"`
	Scopes   []string `json:"scopes"`
	// MissingScopes are the scopes referflow asks for that the connection
	// was not granted (empty when none is, or when not connected). The
	// connection works for what the granted scopes allow; what needs a
	// missing one fails (HubSpot answers 403) until an admin reconnects
	// granting it.
	MissingScopes  []string       `json:"missing_scopes"`
	ConnectedAt    *time.Time     `json:"connected_at"`
	ConnectedBy    *ConnectedBy   `json:"connected_by"`
	DisconnectedAt *time.Time     `json:"disconnected_at"`
	LastAPICallAt  *time.Time     `json:"last_api_call_at"`
	LastWebhookAt  *time.Time     `json:"last_webhook_at"`
	BrokenReason   *string        `json:"broken_reason"`
	PropertySetup  *PropertySetup `json:"property_setup"`
	// Configured tells whether the HubSpot app's credentials are set (a
	// connection can only be made when they are).
	Configured bool `json:"configured"`
}

// ConnectedBy is the admin who connected.
type ConnectedBy struct {
	AdminID string `json:"admin_id"`
	Email   string `json:"email,omitempty"`
}

// PropertySetup is how far creating referflow's HubSpot properties got.
type PropertySetup struct {
	Status    string     `json:"status"` // pending, done, failed
	Error     *string    `json:"error"`
	UpdatedAt *time.Time `json:"updated_at"`
}

// Status reads the workspace's connection for admins.
func (m *Manager) Status(ctx context.Context, workspaceID uuid.UUID) (Status, error) {
	conn, err := m.q.HubSpotConnectionGetByWorkspace(ctx, workspaceID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Status{Status: StatusNotConnected, Scopes: []string{}, MissingScopes: []string{}, Configured: m.Configured()}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("load HubSpot connection: %w", err)
	}
	connectedAt := conn.ConnectedAt
	st := Status{
		Status:         conn.Status,
		PortalID:       conn.PortalID,
		Scopes:         conn.Scopes,
		ConnectedAt:    &connectedAt,
		DisconnectedAt: conn.DisconnectedAt,
		LastAPICallAt:  conn.LastApiCallAt,
		LastWebhookAt:  conn.LastWebhookAt,
		BrokenReason:   conn.BrokenReason,
		PropertySetup:  &PropertySetup{Status: conn.PropertySetupStatus, Error: conn.PropertySetupError, UpdatedAt: conn.PropertySetupAt},
		Configured:     m.Configured(),
	}
	if st.Scopes == nil {
		st.Scopes = []string{}
	}
	st.MissingScopes = []string{}
	if conn.DisconnectedAt == nil && conn.Status != StatusDisconnected {
		st.MissingScopes = MissingScopes(conn.Scopes)
	}
	if conn.ConnectedBy != nil {
		st.ConnectedBy = &ConnectedBy{AdminID: strings.TrimPrefix(*conn.ConnectedBy, "admin:")}
		if id, err := uuid.Parse(st.ConnectedBy.AdminID); err == nil {
			if a, err := m.q.AdminGetByID(ctx, id); err == nil {
				st.ConnectedBy.Email = a.Email
			}
		}
	}
	return st, nil
}
