package hubspotsim

// The control API of misbehaviour modes (modes.go). HubSpot has no such
// API: these paths live next to the page's (/portals/...), which no HubSpot
// API uses, and need no token, like the page.
//
//	GET    /portals/{portalId}/modes          the modes in force: {"portal_id","time_zone","modes":[Mode...]}
//	PUT    /portals/{portalId}/modes/{kind}   switch a mode on; JSON body with Mode's settings (may be empty):
//	                                          status, calls, for, after_write, writes_only, delay, access_only
//	DELETE /portals/{portalId}/modes/{kind}   switch it off
//	DELETE /portals/{portalId}/modes          switch every mode off
//	POST   /portals/{portalId}/reset          reset the portal (ResetPortal)
//	GET    /portals/{portalId}/calls          the CRM calls seen ([Call...]); ?since=RFC 3339 time
//
// The page's forms post to POST /portals/{portalId}/modes/{kind} (settings as
// form fields; off=1 switches off) and POST /portals/{portalId}/reset, and
// are answered 303 back to the page.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

func (s *Simulator) modeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portals/{portalId}/modes", s.hModesGet)
	mux.HandleFunc("PUT /portals/{portalId}/modes/{kind}", s.hModePut)
	mux.HandleFunc("DELETE /portals/{portalId}/modes/{kind}", s.hModeDelete)
	mux.HandleFunc("DELETE /portals/{portalId}/modes", s.hModeDelete)
	mux.HandleFunc("POST /portals/{portalId}/modes/{kind}", s.hPageMode)
	mux.HandleFunc("POST /portals/{portalId}/reset", s.hReset)
	mux.HandleFunc("GET /portals/{portalId}/calls", s.hCalls)
}

// modesView is the answer of GET .../modes.
type modesView struct {
	PortalID int64  `json:"portal_id"`
	TimeZone string `json:"time_zone"`
	Modes    []Mode `json:"modes"`
}

// controlPortal reads {portalId}; an unknown portal is a 404 in HubSpot's
// error shape.
func (s *Simulator) controlPortal(w http.ResponseWriter, r *http.Request) (*Portal, bool) {
	id, err := strconv.ParseInt(r.PathValue("portalId"), 10, 64)
	p := s.Portal(id)
	if err != nil || p == nil {
		writeErr(w, notFoundErr(fmt.Sprintf("no portal with ID %q", r.PathValue("portalId"))))
		return nil, false
	}
	return p, true
}

func (s *Simulator) modesView(p *Portal) modesView {
	return modesView{PortalID: p.ID, TimeZone: p.TimeZone.String(), Modes: s.Modes(p.ID)}
}

// GET /portals/{portalId}/modes
func (s *Simulator) hModesGet(w http.ResponseWriter, r *http.Request) {
	if p, ok := s.controlPortal(w, r); ok {
		writeJSON(w, http.StatusOK, s.modesView(p))
	}
}

