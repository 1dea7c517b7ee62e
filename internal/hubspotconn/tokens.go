package hubspotconn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/tokencrypt"
)

// tokenTimeout bounds a Token call made through TokenSource, which has no
// context of its own.
const tokenTimeout = 30 * time.Second

// BrokenError is the error of every token request on a broken connection.
// It wraps hubspot.ErrConnectionBroken.
type BrokenError struct {
	WorkspaceID uuid.UUID
	Reason      string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("HubSpot connection of workspace %s is broken (%s): an admin must reconnect HubSpot", e.WorkspaceID, e.Reason)
}

func (e *BrokenError) Unwrap() error { return hubspot.ErrConnectionBroken }

// notConnected is ErrNotConnected for token requests: nothing can succeed
// until an admin connects, so it also wraps hubspot.ErrConnectionBroken.
func notConnected(ws uuid.UUID) error {
	return fmt.Errorf("workspace %s: %w (%w)", ws, ErrNotConnected, hubspot.ErrConnectionBroken)
}

// Token returns a valid access token for the workspace's HubSpot
// connection, refreshing it when it expires within RefreshMargin.
func (m *Manager) Token(ctx context.Context, workspaceID uuid.UUID) (*oauth2.Token, error) {
	conn, err := m.q.HubSpotConnectionGetByWorkspace(ctx, workspaceID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notConnected(workspaceID)
	}
	if err != nil {
		return nil, fmt.Errorf("load HubSpot connection: %w", err)
	}
	if tok, fresh, err := m.storedToken(conn); err != nil || fresh {
		return tok, err
	}
	return m.refreshOnce(ctx, workspaceID, "")
}

// refreshOnce refreshes the workspace's access token, one caller at a time
// per workspace in this process (the row lock in refresh does the same
// across processes). A stored token good for longer than RefreshMargin is
// returned instead, unless it is rejected: the token HubSpot just refused.
func (m *Manager) refreshOnce(ctx context.Context, ws uuid.UUID, rejected string) (*oauth2.Token, error) {
	sem := m.refreshSemaphore(ws)
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-sem }()
	return m.refresh(ctx, ws, rejected)
}

func (m *Manager) refreshSemaphore(ws uuid.UUID) chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	sem, ok := m.refreshes[ws]
	if !ok {
		sem = make(chan struct{}, 1)
		m.refreshes[ws] = sem
	}
	return sem
}

// storedToken returns the stored access token when it is good for longer
// than RefreshMargin (fresh), nothing when it needs a refresh, and an error
// when the connection cannot give tokens.
func (m *Manager) storedToken(conn db.HubspotConnection) (*oauth2.Token, bool, error) {
	switch {
	case conn.DisconnectedAt != nil || conn.Status == "disconnected":
		return nil, false, notConnected(conn.WorkspaceID)
	case conn.Status == "broken":
		return nil, false, &BrokenError{WorkspaceID: conn.WorkspaceID, Reason: deref(conn.BrokenReason)}
	case conn.Kind == KindPrivateApp && conn.AccessTokenCiphertext != nil:
		// A private app's token does not expire: always fresh.
		access, err := m.box.Open(conn.AccessTokenCiphertext, additional(conn.WorkspaceID))
		if err != nil {
			return nil, false, fmt.Errorf("decrypt the HubSpot access token of workspace %s: %w", conn.WorkspaceID, err)
		}
		return &oauth2.Token{AccessToken: string(access), TokenType: "Bearer"}, true, nil
	case conn.AccessTokenCiphertext == nil || conn.RefreshTokenCiphertext == nil:
		return nil, false, notConnected(conn.WorkspaceID)
	}
	if conn.AccessTokenExpiresAt == nil || !conn.AccessTokenExpiresAt.After(m.now().Add(RefreshMargin)) {
		return nil, false, nil
	}
	access, err := m.box.Open(conn.AccessTokenCiphertext, additional(conn.WorkspaceID))
	if err != nil {
		return nil, false, fmt.Errorf("decrypt the HubSpot access token of workspace %s: %w", conn.WorkspaceID, err)
	}
	return &oauth2.Token{AccessToken: string(access), TokenType: "Bearer", Expiry: *conn.AccessTokenExpiresAt}, true, nil
}

