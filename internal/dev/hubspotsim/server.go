package hubspotsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// reqCtx is one authenticated CRM request.
type reqCtx struct {
	s    *Simulator
	r    *http.Request
	body []byte
	p    *Portal
	auth *authInfo
	w    writer
}

// crmHandler answers a request under the simulator's lock; body is JSON,
// an *apiError, or nil (no content).
type crmHandler func(c *reqCtx) (int, any)

func errResult(e *apiError) (int, any) { return e.httpStatus, e }

// The date-versioned and legacy path prefixes of each API family.
const apiVersion = "2026-03"

// Handler serves the whole HubSpot surface: CRM APIs on both path families,
// OAuth (authorize page, token, introspection, revocation), the webhooks
// settings API, the CRM page (/ and /portals/{id}), the simulator's own
// control API (modes_api.go, control_api.go), and HubSpot-like 404s for
// anything else.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	crm := func(pattern string, search bool, h crmHandler) {
		mux.HandleFunc(pattern, s.crmEndpoint(search, h))
	}
	for _, objects := range []string{"/crm/objects/" + apiVersion, "/crm/v3/objects"} {
		crm("GET "+objects+"/{objectType}", false, hObjectList)
		crm("POST "+objects+"/{objectType}", false, hObjectCreate)
		crm("GET "+objects+"/{objectType}/{objectId}", false, hObjectGet)
		crm("PATCH "+objects+"/{objectType}/{objectId}", false, hObjectUpdate)
		crm("DELETE "+objects+"/{objectType}/{objectId}", false, hObjectArchive)
		crm("POST "+objects+"/{objectType}/search", true, hSearch)
		crm("POST "+objects+"/{objectType}/merge", false, hObjectMerge)
		crm("POST "+objects+"/{objectType}/gdpr-delete", false, hGDPRDelete)
		crm("POST "+objects+"/{objectType}/batch/{action}", false, hObjectBatch)
	}
	// Single-record associations: 2026-03 under /crm/objects, legacy under /crm/v4/objects.
	for _, objects := range []string{"/crm/objects/" + apiVersion, "/crm/v4/objects"} {
		crm("GET "+objects+"/{objectType}/{objectId}/associations/{toObjectType}", false, hAssocList)
		crm("PUT "+objects+"/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}", false, hAssocDefault)
		crm("PUT "+objects+"/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}", false, hAssocLabeled)
		crm("DELETE "+objects+"/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}", false, hAssocDelete)
	}
	for _, assoc := range []string{"/crm/associations/" + apiVersion, "/crm/v4/associations"} {
		crm("GET "+assoc+"/{fromObjectType}/{toObjectType}/labels", false, hLabelList)
		crm("POST "+assoc+"/{fromObjectType}/{toObjectType}/labels", false, hLabelCreate)
		crm("PUT "+assoc+"/{fromObjectType}/{toObjectType}/labels", false, hLabelUpdate)
		crm("DELETE "+assoc+"/{fromObjectType}/{toObjectType}/labels/{associationTypeId}", false, hLabelDelete)
		crm("POST "+assoc+"/{fromObjectType}/{toObjectType}/batch/{action}", false, hAssocBatch)
		crm("POST "+assoc+"/{fromObjectType}/{toObjectType}/batch/associate/default", false, func(c *reqCtx) (int, any) {
			c.r.SetPathValue("action", "associate/default")
			return hAssocBatch(c)
		})
	}
	for _, props := range []string{"/crm/properties/" + apiVersion, "/crm/v3/properties"} {
		crm("GET "+props+"/{objectType}", false, hPropertyList)
		crm("POST "+props+"/{objectType}", false, hPropertyCreate)
		crm("GET "+props+"/{objectType}/{propertyName}", false, hPropertyGet)
		crm("PATCH "+props+"/{objectType}/{propertyName}", false, hPropertyUpdate)
		crm("DELETE "+props+"/{objectType}/{propertyName}", false, hPropertyArchive)
		crm("POST "+props+"/{objectType}/batch/{action}", false, hPropertyBatch)
		crm("GET "+props+"/{objectType}/groups", false, hGroupList)
		crm("POST "+props+"/{objectType}/groups", false, hGroupCreate)
		crm("GET "+props+"/{objectType}/groups/{groupName}", false, hGroupGet)
	}
	for _, pipes := range []string{"/crm/pipelines/" + apiVersion, "/crm/v3/pipelines"} {
		crm("GET "+pipes+"/{objectType}", false, hPipelineList)
		crm("POST "+pipes+"/{objectType}", false, hPipelineCreate)
		crm("GET "+pipes+"/{objectType}/{pipelineId}", false, hPipelineGet)
		crm("GET "+pipes+"/{objectType}/{pipelineId}/stages", false, hStageList)
		crm("GET "+pipes+"/{objectType}/{pipelineId}/stages/{stageId}", false, hStageGet)
	}
	for _, lists := range []string{"/crm/lists/" + apiVersion, "/crm/v3/lists"} {
		crm("POST "+lists, false, hListCreate)
		crm("POST "+lists+"/{$}", false, hListCreate)
		crm("GET "+lists, false, hListGetMany)
		crm("GET "+lists+"/{$}", false, hListGetMany)
		crm("POST "+lists+"/search", false, hListSearch)
		crm("GET "+lists+"/{listId}", false, hListGet)
		crm("DELETE "+lists+"/{listId}", false, hListDelete)
		crm("GET "+lists+"/object-type-id/{objectTypeId}/name/{listName}", false, hListByName)
		crm("GET "+lists+"/{listId}/memberships", false, hMemberships)
		crm("PUT "+lists+"/{listId}/memberships/add", false, hMembershipsAdd)
		crm("PUT "+lists+"/{listId}/memberships/remove", false, hMembershipsRemove)
		crm("GET "+lists+"/records/{objectTypeId}/{recordId}/memberships", false, hRecordMemberships)
	}
	for _, account := range []string{"/account-info/" + apiVersion, "/account-info/v3"} {
		crm("GET "+account+"/details", false, hAccountDetails)
	}
	s.oauthRoutes(mux)
	s.webhookRoutes(mux)
	s.actionRoutes(mux)
	s.journalRoutes(mux)
	s.recordRoutes(mux)
	s.pageRoutes(mux)
	s.modeRoutes(mux)
	s.cardRoutes(mux)
	return &router{mux: mux}
}

