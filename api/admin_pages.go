package api

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
)

// The admin web UI: server-rendered pages under /admin for program admins,
// signed in with a browser session (admin_auth.go). No JavaScript is needed;
// every action is a plain HTML form.
//
// How a page is added:
//
//  1. Route: register it in routeAdminPages on the admin group g (GET for the
//     page, POST for each action). The group's middleware
//     (requireAdminSession) has already signed the admin in (adminFrom(c)),
//     set the security headers and, for every POST, checked the CSRF token:
//     a handler never checks it itself. If the path is one of adminNavItems,
//     the nav links to it as soon as it is registered.
//  2. Data: a struct that embeds AdminPage, filled by s.newAdminPage(c,
//     title, section); section marks the nav entry as current.
//  3. Template: api/templates/admin_<page>.html defining "admin_<page>": it
//     starts with {{template "admin_head" .}}, has exactly one <h1>, puts
//     {{template "admin_csrf" .}} in every form, and ends with
//     {{template "admin_foot" .}}. Render it with renderAdmin.
//  4. Workspace: load every object through the admin's workspace
//     (adminFrom(c).WorkspaceID, or a helper such as campaignOfAdmin); an ID
//     of another workspace answers 404 exactly like an unknown one.
//  5. Same rules as the JSON API: call the function its handler calls (no
//     second implementation); where a JSON handler does the work inline,
//     move it into a function both call.
//  6. After an action succeeds: redirectWithFlash (Post/Redirect/Get) with a
//     sentence saying what was done; the next page shows it once.
//  7. When the input is wrong: render the form again with status 422,
//     page.SetProblems(err) filling page.Error (above the form) and
//     page.Fields (next to each field: adminField.Error). Any other error is
//     returned: the error handler shows it as an admin error page (404, 403,
//     500 with the request ID), never JSON.

// adminCSS is the admin UI's stylesheet; its path carries its hash, so it is
// cached for good and a new version is fetched at once.
//
//go:embed assets/admin.css
var adminCSS []byte

var adminCSSVersion = func() string {
	sum := sha256.Sum256(adminCSS)
	return hex.EncodeToString(sum[:8])
}()

const adminCSSPath = "/assets/admin.css"

// adminCSP is the admin pages' Content-Security-Policy: the stylesheet from
// referflow itself, no script, no inline style, images from referflow
// (QR codes), forms posted to referflow only, never framed.
const adminCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; script-src 'none'"

// adminNavItem is one entry of the admin nav.
type adminNavItem struct {
	Section, Label, Path string
}

// Admin nav sections.
const (
	navDashboard = "dashboard"
	navHubSpot   = "hubspot"
	navCampaigns = "campaigns"
)

// adminNavItems is the nav in its order. An item shows once a GET route is
// registered at its path.
var adminNavItems = []adminNavItem{
	{navDashboard, "Dashboard", "/admin"},
	{navHubSpot, "HubSpot", "/admin/hubspot"},
	{navCampaigns, "Campaigns", "/admin/campaigns"},
	{"members", "Members", "/admin/members"},
	{"referrals", "Referrals", "/admin/referrals"},
	{"review", "Review queue", "/admin/review"},
	{"sales-receiver", "Sales Receiver", "/admin/sales-receiver"},
	{"syncs", "Syncs", "/admin/syncs"},
	{"rewards", "Rewards", "/admin/rewards"},
	{"deliveries", "Deliveries", "/admin/deliveries"},
	{"reports", "Reports", "/admin/reports"},
	{"settings", "Settings", "/admin/settings"},
}

var adminFuncs = template.FuncMap{
	"adminCSS": func() string { return adminCSSPath + "?v=" + adminCSSVersion },
	// when formats a time for people, in UTC.
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "never"
			}
			return v.UTC().Format("2 Jan 2006 15:04 UTC")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "never"
			}
			return v.UTC().Format("2 Jan 2006 15:04 UTC")
		}
		return ""
	},
	"join": strings.Join,
	// percent writes a rate (0.125) as a percentage ("12.5%").
	"percent": func(r float64) string { return strconv.FormatFloat(r*100, 'f', 1, 64) + "%" },
	// hubspotStatus says a HubSpot connection status in words.
	"hubspotStatus": func(status string) string {
		if l, ok := hubspotStatusLabels[status]; ok {
			return l
		}
		return status
	},
}

var adminTemplates = template.Must(template.New("admin").Funcs(adminFuncs).ParseFS(templateFS, "templates/admin_*.html"))

// publicTemplateFiles are the public pages' templates: all but the admin UI's.
func publicTemplateFiles() []string {
	all, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	var files []string
	for _, f := range all {
		if !strings.HasPrefix(f, "templates/admin_") {
			files = append(files, f)
		}
	}
	return files
}