// refresh refreshes the access token under the connection's row lock,
// unless another process did while this one waited for the lock (the stored
// token is then fresh and not the rejected one).
func (m *Manager) refresh(ctx context.Context, ws uuid.UUID, rejected string) (*oauth2.Token, error) {
	tx, err := m.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("refresh HubSpot token: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	q := m.q.WithTx(tx)
	conn, err := q.HubSpotConnectionLock(ctx, ws)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notConnected(ws)
	}
	if err != nil {
		return nil, fmt.Errorf("lock HubSpot connection: %w", err)
	}
	if tok, fresh, err := m.storedToken(conn); err != nil || (fresh && tok.AccessToken != rejected) {
		return tok, err
	}
	if conn.Kind == KindPrivateApp {
		// Nothing to refresh: HubSpot refused the private app's token
		// (rotated, or the private app deleted). It stays broken until an
		// admin saves a new one.
		reason := "HubSpot refused the private app's access token (HTTP 401); it may have been rotated or the private app deleted: an admin saves a new token"
		if _, err := q.HubSpotConnectionMarkBroken(ctx, db.HubSpotConnectionMarkBrokenParams{WorkspaceID: ws, BrokenReason: &reason}); err != nil {
			return nil, fmt.Errorf("mark HubSpot connection broken: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return nil, fmt.Errorf("mark HubSpot connection broken: %w", err)
		}
		m.logger.WarnContext(ctx, "HubSpot connection broken: the private app's access token was refused", "workspace_id", ws.String(), "portal_id", conn.PortalID, "reason", reason)
		return nil, &BrokenError{WorkspaceID: ws, Reason: reason}
	}
	if m.oauth == nil {
		return nil, fmt.Errorf("refresh the HubSpot access token of workspace %s: %w", ws, ErrNotConfigured)
	}
	rt, err := m.box.Open(conn.RefreshTokenCiphertext, additional(ws))
	if err != nil {
		return nil, fmt.Errorf("decrypt the HubSpot refresh token of workspace %s: %w", ws, err)
	}
	// The token source refreshes because it holds no access token.
	tok, err := m.oauth.TokenSource(m.oauthContext(ctx), &oauth2.Token{RefreshToken: string(rt)}).Token()
	if err != nil {
		failure := oauthFailure("refresh the access token", err)
		var he *HubSpotError
		if errors.As(failure, &he) && (he.Code == "invalid_grant" || he.Status == "BAD_REFRESH_TOKEN") {
			reason := he.Error() + "; the app may have been uninstalled from the portal or its access revoked"
			if _, err := q.HubSpotConnectionMarkBroken(ctx, db.HubSpotConnectionMarkBrokenParams{WorkspaceID: ws, BrokenReason: &reason}); err != nil {
				return nil, fmt.Errorf("mark HubSpot connection broken: %w", err)
			}
			if err := tx.Commit(ctx); err != nil {
				return nil, fmt.Errorf("mark HubSpot connection broken: %w", err)
			}
			m.logger.WarnContext(ctx, "HubSpot connection broken: refresh token refused", "workspace_id", ws.String(), "portal_id", conn.PortalID, "reason", reason)
			return nil, &BrokenError{WorkspaceID: ws, Reason: reason}
		}
		return nil, fmt.Errorf("workspace %s: %w", ws, failure)
	}
	newRefresh := tok.RefreshToken
	if newRefresh == "" {
		newRefresh = string(rt)
	}
	access, refresh, keyID, err := m.seal(ws, tok.AccessToken, newRefresh)
	if err != nil {
		return nil, err
	}
	expires := m.expiry(tok)
	if _, err := q.HubSpotConnectionUpdateTokens(ctx, db.HubSpotConnectionUpdateTokensParams{
		WorkspaceID: ws, AccessTokenCiphertext: access, RefreshTokenCiphertext: refresh,
		EncryptionKeyID: &keyID, AccessTokenExpiresAt: &expires,
	}); err != nil {
		return nil, fmt.Errorf("store refreshed HubSpot tokens: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("store refreshed HubSpot tokens: %w", err)
	}
	return &oauth2.Token{AccessToken: tok.AccessToken, TokenType: "Bearer", Expiry: expires}, nil
}

// TokenSource is the workspace's access tokens as an oauth2.TokenSource
// (each Token call is bounded by 30 s). Prefer Client in activities: its
// token requests follow the activity's context.
func (m *Manager) TokenSource(workspaceID uuid.UUID) oauth2.TokenSource {
	return &tokenSource{m: m, ws: workspaceID}
}

type tokenSource struct {
	m   *Manager
	ws  uuid.UUID
	ctx context.Context // nil: a fresh bounded context per call
}

func (s *tokenSource) Token() (*oauth2.Token, error) {
	ctx := s.ctx
	if ctx == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), tokenTimeout)
		defer cancel()
	}
	return s.m.Token(ctx, s.ws)
}

