package api

import "github.com/labstack/echo/v4"

// routeOpenAPI registers the OpenAPI 3 document of the admin API.
// Placeholder until it is built.
func (s *Server) routeOpenAPI(g *echo.Group) {}
