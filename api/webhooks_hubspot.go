package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/referflow/referflow/internal/hubspot/signature"
	"github.com/referflow/referflow/salesreceiver"
)

// HubSpot's webhooks in: the Sales Receiver's intake.
//
// POST /webhooks/hubspot checks HubSpot's signature, parses the delivery and
// records every event as a sales entry in Postgres in one transaction before
// it answers 200. It never talks to Temporal: the dispatcher
// (salesreceiver.Dispatcher) routes the recorded entries, woken by the
// transaction's NOTIFY. When Postgres cannot take the events the answer is
// 503 and HubSpot retries (up to 10 times over 24 hours), so an answered 2xx
// always means the events are stored.

// webhookRecordTimeout bounds the database work of one delivery: HubSpot
// gives up on an answer after 5 seconds, and a 503 before that is better
// than a timeout (both are retried, but the 503 is logged here).
const webhookRecordTimeout = 4 * time.Second

// errWebhooksUnconfigured is the answer when no client secret can check
// signatures.
const errWebhooksUnconfigured = "webhooks are not configured: set HUBSPOT_CLIENT_SECRET"

func (s *Server) routeHubSpotWebhooks() {
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "referflow_hubspot_webhook_events_total",
		Help: "Events of HubSpot webhook deliveries answered 200, by what became of them: recorded (a new sales entry), duplicate (recorded before), skipped (an object referflow does not handle).",
	}, []string{"outcome"})
	s.deps.Registry.MustRegister(events)
	// Not under /api/v1: HubSpot authenticates by signature, not as an admin.
	s.echo.POST("/webhooks/hubspot", func(c echo.Context) error {
		res, err := s.receiveHubSpotWebhook(c)
		if err != nil {
			return err
		}
		events.WithLabelValues("recorded").Add(float64(res.Recorded))
		events.WithLabelValues("duplicate").Add(float64(res.Duplicates))
		events.WithLabelValues("skipped").Add(float64(res.Skipped))
		return c.JSON(http.StatusOK, res)
	})
}

// POST /webhooks/hubspot: what was recorded, or the error to answer with.
func (s *Server) receiveHubSpotWebhook(c echo.Context) (salesreceiver.Result, error) {
	var none salesreceiver.Result
	if s.deps.WebhookSecret == "" {
		return none, NewError(http.StatusServiceUnavailable, "unavailable", errWebhooksUnconfigured)
	}
	r := c.Request()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) || errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
			return none, echo.ErrStatusRequestEntityTooLarge
		}
		return none, NewError(http.StatusBadRequest, "bad_request", "the request body could not be read")
	}

	// The signature first: nothing of an unsigned body is looked at.
	if err := s.webhookVerifier(r).Verify(r, body); err != nil {
		return none, signatureError(err)
	}

	events, err := salesreceiver.Parse(body)
	if err != nil {
		var perr *salesreceiver.ParseError
		if errors.As(err, &perr) {
			return none, &APIError{Status: http.StatusBadRequest, Code: "invalid_events",
				Message: "the delivery was not recorded: " + perr.Error(),
				Fields:  map[string]string{perr.Path(): perr.Problem}}
		}
		return none, NewError(http.StatusBadRequest, "invalid_events", "the delivery was not recorded: "+err.Error())
	}

	// Events of another app are answered and counted as skipped.
	events, otherApp := salesreceiver.OfApp(events, s.deps.HubSpotAppID)

	ctx, cancel := context.WithTimeout(r.Context(), webhookRecordTimeout)
	defer cancel()
	res, err := salesreceiver.Record(ctx, s.deps.Pool, events)
	if err != nil {
		return none, s.recordError(c, events, err)
	}
	res.Received += otherApp
	res.Skipped += otherApp
	return res, nil
}

// webhookVerifier checks signatures with the app's client secret over the
// public URL HubSpot called (REFERFLOW_PUBLIC_URL + path and query), not the
// one a proxy in front of referflow hands the server.
//
// A v3 timestamp may be up to signature.MaxAge (5 minutes) in the future as
// well as in the past: a self-hosted server's clock can run behind HubSpot's,
// and refusing those deliveries would lose them after HubSpot's retries. The
// verifier allows only a few seconds ahead, so for a timestamp within 5
// minutes ahead its clock is set to the timestamp.
func (s *Server) webhookVerifier(r *http.Request) signature.Verifier {
	now := time.Now()
	v := signature.Verifier{Secret: s.deps.WebhookSecret, PublicURL: s.deps.PublicURL, Now: func() time.Time { return now }}
	if ms, err := strconv.ParseInt(r.Header.Get(signature.HeaderTimestamp), 10, 64); err == nil && ms > 0 {
		if ts := time.UnixMilli(ms); ts.After(now) && ts.Sub(now) <= signature.MaxAge {
			v.Now = func() time.Time { return ts }
		}
	}
	return v
}

// signatureError answers a delivery whose signature is missing, wrong or
// stale with 401, saying which and nothing more.
func signatureError(err error) error {
	code := "invalid_signature"
	switch {
	case errors.Is(err, signature.ErrMissing):
		code = "missing_signature"
	case errors.Is(err, signature.ErrStale), errors.Is(err, signature.ErrFuture):
		code = "stale_signature"
	}
	return NewError(http.StatusUnauthorized, code, err.Error())
}

// recordError answers a delivery Postgres did not store: 503, so HubSpot
// retries it. A value Postgres refuses as data (Parse lets through nothing
// it knows Postgres refuses, so this is a safety net) is the client's
// mistake: 400.
func (s *Server) recordError(c echo.Context, events []salesreceiver.Event, err error) error {
	ctx := c.Request().Context()
	portals := make([]int64, 0, 1)
	for _, ev := range events {
		if len(portals) == 0 || portals[len(portals)-1] != ev.PortalID {
			portals = append(portals, ev.PortalID)
		}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || pgErr.Code == "54001") {
		s.deps.Logger.WarnContext(ctx, "HubSpot webhook refused by the database",
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "portal_ids", portals, "sqlstate", pgErr.Code)
		return NewError(http.StatusBadRequest, "invalid_events", "the delivery was not recorded: an event holds a value that cannot be stored ("+pgErr.Message+")")
	}
	s.deps.Logger.ErrorContext(ctx, "HubSpot webhook not recorded; answered 503 so HubSpot retries",
		"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "portal_ids", portals, "events", len(events), "error", err.Error())
	return NewError(http.StatusServiceUnavailable, "unavailable",
		"the events could not be recorded right now (the database is unavailable); nothing was stored, send them again")
}
