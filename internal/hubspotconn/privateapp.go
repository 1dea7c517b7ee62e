package hubspotconn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/oauth2"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspot"
)

// Connection kinds: how a connection was made.
const (
	// KindOAuth: the OAuth authorization-code flow (access and refresh
	// tokens; the access token is refreshed before it expires).
	KindOAuth = "oauth"
	// KindPrivateApp: a HubSpot private app's static access token, saved by
	// an admin (self-hosted installs with one portal). It has no refresh
	// token and does not expire; HubSpot refusing it (401) breaks the
	// connection until an admin saves a new token.
	KindPrivateApp = "private_app"
)

// maxPrivateAppTokenLen bounds what is accepted as a token (HubSpot's are
// about 45 characters).
const maxPrivateAppTokenLen = 512

// PrivateAppCheckedScopes are the scopes of Scopes that saving a private
// app's token checks, each by one read HubSpot answers 403 MISSING_SCOPES
// without. HubSpot documents no way to read a private app's scopes
// (introspection is for OAuth tokens, and needs the OAuth app's
// credentials), and the write scopes cannot be checked without writing into
// the portal: crm.schemas.*.write is exercised by the property setup that
// starts on connect (its failure shows in the status), the object write
// scopes by the first lead sent. "oauth" does not apply to private apps.
var PrivateAppCheckedScopes = []string{
	"crm.objects.contacts.read",
	"crm.objects.deals.read",
	"crm.objects.companies.read",
	"crm.lists.read",
}

// TokenRefusedError is HubSpot refusing a private app's access token an
// admin saved, or the token not being one at all. Its message never holds
// the token.
type TokenRefusedError struct{ Reason string }

func (e *TokenRefusedError) Error() string {
	return "HubSpot refused this private app access token (" + e.Reason + "): copy the access token from the private app's Auth tab in HubSpot (Settings › Integrations › Private apps) and save it again"
}

