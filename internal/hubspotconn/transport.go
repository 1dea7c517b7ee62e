package hubspotconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/db"
)

// apiTransport carries the CRM calls of a workspace's client (Client). It
// records a 2xx answer as the connection's last successful API call, and it
// handles a 401.
//
// HubSpot says a 401 is no signal to refresh: tokens are refreshed on
// expires_in (Token does, RefreshMargin ahead). A 401 to a token believed
// good means the grant is gone (the app uninstalled, access revoked) or this
// access token alone was invalidated, and one refresh tells the two apart,
// so that a dead connection shows as broken instead of failing call after
// call while its status says connected:
//   - the token is refreshed once (by one caller per workspace: a caller
//     whose token another caller already replaced takes the new one);
//     HubSpot refusing the refresh token breaks the connection (refresh);
//   - the call is sent again with the fresh token, after waiting on the
//     limiter like any call (a 401 means HubSpot did nothing, so resending
//     is safe);
//   - a 401 to the fresh token too breaks the connection with a reason
//     saying so, unless it was reconnected meanwhile.
//
// Either way the call fails with an error wrapping a *BrokenError (and so
// hubspot.ErrConnectionBroken), which activities see as the non-retryable
// HubSpotConnectionBroken. A refresh that fails for a passing reason (HubSpot
// or the database unreachable) fails the call with that error, which is
// retried.
type apiTransport struct {
	base     http.RoundTripper
	m        *Manager
	ws       uuid.UUID
	portalID int64
}

func (t *apiTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return t.afterUnauthorized(req, resp)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		t.m.touch(req.Context(), t.ws)
	}
	return resp, nil
}

// afterUnauthorized refreshes the token the request carried and sends it
// once more (see apiTransport).
func (t *apiTransport) afterUnauthorized(req *http.Request, resp *http.Response) (*http.Response, error) {
	ctx := req.Context()
	discard(resp)
	rejected, _ := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	tok, err := t.m.refreshOnce(ctx, t.ws, rejected)
	if err != nil {
		return nil, err
	}
	again := req.Clone(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return nil, fmt.Errorf("HubSpot answered 401 and the request cannot be sent again")
		}
		if again.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	tok.SetAuthHeader(again)
	if err := t.m.limiter.Wait(ctx, t.portalID, false); err != nil {
		return nil, fmt.Errorf("waiting for the rate limiter to resend after a 401: %w", err)
	}
	resp, err = t.base.RoundTrip(again)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		if err == nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			t.m.touch(ctx, t.ws)
		}
		return resp, err
	}
	reason := "HubSpot refused a freshly refreshed access token (" + unauthorizedSummary(resp) + "); the app's access to the portal may have been revoked"
	return nil, t.m.breakIfToken(ctx, t.ws, tok.AccessToken, reason)
}

// breakIfToken marks the connection broken with the reason, unless its
// access token is no longer token (it was reconnected meanwhile: the new
// connection is not judged by the old token). It returns the *BrokenError
// calls fail with.
func (m *Manager) breakIfToken(ctx context.Context, ws uuid.UUID, token, reason string) error {
	broken := &BrokenError{WorkspaceID: ws, Reason: reason}
	tx, err := m.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("mark HubSpot connection broken: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	q := m.q.WithTx(tx)
	conn, err := q.HubSpotConnectionLock(ctx, ws)
	if errors.Is(err, pgx.ErrNoRows) {
		return notConnected(ws)
	}
	if err != nil {
		return fmt.Errorf("lock HubSpot connection: %w", err)
	}
	if _, _, err := m.storedToken(conn); err != nil {
		return err // broken or disconnected already
	}
	stored, err := m.box.Open(conn.AccessTokenCiphertext, additional(ws))
	if err != nil {
		return fmt.Errorf("decrypt the HubSpot access token of workspace %s: %w", ws, err)
	}
	if string(stored) != token {
		return fmt.Errorf("HubSpot answered 401 while the connection was being renewed; try again")
	}
	if _, err := q.HubSpotConnectionMarkBroken(ctx, db.HubSpotConnectionMarkBrokenParams{WorkspaceID: ws, BrokenReason: &reason}); err != nil {
		return fmt.Errorf("mark HubSpot connection broken: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("mark HubSpot connection broken: %w", err)
	}
	m.logger.WarnContext(ctx, "HubSpot connection broken: a fresh access token was refused", "workspace_id", ws.String(), "portal_id", conn.PortalID, "reason", reason)
	return broken
}

// unauthorizedSummary is what HubSpot's 401 body says: status, category,
// message and correlation ID (never a token: HubSpot does not echo it).
func unauthorizedSummary(resp *http.Response) string {
	defer discard(resp)
	var body struct {
		Message       string `json:"message"`
		Category      string `json:"category"`
		CorrelationID string `json:"correlationId"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = json.Unmarshal(raw, &body)
	out := "HTTP 401"
	if body.Category != "" {
		out += " " + body.Category
	}
	if body.Message != "" {
		out += ": " + truncate(body.Message, 200)
	}
	if body.CorrelationID != "" {
		out += "; correlation ID " + body.CorrelationID
	}
	return out
}

// discard drains and closes a response the caller does not pass on.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}
