package hubspotconn

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/referflow/referflow/internal/hubspot"
)

// JournalClient returns a client for HubSpot's webhooks journal on behalf of
// the workspace's portal, and the portal's ID. The journal is the app's, not
// the portal's: its calls carry a client-credentials token of the app (the
// OAuth app's HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET, with
// hubspot.JournalScopes), fetched from the token endpoint and reused until
// it expires, one per process. They wait on the portal's limiter like its
// CRM calls, so the journal shares the portal's budget. A workspace that is
// not connected or broken fails at once (wrapping hubspot.ErrConnectionBroken);
// no app credentials is ErrNotConfigured (a private-app install cannot use
// the journal).
func (m *Manager) JournalClient(ctx context.Context, workspaceID uuid.UUID) (*hubspot.Client, int64, error) {
	if m.oauth == nil {
		return nil, 0, ErrNotConfigured
	}
	conn, err := m.q.HubSpotConnectionGetByWorkspace(ctx, workspaceID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, notConnected(workspaceID)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("load HubSpot connection: %w", err)
	}
	if _, _, err := m.storedToken(conn); err != nil {
		return nil, 0, err
	}
	c := hubspot.New(m.baseURL, m.appTokens(), hubspot.WithHTTPClient(m.http),
		hubspot.WithLimiter(m.limiter, conn.PortalID), hubspot.WithMetrics(m.metrics))
	return c, conn.PortalID, nil
}

// appTokens is the process's source of client-credentials tokens.
func (m *Manager) appTokens() oauth2.TokenSource {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.appTokenSource == nil {
		cc := clientcredentials.Config{
			ClientID: m.oauth.ClientID, ClientSecret: m.oauth.ClientSecret,
			TokenURL: m.oauth.Endpoint.TokenURL, Scopes: hubspot.JournalScopes,
			AuthStyle: oauth2.AuthStyleInParams,
		}
		m.appTokenSource = cc.TokenSource(m.oauthContext(context.Background()))
	}
	return m.appTokenSource
}
