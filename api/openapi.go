package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDocument describes every /api/v1 route: parameters, request
// bodies, answers and the JSON error shape. It is written by hand next to
// the handlers; TestOpenAPIDocumentMatchesRoutes fails when a route is
// missing from it or it lists one that does not exist, and
// TestOpenAPISchemasMatchViews when a schema's fields drift from the Go
// type the handlers answer with.
//
//go:embed openapi.json
var openAPIDocument []byte

// routeOpenAPI registers the OpenAPI 3 document of the admin API.
func (s *Server) routeOpenAPI(g *echo.Group) {
	g.GET("/openapi.json", s.openAPI)
}

func (s *Server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDocument)
}