// AdminPage is what every admin page's data embeds: the layout reads it.
type AdminPage struct {
	// Title is the page's <title> and, normally, its <h1>.
	Title string
	// Section is the nav entry marked as the current page.
	Section string
	Admin   db.Admin
	Nav     []adminNavItem
	// CSRF is the session's token every form carries (admin_csrf).
	CSRF string
	// Flash is what the last action did, shown once.
	Flash string
	// Error is what is wrong with a form as a whole; Fields what is wrong
	// with each field, by its input name.
	Error  string
	Fields map[string]string
}

// SetProblems shows a refused input on the page: the error's message above
// the form and its field problems next to the fields. It tells whether err
// was such a refusal (a 4xx APIError); any other error is the caller's to
// return.
func (p *AdminPage) SetProblems(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status >= 500 {
		return false
	}
	p.Error, p.Fields = apiErr.Message, apiErr.Fields
	if len(apiErr.Fields) > 0 {
		p.Error = "Some of what you entered needs fixing."
	}
	return true
}

// statusOf is the status a refused input answers with: the APIError's
// (what SetProblems shows), 500 for anything else.
func statusOf(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status
	}
	return http.StatusInternalServerError
}

// FieldError is the problem with a field, if any.
func (p *AdminPage) FieldError(name string) string { return p.Fields[name] }

// adminField is one input of an admin form (template admin_field).
type adminField struct {
	// Name is the input's name; ID its id (Name when empty).
	Name, ID, Label, Hint, Value, Error string
	// Type is an input type, or "select" or "textarea".
	Type         string
	Required     bool
	MaxLength    int
	Autocomplete string
	// Options are a select's; Groups its options in optgroups (after
	// Options); Multiple makes it a multi-select.
	Options  []adminOption
	Groups   []adminOptionGroup
	Multiple bool
	// Checked is a checkbox's state (Type "checkbox", Value what it sends).
	Checked bool
	// List names a datalist of ListOptions suggested for a text input.
	List        string
	ListOptions []adminOption
}

// adminOptionGroup is an optgroup of a select.
type adminOptionGroup struct {
	Label   string
	Options []adminOption
}

// adminOption is one option of a select.
type adminOption struct {
	Value, Label string
	Selected     bool
}

const (
	adminSessionKey = "referflow.admin_session"
	adminFlashName  = "referflow_flash"
	csrfField       = "csrf_token"
)

func (s *Server) routeAdminPages() {
	s.echo.GET(adminCSSPath, s.getAdminCSS)
	s.echo.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/admin") })
	g := s.echo.Group("/admin", s.requireAdminSession, limitBody(MaxAdminBodyBytes))
	g.GET("", s.adminDashboard)
	s.routeAdminHubSpot(g)
	s.routeAdminCampaigns(g)
	s.routeAdminMembers(g)
	s.routeAdminImports(g)
	s.routeAdminReferrals(g)
	s.routeAdminReview(g)
	s.routeAdminSalesReceiver(g)
	s.routeAdminSettings(g)
	s.routeAdminRewards(g)
	s.routeAdminDeliveries(g)
	s.routeAdminSyncs(g)
	g.GET("/reports", s.adminReports)

	registered := map[string]bool{}
	for _, r := range s.echo.Routes() {
		if r.Method == http.MethodGet {
			registered[r.Path] = true
		}
	}
	for _, item := range adminNavItems {
		if registered[item.Path] {
			s.adminNav = append(s.adminNav, item)
		}
	}
}

func (s *Server) getAdminCSS(c echo.Context) error {
	h := c.Response().Header()
	if c.QueryParam("v") == adminCSSVersion {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, "text/css; charset=utf-8", adminCSS)
}

// setAdminHeaders sets the admin pages' security headers: CSP, no framing,
// no sniffing, no referrer to other sites, no caching (pages carry the CSRF
// token and program data).
func setAdminHeaders(h http.Header) {
	h.Set("Content-Security-Policy", adminCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// requireAdminSession signs the admin in from the session cookie (the admin
// UI is for browsers; scripts use the JSON API with an API key) and checks
// every write's CSRF token. Without a session, a page sends the browser to
// sign in and come back.
func (s *Server) requireAdminSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		setAdminHeaders(c.Response().Header())
		var session string
		if ck, err := r.Cookie(adminauth.SessionCookie); err == nil {
			session = ck.Value
		}
		admin, err := s.deps.Auth.SessionAdmin(r.Context(), session)
		if errors.Is(err, adminauth.ErrUnauthenticated) {
			if !isWrite(r.Method) {
				return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(r.URL.RequestURI()))
			}
			return NewError(http.StatusUnauthorized, "unauthorized", "You are not signed in, or your session has ended. Sign in again, then repeat what you were doing.")
		}
		if err != nil {
			return err
		}
		c.Set(adminContextKey, admin)
		c.Set(adminSessionKey, session)
		if isWrite(r.Method) {
			if err := s.checkSameOrigin(r, false); err != nil {
				return err
			}
			if !s.deps.Auth.Sessions.CheckCSRFToken(session, c.FormValue(csrfField)) {
				return errAdminCSRF
			}
		}
		return next(c)
	}
}

