package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/salesreceiver"
)

// Edit and re-run: an admin corrects a sales entry's payload (or keeps it)
// and runs it through the Sales Receiver again as a new entry
// (salesreceiver.Rerun), from the JSON API and the admin UI alike.

// SalesEntryRerunInput is the body of POST /sales-entries/{id}/rerun.
type SalesEntryRerunInput struct {
	// Payload is the HubSpot event to run instead of the stored one;
	// absent or null re-runs the stored one unchanged.
	Payload json.RawMessage `json:"payload"`
}

func (s *Server) rerunSalesEntry(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var in SalesEntryRerunInput
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeJSON(body, &in, ""); err != nil {
			return err
		}
	}
	v, err := s.rerunSalesEntryOf(c, in.Payload)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, v)
}

// rerunSalesEntryOf re-runs the sales entry in the path (of the admin's
// workspace) with payload (nil or null: unchanged) and is the new entry:
// the JSON API's and the admin UI's. An invalid payload is a 400 naming the
// field, an entry still being processed a 409 saying so.
func (s *Server) rerunSalesEntryOf(c echo.Context, payload json.RawMessage) (SalesEntryView, error) {
	notFound := NewError(http.StatusNotFound, "not_found", "no such sales entry in your workspace")
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return SalesEntryView{}, notFound
	}
	if bytes.Equal(bytes.TrimSpace(payload), []byte("null")) {
		payload = nil
	}
	admin := adminFrom(c)
	e, err := salesreceiver.Rerun(c.Request().Context(), s.deps.Pool, salesreceiver.RerunRequest{
		WorkspaceID: admin.WorkspaceID, EntryID: id, Payload: payload, Actor: "admin:" + admin.ID.String(),
	})
	var refused *salesreceiver.RerunRefused
	var bad *salesreceiver.RerunInvalid
	switch {
	case errors.Is(err, salesreceiver.ErrEntryNotFound):
		return SalesEntryView{}, notFound
	case errors.As(err, &refused):
		return SalesEntryView{}, NewError(http.StatusConflict, "conflict", refused.Reason)
	case errors.As(err, &bad):
		return SalesEntryView{}, &APIError{Status: http.StatusBadRequest, Code: "bad_request",
			Message: "the payload cannot be re-run: " + bad.Error(), Fields: map[string]string{bad.Field: bad.Problem}}
	case err != nil:
		return SalesEntryView{}, err
	}
	v := s.salesEntryView(e)
	v.Payload = e.Payload
	return v, nil
}
