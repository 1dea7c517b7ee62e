package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
)

// The workspace's admins (GET/POST /api/v1/admins, DELETE
// /api/v1/admins/{id}); the settings page (admin_settings.go) calls the same
// functions. internal/adminauth does the work, as for the CLI.

func (s *Server) routeAdmins(g *echo.Group) {
	g.GET("/admins", s.listAdmins)
	g.POST("/admins", s.addAdminHandler)
	g.DELETE("/admins/:id", s.removeAdminHandler)
}

// WorkspaceAdminView is one admin of the workspace.
type WorkspaceAdminView struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      *string   `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// AdminAddInput adds an admin by email.
type AdminAddInput struct {
	Email string  `json:"email" limit:"254"`
	Name  *string `json:"name" limit:"200"`
}

// AdminAdded is the new admin with their first API key, shown once: give it
// to them (they sign in with it).
type AdminAdded struct {
	Admin  WorkspaceAdminView `json:"admin"`
	APIKey string             `json:"api_key"`
}

func workspaceAdminView(a db.Admin) WorkspaceAdminView {
	return WorkspaceAdminView{ID: a.ID.String(), Email: a.Email, Name: a.Name, CreatedAt: a.CreatedAt}
}

func (s *Server) listAdmins(c echo.Context) error {
	admins, err := s.queries().AdminListByWorkspace(c.Request().Context(), adminFrom(c).WorkspaceID)
	if err != nil {
		return fmt.Errorf("list admins: %w", err)
	}
	out := make([]WorkspaceAdminView, len(admins))
	for i, a := range admins {
		out[i] = workspaceAdminView(a)
	}
	return c.JSON(http.StatusOK, map[string]any{"admins": out})
}

// addAdmin adds an admin to the workspace with a first API key; a refused
// input is a 422 naming the field, an email already an admin's a 409.
func (s *Server) addAdmin(ctx context.Context, workspaceID uuid.UUID, in AdminAddInput) (AdminAdded, error) {
	email := strings.TrimSpace(in.Email)
	name := ""
	if in.Name != nil {
		name = strings.TrimSpace(*in.Name)
	}
	if err := adminauth.CheckAdminEmail(email); err != nil {
		return AdminAdded{}, invalid(map[string]string{"email": err.Error()})
	}
	admin, key, err := adminauth.CreateAdmin(ctx, s.queries(), workspaceID, email, name)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return AdminAdded{}, &APIError{Status: http.StatusConflict, Code: "conflict", Message: email + " is already an admin of this workspace",
			Fields: map[string]string{"email": "is already an admin of this workspace"}}
	}
	if err != nil {
		return AdminAdded{}, err
	}
	return AdminAdded{Admin: workspaceAdminView(admin), APIKey: key}, nil
}

func (s *Server) addAdminHandler(c echo.Context) error {
	var in AdminAddInput
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	out, err := s.addAdmin(c.Request().Context(), adminFrom(c).WorkspaceID, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

var errNoSuchAdmin = NewError(http.StatusNotFound, "not_found", "no such admin in your workspace")

// removeAdmin removes an admin of the workspace (never its last).
func (s *Server) removeAdmin(ctx context.Context, workspaceID uuid.UUID, rawID string) (db.Admin, error) {
	id, err := uuid.Parse(rawID)
	if err != nil {
		return db.Admin{}, errNoSuchAdmin
	}
	a, err := adminauth.RemoveAdmin(ctx, s.queries(), workspaceID, id)
	switch {
	case errors.Is(err, adminauth.ErrNotFound):
		return db.Admin{}, errNoSuchAdmin
	case errors.Is(err, adminauth.ErrLastAdmin):
		return db.Admin{}, NewError(http.StatusConflict, "last_admin", "This is the workspace's last admin: add another admin before removing this one.")
	}
	return a, err
}

func (s *Server) removeAdminHandler(c echo.Context) error {
	if _, err := s.removeAdmin(c.Request().Context(), adminFrom(c).WorkspaceID, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
