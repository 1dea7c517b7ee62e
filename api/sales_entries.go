package api

import "github.com/labstack/echo/v4"

// routeSalesReceiver registers the Sales Receiver's admin API: sales entries, the review queue and decisions.
// Placeholder until it is built.
func (s *Server) routeSalesReceiver(g *echo.Group) {}
