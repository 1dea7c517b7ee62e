package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// The settings page (GET /admin/settings): the workspace's admins (add by
// email, remove — never the last), its API keys (create, shown once;
// revoke) and the webhook signing secret. Each action calls the function
// the JSON API calls (admins.go, api_keys.go, webhook_signing_secret.go).

const navSettings = "settings"

func (s *Server) routeAdminSettings(g *echo.Group) {
	g.GET("/settings", s.adminSettings)
	g.POST("/settings/admins", s.adminSettingsAddAdmin)
	g.POST("/settings/admins/:id/remove", s.adminSettingsRemoveAdmin)
	g.POST("/settings/api-keys", s.adminSettingsCreateKey)
	g.POST("/settings/api-keys/:id/revoke", s.adminSettingsRevokeKey)
}

type settingsPage struct {
	AdminPage
	Admins  []WorkspaceAdminView
	Keys    []APIKeyView
	Secret  WebhookSigningSecretView
	NewKey  string // a key just created, shown this once
	NewFor  string // whose it is
	Email   adminField
	Name    adminField
	KeyName adminField
}

func (s *Server) renderSettings(c echo.Context, status int, p settingsPage) error {
	ctx := c.Request().Context()
	ws := adminFrom(c).WorkspaceID
	admins, err := s.queries().AdminListByWorkspace(ctx, ws)
	if err != nil {
		return err
	}
	for _, a := range admins {
		p.Admins = append(p.Admins, workspaceAdminView(a))
	}
	if p.Keys, err = s.apiKeysOf(ctx, ws); err != nil {
		return err
	}
	w, err := s.queries().WorkspaceGetByID(ctx, ws)
	if err != nil {
		return err
	}
	p.Secret = signingSecretView(w, time.Now())
	if p.Email.Name == "" {
		p.Email = adminField{Name: "email", ID: "admin-email", Label: "Email address", Type: "email", Required: true, MaxLength: 254, Autocomplete: "off"}
	}
	if p.Name.Name == "" {
		p.Name = adminField{Name: "name", ID: "admin-name", Label: "Name", Type: "text", MaxLength: 200, Autocomplete: "off"}
	}
	if p.KeyName.Name == "" {
		p.KeyName = adminField{Name: "name", ID: "key-name", Label: "What the key is for", Hint: "For example: finance export script.",
			Type: "text", Required: true, MaxLength: 100, Autocomplete: "off"}
	}
	p.Email.Error, p.Name.Error = p.FieldError("email"), ""
	return renderAdmin(c, status, "admin_settings", p)
}

func (s *Server) adminSettings(c echo.Context) error {
	return s.renderSettings(c, http.StatusOK, settingsPage{AdminPage: s.newAdminPage(c, "Settings", navSettings)})
}

func (s *Server) adminSettingsAddAdmin(c echo.Context) error {
	email, name := adminFormValue(c, "email"), adminFormValue(c, "name")
	p := settingsPage{AdminPage: s.newAdminPage(c, "Settings", navSettings)}
	added, err := s.addAdmin(c.Request().Context(), adminFrom(c).WorkspaceID, AdminAddInput{Email: email, Name: &name})
	if err != nil {
		if !p.SetProblems(err) {
			return err
		}
		p.Email = adminField{Name: "email", ID: "admin-email", Label: "Email address", Type: "email", Required: true, MaxLength: 254, Autocomplete: "off", Value: email}
		p.Name = adminField{Name: "name", ID: "admin-name", Label: "Name", Type: "text", MaxLength: 200, Autocomplete: "off", Value: name}
		return s.renderSettings(c, http.StatusUnprocessableEntity, p)
	}
	// The new admin's first key is shown once, here: the page is the
	// answer to the form (no redirect could carry the key safely).
	p.Flash = added.Admin.Email + " is now an admin of this workspace. Give them the API key below to sign in with."
	p.NewKey, p.NewFor = added.APIKey, added.Admin.Email
	return s.renderSettings(c, http.StatusCreated, p)
}

func (s *Server) adminSettingsRemoveAdmin(c echo.Context) error {
	a, err := s.removeAdmin(c.Request().Context(), adminFrom(c).WorkspaceID, c.Param("id"))
	if err != nil {
		p := settingsPage{AdminPage: s.newAdminPage(c, "Settings", navSettings)}
		if apiErr, ok := err.(*APIError); ok && apiErr.Status == http.StatusConflict && p.SetProblems(err) {
			return s.renderSettings(c, http.StatusConflict, p)
		}
		return err
	}
	if a.ID == adminFrom(c).ID {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return s.redirectWithFlash(c, "/admin/settings", a.Email+" is no longer an admin of this workspace; their API keys no longer work.")
}

func (s *Server) adminSettingsCreateKey(c echo.Context) error {
	name := adminFormValue(c, "name")
	p := settingsPage{AdminPage: s.newAdminPage(c, "Settings", navSettings)}
	created, err := s.createAPIKey(c.Request().Context(), adminFrom(c), name)
	if err != nil {
		if !p.SetProblems(err) {
			return err
		}
		p.KeyName = adminField{Name: "name", ID: "key-name", Label: "What the key is for", Hint: "For example: finance export script.",
			Type: "text", Required: true, MaxLength: 100, Autocomplete: "off", Value: name, Error: p.FieldError("name")}
		return s.renderSettings(c, http.StatusUnprocessableEntity, p)
	}
	p.Flash = "API key \u201c" + created.APIKey.Name + "\u201d created."
	p.NewKey, p.NewFor = created.Key, created.APIKey.AdminEmail
	return s.renderSettings(c, http.StatusCreated, p)
}

func (s *Server) adminSettingsRevokeKey(c echo.Context) error {
	k, err := s.revokeAPIKey(c.Request().Context(), adminFrom(c).WorkspaceID, c.Param("id"))
	if err != nil {
		return err
	}
	return s.redirectWithFlash(c, "/admin/settings", "API key \u201c"+k.Name+"\u201d ("+k.Prefix+"\u2026) revoked: it is refused from now on.")
}
