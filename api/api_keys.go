package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
)

// The workspace's admin API keys (GET/POST /api/v1/api-keys, POST
// /api/v1/api-keys/{id}/revoke); the settings page calls the same functions.
// A new key is shown once; only its hash is kept.

func (s *Server) routeAPIKeys(g *echo.Group) {
	g.GET("/api-keys", s.listAPIKeys)
	g.POST("/api-keys", s.createAPIKeyHandler)
	g.POST("/api-keys/:id/revoke", s.revokeAPIKeyHandler)
}

// APIKeyView is one key: never the key itself, its first characters
// (prefix) to tell it apart.
type APIKeyView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	AdminID    string     `json:"admin_id"`
	AdminEmail string     `json:"admin_email,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// APIKeyCreateInput labels a new key of the calling admin.
type APIKeyCreateInput struct {
	Name string `json:"name" limit:"100"`
}

// APIKeyCreated is the new key: Key is shown this once.
type APIKeyCreated struct {
	APIKey APIKeyView `json:"api_key"`
	Key    string     `json:"key"`
}

func apiKeyView(k db.AdminApiKey, email string) APIKeyView {
	return APIKeyView{ID: k.ID.String(), Name: k.Name, Prefix: k.Prefix, AdminID: k.AdminID.String(), AdminEmail: email,
		CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

// apiKeysOf lists the keys of the workspace's admins, newest first.
func (s *Server) apiKeysOf(ctx context.Context, workspaceID uuid.UUID) ([]APIKeyView, error) {
	rows, err := s.queries().AdminAPIKeyListByWorkspace(ctx, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	out := make([]APIKeyView, len(rows))
	for i, r := range rows {
		out[i] = apiKeyView(r.AdminApiKey, r.AdminEmail)
	}
	return out, nil
}

func (s *Server) listAPIKeys(c echo.Context) error {
	keys, err := s.apiKeysOf(c.Request().Context(), adminFrom(c).WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"api_keys": keys})
}

// createAPIKey gives the admin a new key named name (required, so keys can
// be told apart).
func (s *Server) createAPIKey(ctx context.Context, admin db.Admin, name string) (APIKeyCreated, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return APIKeyCreated{}, invalid(map[string]string{"name": "is required: say what the key is for, e.g. \"finance export script\""})
	case len([]rune(name)) > adminauth.MaxKeyNameLength:
		return APIKeyCreated{}, invalid(map[string]string{"name": fmt.Sprintf("is too long: at most %d characters", adminauth.MaxKeyNameLength)})
	}
	k, key, err := adminauth.CreateAPIKey(ctx, s.queries(), admin.ID, name)
	if err != nil {
		return APIKeyCreated{}, err
	}
	return APIKeyCreated{APIKey: apiKeyView(k, admin.Email), Key: key}, nil
}

func (s *Server) createAPIKeyHandler(c echo.Context) error {
	var in APIKeyCreateInput
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	out, err := s.createAPIKey(c.Request().Context(), adminFrom(c), in.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

var errNoSuchAPIKey = NewError(http.StatusNotFound, "not_found", "no such API key in your workspace")

// revokeAPIKey revokes a key of the workspace's admins.
func (s *Server) revokeAPIKey(ctx context.Context, workspaceID uuid.UUID, rawID string) (db.AdminApiKey, error) {
	id, err := uuid.Parse(rawID)
	if err != nil {
		return db.AdminApiKey{}, errNoSuchAPIKey
	}
	k, err := adminauth.RevokeAPIKey(ctx, s.queries(), workspaceID, id)
	if errors.Is(err, adminauth.ErrNotFound) {
		return db.AdminApiKey{}, errNoSuchAPIKey
	}
	return k, err
}

func (s *Server) revokeAPIKeyHandler(c echo.Context) error {
	k, err := s.revokeAPIKey(c.Request().Context(), adminFrom(c).WorkspaceID, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, apiKeyView(k, ""))
}
