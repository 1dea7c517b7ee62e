package api

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/reports"
)

// The reports of internal/reports as JSON, or as CSV with ?format=csv:
// GET /api/v1/reports/{funnel,approval-time,rewards,leaderboard}, each for
// one campaign (campaign_id) or all campaigns of the admin's workspace, over
// a period (period=7d|30d|90d, or from and to dates; the last 30 days when
// neither is given).

// Report output formats (the format query parameter).
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
)

// ReportFormats lists the formats a report is given in.
var ReportFormats = []string{FormatJSON, FormatCSV}

func (s *Server) routeReports(g *echo.Group) {
	g.GET("/reports/"+reports.NameFunnel, s.getFunnelReport)
	g.GET("/reports/"+reports.NameApprovalTime, s.getApprovalTimeReport)
	g.GET("/reports/"+reports.NameRewards, s.getRewardsReport)
	g.GET("/reports/"+reports.NameLeaderboard, s.getLeaderboardReport)
}

// reportRequest is what a report request asks for, checked.
type reportRequest struct {
	scope  reports.Scope
	period reports.Period
	format string
	limit  int // the leaderboard's size
}

// readReportRequest reads and checks a report's query parameters. Every
// problem is named at once in a 422; a campaign that is not the admin's
// workspace's is a 404, as everywhere.
func (s *Server) readReportRequest(c echo.Context, name string) (reportRequest, error) {
	known := []string{"campaign_id", "period", "from", "to", "format"}
	if name == reports.NameLeaderboard {
		known = append(known, "limit")
	}
	return s.readReportQuery(c, known)
}

// readReportQuery reads the report parameters among known (the Reports page
// takes no format or limit).
func (s *Server) readReportQuery(c echo.Context, known []string) (reportRequest, error) {
	q := newListQuery(c, known...)
	req := reportRequest{scope: reports.Scope{WorkspaceID: adminFrom(c).WorkspaceID}, format: FormatJSON, limit: reports.DefaultLeaderboardSize}
	req.scope.CampaignID = q.uuid("campaign_id")
	if f := q.oneOf("format", ReportFormats); f != nil {
		req.format = *f
	}
	if raw := q.get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > reports.MaxLeaderboardSize {
			q.problems["limit"] = fmt.Sprintf("must be a whole number from 1 to %d", reports.MaxLeaderboardSize)
		}
		req.limit = n
	}
	p, problems := reports.ParsePeriod(q.get("period"), q.get("from"), q.get("to"), time.Now())
	for k, v := range problems {
		if _, reported := q.problems[k]; !reported {
			q.problems[k] = v
		}
	}
	req.period = p
	if len(q.problems) > 0 {
		return req, invalid(q.problems)
	}
	if id := req.scope.CampaignID; id != nil {
		row, err := s.queries().CampaignGetByID(c.Request().Context(), *id)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.WorkspaceID != req.scope.WorkspaceID) {
			return req, campaignNotFound()
		}
		if err != nil {
			return req, fmt.Errorf("load the report's campaign: %w", err)
		}
	}
	return req, nil
}

// tabular is a report that can be written as CSV.
type tabular interface{ Table() reports.Table }

// answerReport writes a report as JSON, or as a CSV file named for the
// report and its period (referflow-funnel-2026-11-04-to-2026-12-03.csv).
func answerReport(c echo.Context, req reportRequest, name string, report tabular) error {
	if req.format != FormatCSV {
		return c.JSON(http.StatusOK, report)
	}
	t := report.Table()
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+ReportFileName(name, req.period)+`"`)
	res.WriteHeader(http.StatusOK)
	w := csv.NewWriter(res)
	_ = w.Write(t.Columns)
	for _, row := range t.Rows {
		safe := make([]string, len(row))
		for i, v := range row {
			safe[i] = spreadsheetSafe(v)
		}
		_ = w.Write(safe)
	}
	w.Flush()
	return nil // an error here is the client gone: the answer has begun
}

// ReportFileName is the name a report's CSV file is saved under.
func ReportFileName(name string, p reports.Period) string {
	return "referflow-" + name + "-" + strings.ReplaceAll(p.String(), " ", "-") + ".csv"
}

func (s *Server) getFunnelReport(c echo.Context) error {
	req, err := s.readReportRequest(c, reports.NameFunnel)
	if err != nil {
		return err
	}
	r, err := reports.ComputeFunnel(c.Request().Context(), s.queries(), req.scope, req.period)
	if err != nil {
		return err
	}
	return answerReport(c, req, reports.NameFunnel, r)
}

func (s *Server) getApprovalTimeReport(c echo.Context) error {
	req, err := s.readReportRequest(c, reports.NameApprovalTime)
	if err != nil {
		return err
	}
	r, err := reports.ComputeApprovalTime(c.Request().Context(), s.queries(), req.scope, req.period)
	if err != nil {
		return err
	}
	return answerReport(c, req, reports.NameApprovalTime, r)
}

func (s *Server) getRewardsReport(c echo.Context) error {
	req, err := s.readReportRequest(c, reports.NameRewards)
	if err != nil {
		return err
	}
	r, err := reports.ComputeRewards(c.Request().Context(), s.queries(), req.scope, req.period)
	if err != nil {
		return err
	}
	return answerReport(c, req, reports.NameRewards, r)
}

func (s *Server) getLeaderboardReport(c echo.Context) error {
	req, err := s.readReportRequest(c, reports.NameLeaderboard)
	if err != nil {
		return err
	}
	r, err := reports.ComputeLeaderboard(c.Request().Context(), s.queries(), req.scope, req.period, req.limit)
	if err != nil {
		return err
	}
	return answerReport(c, req, reports.NameLeaderboard, r)
}