// Client returns a CRM client for the workspace's portal, valid for the
// life of ctx (an activity's): its tokens come from Token, its calls wait on
// the Manager's limiter (by default a SharedLimiter: the portal's budget
// across every process), a successful call is recorded as the connection's
// last successful API call (at most once per TouchInterval), and a 401
// refreshes the token once and retries, breaking the connection when HubSpot
// refuses the refresh or the fresh token (see apiTransport). A workspace
// that is not connected or broken fails at once with an error wrapping
// hubspot.ErrConnectionBroken.
func (m *Manager) Client(ctx context.Context, workspaceID uuid.UUID) (*hubspot.Client, int64, error) {
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
	hc := *m.http
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &apiTransport{base: base, m: m, ws: workspaceID, portalID: conn.PortalID}
	c := hubspot.New(m.baseURL, &tokenSource{m: m, ws: workspaceID, ctx: ctx},
		hubspot.WithHTTPClient(&hc), hubspot.WithLimiter(m.limiter, conn.PortalID), hubspot.WithTimeZone(portalZone(conn)), hubspot.WithMetrics(m.metrics))
	return c, conn.PortalID, nil
}

// portalZone is the connection's portal's time zone, nil when unknown.
func portalZone(conn db.HubspotConnection) *time.Location {
	if conn.PortalTimeZone == nil {
		return nil
	}
	return hubspot.Account{TimeZone: *conn.PortalTimeZone}.Location()
}

func (m *Manager) touch(ctx context.Context, ws uuid.UUID) {
	now := m.now().UTC()
	m.mu.Lock()
	last, ok := m.touched[ws]
	due := !ok || now.Sub(last) >= TouchInterval || now.Before(last)
	if due {
		m.touched[ws] = now
	}
	m.mu.Unlock()
	if !due {
		return
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := m.q.HubSpotConnectionTouch(tctx, db.HubSpotConnectionTouchParams{WorkspaceID: ws, LastApiCallAt: &now}); err != nil {
		m.logger.WarnContext(ctx, "record last HubSpot API call", "workspace_id", ws.String(), "error", err.Error())
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// OpenStoredTokens tells whether box opens the connection's stored tokens.
// An error wrapping tokencrypt.ErrUnknownKey means they were sealed with a
// key REFERFLOW_ENCRYPTION_KEY no longer lists: the connection will fail at
// its next refresh. `referflow doctor` asks this of every live connection.
func OpenStoredTokens(box *tokencrypt.Box, conn db.HubspotConnection) error {
	for _, sealed := range []struct {
		what string
		text []byte
	}{{"refresh", conn.RefreshTokenCiphertext}, {"access", conn.AccessTokenCiphertext}} {
		if sealed.text == nil {
			continue
		}
		if _, err := box.Open(sealed.text, additional(conn.WorkspaceID)); err != nil {
			return fmt.Errorf("the %s token cannot be decrypted: %w", sealed.what, err)
		}
	}
	return nil
}
