package api

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
)

// A campaign's hosted pages, /c/{slug}/...: the join page (join_page.go) and
// the hosted lead form (hosted_form.go). Their URL names the campaign by its
// public slug (settings.public.slug) and no workspace.

// publicCampaign is the campaign of a hosted page.
type publicCampaign struct {
	row      db.Campaign
	settings campaign.Settings
	// company is the workspace's name: the business the pages speak for.
	company string
}

// path is the campaign's hosted page named by the rest ("join", "refer").
func (p publicCampaign) path(rest string) string {
	return "/c/" + url.PathEscape(p.settings.Public.Slug) + "/" + rest
}

var publicSlug = regexp.MustCompile(campaign.SlugPattern)

// campaignOfPage loads the campaign of /c/{slug}/... with its decoded
// settings. When there is none, or (with active) it is not active, it answers
// the friendly 404 page itself and ok is false: the handler returns err.
func (s *Server) campaignOfPage(c echo.Context, active bool) (pc publicCampaign, ok bool, err error) {
	slug := c.Param("slug")
	if !publicSlug.MatchString(slug) {
		return publicCampaign{}, false, campaignPageNotFound(c)
	}
	row, err := s.queries().CampaignGetBySlug(c.Request().Context(), slug)
	if errors.Is(err, pgx.ErrNoRows) {
		return publicCampaign{}, false, campaignPageNotFound(c)
	}
	if err != nil {
		return publicCampaign{}, false, err
	}
	if active && !campaign.Status(row.Campaign.Status).TakesNew() {
		return publicCampaign{}, false, campaignPageNotFound(c)
	}
	settings, err := activities.CampaignSettings(row.Campaign)
	if err != nil {
		return publicCampaign{}, false, err
	}
	return publicCampaign{row: row.Campaign, settings: settings, company: row.WorkspaceName}, true, nil
}

// campaignPageNotFound is the page of an unknown slug or a campaign not running:
// the same for both, so the pages do not tell which campaigns exist.
func campaignPageNotFound(c echo.Context) error {
	return renderPage(c, http.StatusNotFound, "public_message", messagePage{
		Title: "This page is not available",
		Paragraphs: []string{
			"The referral program this link belongs to is unknown, or is not running at the moment.",
			"Please check that the link was copied whole, or ask the person who shared it.",
		},
	})
}

func (s *Server) routePublicCampaignPages() {
	pages := s.echo.Group("/c/:slug", s.publicPageErrors, limitBody(maxPublicFormBytes))
	s.routeHostedForm(pages)
	s.routeJoinPage(pages)
}

// publicPageErrors answers the hosted pages' errors with a page a person can
// read, not the API's JSON: a body too large (413), a method the page does
// not take, and what fails on referflow's side (logged with the request ID,
// as the JSON handler does; 503 when the database cannot be reached).
func (s *Server) publicPageErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Response().Committed {
			return err
		}
		status := http.StatusInternalServerError
		var apiErr *APIError
		var httpErr *echo.HTTPError
		switch {
		case errors.As(err, &apiErr):
			status = apiErr.Status
		case errors.As(err, &httpErr):
			status = httpErr.Code
		}
		page := messagePage{Title: "This page cannot do that", Paragraphs: []string{"Please go back and try again."}}
		switch {
		case status == http.StatusNotFound:
			return campaignPageNotFound(c)
		case status == http.StatusRequestEntityTooLarge:
			page = messagePage{Title: "The form was too large to send", Paragraphs: []string{"Nothing was sent. Please go back, shorten what you wrote, and send the form again."}}
		case status >= 500:
			requestID := c.Response().Header().Get(echo.HeaderXRequestID)
			s.deps.Logger.ErrorContext(c.Request().Context(), "request failed", "request_id", requestID, "route", c.Path(), "error", err.Error())
			page = messagePage{Title: "Something went wrong on our side", Paragraphs: []string{
				"Please go back and send the form again in a moment.",
				"If it keeps happening, quote this reference: " + requestID + ".",
			}}
			if apiErr == nil && databaseUnavailable(err) {
				status = http.StatusServiceUnavailable
			}
		}
		return renderPage(c, status, "public_message", page)
	}
}
