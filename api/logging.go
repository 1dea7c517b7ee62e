package api

import (
	"context"
	"log/slog"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// requestLogger writes one JSON line per request. It logs the route and the
// path, never the query string (OAuth callbacks carry codes and state there)
// nor headers or bodies (tokens, signatures, personal data).
func requestLogger(logger *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogMethod:    true,
		LogURIPath:   true,
		LogRoutePath: true,
		LogStatus:    true,
		LogLatency:   true,
		LogRequestID: true,
		LogRemoteIP:  true,
		LogError:     true,
		HandleError:  true, // so the logged status is the one the error handler writes
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			switch {
			case v.Status >= 500:
				level = slog.LevelError
			case v.Status >= 400:
				level = slog.LevelWarn
			case v.RoutePath == "/healthz" || v.RoutePath == "/readyz" || v.RoutePath == "/metrics" ||
				v.RoutePath == referralLinkRoute:
				// Referral links are the busiest route: followed links
				// are counted in the metrics and the clicks table.
				level = slog.LevelDebug
			}
			path := v.URIPath
			if strings.HasPrefix(v.RoutePath, memberPortalPrefix) {
				// The member portal's path carries the member's access
				// token, a credential: the route is logged instead.
				path = v.RoutePath
			}
			attrs := []slog.Attr{
				slog.String("request_id", v.RequestID),
				slog.String("method", v.Method),
				slog.String("path", path),
				slog.String("route", v.RoutePath),
				slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency),
			}
			// A referral link's visitor is anonymous: their IP address is
			// neither logged nor stored (clicks keep a keyed hash).
			if v.RoutePath != referralLinkRoute {
				attrs = append(attrs, slog.String("remote_ip", v.RemoteIP))
			}
			logger.LogAttrs(context.Background(), level, "http request", attrs...)
			return nil
		},
	})
}
