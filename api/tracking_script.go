package api

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// The tracking script, served to the customer's pages from the binary:
//
//   - /js/referflow.js, the path to paste: cacheable for 5 minutes and
//     revalidated with its ETag, so a new referflow version reaches every
//     page within minutes;
//   - /js/referflow.<version>.js, the same bytes at a path that never
//     changes (cached for a year, immutable), for pages that pin a version
//     with a Subresource Integrity hash: <version> is the ETag of
//     /js/referflow.js. It answers 404 once referflow serves another
//     version, so a pinned snippet is pasted again after an upgrade.
//
// CORS-readable (Access-Control-Allow-Origin: *: the script is public), so
// a page may load it with crossorigin and integrity attributes.

//go:embed assets/referflow.js
var trackingScript []byte

// TrackingScriptVersion is the script's version: the start of its SHA-256.
var TrackingScriptVersion = func() string {
	sum := sha256.Sum256(trackingScript)
	return hex.EncodeToString(sum[:8])
}()

const trackingScriptPath = "/js/referflow.js"

func (s *Server) routeTrackingScript() {
	s.echo.GET("/js/:file", s.getTrackingScript)
	s.echo.HEAD("/js/:file", s.getTrackingScript)
}

func (s *Server) getTrackingScript(c echo.Context) error {
	cacheControl := ""
	switch c.Param("file") {
	case "referflow.js":
		cacheControl = "public, max-age=300"
	case "referflow." + TrackingScriptVersion + ".js":
		cacheControl = "public, max-age=31536000, immutable"
	default:
		return NewError(http.StatusNotFound, "not_found", "no such script: the tracking script is "+trackingScriptPath)
	}
	h := c.Response().Header()
	etag := `"` + TrackingScriptVersion + `"`
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	if etagMatches(c.Request().Header.Get("If-None-Match"), etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, "application/javascript; charset=utf-8", trackingScript)
}

// etagMatches tells whether an If-None-Match header names etag (or is *);
// weak validators match too, as RFC 9110 says for GET.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