// PUT /portals/{portalId}/modes/{kind}
func (s *Simulator) hModePut(w http.ResponseWriter, r *http.Request) {
	p, ok := s.controlPortal(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		writeErr(w, validationErr("cannot read request body"))
		return
	}
	var m Mode
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			writeErr(w, invalidJSONErr(err))
			return
		}
	}
	kind := strings.ReplaceAll(r.PathValue("kind"), "-", "_")
	if m.Kind != "" && m.Kind != kind {
		writeErr(w, validationErr(fmt.Sprintf("the body's kind %q differs from the path's %q", m.Kind, kind)))
		return
	}
	m.Kind = kind
	on, err := s.SetMode(p.ID, m)
	if err != nil {
		writeErr(w, validationErr(err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, on)
}

// DELETE /portals/{portalId}/modes[/{kind}]
func (s *Simulator) hModeDelete(w http.ResponseWriter, r *http.Request) {
	p, ok := s.controlPortal(w, r)
	if !ok {
		return
	}
	kind := strings.ReplaceAll(r.PathValue("kind"), "-", "_")
	if kind != "" && !slices.Contains(ModeKinds, kind) {
		writeErr(w, validationErr(fmt.Sprintf("unknown mode %q: want one of %s", kind, strings.Join(ModeKinds, ", "))))
		return
	}
	s.ClearMode(p.ID, kind)
	writeJSON(w, http.StatusOK, s.modesView(p))
}

// POST /portals/{portalId}/modes/{kind}: the page's form.
func (s *Simulator) hPageMode(w http.ResponseWriter, r *http.Request) {
	pid, ok := s.pagePortal(w, r)
	if !ok {
		return
	}
	kind := r.PathValue("kind")
	f := r.PostForm
	if f.Get("off") != "" {
		s.ClearMode(pid, kind)
		pageRedirect(w, r, pid, "Mode "+kind+" switched off.", nil)
		return
	}
	settings := f
	for _, k := range []string{"back", "off"} {
		settings.Del(k)
	}
	for k, v := range settings {
		if len(v) == 1 && strings.TrimSpace(v[0]) == "" {
			settings.Del(k)
		}
	}
	m, err := ModeFromValues(kind, settings)
	if err == nil {
		m, err = s.SetMode(pid, m)
	}
	pageRedirect(w, r, pid, "Mode "+describeMode(m, s.now())+" switched on.", err)
}

// POST /portals/{portalId}/reset: JSON for the API, 303 back for the page's
// form.
func (s *Simulator) hReset(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		pid, ok := s.pagePortal(w, r)
		if !ok {
			return
		}
		err := s.ResetPortal(pid)
		pageRedirect(w, r, pid, "Portal reset: its records are gone, object IDs start again, and the app's tokens are revoked.", err)
		return
	}
	p, ok := s.controlPortal(w, r)
	if !ok {
		return
	}
	if err := s.ResetPortal(p.ID); err != nil {
		writeErr(w, apiErrOf(err))
		return
	}
	writeJSON(w, http.StatusOK, s.modesView(p))
}

// GET /portals/{portalId}/calls[?since=RFC 3339]
func (s *Simulator) hCalls(w http.ResponseWriter, r *http.Request) {
	p, ok := s.controlPortal(w, r)
	if !ok {
		return
	}
	var since time.Time
	if raw := r.URL.Query().Get("since"); raw != "" {
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			writeErr(w, validationErr(fmt.Sprintf("since must be an RFC 3339 time, got %q", raw)))
			return
		}
		since = t
	}
	out := []callJSON{}
	for _, c := range s.Calls(p.ID) {
		if c.At.Before(since) {
			continue
		}
		out = append(out, callJSON{At: hsTime(c.At), Method: c.Method, Path: c.Path, Status: c.Status, Mode: c.Mode})
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
}

type callJSON struct {
	At     string `json:"at"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Status int    `json:"status"`
	Mode   string `json:"mode,omitempty"`
}

// describeMode is a mode in a few words, for the page.
func describeMode(m Mode, now time.Time) string {
	var parts []string
	switch m.Kind {
	case ModeRateLimit:
		parts = append(parts, "every call 429 TEN_SECONDLY_ROLLING")
	case ModeDailyLimit:
		parts = append(parts, "every call 429 DAILY until the portal's midnight")
	case ModeServerErrors:
		what := fmt.Sprintf("%d %s", m.Status, http.StatusText(m.Status))
		if m.WritesOnly {
			what += " to writes"
		}
		if m.AfterWrite {
			what += " after doing the write"
		}
		parts = append(parts, what)
	case ModeSlowAnswers:
		what := "answers"
		if m.WritesOnly {
			what = "writes answered"
		}
		parts = append(parts, what+" "+time.Duration(m.Delay).String()+" late (the write is done at once)")
	case ModeRevokedTokens:
		if m.AccessOnly {
			parts = append(parts, "every access token refused 401, refresh still answers")
		} else {
			parts = append(parts, "tokens issued before "+m.Since.Format("15:04:05")+" refused (401, invalid_grant)")
		}
	}
	if m.Calls > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d calls left", m.CallsLeft, m.Calls))
	}
	if m.Until != nil && m.Kind != ModeDailyLimit {
		parts = append(parts, "for "+m.Until.Sub(now).Round(time.Second).String()+" more")
	}
	if m.Answered > 0 {
		parts = append(parts, fmt.Sprintf("answered %d", m.Answered))
	}
	return m.Kind + ": " + strings.Join(parts, ", ")
}
