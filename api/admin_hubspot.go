package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/hubspotconn"
)

// The admin UI's HubSpot page (GET /admin/hubspot): the connection's status
// (GET /api/v1/hubspot/status's hubspotStatusView), connecting by OAuth (a
// link to /oauth/hubspot/connect) or with a private app's token
// (connectPrivateApp, as POST /api/v1/hubspot/private-app-token), and
// disconnecting (disconnectHubSpot, as POST /api/v1/hubspot/disconnect).

func (s *Server) routeAdminHubSpot(g *echo.Group) {
	g.GET("/hubspot", s.adminHubSpot)
	g.POST("/hubspot/private-app-token", s.adminHubSpotPrivateAppToken)
	g.POST("/hubspot/disconnect", s.adminHubSpotDisconnect)
}

type hubspotAdminPage struct {
	AdminPage
	// Available is false when this referflow has no HubSpot manager at all.
	Available bool
	View      HubSpotStatusView
	// Connected: connected or broken (something to disconnect).
	Connected  bool
	TokenField adminField
}

// hubspotStatusLabels say each connection status in words.
var hubspotStatusLabels = map[string]string{
	hubspotconn.StatusConnected:    "Connected",
	hubspotconn.StatusBroken:       "Broken",
	hubspotconn.StatusDisconnected: "Disconnected",
	hubspotconn.StatusNotConnected: "Not connected",
}

func (s *Server) adminHubSpot(c echo.Context) error {
	return s.renderAdminHubSpot(c, http.StatusOK, s.newAdminPage(c, "HubSpot", navHubSpot))
}

func (s *Server) renderAdminHubSpot(c echo.Context, status int, page AdminPage) error {
	p := hubspotAdminPage{AdminPage: page, Available: s.deps.HubSpot != nil,
		TokenField: adminField{Name: "access_token", Label: "Private app access token", Type: "password", Required: true, MaxLength: 512,
			Autocomplete: "off", Hint: "From your HubSpot private app's Auth tab (it starts with pat-). It is stored encrypted and never shown again.",
			Error: page.FieldError("access_token")}}
	if p.Available {
		view, err := s.hubspotStatusView(c.Request().Context(), adminFrom(c).WorkspaceID)
		if err != nil {
			return err
		}
		p.View = view
		p.Connected = view.Status.Status == hubspotconn.StatusConnected || view.Status.Status == hubspotconn.StatusBroken
	}
	return renderAdmin(c, status, "admin_hubspot", p)
}

func (s *Server) adminHubSpotPrivateAppToken(c echo.Context) error {
	err := s.connectPrivateApp(c.Request().Context(), adminFrom(c), adminFormValue(c, "access_token"))
	if err != nil {
		page := s.newAdminPage(c, "HubSpot", navHubSpot)
		if !page.SetProblems(err) {
			return err
		}
		return s.renderAdminHubSpot(c, http.StatusUnprocessableEntity, page)
	}
	return s.redirectWithFlash(c, "/admin/hubspot", "HubSpot is connected with the private app's token.")
}

func (s *Server) adminHubSpotDisconnect(c echo.Context) error {
	res, err := s.disconnectHubSpot(c.Request().Context(), adminFrom(c).WorkspaceID)
	if err != nil {
		page := s.newAdminPage(c, "HubSpot", navHubSpot)
		if !page.SetProblems(err) {
			return err
		}
		return s.renderAdminHubSpot(c, http.StatusConflict, page)
	}
	msg := "HubSpot is disconnected and HubSpot revoked referflow's access."
	if !res.Revoked {
		msg = "HubSpot is disconnected. HubSpot did not revoke referflow's access (" + res.RevokeError + "): uninstall the app in HubSpot to do it."
	}
	return s.redirectWithFlash(c, "/admin/hubspot", msg)
}
