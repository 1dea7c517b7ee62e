package temporalclient

import (
	"errors"
	"log/slog"
	"strings"

	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
)

// NewLogger is the Temporal SDK's logger over logger, with one change: the
// message of a HubSpot error is withheld from the SDK's own lines ("Activity
// error." and the like), because HubSpot's messages may quote the values it
// refused — a lead's email, a name — and personal data is logged only as
// IDs. The error's type stays (HubSpotValidation, HubSpotRateLimited…), and
// the workflow's and the referral's IDs are in the line.
func NewLogger(logger *slog.Logger) sdklog.Logger {
	return redacting{sdklog.NewStructuredLogger(logger)}
}

type redacting struct{ l sdklog.Logger }

func (r redacting) Debug(msg string, kv ...any) { r.l.Debug(msg, redact(kv)...) }
func (r redacting) Info(msg string, kv ...any)  { r.l.Info(msg, redact(kv)...) }
func (r redacting) Warn(msg string, kv ...any)  { r.l.Warn(msg, redact(kv)...) }
func (r redacting) Error(msg string, kv ...any) { r.l.Error(msg, redact(kv)...) }

// With keeps the logger redacting when the SDK adds fields to it.
func (r redacting) With(kv ...any) sdklog.Logger {
	if w, ok := r.l.(sdklog.WithLogger); ok {
		return redacting{w.With(redact(kv)...)}
	}
	return r
}

// redact replaces HubSpot errors among key-value pairs by their type.
func redact(kv []any) []any {
	var out []any
	for i, v := range kv {
		err, ok := v.(error)
		if !ok || i%2 == 0 {
			continue
		}
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || !strings.HasPrefix(appErr.Type(), "HubSpot") {
			continue
		}
		if out == nil {
			out = append([]any(nil), kv...)
		}
		out[i] = appErr.Type() + " (HubSpot's message withheld from logs: it may quote the lead's data)"
	}
	if out == nil {
		return kv
	}
	return out
}
