package hubspot

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.temporal.io/sdk/temporal"
)

// Application error types TemporalError gives HubSpot activities' errors.
// Workflows tell failures apart by them (temporal.ApplicationError.Type).
const (
	// Retryable after HubSpot's wait, set as NextRetryDelay.
	ErrorTypeRateLimited = "HubSpotRateLimited"
	// Retryable with the activity's backoff.
	ErrorTypeServer     = "HubSpotServer"     // 5xx
	ErrorTypeTransport  = "HubSpotTransport"  // timeout, connection refused or reset
	ErrorTypeToken      = "HubSpotToken"      // the token source failed for a passing reason
	ErrorTypeUnexpected = "HubSpotUnexpected" // an answer the client could not read
	// Non-retryable: retrying the same call cannot succeed.
	ErrorTypeValidation       = "HubSpotValidation"       // 400
	ErrorTypeNotFound         = "HubSpotNotFound"         // 404
	ErrorTypeConflict         = "HubSpotConflict"         // 409; details carry the existing ID
	ErrorTypeUnauthorized     = "HubSpotUnauthorized"     // 401: token revoked or app uninstalled
	ErrorTypeForbidden        = "HubSpotForbidden"        // 403: a scope or feature is missing
	ErrorTypeConnectionBroken = "HubSpotConnectionBroken" // refresh refused: an admin must reconnect
	ErrorTypeInvalidRequest   = "HubSpotInvalidRequest"   // refused by the client before sending
	ErrorTypeSearchCap        = "HubSpotSearchCapReached" // narrow the search's filter
	ErrorTypeRequest          = "HubSpotRequest"          // any other 4xx
)

// ErrorDetails is attached to the application errors TemporalError returns
// (read it with ApplicationError.Details).
type ErrorDetails struct {
	StatusCode    int
	CorrelationID string
	Category      string
	Property      string        // ErrorTypeValidation: the property HubSpot named
	ExistingID    string        // ErrorTypeConflict: the existing object's ID
	RetryAfter    time.Duration // ErrorTypeRateLimited
}

// lockedRetryDelay is how long HubSpot asks to wait after a 423 Locked.
const lockedRetryDelay = 2 * time.Second

// TemporalError converts an error of this client into what a HubSpot activity
// should return, so that Temporal's retries do the right thing: rate limits
// retry after HubSpot's wait; 5xx, timeouts and connection errors retry with
// the activity's backoff; errors a retry cannot fix fail the activity at
// once. The type names are the ErrorType constants. nil stays nil; an error
// that is already a *temporal.ApplicationError, and a cancelled context, are
// returned as they are.
func TemporalError(err error) error {
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	msg := err.Error()
	retryable := func(typ string, d ErrorDetails, delay time.Duration) error {
		return temporal.NewApplicationErrorWithOptions(msg, typ, temporal.ApplicationErrorOptions{Details: []any{d}, NextRetryDelay: delay})
	}
	final := func(typ string, d ErrorDetails) error {
		return temporal.NewApplicationErrorWithOptions(msg, typ, temporal.ApplicationErrorOptions{Details: []any{d}, NonRetryable: true})
	}

	var (
		rateLimit    *RateLimitError
		waitTooLong  *WaitTooLongError
		validation   *ValidationError
		notFound     *NotFoundError
		conflict     *ConflictError
		unauthorized *UnauthorizedError
		forbidden    *ForbiddenError
		server       *ServerError
		api          *APIError
		token        *TokenError
		transport    *TransportError
		searchCap    *SearchCapError
	)
	switch {
	case errors.As(err, &rateLimit):
		d := details(rateLimit.APIError)
		d.RetryAfter = rateLimit.RetryAfter
		return retryable(ErrorTypeRateLimited, d, max(rateLimit.RetryAfter, time.Millisecond))
	case errors.As(err, &waitTooLong):
		// The limiter holds the portal longer than the activity may run (a
		// DAILY limit learned from HubSpot): retry when it lets calls go.
		return retryable(ErrorTypeRateLimited, ErrorDetails{RetryAfter: waitTooLong.Wait}, max(waitTooLong.Wait, time.Millisecond))
	case errors.As(err, &validation):
		d := details(validation.APIError)
		d.Property = validation.Property
		return final(ErrorTypeValidation, d)
	case errors.As(err, &notFound):
		return final(ErrorTypeNotFound, details(notFound.APIError))
	case errors.As(err, &conflict):
		d := details(conflict.APIError)
		d.ExistingID = conflict.ExistingID
		return final(ErrorTypeConflict, d)
	case errors.As(err, &unauthorized):
		return final(ErrorTypeUnauthorized, details(unauthorized.APIError))
	case errors.As(err, &forbidden):
		return final(ErrorTypeForbidden, details(forbidden.APIError))
	case errors.As(err, &server):
		return retryable(ErrorTypeServer, details(server.APIError), 0)
	case errors.As(err, &api):
		switch api.StatusCode {
		case http.StatusLocked:
			return retryable(ErrorTypeServer, details(*api), lockedRetryDelay)
		case http.StatusRequestTimeout, 477: // 477: migration in progress
			return retryable(ErrorTypeServer, details(*api), 0)
		}
		return final(ErrorTypeRequest, details(*api))
	case errors.Is(err, ErrConnectionBroken) || errors.As(err, &token) && token.Broken():
		return final(ErrorTypeConnectionBroken, ErrorDetails{})
	case errors.As(err, &token):
		return retryable(ErrorTypeToken, ErrorDetails{}, 0)
	case errors.As(err, &searchCap):
		return final(ErrorTypeSearchCap, ErrorDetails{})
	case errors.Is(err, ErrInvalidRequest):
		return final(ErrorTypeInvalidRequest, ErrorDetails{})
	case errors.As(err, &transport), errors.Is(err, context.DeadlineExceeded):
		return retryable(ErrorTypeTransport, ErrorDetails{}, 0)
	}
	return retryable(ErrorTypeUnexpected, ErrorDetails{}, 0)
}

func details(e APIError) ErrorDetails {
	return ErrorDetails{StatusCode: e.StatusCode, CorrelationID: e.CorrelationID, Category: e.Category}
}
