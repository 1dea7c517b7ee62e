package hubspot_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"golang.org/x/oauth2"

	"github.com/referflow/referflow/internal/hubspot"
)

func appError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("TemporalError gave %v (%T), want a *temporal.ApplicationError", err, err)
	}
	return appErr
}

func TestTemporalErrorMapping(t *testing.T) {
	t.Parallel()
	api := func(code int) hubspot.APIError {
		return hubspot.APIError{StatusCode: code, Method: "GET", Path: "/crm/objects/2026-03/contacts/1", CorrelationID: "corr-1"}
	}
	for _, tc := range []struct {
		name      string
		err       error
		typ       string
		retryable bool
		delay     time.Duration
	}{
		{"rate limit", &hubspot.RateLimitError{APIError: api(429), Policy: hubspot.PolicyTenSecondlyRolling, RetryAfter: 7 * time.Second}, hubspot.ErrorTypeRateLimited, true, 7 * time.Second},
		{"daily rate limit in a batch", fmt.Errorf("batch: %w", &hubspot.RateLimitError{APIError: api(429), Policy: hubspot.PolicyDaily, RetryAfter: 3 * time.Hour}), hubspot.ErrorTypeRateLimited, true, 3 * time.Hour},
		{"validation", &hubspot.ValidationError{APIError: api(400), Property: "email"}, hubspot.ErrorTypeValidation, false, 0},
		{"not found", &hubspot.NotFoundError{APIError: api(404)}, hubspot.ErrorTypeNotFound, false, 0},
		{"conflict", &hubspot.ConflictError{APIError: api(409), ExistingID: "42"}, hubspot.ErrorTypeConflict, false, 0},
		{"unauthorized", &hubspot.UnauthorizedError{APIError: api(401)}, hubspot.ErrorTypeUnauthorized, false, 0},
		{"forbidden", &hubspot.ForbiddenError{APIError: api(403)}, hubspot.ErrorTypeForbidden, false, 0},
		{"server", &hubspot.ServerError{APIError: api(503)}, hubspot.ErrorTypeServer, true, 0},
		{"locked", &hubspot.APIError{StatusCode: 423}, hubspot.ErrorTypeServer, true, 2 * time.Second},
		{"other 4xx", &hubspot.APIError{StatusCode: 415}, hubspot.ErrorTypeRequest, false, 0},
		{"broken connection", &hubspot.TokenError{Err: fmt.Errorf("refresh: %w", hubspot.ErrConnectionBroken)}, hubspot.ErrorTypeConnectionBroken, false, 0},
		{"invalid_grant", &hubspot.TokenError{Err: &oauth2.RetrieveError{ErrorCode: "invalid_grant"}}, hubspot.ErrorTypeConnectionBroken, false, 0},
		{"token source down", &hubspot.TokenError{Err: errors.New("database is down")}, hubspot.ErrorTypeToken, true, 0},
		{"connection refused", &hubspot.TransportError{Method: "GET", Path: "/x", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, hubspot.ErrorTypeTransport, true, 0},
		{"timeout", &hubspot.TransportError{Method: "GET", Path: "/x", Err: context.DeadlineExceeded}, hubspot.ErrorTypeTransport, true, 0},
		{"search cap", &hubspot.SearchCapError{Type: hubspot.Contacts, Total: 20000, Delivered: 10000}, hubspot.ErrorTypeSearchCap, false, 0},
		{"invalid request", fmt.Errorf("%w: search limit 500", hubspot.ErrInvalidRequest), hubspot.ErrorTypeInvalidRequest, false, 0},
		{"unexpected", errors.New("decoding the 200 response: unexpected EOF"), hubspot.ErrorTypeUnexpected, true, 0},
	} {
		appErr := appError(t, hubspot.TemporalError(tc.err))
		if appErr.Type() != tc.typ || appErr.NonRetryable() == tc.retryable || appErr.NextRetryDelay() != tc.delay {
			t.Errorf("%s: type %s, non-retryable %v, next retry delay %s; want %s, %v, %s",
				tc.name, appErr.Type(), appErr.NonRetryable(), appErr.NextRetryDelay(), tc.typ, !tc.retryable, tc.delay)
		}
		if appErr.Message() != tc.err.Error() {
			t.Errorf("%s: message %q, want the client's %q", tc.name, appErr.Message(), tc.err.Error())
		}
	}

	if hubspot.TemporalError(nil) != nil {
		t.Error("TemporalError(nil) != nil")
	}
	if err := hubspot.TemporalError(context.Canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled context became %v", err)
	}
	already := temporal.NewNonRetryableApplicationError("x", "Mine", nil)
	if hubspot.TemporalError(already) != already {
		t.Error("an application error was converted again")
	}
}

func TestTemporalErrorDetails(t *testing.T) {
	t.Parallel()
	err := hubspot.TemporalError(&hubspot.ConflictError{APIError: hubspot.APIError{StatusCode: 409, CorrelationID: "c-9", Category: "CONFLICT"}, ExistingID: "1234"})
	var d hubspot.ErrorDetails
	if err := appError(t, err).Details(&d); err != nil {
		t.Fatal(err)
	}
	if d.ExistingID != "1234" || d.StatusCode != 409 || d.CorrelationID != "c-9" {
		t.Errorf("conflict details = %+v", d)
	}
	err = hubspot.TemporalError(&hubspot.ValidationError{APIError: hubspot.APIError{StatusCode: 400}, Property: "dealstage"})
	if err := appError(t, err).Details(&d); err != nil {
		t.Fatal(err)
	}
	if d.Property != "dealstage" {
		t.Errorf("validation details = %+v", d)
	}
}

// TestTemporalErrorFromTheSimulator maps errors the simulator really
// answered, so the mapping holds for HubSpot's bodies, not just for errors
// built by hand.
func TestTemporalErrorFromTheSimulator(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)

	e.sim.FailNext(e.portal.ID, 429, 1)
	_, err := e.client.List(ctx, hubspot.Contacts, hubspot.ListOptions{})
	var rl *hubspot.RateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("err = %v, want a rate limit", err)
	}
	appErr := appError(t, hubspot.TemporalError(err))
	if appErr.Type() != hubspot.ErrorTypeRateLimited || appErr.NonRetryable() || appErr.NextRetryDelay() != rl.RetryAfter || rl.RetryAfter <= 0 {
		t.Errorf("429: %s non-retryable=%v delay=%s (RetryAfter %s)", appErr.Type(), appErr.NonRetryable(), appErr.NextRetryDelay(), rl.RetryAfter)
	}

	_, err = e.client.Create(ctx, hubspot.Contacts, hubspot.CreateInput{Properties: map[string]string{"no_such_prop": "x"}})
	appErr = appError(t, hubspot.TemporalError(err))
	var d hubspot.ErrorDetails
	if appErr.Type() != hubspot.ErrorTypeValidation || !appErr.NonRetryable() || appErr.Details(&d) != nil || d.Property != "no_such_prop" {
		t.Errorf("400: %s non-retryable=%v details %+v", appErr.Type(), appErr.NonRetryable(), d)
	}

	e.sim.FailNext(e.portal.ID, 502, 1)
	_, err = e.client.List(ctx, hubspot.Contacts, hubspot.ListOptions{})
	appErr = appError(t, hubspot.TemporalError(err))
	if appErr.Type() != hubspot.ErrorTypeServer || appErr.NonRetryable() {
		t.Errorf("502: %s non-retryable=%v", appErr.Type(), appErr.NonRetryable())
	}
}
