package hubspotconn

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/oauth2"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspot"
)

// activePortalIndex is the unique index that lets a portal be connected to
// one workspace at a time.
const activePortalIndex = "hubspot_connections_active_portal_key"

// Start begins a connect flow for the admin's workspace and returns the URL
// of HubSpot's authorize page to send the browser to.
func (m *Manager) Start(ctx context.Context, admin db.Admin) (string, error) {
	if m.oauth == nil {
		return "", ErrNotConfigured
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate OAuth state: %w", err)
	}
	state := base64.RawURLEncoding.EncodeToString(raw)
	now := m.now().UTC()
	if err := m.q.OAuthStateCreate(ctx, db.OAuthStateCreateParams{
		StateHash: hashState(state), AdminID: admin.ID, WorkspaceID: admin.WorkspaceID,
		CreatedAt: now, ExpiresAt: now.Add(StateTTL),
	}); err != nil {
		return "", fmt.Errorf("record OAuth state: %w", err)
	}
	// Housekeeping: states a day past their expiry are of no further use.
	if _, err := m.q.OAuthStateDeleteStale(ctx, now.Add(-24*time.Hour)); err != nil {
		m.logger.WarnContext(ctx, "delete stale OAuth states", "error", err.Error())
	}
	return m.oauth.AuthCodeURL(state), nil
}

func hashState(state string) []byte {
	sum := sha256.Sum256([]byte(state))
	return sum[:]
}

// Abandon consumes a state without connecting (the admin declined on
// HubSpot's page), so the link cannot be used afterwards. Errors are
// ignored: there is nothing to undo.
func (m *Manager) Abandon(ctx context.Context, admin db.Admin, state string) {
	if state == "" {
		return
	}
	_, _ = m.q.OAuthStateConsume(ctx, db.OAuthStateConsumeParams{Now: m.now().UTC(), StateHash: hashState(state), AdminID: admin.ID})
}

// consumeState marks the state used, or says why it cannot be.
func (m *Manager) consumeState(ctx context.Context, admin db.Admin, state string) (db.OauthState, error) {
	hash := hashState(state)
	st, err := m.q.OAuthStateConsume(ctx, db.OAuthStateConsumeParams{Now: m.now().UTC(), StateHash: hash, AdminID: admin.ID})
	if err == nil {
		return st, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return db.OauthState{}, fmt.Errorf("consume OAuth state: %w", err)
	}
	st, err = m.q.OAuthStateGet(ctx, hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return db.OauthState{}, ErrStateUnknown
	case err != nil:
		return db.OauthState{}, fmt.Errorf("look up OAuth state: %w", err)
	case st.AdminID != admin.ID:
		return db.OauthState{}, ErrStateOtherAdmin
	case st.UsedAt != nil:
		return db.OauthState{}, ErrStateUsed
	default:
		return db.OauthState{}, ErrStateExpired
	}
}

