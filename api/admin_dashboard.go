package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/reports"
	"github.com/referflow/referflow/internal/review"
	"github.com/referflow/referflow/internal/webhookdelivery"
)

// The admin UI's dashboard (GET /admin): what needs the admin's attention,
// each with a link to where it is dealt with, and the last day's numbers.

type dashboardPage struct {
	AdminPage
	Attention []attentionItem
	// Numbers are the funnel of yesterday and of today so far (UTC days),
	// from internal/reports, the Reports page's own counts.
	Numbers []dashboardNumber
}

// dashboardNumber is one step of the funnel on the last two days.
type dashboardNumber struct {
	Step             string
	Yesterday, Today int64
}

// dashboardSteps name the funnel's steps on the dashboard.
var dashboardSteps = map[string]string{
	reports.StepClicks: "Clicks on referral links", reports.StepJoins: "Members joined", reports.StepReferrals: "Referrals added",
	reports.StepQualified: "of which qualified now", reports.StepApproved: "of which approved now",
}

// attentionItem is one thing that needs the admin: what, and where to go.
type attentionItem struct {
	Text, Link, LinkText string
	// Bad marks what stops the program (a broken connection), rather than
	// waits for the admin.
	Bad bool
}

// dashboardCountLimit caps the counts of the dashboard (review queue,
// failed deliveries): beyond it the page says "100+" rather than counting
// a large table on every visit.
const dashboardCountLimit = 100

func countText(n int) string {
	if n > dashboardCountLimit {
		return strconv.Itoa(dashboardCountLimit) + "+"
	}
	return strconv.Itoa(n)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (s *Server) adminDashboard(c echo.Context) error {
	ctx := c.Request().Context()
	ws := adminFrom(c).WorkspaceID
	p := dashboardPage{AdminPage: s.newAdminPage(c, "Dashboard", navDashboard)}
	q := s.queries()

	if s.deps.HubSpot != nil {
		st, err := s.deps.HubSpot.Status(ctx, ws)
		if err != nil {
			return err
		}
		switch st.Status {
		case hubspotconn.StatusBroken:
			reason := ""
			if st.BrokenReason != nil {
				reason = ": " + *st.BrokenReason
			}
			p.Attention = append(p.Attention, attentionItem{Text: "The HubSpot connection is broken" + reason + ". Leads wait until it is repaired.", Link: "/admin/hubspot", LinkText: "Reconnect HubSpot", Bad: true})
		case hubspotconn.StatusNotConnected, hubspotconn.StatusDisconnected:
			p.Attention = append(p.Attention, attentionItem{Text: "HubSpot is not connected: referflow can neither read deals nor send leads.", Link: "/admin/hubspot", LinkText: "Connect HubSpot", Bad: true})
		}
		if len(st.MissingScopes) > 0 && st.Status == hubspotconn.StatusConnected {
			p.Attention = append(p.Attention, attentionItem{Text: fmt.Sprintf("HubSpot did not grant %d of the scopes referflow asks for.", len(st.MissingScopes)), Link: "/admin/hubspot", LinkText: "See which and reconnect"})
		}
		if st.PropertySetup != nil && st.PropertySetup.Status == hubspotconn.SetupFailed {
			p.Attention = append(p.Attention, attentionItem{Text: "Setting up referflow's properties in HubSpot failed.", Link: "/admin/hubspot", LinkText: "See why", Bad: true})
		}
	}

	open, err := q.ReviewEntryListFiltered(ctx, db.ReviewEntryListFilteredParams{WorkspaceID: ws, Status: string(review.Open),
		AfterCreatedAt: startOfTime, AfterID: uuid.Nil, PageSize: dashboardCountLimit + 1})
	if err != nil {
		return fmt.Errorf("dashboard: review queue: %w", err)
	}
	if n := len(open); n > 0 {
		p.Attention = append(p.Attention, attentionItem{Text: countText(n) + " " + plural(n, "entry waits", "entries wait") + " in the review queue.", Link: "/admin/review", LinkText: "Open the review queue"})
	}

	failed := string(webhookdelivery.Failed)
	deliveries, err := q.WebhookDeliveryListFiltered(ctx, db.WebhookDeliveryListFilteredParams{WorkspaceID: ws, Status: &failed,
		BeforeCreatedAt: endOfTime, BeforeID: maxUUID, PageSize: dashboardCountLimit + 1})
	if err != nil {
		return fmt.Errorf("dashboard: failed deliveries: %w", err)
	}
	if n := len(deliveries); n > 0 {
		p.Attention = append(p.Attention, attentionItem{Text: countText(n) + " webhook " + plural(n, "delivery", "deliveries") + " failed (retries over).", Link: "/admin/deliveries?status=failed", LinkText: "See the failed deliveries", Bad: true})
	}

	camps, err := q.CampaignListUnarchivedOfWorkspaces(ctx, []uuid.UUID{ws})
	if err != nil {
		return fmt.Errorf("dashboard: campaigns: %w", err)
	}
	for _, camp := range camps {
		settings, err := activities.CampaignSettings(camp)
		if err != nil {
			return err
		}
		if missing := settings.SetupRequired(); len(missing) > 0 {
			p.Attention = append(p.Attention, attentionItem{Text: fmt.Sprintf("Campaign %q needs setup: %d %s missing.", camp.Name, len(missing), plural(len(missing), "field is", "fields are")),
				Link: "/admin/campaigns/" + camp.ID.String(), LinkText: "Finish the setup of " + camp.Name})
		}
	}
	scope := reports.Scope{WorkspaceID: ws}
	today := reports.LastDays(1, time.Now())
	yesterday := reports.Period{From: today.From.AddDate(0, 0, -1), To: today.To.AddDate(0, 0, -1)}
	ft, err := reports.ComputeFunnel(ctx, q, scope, today)
	if err != nil {
		return err
	}
	fy, err := reports.ComputeFunnel(ctx, q, scope, yesterday)
	if err != nil {
		return err
	}
	for i, st := range ft.Steps {
		p.Numbers = append(p.Numbers, dashboardNumber{Step: dashboardSteps[st.Step], Today: st.Count, Yesterday: fy.Steps[i].Count})
	}
	return renderAdmin(c, http.StatusOK, "admin_dashboard", p)
}
