package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/salesentry"
)

// The admin UI's Sales Receiver log: what HubSpot sent, filtered like the
// JSON list (salesEntryList: status, object type and ID, campaign, period),
// and an entry's page with the raw payload and what was done
// (salesEntryDetail), where the admin can edit the payload and run it
// through the Sales Receiver again (rerunSalesEntryOf, as the JSON API).

const navSalesReceiver = "sales-receiver"

func (s *Server) routeAdminSalesReceiver(g *echo.Group) {
	g.GET("/sales-receiver", s.adminSalesEntries)
	g.GET("/sales-receiver/:id", s.adminSalesEntry)
	g.POST("/sales-receiver/:id/rerun", s.adminRerunSalesEntry)
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
	// RerunField is the edit-and-re-run form's payload, prefilled with
	// the raw payload as pretty JSON (or what the admin sent back).
	RerunField adminField
}

func (s *Server) adminSalesEntry(c echo.Context) error {
	return s.renderSalesEntry(c, http.StatusOK, nil)
}

func (s *Server) renderSalesEntry(c echo.Context, status int, failed error) error {
	v, err := s.salesEntryDetail(c)
	if err != nil {
		return err
	}
	p := salesEntryPage{AdminPage: s.newAdminPage(c, "HubSpot change "+c.Param("id"), navSalesReceiver), Entry: v,
		Payload: indentJSON(v.Payload), Actions: indentJSON(v.Actions)}
	value := p.Payload
	if failed != nil {
		if !p.SetProblems(failed) {
			return failed
		}
		// The form has one field: the problem, whichever part of the
		// payload it names, is shown next to it.
		p.Error, p.Fields = "The entry was not re-run.", map[string]string{"payload": failed.Error()}
		value = c.FormValue("payload")
	}
	p.RerunField = adminField{Name: "payload", ID: "rerun-payload", Label: "The HubSpot event to run", Type: "textarea", Required: true,
		Hint:  "What HubSpot sent, as JSON: correct a value, an email or a record ID. The entry above stays as it is; the re-run is a new entry.",
		Value: value, Error: p.FieldError("payload")}
	return renderAdmin(c, status, "admin_sales_entry", &p)
}

// adminRerunSalesEntry re-runs the entry with the form's payload and shows
// the new entry, or the entry's page again saying what is wrong.
func (s *Server) adminRerunSalesEntry(c echo.Context) error {
	payload := adminFormValue(c, "payload")
	if payload == "" {
		return s.renderSalesEntry(c, http.StatusBadRequest, NewError(http.StatusBadRequest, "bad_request",
			"the payload is empty: enter the HubSpot event as JSON (the prefilled payload re-runs it unchanged)"))
	}
	v, err := s.rerunSalesEntryOf(c, json.RawMessage(payload))
	if err != nil {
		return s.renderSalesEntry(c, statusOf(err), err)
	}
	return s.redirectWithFlash(c, "/admin/sales-receiver/"+strconv.FormatInt(v.ID, 10),
		"Sales entry "+c.Param("id")+" was re-run as this entry; the Sales Receiver routes it like any other.")
}