// Complete finishes a connect flow: HubSpot sent the browser back with code
// and state. It returns the stored connection.
func (m *Manager) Complete(ctx context.Context, admin db.Admin, state, code string) (db.HubspotConnection, error) {
	if m.oauth == nil {
		return db.HubspotConnection{}, ErrNotConfigured
	}
	st, err := m.consumeState(ctx, admin, state)
	if err != nil {
		return db.HubspotConnection{}, err
	}
	tok, err := m.oauth.Exchange(m.oauthContext(ctx), code)
	if err != nil {
		return db.HubspotConnection{}, oauthFailure("exchange the authorization code", err)
	}
	if tok.RefreshToken == "" {
		return db.HubspotConnection{}, &HubSpotError{Op: "exchange the authorization code", Description: "the answer held no refresh token"}
	}
	info, err := m.introspect(ctx, tok.AccessToken)
	if err != nil {
		return db.HubspotConnection{}, err
	}
	ws := st.WorkspaceID

	if other, err := m.q.HubSpotConnectionGetActiveByPortal(ctx, info.HubID); err == nil && other.WorkspaceID != ws {
		return db.HubspotConnection{}, &PortalTakenError{PortalID: info.HubID, WorkspaceID: other.WorkspaceID}
	} else if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return db.HubspotConnection{}, fmt.Errorf("look up portal %d: %w", info.HubID, err)
	}

	access, refresh, keyID, err := m.seal(ws, tok.AccessToken, tok.RefreshToken)
	if err != nil {
		return db.HubspotConnection{}, err
	}
	connectedBy := "admin:" + admin.ID.String()
	expires := m.expiry(tok)
	reset := m.portalWasReset(ctx, ws, info.HubID, tok.AccessToken)
	conn, previous, err := m.store(ctx, reset, db.HubSpotConnectionUpsertParams{
		WorkspaceID: ws, PortalID: info.HubID, Kind: new(KindOAuth), Scopes: info.Scopes,
		AccessTokenCiphertext: access, RefreshTokenCiphertext: refresh, EncryptionKeyID: &keyID,
		AccessTokenExpiresAt: &expires, ConnectedBy: &connectedBy,
		PortalTimeZone: m.portalTimeZone(ctx, ws, info.HubID, tok.AccessToken),
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == activePortalIndex {
		// Another workspace connected the portal since the check above.
		other, lookupErr := m.q.HubSpotConnectionGetActiveByPortal(ctx, info.HubID)
		if lookupErr != nil {
			return db.HubspotConnection{}, fmt.Errorf("portal %d is connected to another workspace", info.HubID)
		}
		return db.HubspotConnection{}, &PortalTakenError{PortalID: info.HubID, WorkspaceID: other.WorkspaceID}
	}
	if err != nil {
		return db.HubspotConnection{}, fmt.Errorf("store HubSpot connection: %w", err)
	}
	if missing := MissingScopes(info.Scopes); len(missing) > 0 {
		m.logger.WarnContext(ctx, "HubSpot connected without some of the scopes referflow asks for; what needs them will fail until an admin reconnects granting them",
			"workspace_id", ws.String(), "portal_id", info.HubID, "missing_scopes", missing)
	}
	if previous != nil && previous.PortalID != info.HubID {
		m.revokePrevious(ctx, *previous, info.HubID)
	}
	return conn, nil
}

// portalTimeZone asks HubSpot for the portal's time zone (its account
// details), where HubSpot resets the portal's daily API limit. Best effort:
// a connection whose zone is unknown works, its DAILY waits estimated in
// UTC, so a failure is logged and gives nil.
func (m *Manager) portalTimeZone(ctx context.Context, ws uuid.UUID, portalID int64, accessToken string) *string {
	c := hubspot.New(m.baseURL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: accessToken}),
		hubspot.WithHTTPClient(m.http), hubspot.WithLimiter(m.limiter, portalID))
	account, err := c.AccountDetails(ctx)
	if err == nil && (account.PortalID != portalID || strings.TrimSpace(account.TimeZone) == "") {
		err = fmt.Errorf("HubSpot's account details name portal %d and time zone %q", account.PortalID, account.TimeZone)
	}
	if err != nil {
		m.logger.WarnContext(ctx, "HubSpot portal's time zone unknown: a DAILY rate limit will be waited out to midnight UTC",
			"workspace_id", ws.String(), "portal_id", portalID, "error", err.Error())
		return nil
	}
	zone := account.TimeZone
	return &zone
}

// portalWasReset tells whether the workspace is connecting again to a portal
// it had set referflow's properties up on, and referflow's property group is
// gone from it: the portal was reset (or someone deleted referflow's
// properties, and the values referflow wrote with them). A failure to tell
// is logged and taken as no.
func (m *Manager) portalWasReset(ctx context.Context, ws uuid.UUID, portalID int64, accessToken string) bool {
	old, err := m.q.HubSpotConnectionGetByWorkspace(ctx, ws)
	if err != nil || old.PortalID != portalID || old.PropertySetupStatus != SetupDone {
		return false
	}
	c := hubspot.New(m.baseURL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: accessToken}),
		hubspot.WithHTTPClient(m.http), hubspot.WithLimiter(m.limiter, portalID))
	_, err = c.GetPropertyGroup(ctx, hubspot.Contacts, PropertyGroup.Name)
	var notFound *hubspot.NotFoundError
	switch {
	case errors.As(err, &notFound):
		m.logger.WarnContext(ctx, "HubSpot portal was reset: referflow's properties are gone from a portal it had set up; the workspace's referrals forget the records they held",
			"workspace_id", ws.String(), "portal_id", portalID)
		return true
	case err != nil:
		m.logger.WarnContext(ctx, "could not tell whether the HubSpot portal was reset", "workspace_id", ws.String(), "portal_id", portalID, "error", err.Error())
	}
	return false
}

