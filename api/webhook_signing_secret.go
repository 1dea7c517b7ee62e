package api

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/webhookdelivery"
)

// WebhookSigningSecretView is the workspace's webhook signing secret, which
// receivers verify Referflow-Signature with. After a rotation the previous
// secret signs too (a second v1 value) until PreviousValidUntil.
type WebhookSigningSecretView struct {
	Secret             string     `json:"secret"`
	RotatedAt          *time.Time `json:"rotated_at"`
	PreviousValidUntil *time.Time `json:"previous_valid_until"`
}

// RotateSecretInput asks for a new signing secret; the current one goes on
// signing for GracePeriodHours (default 24, at most 720).
type RotateSecretInput struct {
	GracePeriodHours *int `json:"grace_period_hours"`
}

func signingSecretView(ws db.Workspace, now time.Time) WebhookSigningSecretView {
	v := WebhookSigningSecretView{Secret: ws.WebhookSigningSecret, RotatedAt: ws.WebhookSigningSecretRotatedAt}
	if u := ws.WebhookSigningSecretPreviousUntil; u != nil && u.After(now) {
		v.PreviousValidUntil = u
	}
	return v
}

func (s *Server) getWebhookSigningSecret(c echo.Context) error {
	ws, err := s.queries().WorkspaceGetByID(c.Request().Context(), adminFrom(c).WorkspaceID)
	if err != nil {
		return fmt.Errorf("load workspace: %w", err)
	}
	return c.JSON(http.StatusOK, signingSecretView(ws, time.Now()))
}

func (s *Server) rotateWebhookSigningSecret(c echo.Context) error {
	var in RotateSecretInput
	raw, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return NewError(http.StatusBadRequest, "bad_request", "the request body could not be read")
	}
	if len(bytes.TrimSpace(raw)) > 0 { // no body: the default grace period
		c.Request().Body = io.NopCloser(bytes.NewReader(raw))
		if err := decodeStrict(c, &in); err != nil {
			return err
		}
	}
	grace := webhookdelivery.DefaultGrace
	if h := in.GracePeriodHours; h != nil {
		if *h < 0 || time.Duration(*h)*time.Hour > webhookdelivery.MaxGrace {
			return &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: "invalid grace period",
				Fields: map[string]string{"grace_period_hours": fmt.Sprintf("must be a whole number of hours from 0 to %d", int(webhookdelivery.MaxGrace.Hours()))}}
		}
		grace = time.Duration(*h) * time.Hour
	}
	now := time.Now()
	ws, err := webhookdelivery.RotateSigningSecret(c.Request().Context(), s.queries(), adminFrom(c).WorkspaceID, grace, now)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, signingSecretView(ws, now))
}
