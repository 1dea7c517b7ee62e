package api

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/reports"
)

// The admin UI's Reports page (GET /admin/reports): the four reports of
// internal/reports for one campaign or all, over a period, as charts and
// tables, each with a link to its CSV from the JSON API (which takes the
// session cookie too). The filter is a GET form: it changes nothing, so it
// carries no CSRF token (which would otherwise land in URLs and history).

type reportsPage struct {
	AdminPage
	Campaign, Period, From, To adminField
	// Shown is false when the filter was refused: the page shows the form
	// with what to fix, and no numbers.
	Shown        bool
	Funnel       reports.Funnel
	FunnelChart  template.HTML
	Approval     reports.ApprovalTime
	ApprovalRows []reportsApprovalRow
	ApprovalSVG  template.HTML
	Rewards      reports.Rewards
	Leaderboard  reports.Leaderboard
	// CSV is each report's CSV link, by report name.
	CSV map[string]string
}

type reportsApprovalRow struct{ Measure, Duration string }

func (s *Server) adminReports(c echo.Context) error {
	ctx := c.Request().Context()
	p := reportsPage{AdminPage: s.newAdminPage(c, "Reports", "reports")}
	q := c.QueryParams()
	campaigns, err := s.queries().CampaignListByWorkspace(ctx, adminFrom(c).WorkspaceID)
	if err != nil {
		return fmt.Errorf("list campaigns for the reports page: %w", err)
	}
	options := []adminOption{{Value: "", Label: "All campaigns", Selected: q.Get("campaign_id") == ""}}
	for _, camp := range campaigns {
		options = append(options, adminOption{Value: camp.ID.String(), Label: camp.Name, Selected: camp.ID.String() == q.Get("campaign_id")})
	}
	preset := q.Get("period")
	if preset == "" && q.Get("from") == "" && q.Get("to") == "" {
		preset = reports.DefaultPreset
	}
	periods := []adminOption{}
	for _, o := range []adminOption{{"7d", "Last 7 days", false}, {"30d", "Last 30 days", false}, {"90d", "Last 90 days", false}, {"", "The dates below", false}} {
		o.Selected = o.Value == preset
		periods = append(periods, o)
	}
	// Not required: "All campaigns" has the empty value, which a required
	// select would refuse.
	p.Campaign = adminField{Name: "campaign_id", ID: "campaign", Label: "Campaign", Type: "select", Options: options}
	p.Period = adminField{Name: "period", ID: "period", Label: "Period", Type: "select", Required: true, Options: periods,
		Hint: "Whole days in UTC, today included."}
	p.From = adminField{Name: "from", ID: "from", Label: "From", Type: "date", Value: q.Get("from"), Hint: "With “The dates below”: the first day, YYYY-MM-DD."}
	p.To = adminField{Name: "to", ID: "to", Label: "To", Type: "date", Value: q.Get("to"), Hint: "The last day, included; at most 366 days after From."}

	req, err := s.readReportQuery(c, []string{"campaign_id", "period", "from", "to"})
	if err != nil {
		if !p.SetProblems(err) {
			return err
		}
		if apiErr, ok := err.(*APIError); ok && apiErr.Status == http.StatusNotFound {
			return err // another workspace's campaign: the 404 page
		}
		p.Campaign.Error, p.Period.Error, p.From.Error, p.To.Error = p.FieldError("campaign_id"), p.FieldError("period"), p.FieldError("from"), p.FieldError("to")
		return renderAdmin(c, http.StatusUnprocessableEntity, "admin_reports", p)
	}
	if p.Funnel, err = reports.ComputeFunnel(ctx, s.queries(), req.scope, req.period); err != nil {
		return err
	}
	if p.Approval, err = reports.ComputeApprovalTime(ctx, s.queries(), req.scope, req.period); err != nil {
		return err
	}
	if p.Rewards, err = reports.ComputeRewards(ctx, s.queries(), req.scope, req.period); err != nil {
		return err
	}
	if p.Leaderboard, err = reports.ComputeLeaderboard(ctx, s.queries(), req.scope, req.period, reports.DefaultLeaderboardSize); err != nil {
		return err
	}
	p.Shown = true
	p.FunnelChart, p.ApprovalSVG = p.Funnel.Chart(), p.Approval.Chart()
	p.ApprovalRows = []reportsApprovalRow{
		{"Median", reports.Duration(p.Approval.MedianSeconds)},
		{"90th percentile", reports.Duration(p.Approval.P90Seconds)},
	}
	p.CSV = map[string]string{}
	for _, name := range reports.Names {
		v := url.Values{"from": {req.period.From.Format(reports.DateLayout)}, "to": {req.period.To.Format(reports.DateLayout)}, "format": {FormatCSV}}
		if req.scope.CampaignID != nil {
			v.Set("campaign_id", req.scope.CampaignID.String())
		}
		p.CSV[name] = "/api/v1/reports/" + name + "?" + v.Encode()
	}
	return renderAdmin(c, http.StatusOK, "admin_reports", p)
}
