package api

// routeHubSpotWebhooks registers HubSpot's webhooks in (the Sales Receiver's intake).
// Placeholder until it is built.
func (s *Server) routeHubSpotWebhooks() {}