var errAdminCSRF = NewError(http.StatusForbidden, "csrf", "This form's security token is missing or out of date (it belongs to one sign-in). Nothing was changed: go back, reload the page and send the form again.")

// newAdminPage is the layout's data for the signed-in admin's page; it takes
// the flash message left by the last action.
func (s *Server) newAdminPage(c echo.Context, title, section string) AdminPage {
	session, _ := c.Get(adminSessionKey).(string)
	p := AdminPage{Title: title, Section: section, Admin: adminFrom(c), Nav: s.adminNav, Fields: map[string]string{}}
	if session != "" {
		p.CSRF = s.deps.Auth.Sessions.CSRFToken(session)
	}
	if ck, err := c.Cookie(adminFlashName); err == nil {
		if b, err := base64.RawURLEncoding.DecodeString(ck.Value); err == nil {
			p.Flash = string(b)
		}
		c.SetCookie(s.flashCookie("", -1))
	}
	return p
}

// redirectWithFlash ends a successful action: the browser goes to path
// (Post/Redirect/Get), whose page says msg once.
func (s *Server) redirectWithFlash(c echo.Context, path, msg string) error {
	c.SetCookie(s.flashCookie(base64.RawURLEncoding.EncodeToString([]byte(msg)), time.Minute))
	return c.Redirect(http.StatusSeeOther, path)
}

func (s *Server) flashCookie(value string, ttl time.Duration) *http.Cookie {
	ck := &http.Cookie{Name: adminFlashName, Value: value, Path: "/admin", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.deps.PublicURL != nil && s.deps.PublicURL.Scheme == "https"}
	if ttl < 0 {
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(ttl.Seconds())
	}
	return ck
}

// renderAdmin answers with the named admin template; data embeds AdminPage.
// The page is rendered whole before anything is sent, so a template error is
// a clean 500.
func renderAdmin(c echo.Context, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := adminTemplates.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	h := c.Response().Header()
	setAdminHeaders(h)
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(buf.Bytes())
	return err
}

// adminErrorPage is the data of the admin_error template.
type adminErrorPage struct {
	AdminPage
	Message, RequestID string
}

// adminErrorTitles name what went wrong, by status.
var adminErrorTitles = map[int]string{
	http.StatusBadRequest:            "That request was not understood",
	http.StatusUnauthorized:          "Please sign in",
	http.StatusForbidden:             "Not allowed",
	http.StatusNotFound:              "Not found",
	http.StatusMethodNotAllowed:      "Not found",
	http.StatusConflict:              "That could not be done now",
	http.StatusRequestEntityTooLarge: "That was too large",
	http.StatusUnprocessableEntity:   "Something needs fixing",
	http.StatusTooManyRequests:       "Too many requests",
	http.StatusServiceUnavailable:    "Unavailable right now",
}

// renderAdminErrorPage shows an error of an admin page, or of the sign-in
// and sign-out forms sent by a browser, as a page; it tells whether it did
// (other requests get the JSON error body).
func (s *Server) renderAdminErrorPage(c echo.Context, status int, d ErrorDetail) bool {
	r := c.Request()
	path := r.URL.Path
	page := path == "/admin" || strings.HasPrefix(path, "/admin/") ||
		((path == "/login" || path == "/logout") && strings.Contains(r.Header.Get("Accept"), "text/html"))
	if !page || r.Method == http.MethodHead {
		return false
	}
	title, ok := adminErrorTitles[status]
	if !ok {
		title = "Something went wrong"
	}
	msg := d.Message
	switch {
	case status == http.StatusNotFound && d.Code == "not_found" && msg == "no such endpoint", status == http.StatusMethodNotAllowed:
		msg = "There is no such page here."
	case status >= 500 && status != http.StatusServiceUnavailable:
		msg = "Something went wrong on our side. Try again; if it keeps happening, give the request ID below to whoever runs referflow."
	}
	data := adminErrorPage{Message: msg, RequestID: d.RequestID}
	if _, signedIn := c.Get(adminContextKey).(db.Admin); signedIn {
		data.AdminPage = s.newAdminPage(c, title, "")
	} else {
		data.AdminPage = AdminPage{Title: title}
	}
	if err := renderAdmin(c, status, "admin_error", data); err != nil {
		s.deps.Logger.Warn("write admin error page", "request_id", d.RequestID, "error", err.Error())
	}
	return true
}

// adminFormValue is a form field's value with surrounding spaces removed.
func adminFormValue(c echo.Context, name string) string {
	return strings.TrimSpace(c.FormValue(name))
}