// ConnectPrivateApp connects the admin's workspace with a HubSpot private
// app's access token instead of OAuth. HubSpot is asked which portal the
// token belongs to (GET /account-info/2026-03/details, which also gives the
// portal's time zone) and whether it has the scopes referflow reads with
// (PrivateAppCheckedScopes: one small read each). A token HubSpot refuses is
// a *TokenRefusedError and nothing is stored; a portal another workspace
// holds is a *PortalTakenError, as for OAuth. The token is sealed like OAuth
// tokens (kind private_app, no refresh token, no expiry). A previous OAuth
// connection of the workspace to another portal has its refresh token
// revoked, as Complete does. It never logs the token.
func (m *Manager) ConnectPrivateApp(ctx context.Context, admin db.Admin, token string) (db.HubspotConnection, error) {
	token = strings.TrimSpace(token)
	if err := checkTokenShape(token); err != nil {
		return db.HubspotConnection{}, err
	}
	ws := admin.WorkspaceID
	c := hubspot.New(m.baseURL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}), hubspot.WithHTTPClient(m.http))
	account, err := c.AccountDetails(ctx)
	if err != nil {
		return db.HubspotConnection{}, privateAppFailure("read the account the token belongs to", err)
	}
	if account.PortalID <= 0 {
		return db.HubspotConnection{}, &HubSpotError{Op: "read the account the token belongs to", Description: "the answer named no portal"}
	}
	portalID := account.PortalID
	if other, err := m.q.HubSpotConnectionGetActiveByPortal(ctx, portalID); err == nil && other.WorkspaceID != ws {
		return db.HubspotConnection{}, &PortalTakenError{PortalID: portalID, WorkspaceID: other.WorkspaceID}
	} else if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return db.HubspotConnection{}, fmt.Errorf("look up portal %d: %w", portalID, err)
	}
	c = hubspot.New(m.baseURL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
		hubspot.WithHTTPClient(m.http), hubspot.WithLimiter(m.limiter, portalID))
	scopes, err := probeScopes(ctx, c)
	if err != nil {
		return db.HubspotConnection{}, err
	}

	sealed, err := m.box.Seal([]byte(token), additional(ws))
	if err != nil {
		return db.HubspotConnection{}, fmt.Errorf("encrypt access token: %w", err)
	}
	keyID := m.box.KeyID()
	var zone *string
	if tz := strings.TrimSpace(account.TimeZone); tz != "" {
		zone = &tz
	}
	connectedBy := "admin:" + admin.ID.String()
	reset := m.portalWasReset(ctx, ws, portalID, token)
	conn, previous, err := m.store(ctx, reset, db.HubSpotConnectionUpsertParams{
		WorkspaceID: ws, PortalID: portalID, Kind: new(KindPrivateApp), Scopes: scopes,
		AccessTokenCiphertext: sealed, EncryptionKeyID: &keyID,
		ConnectedBy: &connectedBy, PortalTimeZone: zone,
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == activePortalIndex {
		other, lookupErr := m.q.HubSpotConnectionGetActiveByPortal(ctx, portalID)
		if lookupErr != nil {
			return db.HubspotConnection{}, fmt.Errorf("portal %d is connected to another workspace", portalID)
		}
		return db.HubspotConnection{}, &PortalTakenError{PortalID: portalID, WorkspaceID: other.WorkspaceID}
	}
	if err != nil {
		return db.HubspotConnection{}, fmt.Errorf("store HubSpot connection: %w", err)
	}
	if missing := MissingScopesFor(KindPrivateApp, scopes); len(missing) > 0 {
		m.logger.WarnContext(ctx, "HubSpot private app connected without some of the scopes referflow needs; what needs them will fail until the private app is given them",
			"workspace_id", ws.String(), "portal_id", portalID, "missing_scopes", missing)
	}
	if previous != nil && previous.PortalID != portalID {
		m.revokePrevious(ctx, *previous, portalID)
	}
	m.logger.InfoContext(ctx, "HubSpot connected with a private app's access token", "workspace_id", ws.String(), "portal_id", portalID)
	return conn, nil
}

// checkTokenShape refuses what cannot be an access token before it is sent
// anywhere (it goes into an Authorization header).
func checkTokenShape(token string) error {
	switch {
	case token == "":
		return &TokenRefusedError{Reason: "no token was given"}
	case len(token) > maxPrivateAppTokenLen:
		return &TokenRefusedError{Reason: fmt.Sprintf("it is longer than %d characters", maxPrivateAppTokenLen)}
	}
	for _, r := range token {
		if r <= ' ' || r > '~' {
			return &TokenRefusedError{Reason: "it holds spaces or characters an access token does not have"}
		}
	}
	return nil
}

// probeScopes checks PrivateAppCheckedScopes, one read each (a page of one
// record or list), and returns those HubSpot allowed. A 401 is a refused
// token; any other failure fails the check (nothing is stored).
func probeScopes(ctx context.Context, c *hubspot.Client) ([]string, error) {
	probes := []struct {
		scope string
		call  func() error
	}{
		{"crm.objects.contacts.read", func() error { _, err := c.List(ctx, hubspot.Contacts, hubspot.ListOptions{Limit: 1}); return err }},
		{"crm.objects.deals.read", func() error { _, err := c.List(ctx, hubspot.Deals, hubspot.ListOptions{Limit: 1}); return err }},
		{"crm.objects.companies.read", func() error { _, err := c.List(ctx, hubspot.Companies, hubspot.ListOptions{Limit: 1}); return err }},
		{"crm.lists.read", func() error { _, err := c.SearchLists(ctx, hubspot.ListSearchRequest{Count: 1}); return err }},
	}
	granted := []string{}
	for _, p := range probes {
		err := p.call()
		var forbidden *hubspot.ForbiddenError
		switch {
		case err == nil:
			granted = append(granted, p.scope)
		case errors.As(err, &forbidden):
			// Missing scope: recorded as missing, the rest still works.
		default:
			return nil, privateAppFailure("check the scope "+p.scope, err)
		}
	}
	return granted, nil
}

// privateAppFailure turns a failed call made with a saved token into a
// *TokenRefusedError (HubSpot answered 401) or an error saying what failed.
func privateAppFailure(op string, err error) error {
	var unauthorized *hubspot.UnauthorizedError
	if errors.As(err, &unauthorized) {
		reason := "HTTP 401"
		if unauthorized.Category != "" {
			reason += " " + unauthorized.Category
		}
		return &TokenRefusedError{Reason: reason}
	}
	var apiErr *hubspot.APIError
	if errors.As(err, &apiErr) {
		return &HubSpotError{Op: op, StatusCode: apiErr.StatusCode, Status: apiErr.Category, Description: truncate(apiErr.Message, 300)}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// MissingScopesFor lists the scopes a connection of the kind needs and was
// not granted: Scopes for OAuth, PrivateAppCheckedScopes for a private app
// (the only ones saving its token can check).
func MissingScopesFor(kind string, granted []string) []string {
	if kind != KindPrivateApp {
		return MissingScopes(granted)
	}
	missing := []string{}
	for _, s := range PrivateAppCheckedScopes {
		if !slices.Contains(granted, s) {
			missing = append(missing, s)
		}
	}
	return missing
}
