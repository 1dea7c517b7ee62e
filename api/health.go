package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// HealthStatus is the body of /healthz and /readyz.
type HealthStatus struct {
	Status string `json:"status"`
	// Checks holds one entry per dependency, "ok" or what is wrong.
	Checks map[string]string `json:"checks,omitempty"`
}

// healthz answers as long as the process serves HTTP: a liveness probe.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, HealthStatus{Status: "ok"})
}

// readyz answers 200 only when Postgres and Temporal both answer, so a load
// balancer sends traffic only to a process that can do its work.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"postgres": "ok", "temporal": "ok"}
	ready := true
	if err := s.deps.Pool.Ping(ctx); err != nil {
		checks["postgres"] = "unreachable: " + err.Error()
		ready = false
	}
	if _, err := s.deps.Temporal.CheckHealth(ctx, nil); err != nil {
		checks["temporal"] = "unreachable: " + err.Error()
		ready = false
	}
	if !ready {
		return c.JSON(http.StatusServiceUnavailable, HealthStatus{Status: "unavailable", Checks: checks})
	}
	return c.JSON(http.StatusOK, HealthStatus{Status: "ok", Checks: checks})
}
