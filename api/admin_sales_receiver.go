package api

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/salesentry"
)

// The admin UI's Sales Receiver log: what HubSpot sent, filtered like the
// JSON list (salesEntryList: status, object type and ID, campaign, period),
// and an entry's page with the raw payload and what was done
// (salesEntryDetail).

const navSalesReceiver = "sales-receiver"

func (s *Server) routeAdminSalesReceiver(g *echo.Group) {
	g.GET("/sales-receiver", s.adminSalesEntries)
	g.GET("/sales-receiver/:id", s.adminSalesEntry)
}

type salesEntriesPage struct {
	AdminPage
	Statuses, ObjectTypes  []adminOption
	ObjectID, Since, Until string
	Entries                []SalesEntryView
	NextPage               string
}

// anyOption and the vocabulary's words as a select's options.
func filterOptions(anyLabel string, values []string, chosen string) []adminOption {
	opts := []adminOption{{Value: "", Label: anyLabel}}
	for _, v := range values {
		opts = append(opts, adminOption{Value: v, Label: strings.ReplaceAll(v, "_", " "), Selected: v == chosen})
	}
	return opts
}

func (s *Server) adminSalesEntries(c echo.Context) error {
	p := salesEntriesPage{AdminPage: s.newAdminPage(c, "Sales Receiver log", navSalesReceiver),
		Statuses:    filterOptions("Any status", words(salesentry.Statuses), strings.TrimSpace(c.QueryParam("status"))),
		ObjectTypes: filterOptions("Any object", words(hubspotobject.Types), strings.TrimSpace(c.QueryParam("object_type"))),
		ObjectID:    strings.TrimSpace(c.QueryParam("object_id")), Since: strings.TrimSpace(c.QueryParam("since")), Until: strings.TrimSpace(c.QueryParam("until"))}
	list, err := s.salesEntryList(c)
	code := http.StatusOK
	if err != nil {
		if !p.SetProblems(err) {
			return err
		}
		code = statusOf(err)
	}
	p.Entries = list.SalesEntries
	if list.NextCursor != nil {
		next := url.Values{}
		for k, v := range c.QueryParams() {
			if k != "cursor" && len(v) == 1 && v[0] != "" {
				next.Set(k, v[0])
			}
		}
		next.Set("cursor", *list.NextCursor)
		p.NextPage = "/admin/sales-receiver?" + next.Encode()
	}
	return renderAdmin(c, code, "admin_sales_entries", &p)
}

type salesEntryPage struct {
	AdminPage
	Entry            SalesEntryView
	Payload, Actions string
}

func (s *Server) adminSalesEntry(c echo.Context) error {
	v, err := s.salesEntryDetail(c)
	if err != nil {
		return err
	}
	p := salesEntryPage{AdminPage: s.newAdminPage(c, "HubSpot change "+c.Param("id"), navSalesReceiver), Entry: v,
		Payload: indentJSON(v.Payload), Actions: indentJSON(v.Actions)}
	return renderAdmin(c, http.StatusOK, "admin_sales_entry", &p)
}
