package api

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/salesentry"
	"github.com/referflow/referflow/workflows"
)

// The HubSpot connection: the OAuth connect flow (browser pages under
// /oauth/hubspot/) and the admin API's status and disconnect.

var hubspotPage = template.Must(template.New("hubspot").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · referflow</title>
<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}
.error{color:#b00020}.ok{color:#17663a}dt{font-weight:600;margin-top:.5rem}</style></head>
<body><h1 class="{{if .Error}}error{{else}}ok{{end}}">{{.Title}}</h1>
<p id="message">{{.Message}}</p>
{{if .Portal}}<dl><dt>HubSpot portal</dt><dd id="portal">{{.Portal}}</dd>
<dt>referflow properties</dt><dd id="property-setup">{{.Setup}}</dd></dl>{{end}}
<p>{{if .Retry}}<a href="/oauth/hubspot/connect">Connect HubSpot again</a> · {{end}}<a href="/admin/hubspot">The HubSpot page</a></p>
</body></html>`))

type hubspotPageData struct {
	Title, Message string
	Error, Retry   bool
	Portal         int64
	Setup          string
}

func renderHubSpotPage(c echo.Context, status int, d hubspotPageData) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().WriteHeader(status)
	return hubspotPage.Execute(c.Response(), d)
}

func hubspotErrorPage(c echo.Context, status int, msg string) error {
	return renderHubSpotPage(c, status, hubspotPageData{Title: "HubSpot was not connected", Message: msg, Error: true, Retry: true})
}

var errHubSpotUnconfigured = "HubSpot is not configured for this referflow: set HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET to your HubSpot app's credentials (its redirect URL must be <REFERFLOW_PUBLIC_URL>" + hubspotconn.CallbackPath + "), or run `referflow dev`, which starts the HubSpot simulator."

// GET /oauth/hubspot/connect: sends the admin's browser to HubSpot's
// authorize page.
func (s *Server) hubspotConnect(c echo.Context) error {
	if s.deps.HubSpot == nil || !s.deps.HubSpot.Configured() {
		return renderHubSpotPage(c, http.StatusServiceUnavailable, hubspotPageData{Title: "HubSpot is not configured", Message: errHubSpotUnconfigured, Error: true})
	}
	target, err := s.deps.HubSpot.Start(c.Request().Context(), adminFrom(c))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusFound, target)
}

// GET /oauth/hubspot/callback?code&state (or ?error=access_denied&state):
// where HubSpot sends the browser back.
func (s *Server) hubspotCallback(c echo.Context) error {
	if s.deps.HubSpot == nil || !s.deps.HubSpot.Configured() {
		return renderHubSpotPage(c, http.StatusServiceUnavailable, hubspotPageData{Title: "HubSpot is not configured", Message: errHubSpotUnconfigured, Error: true})
	}
	ctx := c.Request().Context()
	admin := adminFrom(c)
	code, state := c.QueryParam("code"), c.QueryParam("state")
	if e := c.QueryParam("error"); e != "" {
		s.deps.HubSpot.Abandon(ctx, admin, state)
		msg := "HubSpot did not grant access (" + e + "). Nothing was changed."
		if e == "access_denied" {
			msg = "You cancelled on HubSpot's page, so referflow was not connected. Nothing was changed."
		}
		return hubspotErrorPage(c, http.StatusBadRequest, msg)
	}
	if code == "" || state == "" {
		return hubspotErrorPage(c, http.StatusBadRequest, "This page needs the code and state HubSpot adds when it sends you back; open it only through /oauth/hubspot/connect.")
	}

	conn, err := s.deps.HubSpot.Complete(ctx, admin, state, code)
	var taken *hubspotconn.PortalTakenError
	var refused *hubspotconn.HubSpotError
	switch {
	case errors.Is(err, hubspotconn.ErrStateOtherAdmin):
		return hubspotErrorPage(c, http.StatusForbidden, err.Error())
	case errors.Is(err, hubspotconn.ErrStateUnknown), errors.Is(err, hubspotconn.ErrStateUsed), errors.Is(err, hubspotconn.ErrStateExpired):
		return hubspotErrorPage(c, http.StatusBadRequest, err.Error())
	case errors.As(err, &taken):
		return hubspotErrorPage(c, http.StatusConflict, err.Error())
	case errors.As(err, &refused):
		return hubspotErrorPage(c, http.StatusBadGateway, err.Error()+". Start again.")
	case err != nil:
		return err
	}

	setup := s.startHubSpotSetup(ctx, conn.WorkspaceID.String(), conn.PortalID)
	// Leads that could not be sent while HubSpot was not connected (or
	// broken) go now.
	s.wakeWaitingReferrals(ctx, conn.WorkspaceID, nil, "HubSpot connected")
	s.wakeWaitingMembers(ctx, conn.WorkspaceID, nil, "HubSpot connected")
	s.wakeWaitingSyncs(ctx, conn.WorkspaceID)
	message := "referflow is connected to your HubSpot portal."
	// Syncs paused by the disconnect stay paused until resumed: say so.
	if st, err := s.deps.HubSpot.Status(ctx, conn.WorkspaceID); err == nil && st.PausedSyncsNote != "" {
		message += " " + st.PausedSyncsNote + "."
	}
	return renderHubSpotPage(c, http.StatusOK, hubspotPageData{
		Title:   "HubSpot connected",
		Message: message,
		Portal:  conn.PortalID,
		Setup:   setup,
	})
}

// startHubSpotSetup starts the property setup workflow and waits briefly for
// it; it says where the setup stands.
func (s *Server) startHubSpotSetup(ctx context.Context, workspaceID string, portalID int64) string {
	run, err := workflows.StartHubSpotSetup(ctx, s.deps.Temporal, s.deps.TaskQueue, workflows.HubSpotSetupInput{
		WorkspaceID: workspaceID, PortalID: portalID, HubSpotTaskQueue: s.deps.HubSpotTaskQueue,
	})
	if err != nil {
		s.deps.Logger.ErrorContext(ctx, "start HubSpot property setup", "workspace_id", workspaceID, "error", err.Error())
		return "could not be started (" + err.Error() + "); connect again to retry"
	}
	wctx, cancel := context.WithTimeout(ctx, s.deps.HubSpotSetupWait)
	defer cancel()
	var res workflows.HubSpotSetupResult
	err = run.Get(wctx, &res)
	switch {
	case err == nil:
		return "set up: the referflow property group and its properties exist on contacts and deals"
	case wctx.Err() != nil:
		return "being set up in the background; the connection status shows when it is done"
	default:
		return "failed: " + err.Error()
	}
}

// PrivateAppTokenInput is the body of POST /api/v1/hubspot/private-app-token.
type PrivateAppTokenInput struct {
	AccessToken string `json:"access_token" limit:"512"`
}

// POST /api/v1/hubspot/private-app-token: connects the workspace with a
// HubSpot private app's access token instead of OAuth (self-hosted installs
// with one portal). HubSpot is asked which portal it belongs to and whether
// it has the scopes referflow reads with; then, as after the OAuth callback,
// the property setup starts and waiting leads go. The token is never echoed
// nor logged.
func (s *Server) hubspotPrivateAppToken(c echo.Context) error {
	var in PrivateAppTokenInput
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	if err := s.connectPrivateApp(c.Request().Context(), adminFrom(c), in.AccessToken); err != nil {
		return err
	}
	// The status names the syncs a disconnect paused (paused_syncs).
	return s.writeHubSpotStatus(c, http.StatusOK)
}

// connectPrivateApp connects the admin's workspace with a private app's
// access token (POST /api/v1/hubspot/private-app-token and the admin UI's
// HubSpot page): HubSpot is asked which portal it belongs to and whether it
// has the scopes referflow reads with; then, as after the OAuth callback,
// the property setup starts and waiting leads go. A refusal is an APIError
// (the token's under the field access_token).
func (s *Server) connectPrivateApp(ctx context.Context, admin db.Admin, token string) error {
	if s.deps.HubSpot == nil {
		return NewError(http.StatusServiceUnavailable, "unavailable", errHubSpotUnconfigured)
	}
	conn, err := s.deps.HubSpot.ConnectPrivateApp(ctx, admin, token)
	var refusedToken *hubspotconn.TokenRefusedError
	var taken *hubspotconn.PortalTakenError
	var refused *hubspotconn.HubSpotError
	switch {
	case errors.As(err, &refusedToken):
		return &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: err.Error(),
			Fields: map[string]string{"access_token": "HubSpot refused it: " + refusedToken.Reason}}
	case errors.As(err, &taken):
		return NewError(http.StatusConflict, "portal_taken", err.Error())
	case errors.As(err, &refused):
		return NewError(http.StatusBadGateway, "hubspot_failed", err.Error()+"; nothing was stored: try again")
	case err != nil:
		return err
	}
	s.startHubSpotSetup(ctx, conn.WorkspaceID.String(), conn.PortalID)
	s.wakeWaitingReferrals(ctx, conn.WorkspaceID, nil, "HubSpot connected")
	s.wakeWaitingMembers(ctx, conn.WorkspaceID, nil, "HubSpot connected")
	s.wakeWaitingSyncs(ctx, conn.WorkspaceID)
	return nil
}

// GET /api/v1/hubspot/status
func (s *Server) hubspotStatus(c echo.Context) error {
	if s.deps.HubSpot == nil {
		return NewError(http.StatusServiceUnavailable, "unavailable", errHubSpotUnconfigured)
	}
	return s.writeHubSpotStatus(c, http.StatusOK)
}

func (s *Server) writeHubSpotStatus(c echo.Context, code int) error {
	view, err := s.hubspotStatusView(c.Request().Context(), adminFrom(c).WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(code, view)
}

// hubspotStatusView is the workspace's HubSpot connection as the status
// endpoint and the admin UI show it.
func (s *Server) hubspotStatusView(ctx context.Context, ws uuid.UUID) (HubSpotStatusView, error) {
	if s.deps.HubSpot == nil {
		return HubSpotStatusView{}, NewError(http.StatusServiceUnavailable, "unavailable", errHubSpotUnconfigured)
	}
	st, err := s.deps.HubSpot.Status(ctx, ws)
	if err != nil {
		return HubSpotStatusView{}, err
	}
	view := HubSpotStatusView{Status: st}
	if conn, err := s.queries().HubSpotConnectionGetByWorkspace(ctx, ws); err == nil {
		view.LastEntryAt = conn.LastEntryAt
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return view, err
	}
	if view.Webhooks, err = s.webhookSetup(ctx, ws); err != nil {
		return view, err
	}
	if view.Journal, err = s.journalStatus(ctx, ws, view.PortalID); err != nil {
		return view, err
	}
	return view, nil
}

// JournalStatusView is where the worker stands in HubSpot's webhooks
// journal for the connected portal (lists' additions enrol members): its
// LIST_MEMBERSHIP subscription, what it read, and why it waits, if it does.
type JournalStatusView struct {
	SubscriptionID *int64     `json:"subscription_id"`
	ListIDs        []string   `json:"list_ids"`
	EntriesRead    int64      `json:"entries_read"`
	EventsRecorded int64      `json:"events_recorded"`
	LastReadAt     *time.Time `json:"last_read_at"`
	WaitingReason  *string    `json:"waiting_reason"`
	WaitingSince   *time.Time `json:"waiting_since"`
}

// journalStatus is the portal's journal position, nil when the worker has
// never polled the journal for it.
func (s *Server) journalStatus(ctx context.Context, ws uuid.UUID, portalID int64) (*JournalStatusView, error) {
	if portalID == 0 {
		return nil, nil
	}
	pos, err := s.queries().HubSpotJournalPositionGet(ctx, portalID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && pos.WorkspaceID != ws) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &JournalStatusView{
		SubscriptionID: pos.SubscriptionID, ListIDs: pos.SubscribedListIds, EntriesRead: pos.EntriesRead, EventsRecorded: pos.EventsRecorded,
		LastReadAt: pos.LastReadAt, WaitingReason: pos.WaitingReason, WaitingSince: pos.WaitingSince,
	}, nil
}

// HubSpotStatusView is the connection status with when the Sales Receiver
// last recorded a new entry from HubSpot ("last entry received").
type HubSpotStatusView struct {
	hubspotconn.Status
	LastEntryAt *time.Time `json:"last_entry_at"`
	// Webhooks is what the HubSpot app's Webhooks page needs.
	Webhooks WebhookSetupView `json:"webhooks"`
	// Journal is where the worker stands in the webhooks journal (nil:
	// never polled for this portal).
	Journal *JournalStatusView `json:"journal"`
}

// WebhookSetupView is the HubSpot app's webhook setup the workspace needs:
// the target URL and every subscription its campaigns' rules act on
// (archived campaigns aside). HubSpot sends only what the app subscribes
// to, and referflow cannot read the app's subscriptions, so it says which.
type WebhookSetupView struct {
	TargetURL     string                         `json:"target_url"`
	Subscriptions []campaign.WebhookSubscription `json:"subscriptions"`
}

// webhookSetup lists the webhook subscriptions the workspace's campaigns
// need (campaign.WebhookSubscriptions, merged), and contact.privacyDeletion.
func (s *Server) webhookSetup(ctx context.Context, ws uuid.UUID) (WebhookSetupView, error) {
	view := WebhookSetupView{Subscriptions: []campaign.WebhookSubscription{}}
	if s.deps.PublicURL != nil {
		view.TargetURL = s.deps.PublicURL.JoinPath("webhooks", "hubspot").String()
	}
	camps, err := s.queries().CampaignListUnarchivedOfWorkspaces(ctx, []uuid.UUID{ws})
	if err != nil {
		return view, err
	}
	per := make([]campaign.CampaignSubscriptions, 0, len(camps))
	for _, c := range camps {
		settings, err := activities.CampaignSettings(c)
		if err != nil {
			return view, err
		}
		per = append(per, campaign.CampaignSubscriptions{Campaign: c.Name, Subscriptions: settings.WebhookSubscriptions()})
	}
	view.Subscriptions = campaign.MergeWebhookSubscriptions(per)
	// Every workspace needs HubSpot's GDPR deletions, campaigns or none:
	// the person is erased here too (internal/privacy).
	view.Subscriptions = append(view.Subscriptions, campaign.WebhookSubscription{
		Type: salesentry.PrivacyDeletionSubscription, NeededBy: []string{"privacy: a contact HubSpot deletes for GDPR is erased here too"},
	})
	return view, nil
}

// DisconnectView is the answer to a disconnect.
type DisconnectView struct {
	Status string `json:"status"`
	// Revoked tells whether HubSpot revoked referflow's access; when not,
	// RevokeError says why, and uninstalling the app in HubSpot does it.
	Revoked     bool   `json:"revoked"`
	RevokeError string `json:"revoke_error,omitempty"`
}

// POST /api/v1/hubspot/disconnect
func (s *Server) hubspotDisconnect(c echo.Context) error {
	view, err := s.disconnectHubSpot(c.Request().Context(), adminFrom(c).WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}

// disconnectHubSpot disconnects the workspace's HubSpot portal (the JSON
// API and the admin UI): referflow's access is revoked when HubSpot allows
// and a property setup still retrying is cancelled.
func (s *Server) disconnectHubSpot(ctx context.Context, ws uuid.UUID) (DisconnectView, error) {
	if s.deps.HubSpot == nil {
		return DisconnectView{}, NewError(http.StatusServiceUnavailable, "unavailable", errHubSpotUnconfigured)
	}
	res, err := s.deps.HubSpot.Disconnect(ctx, ws)
	if errors.Is(err, hubspotconn.ErrNotConnected) {
		return DisconnectView{}, NewError(http.StatusConflict, "not_connected", "HubSpot is not connected for this workspace, so there is nothing to disconnect")
	}
	if err != nil {
		return DisconnectView{}, err
	}
	// A property setup still retrying has nothing left to work on.
	if s.deps.Temporal != nil {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.deps.Temporal.CancelWorkflow(cctx, workflows.HubSpotSetupWorkflowID(ws.String()), "")
		cancel()
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			s.deps.Logger.WarnContext(ctx, "cancel HubSpot property setup", "workspace_id", ws.String(), "error", err.Error())
		}
	}
	return DisconnectView{Status: hubspotconn.StatusDisconnected, Revoked: res.Revoked, RevokeError: res.RevokeError}, nil
}
