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
	Status string `json:"status"`
	// Kind is how the connection was made: KindOAuth or KindPrivateApp
	// (empty when not connected).
	Kind     string   `json:"kind,omitempty"`
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
	// PausedSyncs are the ongoing contact syncs paused when HubSpot was
	// disconnected. Reconnecting does not resume them (the portal may be
	// another one): each runs again once an admin resumes it, as
	// PausedSyncsNote says.
	PausedSyncs     []PausedSync `json:"paused_syncs"`
	PausedSyncsNote string       `json:"paused_syncs_note,omitempty"`
}

// PausedSync is a contact sync paused because HubSpot was disconnected.
type PausedSync struct {
	ID         string `json:"id"`
	CampaignID string `json:"campaign_id"`
	Reason     string `json:"reason"`
}

// pausedSyncs lists the workspace's syncs paused on a disconnect.
func (m *Manager) pausedSyncs(ctx context.Context, workspaceID uuid.UUID) ([]PausedSync, string, error) {
	rows, err := m.q.SyncListPausedByWorkspace(ctx, workspaceID)
	if err != nil {
		return nil, "", fmt.Errorf("list paused syncs: %w", err)
	}
	out := []PausedSync{}
	for _, r := range rows {
		if r.PausedReason != nil {
			out = append(out, PausedSync{ID: r.ID.String(), CampaignID: r.CampaignID.String(), Reason: *r.PausedReason})
		}
	}
	if len(out) == 0 {
		return out, "", nil
	}
	return out, fmt.Sprintf("%d contact sync(s) were paused when HubSpot was disconnected and stay paused: resume each with PATCH /api/v1/syncs/{id} {\"paused\": false}", len(out)), nil
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
		return Status{Status: StatusNotConnected, Scopes: []string{}, MissingScopes: []string{}, Configured: m.Configured(), PausedSyncs: []PausedSync{}}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("load HubSpot connection: %w", err)
	}
	connectedAt := conn.ConnectedAt
	st := Status{
		Status:         conn.Status,
		Kind:           conn.Kind,
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
		st.MissingScopes = MissingScopesFor(conn.Kind, conn.Scopes)
	}
	if st.PausedSyncs, st.PausedSyncsNote, err = m.pausedSyncs(ctx, workspaceID); err != nil {
		return Status{}, err
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