// router answers HubSpot-like JSON where the mux has no route.
type router struct{ mux *http.ServeMux }

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := rt.mux.Handler(r); pattern == "" {
		probe := &statusProbe{header: http.Header{}}
		rt.mux.ServeHTTP(probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			if allow := probe.header.Get("Allow"); allow != "" {
				w.Header().Set("Allow", allow)
			}
			writeErr(w, newErr(http.StatusMethodNotAllowed, "VALIDATION_ERROR", fmt.Sprintf("HTTP 405 Method Not Allowed: %s %s", r.Method, r.URL.Path)))
			return
		}
		writeErr(w, newErr(http.StatusNotFound, "OBJECT_NOT_FOUND", fmt.Sprintf("Unable to route %s %s: resource not found", r.Method, r.URL.Path)))
		return
	}
	rt.mux.ServeHTTP(w, r)
}

type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(status int)      { p.status = status }

// crmEndpoint wraps a CRM handler with authentication, rate limiting,
// failure injection, misbehaviour modes (modes.go), the call log and change
// dispatch.
func (s *Simulator) crmEndpoint(search bool, h crmHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			writeErr(w, validationErr("cannot read request body"))
			return
		}
		var (
			status  int
			payload any
			headers = http.Header{}
			delay   time.Duration
		)
		s.locked(func() {
			now := s.now()
			var logTo *Portal
			mode := ""
			defer func() {
				if logTo != nil {
					logTo.logCallLocked(Call{At: now, Method: r.Method, Path: r.URL.Path, Status: status, Mode: mode})
				}
			}()
			auth, failed, e := s.authenticate(r)
			if e != nil {
				if failed != nil {
					logTo, mode = failed.portal, failed.mode
				}
				status, payload = errResult(e)
				return
			}
			p := auth.portal
			logTo = p
			if e, by := s.admit(p, auth, search, headers); e != nil {
				mode = by
				status, payload = errResult(e)
				return
			}
			write := isWrite(r)
			if m := p.modeLocked(ModeSlowAnswers, now); m != nil && (write || !m.WritesOnly) {
				m.answered()
				delay = time.Duration(m.Delay)
				mode = ModeSlowAnswers
			}
			if len(p.failNext) > 0 {
				mode = ""
				code := p.failNext[0]
				p.failNext = p.failNext[1:]
				status, payload = errResult(injectedErr(code))
				return
			}
			failing := p.modeLocked(ModeServerErrors, now)
			if failing != nil && failing.WritesOnly && !write {
				failing = nil
			}
			if failing != nil && !failing.AfterWrite {
				failing.answered()
				mode = ModeServerErrors
				status, payload = errResult(injectedErr(failing.Status))
				return
			}
			c := &reqCtx{s: s, r: r, body: body, p: p, auth: auth, w: writer{source: SourceIntegration, appID: auth.appID}}
			status, payload = h(c)
			if failing != nil {
				// The call was carried out; only its answer is lost.
				failing.answered()
				mode = ModeServerErrors
				status, payload = errResult(injectedErr(failing.Status))
			}
		})
		if delay > 0 {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return // the client gave up: nobody reads the answer
			}
		}
		for k, v := range headers {
			w.Header()[k] = v
		}
		if e, ok := payload.(*apiError); ok {
			writeErr(w, e)
			return
		}
		writeJSON(w, status, payload)
	}
}

// decode reads the JSON request body into v.
func (c *reqCtx) decode(v any) *apiError {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return validationErr("Invalid input JSON: the request body is empty")
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return invalidJSONErr(err)
	}
	return nil
}

// limitParam reads ?limit= (default def); above max is a 400.
func (c *reqCtx) limitParam(def, max int) (int, *apiError) {
	raw := c.r.URL.Query().Get("limit")
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		return 0, validationErr(fmt.Sprintf("limit must be a positive integer, got %q", raw))
	}
	if n > max {
		return 0, validationErr(fmt.Sprintf("limit must be at most %d, got %d", max, n))
	}
	return n, nil
}

// listParam reads a query parameter given as a,b or repeated.
func listParam(r *http.Request, name string) ([]string, bool) {
	vals, ok := r.URL.Query()[name]
	var out []string
	for _, v := range vals {
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
	}
	return out, ok
}

func pagingNext(c *reqCtx, after string) map[string]any {
	q := c.r.URL.Query()
	q.Set("after", after)
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	return map[string]any{"next": map[string]string{
		"after": after,
		"link":  scheme + "://" + c.r.Host + c.r.URL.Path + "?" + q.Encode(),
	}}
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func batchSizeErr(n, max int) *apiError {
	if n > max {
		e := validationErr(fmt.Sprintf("Batch input limit exceeded: got %d inputs, at most %d are allowed", n, max))
		e.Errors = []errorDetail{{Message: e.Message, Code: "TOO_MANY_INPUTS", Context: map[string][]string{"limit": {strconv.Itoa(max)}}}}
		return e
	}
	return nil
}
