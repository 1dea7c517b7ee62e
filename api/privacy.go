package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/privacy"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/workflows"
)

// Privacy requests, for a workspace's admins: erase a person (GDPR's right
// to erasure; HubSpot's contact.privacyDeletion does the same through the
// Sales Receiver) and export one person's data (the right of access).
// internal/privacy does the work; the email is taken in a request body,
// never a URL, so it reaches no access log.

func (s *Server) routePrivacy(g *echo.Group) {
	g.POST("/privacy/erasures", s.requestErasure)
	g.GET("/privacy/erasures/:id", s.getErasure)
	g.POST("/privacy/exports", s.exportPerson)
}

// PrivacyPersonInput names a person by email.
type PrivacyPersonInput struct {
	Email string `json:"email" limit:"254"`
}

// PrivacyErasureView is an erasure as recorded: never the email.
type PrivacyErasureView struct {
	ID          string           `json:"id"`
	Status      string           `json:"status"`
	Source      string           `json:"source"`
	RequestedAt time.Time        `json:"requested_at"`
	CompletedAt *time.Time       `json:"completed_at"`
	Counts      map[string]int64 `json:"counts"`
	Error       *string          `json:"error"`
}

func privacyErasureView(e db.PrivacyErasure) PrivacyErasureView {
	v := PrivacyErasureView{ID: e.ID.String(), Status: e.Status, Source: e.Source, RequestedAt: e.RequestedAt,
		CompletedAt: e.CompletedAt, Counts: map[string]int64{}, Error: e.Error}
	_ = json.Unmarshal(e.Counts, &v.Counts)
	return v
}

// personEmail reads and checks the body's email: a 400 that says what is
// wrong with it.
func personEmail(c echo.Context) (string, error) {
	var in PrivacyPersonInput
	if err := decodeStrict(c, &in); err != nil {
		return "", err
	}
	email := strings.TrimSpace(in.Email)
	if err := referral.CheckEmail(email); err != nil {
		return "", &APIError{Status: http.StatusBadRequest, Code: "bad_request", Message: "email: " + err.Error(),
			Fields: map[string]string{"email": err.Error()}}
	}
	return email, nil
}

func (s *Server) requestErasure(c echo.Context) error {
	email, err := personEmail(c)
	if err != nil {
		return err
	}
	if s.deps.Temporal == nil {
		return NewError(http.StatusServiceUnavailable, "unavailable", "erasures need Temporal, which this server is not connected to")
	}
	ctx := c.Request().Context()
	admin := adminFrom(c)
	tx, err := s.deps.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin erasure: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	erasure, _, err := privacy.Record(ctx, s.queries().WithTx(tx), privacy.Request{
		WorkspaceID: admin.WorkspaceID, Email: email, Source: privacy.SourceAdminAPI, Actor: "admin:" + admin.ID.String(),
	}, workflows.PrivacyErasureWorkflowID)
	if err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("record erasure: %w", err)
	}
	if err := workflows.StartPrivacyErasure(ctx, s.deps.Temporal, s.deps.TaskQueue, admin.WorkspaceID.String(), erasure.SubjectHash, erasure.ID.String()); err != nil {
		// Nothing holds the email of an erasure that will not run.
		if aerr := privacy.Abandon(ctx, s.queries(), erasure.ID, "Temporal did not take the erasure: ask again"); aerr != nil {
			return errors.Join(err, aerr)
		}
		if s.deps.Logger != nil {
			s.deps.Logger.Error("privacy erasure not started", "erasure_id", erasure.ID, "error", err)
		}
		return NewError(http.StatusServiceUnavailable, "unavailable", "the erasure could not be started (Temporal is unreachable); nothing was kept of the request: ask again")
	}
	erasure.Status = string(privacy.Requested)
	return c.JSON(http.StatusAccepted, privacyErasureView(erasure))
}

func (s *Server) getErasure(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return NewError(http.StatusBadRequest, "bad_request", "id: not an erasure ID (a UUID)")
	}
	erasure, err := s.queries().PrivacyErasureGet(c.Request().Context(), db.PrivacyErasureGetParams{ID: id, WorkspaceID: adminFrom(c).WorkspaceID})
	if errors.Is(err, pgx.ErrNoRows) {
		return NewError(http.StatusNotFound, "not_found", "no such erasure in your workspace")
	}
	if err != nil {
		return fmt.Errorf("read erasure: %w", err)
	}
	return c.JSON(http.StatusOK, privacyErasureView(erasure))
}

func (s *Server) exportPerson(c echo.Context) error {
	email, err := personEmail(c)
	if err != nil {
		return err
	}
	out, err := privacy.ExportPerson(c.Request().Context(), s.queries(), adminFrom(c).WorkspaceID, email)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
