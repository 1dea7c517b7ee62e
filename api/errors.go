package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"
)

// ErrorBody is the JSON body of every error answer:
//
//	{"error": {"code": "not_found", "message": "...", "request_id": "..."}}
//
// `code` is stable for programs; `message` is for people and says what was
// wrong and, where it helps, what to do.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the content of ErrorBody.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
	// Fields names each invalid input field and what is wrong with it.
	Fields map[string]string `json:"fields,omitempty"`
}

// APIError is an error a handler returns to answer with a given status.
type APIError struct {
	Status  int
	Code    string
	Message string
	Fields  map[string]string
}

func (e *APIError) Error() string { return e.Message }

// NewError builds an APIError.
func NewError(status int, code, message string) *APIError {
	return &APIError{Status: status, Code: code, Message: message}
}

var statusCodes = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "body_too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusUnprocessableEntity:   "invalid",
	http.StatusTooManyRequests:       "rate_limited",
	http.StatusBadGateway:            "bad_gateway",
	http.StatusServiceUnavailable:    "unavailable",
}

func codeFor(status int) string {
	if code, ok := statusCodes[status]; ok {
		return code
	}
	if status >= 500 {
		return "internal"
	}
	return strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
}

// jsonErrorHandler turns every error a handler or middleware returns into a
// JSON body. Errors that are not ours or Echo's are internal: the client gets
// a generic message and the request ID, the log gets the detail. page, when
// not nil, may answer instead with a page (the admin UI's error page) and
// then returns true.
func jsonErrorHandler(logger *slog.Logger, page func(echo.Context, int, ErrorDetail) bool) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		detail := ErrorDetail{RequestID: c.Response().Header().Get(echo.HeaderXRequestID)}
		status := http.StatusInternalServerError
		var apiErr *APIError
		var httpErr *echo.HTTPError
		switch {
		case errors.As(err, &apiErr):
			status, detail.Code, detail.Message, detail.Fields = apiErr.Status, apiErr.Code, apiErr.Message, apiErr.Fields
		case errors.As(err, &httpErr):
			status = httpErr.Code
			detail.Code = codeFor(status)
			detail.Message = httpMessage(httpErr)
		}
		if status >= 500 && apiErr == nil && textRefused(err) {
			// A NUL character or invalid UTF-8 that no check caught before
			// Postgres refused it is still the client's mistake.
			status, detail.Code = http.StatusUnprocessableEntity, codeFor(http.StatusUnprocessableEntity)
			detail.Message = "a text value holds a NUL character or is not valid UTF-8"
			logger.WarnContext(c.Request().Context(), "Postgres refused text no check caught", "request_id", detail.RequestID, "route", c.Path())
		}
		if status >= 500 && apiErr == nil {
			detail.Code = codeFor(status)
			detail.Message = "something went wrong on our side; the request ID identifies it in the logs"
			if databaseUnavailable(err) {
				status, detail.Code = http.StatusServiceUnavailable, codeFor(http.StatusServiceUnavailable)
				detail.Message = "the database is unavailable right now; try again in a moment"
			}
			logger.ErrorContext(c.Request().Context(), "request failed",
				"request_id", detail.RequestID, "route", c.Path(), "error", err.Error())
		}
		if detail.Code == "" {
			detail.Code = codeFor(status)
		}
		if detail.Message == "" {
			detail.Message = http.StatusText(status)
		}
		if page != nil && page(c, status, detail) {
			return
		}
		var werr error
		if c.Request().Method == http.MethodHead {
			werr = c.NoContent(status)
		} else {
			werr = c.JSON(status, ErrorBody{Error: detail})
		}
		if werr != nil {
			logger.Warn("write error answer", "request_id", detail.RequestID, "error", werr.Error())
		}
	}
}

// databaseUnavailable tells whether err is Postgres being out of reach — no
// connection, or the server shutting down or restarting — rather than a
// fault of the request or of referflow: the answer is then 503, which a
// client retries, not a 500, which says something is broken.
func databaseUnavailable(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P01-57P03: admin shutdown,
		// crash shutdown, cannot connect now (starting up).
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	return false
}

// textRefused tells whether err is Postgres refusing a text value's bytes:
// 22021 character_not_in_repertoire (NUL, invalid UTF-8), 22P05
// untranslatable_character.
func textRefused(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "22021" || pgErr.Code == "22P05")
}

func httpMessage(e *echo.HTTPError) string {
	switch e.Code {
	case http.StatusNotFound:
		return "no such endpoint"
	case http.StatusMethodNotAllowed:
		return "this endpoint does not accept that method"
	case http.StatusRequestEntityTooLarge:
		return fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes)
	}
	if msg, ok := e.Message.(string); ok {
		return msg
	}
	return http.StatusText(e.Code)
}

// recoverPanics turns a panic in a handler into a 500 with a JSON body and a
// logged stack, so one bad request never takes the process down.
func recoverPanics(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				r := recover()
				if r == nil {
					return
				}
				if r == http.ErrAbortHandler {
					panic(r)
				}
				stack := make([]byte, 8<<10)
				stack = stack[:runtime.Stack(stack, false)]
				logger.ErrorContext(c.Request().Context(), "panic in handler",
					"request_id", c.Response().Header().Get(echo.HeaderXRequestID),
					"route", c.Path(), "panic", fmt.Sprint(r), "stack", string(stack))
				err = NewError(http.StatusInternalServerError, "internal",
					"something went wrong on our side; the request ID identifies it in the logs")
			}()
			return next(c)
		}
	}
}
