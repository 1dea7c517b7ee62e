package api

import "github.com/labstack/echo/v4"

// routeReferralList registers the referral list with its filters and paging.
// Placeholder until it is built.
func (s *Server) routeReferralList(g *echo.Group) {}
