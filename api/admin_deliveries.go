package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/webhookdelivery"
)

// The webhook deliveries pages: the list of GET /api/v1/webhook-deliveries
// (filters campaign, status, event type; keyset paging), one delivery with
// every attempt (status, answer, latency, error) and replay — the functions
// the JSON API calls (webhook_deliveries.go).

const navDeliveries = "deliveries"

func (s *Server) routeAdminDeliveries(g *echo.Group) {
	g.GET("/deliveries", s.adminDeliveries)
	g.GET("/deliveries/:id", s.adminDelivery)
	g.POST("/deliveries/:id/replay", s.adminDeliveryReplay)
}

type deliveriesPage struct {
	AdminPage
	Deliveries []WebhookDeliveryView
	Campaigns  map[string]string
	Filters    []adminField
	NextURL    string
}

var deliveryFilterParams = []string{"campaign_id", "status", "event_type"}

func (s *Server) adminDeliveries(c echo.Context) error {
	p := deliveriesPage{AdminPage: s.newAdminPage(c, "Webhook deliveries", navDeliveries), Campaigns: map[string]string{}}
	ctx := c.Request().Context()
	campaigns, err := s.queries().CampaignListByWorkspace(ctx, adminFrom(c).WorkspaceID)
	if err != nil {
		return err
	}
	status := http.StatusOK
	list, err := s.webhookDeliveryList(c, newListQuery(c, append(deliveryFilterParams, "cursor")...))
	if err != nil {
		if !p.SetProblems(err) {
			return err
		}
		status = http.StatusBadRequest
	}
	values := c.QueryParams()
	campaignOpts := []adminOption{{Value: "", Label: "All campaigns"}}
	for _, cp := range campaigns {
		p.Campaigns[cp.ID.String()] = cp.Name
		campaignOpts = append(campaignOpts, adminOption{Value: cp.ID.String(), Label: cp.Name, Selected: values.Get("campaign_id") == cp.ID.String()})
	}
	statusOpts := []adminOption{{Value: "", Label: "Any status"}}
	for _, st := range words(webhookdelivery.Statuses) {
		statusOpts = append(statusOpts, adminOption{Value: st, Label: st, Selected: values.Get("status") == st})
	}
	typeOpts := []adminOption{{Value: "", Label: "Any event"}}
	for _, et := range webhookdelivery.EventTypes {
		typeOpts = append(typeOpts, adminOption{Value: et, Label: et, Selected: values.Get("event_type") == et})
	}
	p.Filters = []adminField{
		{Name: "campaign_id", ID: "filter-campaign", Label: "Campaign", Type: "select", Options: campaignOpts},
		{Name: "status", ID: "filter-status", Label: "Status", Type: "select", Options: statusOpts},
		{Name: "event_type", ID: "filter-event", Label: "Event", Type: "select", Options: typeOpts},
	}
	for i := range p.Filters {
		p.Filters[i].Error = p.FieldError(p.Filters[i].Name)
	}
	p.Deliveries = list.WebhookDeliveries
	if list.NextCursor != nil {
		next := url.Values{"cursor": {*list.NextCursor}}
		for _, name := range deliveryFilterParams {
			if v := values.Get(name); v != "" {
				next.Set(name, v)
			}
		}
		p.NextURL = "/admin/deliveries?" + next.Encode()
	}
	return renderAdmin(c, status, "admin_deliveries", p)
}

type deliveryPage struct {
	AdminPage
	Delivery WebhookDeliveryView
	Campaign string
}

func (s *Server) adminDelivery(c echo.Context) error {
	v, err := s.webhookDeliveryWithAttempts(c)
	if err != nil {
		return err
	}
	p := deliveryPage{AdminPage: s.newAdminPage(c, "Webhook delivery", navDeliveries), Delivery: v}
	if cp, err := s.queries().CampaignGetByID(c.Request().Context(), uuid.MustParse(v.CampaignID)); err == nil {
		p.Campaign = cp.Name
	}
	return renderAdmin(c, http.StatusOK, "admin_delivery", p)
}

func (s *Server) adminDeliveryReplay(c echo.Context) error {
	id, err := webhookDeliveryID(c)
	if err != nil {
		return err
	}
	d, err := s.replayDelivery(c, id)
	if err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict {
			return s.redirectWithFlash(c, "/admin/deliveries/"+id.String(), "Not replayed: "+apiErr.Message)
		}
		return err
	}
	return s.redirectWithFlash(c, "/admin/deliveries/"+d.ID.String(),
		fmt.Sprintf("Queued again: the next attempt is due %s.", d.NextAttemptAt.UTC().Format("15:04:05 UTC")))
}