// store records the new connection, under the lock of the workspace's
// previous connection row when there is one, so that no refresh of the
// previous tokens lands in between; when the portal was reset, OnPortalReset
// runs in the same transaction. It returns the previous connection when it
// still held tokens (it was neither disconnected nor emptied).
func (m *Manager) store(ctx context.Context, reset bool, arg db.HubSpotConnectionUpsertParams) (db.HubspotConnection, *db.HubspotConnection, error) {
	tx, err := m.pool.Begin(ctx)
	if err != nil {
		return db.HubspotConnection{}, nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	q := m.q.WithTx(tx)
	var previous *db.HubspotConnection
	old, err := q.HubSpotConnectionLock(ctx, arg.WorkspaceID)
	switch {
	case err == nil:
		if old.DisconnectedAt == nil && old.RefreshTokenCiphertext != nil {
			previous = &old
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return db.HubspotConnection{}, nil, err
	}
	conn, err := q.HubSpotConnectionUpsert(ctx, arg)
	if err != nil {
		return db.HubspotConnection{}, nil, err
	}
	if reset && m.onReset != nil {
		if err := m.onReset(ctx, q, arg.WorkspaceID, arg.PortalID); err != nil {
			return db.HubspotConnection{}, nil, fmt.Errorf("forget the records of the reset portal: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return db.HubspotConnection{}, nil, err
	}
	return conn, previous, nil
}

// revokePrevious revokes, best effort, the refresh token of the portal a
// workspace was connected to before an admin connected it to another portal,
// so that referflow keeps no access to a portal it no longer serves. Failing
// is logged (never with the token): an admin can uninstall the app in that
// portal.
func (m *Manager) revokePrevious(ctx context.Context, previous db.HubspotConnection, newPortalID int64) {
	log := func(msg string, err error) {
		m.logger.WarnContext(ctx, msg, "workspace_id", previous.WorkspaceID.String(),
			"previous_portal_id", previous.PortalID, "portal_id", newPortalID, "error", err.Error())
	}
	if m.oauth == nil {
		log("HubSpot refresh token of the previously connected portal not revoked", ErrNotConfigured)
		return
	}
	rt, err := m.box.Open(previous.RefreshTokenCiphertext, additional(previous.WorkspaceID))
	if err != nil {
		log("HubSpot refresh token of the previously connected portal not revoked: it cannot be decrypted", err)
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := m.revoke(rctx, string(rt)); err != nil {
		log("HubSpot refresh token of the previously connected portal not revoked", err)
		return
	}
	m.logger.InfoContext(ctx, "revoked the HubSpot refresh token of the previously connected portal",
		"workspace_id", previous.WorkspaceID.String(), "previous_portal_id", previous.PortalID, "portal_id", newPortalID)
}

// MissingScopes lists the scopes referflow asks for (Scopes) that granted
// lacks, in Scopes' order; empty when none is missing.
func MissingScopes(granted []string) []string {
	missing := []string{}
	for _, s := range Scopes {
		if !slices.Contains(granted, s) {
			missing = append(missing, s)
		}
	}
	return missing
}

// expiry is when an access token from HubSpot expires (30 minutes when the
// answer did not say).
func (m *Manager) expiry(tok *oauth2.Token) time.Time {
	if in, ok := tok.Extra("expires_in").(float64); ok && in > 0 {
		return m.now().UTC().Add(time.Duration(in) * time.Second)
	}
	if !tok.Expiry.IsZero() {
		return tok.Expiry.UTC()
	}
	return m.now().UTC().Add(30 * time.Minute)
}

func (m *Manager) seal(ws uuid.UUID, access, refresh string) (accessCT, refreshCT []byte, keyID string, err error) {
	ad := additional(ws)
	if accessCT, err = m.box.Seal([]byte(access), ad); err != nil {
		return nil, nil, "", fmt.Errorf("encrypt access token: %w", err)
	}
	if refreshCT, err = m.box.Seal([]byte(refresh), ad); err != nil {
		return nil, nil, "", fmt.Errorf("encrypt refresh token: %w", err)
	}
	return accessCT, refreshCT, m.box.KeyID(), nil
}

// TokenInfo is what introspection says about a token.
type TokenInfo struct {
	Active bool     `json:"active"`
	HubID  int64    `json:"hub_id"`
	Scopes []string `json:"scopes"`
	AppID  int64    `json:"app_id"`
	User   string   `json:"user"`
}

// introspect asks HubSpot which portal and scopes an access token has
// (POST /oauth/2026-03/token/introspect, form-encoded).
func (m *Manager) introspect(ctx context.Context, accessToken string) (TokenInfo, error) {
	const op = "introspect the access token"
	form := url.Values{
		"token": {accessToken}, "token_type_hint": {"access_token"},
		"client_id": {m.oauth.ClientID}, "client_secret": {m.oauth.ClientSecret},
	}
	status, body, err := m.postForm(ctx, "/oauth/"+hubspot.APIVersion+"/token/introspect", form)
	if err != nil {
		return TokenInfo{}, fmt.Errorf("%s: %w", op, err)
	}
	if status != http.StatusOK {
		return TokenInfo{}, oauthBodyError(op, status, body)
	}
	var info TokenInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return TokenInfo{}, &HubSpotError{Op: op, StatusCode: status, Description: "the answer is not the expected JSON"}
	}
	if !info.Active || info.HubID <= 0 {
		return TokenInfo{}, &HubSpotError{Op: op, StatusCode: status, Description: "HubSpot says the new access token is not active"}
	}
	return info, nil
}

// revoke deletes a refresh token at HubSpot (POST /oauth/2026-03/token/revoke).
func (m *Manager) revoke(ctx context.Context, refreshToken string) error {
	const op = "revoke the refresh token"
	form := url.Values{
		"token": {refreshToken}, "token_type_hint": {"refresh_token"},
		"client_id": {m.oauth.ClientID}, "client_secret": {m.oauth.ClientSecret},
	}
	status, body, err := m.postForm(ctx, "/oauth/"+hubspot.APIVersion+"/token/revoke", form)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if status < 200 || status > 299 {
		return oauthBodyError(op, status, body)
	}
	return nil
}

// postForm sends a form to HubSpot. Its errors never hold the form (it
// carries tokens and the client secret).
func (m *Manager) postForm(ctx context.Context, path string, form url.Values) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.baseURL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := m.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = fmt.Errorf("POST %s: %w", path, ue.Err)
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// oauthErrorBody is HubSpot's OAuth error answer.
type oauthErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Status           string `json:"status"`
	Message          string `json:"message"`
}

func oauthBodyError(op string, status int, body []byte) *HubSpotError {
	var b oauthErrorBody
	_ = json.Unmarshal(body, &b)
	desc := b.ErrorDescription
	if desc == "" {
		desc = b.Message
	}
	return &HubSpotError{Op: op, StatusCode: status, Code: b.Error, Status: b.Status, Description: truncate(desc, 300)}
}

// oauthFailure turns an error of the oauth2 package into one that never
// repeats HubSpot's raw answer.
func oauthFailure(op string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		e := oauthBodyError(op, 0, re.Body)
		if re.Response != nil {
			e.StatusCode = re.Response.StatusCode
		}
		if e.Code == "" {
			e.Code = re.ErrorCode
		}
		if e.Description == "" {
			e.Description = truncate(re.ErrorDescription, 300)
		}
		return e
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %s %s: %w", op, ue.Op, redactURL(ue.URL), ue.Err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(url)"
	}
	u.RawQuery = ""
	return u.String()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// DisconnectResult says what disconnecting did.
type DisconnectResult struct {
	Connection db.HubspotConnection
	// Revoked tells whether HubSpot deleted the refresh token; when it did
	// not, RevokeError says why (the connection is disconnected anyway).
	Revoked     bool
	RevokeError string
}

// Disconnect revokes the workspace's refresh token at HubSpot, marks the
// connection disconnected (forgetting its tokens, keeping every other row)
// and runs the OnDisconnect hooks. Failing to reach HubSpot does not keep
// the connection: the result says so, and an admin can uninstall the app in
// HubSpot.
func (m *Manager) Disconnect(ctx context.Context, workspaceID uuid.UUID) (DisconnectResult, error) {
	conn, err := m.q.HubSpotConnectionGetByWorkspace(ctx, workspaceID)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && conn.DisconnectedAt != nil {
		return DisconnectResult{}, ErrNotConnected
	}
	if err != nil {
		return DisconnectResult{}, fmt.Errorf("load HubSpot connection: %w", err)
	}
	var res DisconnectResult
	switch {
	case conn.Kind == KindPrivateApp:
		res.RevokeError = "referflow cannot revoke a private app's access token: rotate the token or delete the private app in HubSpot (Settings › Integrations › Private apps)"
	case m.oauth == nil:
		res.RevokeError = "HubSpot app credentials are not configured, so HubSpot could not be asked to revoke the token"
	case conn.RefreshTokenCiphertext == nil:
		res.RevokeError = "no refresh token is stored"
	default:
		rt, err := m.box.Open(conn.RefreshTokenCiphertext, additional(workspaceID))
		if err != nil {
			res.RevokeError = "the stored refresh token cannot be decrypted: " + err.Error()
			break
		}
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = m.revoke(rctx, string(rt))
		cancel()
		if err != nil {
			res.RevokeError = err.Error()
		} else {
			res.Revoked = true
		}
	}
	if res.RevokeError != "" && conn.Kind != KindPrivateApp {
		m.logger.WarnContext(ctx, "HubSpot refresh token not revoked on disconnect", "workspace_id", workspaceID.String(), "reason", res.RevokeError)
	}
	res.Connection, err = m.q.HubSpotConnectionDisconnect(ctx, workspaceID)
	if errors.Is(err, pgx.ErrNoRows) {
		return DisconnectResult{}, ErrNotConnected
	}
	if err != nil {
		return DisconnectResult{}, fmt.Errorf("mark HubSpot connection disconnected: %w", err)
	}
	m.hookMu.Lock()
	hooks := append([]DisconnectHook(nil), m.onDisconnect...)
	m.hookMu.Unlock()
	for _, h := range hooks {
		if err := h(ctx, workspaceID); err != nil {
			m.logger.WarnContext(ctx, "disconnect hook failed", "workspace_id", workspaceID.String(), "error", err.Error())
		}
	}
	return res, nil
}
