package hubspotsim

// The control API of records and webhook deliveries: the Go helpers and the
// delivery log over HTTP, for a test that runs the simulator as its own
// process (`referflow hubspot-sim`) and must act as a person in HubSpot and
// see what HubSpot delivered. HubSpot has no such API: like the modes'
// (modes_api.go) these paths live next to the page's, and need no token.
//
//	POST  /portals/{portalId}/objects/{objectType}             create a record: {"properties": {...}} → 201 {"id": "..."}
//	GET   /portals/{portalId}/objects/{objectType}/{objectId}  read a record → Object
//	PATCH /portals/{portalId}/objects/{objectType}/{objectId}  change properties: {"properties": {...}} → Object
//	GET   /webhooks/deliveries?offset=N                         the delivery log from entry N: {"results": [Delivery...], "total": T}
//	GET   /webhooks/stats                                       WebhookStats
//	POST  /portals/{portalId}/private-app-token/rotate         rotate the private app's token → {"token": "pat-..."}
//
// (HubSpot's own webhook paths are /webhooks/v3/{appId}/... and
// /webhooks/2026-03/{appId}/...: no clash.) Writes are a person's
// (changeSource CRM_UI), validated as API writes are, and make webhook
// events like any other change.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

func (s *Simulator) recordRoutes(mux *http.ServeMux) {
	objects := "/portals/{portalId}/objects/{objectType}"
	mux.HandleFunc("POST "+objects, s.control(hControlCreate))
	mux.HandleFunc("GET "+objects+"/{objectId}", s.control(hControlGet))
	mux.HandleFunc("PATCH "+objects+"/{objectId}", s.control(hControlUpdate))
	mux.HandleFunc("GET /webhooks/deliveries", s.control(hControlDeliveries))
	mux.HandleFunc("POST /portals/{portalId}/private-app-token/rotate", s.control(hControlRotatePrivateAppToken))
	mux.HandleFunc("GET /webhooks/stats", s.control(func(s *Simulator, _ *http.Request) (int, any) {
		return http.StatusOK, s.WebhookStats()
	}))
}

// control answers a handler's JSON, or its *apiError in HubSpot's shape.
func (s *Simulator) control(h func(s *Simulator, r *http.Request) (int, any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		status, payload := h(s, r)
		if e, ok := payload.(*apiError); ok {
			writeErr(w, e)
			return
		}
		writeJSON(w, status, payload)
	}
}

// controlObjectInput is the body of a create or an update.
type controlObjectInput struct {
	Properties map[string]string `json:"properties"`
}

func portalParam(r *http.Request) (int64, *apiError) {
	id, err := strconv.ParseInt(r.PathValue("portalId"), 10, 64)
	if err != nil {
		return 0, validationErr(fmt.Sprintf("portal ID %q is not a number", r.PathValue("portalId")))
	}
	return id, nil
}

// recordWrite reads a create's or an update's portal and property values.
func recordWrite(r *http.Request) (int64, map[string]string, *apiError) {
	portal, e := portalParam(r)
	if e != nil {
		return 0, nil, e
	}
	var in controlObjectInput
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return 0, nil, validationErr("cannot read request body")
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return 0, nil, invalidJSONErr(err)
	}
	if len(in.Properties) == 0 {
		return 0, nil, validationErr("properties is required: the property values to write")
	}
	return portal, in.Properties, nil
}

// controlErr turns a Go helper's error into the API's error answer.
func controlErr(err error) (int, any) {
	if err == errNoPortal {
		return errResult(notFoundErr("no such portal"))
	}
	return errResult(apiErrOf(err))
}

func hControlCreate(s *Simulator, r *http.Request) (int, any) {
	portal, props, e := recordWrite(r)
	if e != nil {
		return errResult(e)
	}
	id, err := s.CreateObject(portal, r.PathValue("objectType"), props)
	if err != nil {
		return controlErr(err)
	}
	return http.StatusCreated, map[string]string{"id": id}
}

func hControlGet(s *Simulator, r *http.Request) (int, any) {
	portal, e := portalParam(r)
	if e != nil {
		return errResult(e)
	}
	o, ok := s.GetObject(portal, r.PathValue("objectType"), r.PathValue("objectId"))
	if !ok {
		return errResult(notFoundErr(fmt.Sprintf("no %s %s in portal %d", r.PathValue("objectType"), r.PathValue("objectId"), portal)))
	}
	return http.StatusOK, o
}

func hControlUpdate(s *Simulator, r *http.Request) (int, any) {
	portal, props, e := recordWrite(r)
	if e != nil {
		return errResult(e)
	}
	t, id := r.PathValue("objectType"), r.PathValue("objectId")
	if err := s.UpdateObject(portal, t, id, props); err != nil {
		return controlErr(err)
	}
	o, _ := s.GetObject(portal, t, id)
	return http.StatusOK, o
}

// DeliveryPage is a stretch of the delivery log: Deliveries from the asked
// offset, and Total, the length of the whole log (the next offset).
type DeliveryPage struct {
	Deliveries []Delivery `json:"results"`
	Total      int        `json:"total"`
}

func hControlDeliveries(s *Simulator, r *http.Request) (int, any) {
	offset := 0
	if raw := r.URL.Query().Get("offset"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return errResult(validationErr(fmt.Sprintf("offset must be a whole number 0 or more, got %q", raw)))
		}
		offset = n
	}
	all := s.Deliveries()
	page := DeliveryPage{Deliveries: []Delivery{}, Total: len(all)}
	if offset < len(all) {
		page.Deliveries = all[offset:]
	}
	return http.StatusOK, page
}

// POST /portals/{portalId}/private-app-token/rotate: an admin rotates the
// portal's private-app token in HubSpot's settings ("expire now"): the old
// token is refused from then on.
func hControlRotatePrivateAppToken(s *Simulator, r *http.Request) (int, any) {
	id, e := portalParam(r)
	if e != nil {
		return 0, e
	}
	tok, ok := s.RotatePrivateAppToken(id)
	if !ok {
		return 0, notFoundErr(fmt.Sprintf("portal %d not found", id))
	}
	return http.StatusOK, map[string]string{"token": tok}
}
