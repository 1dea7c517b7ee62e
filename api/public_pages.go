package api

import (
	"embed"
	"html/template"

	"github.com/labstack/echo/v4"
)

// The public pages (referral links now; the join page, hosted form and
// member portal later) are server-rendered from templates embedded in the
// binary: no front-end build, no JavaScript needed.

//go:embed templates/*.html
var templateFS embed.FS

var publicPages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// messagePage is a page that only says something: a title and paragraphs.
type messagePage struct {
	Title      string
	Paragraphs []string
}

// renderPage answers with the named template as an HTML page.
func renderPage(c echo.Context, status int, name string, data any) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	c.Response().WriteHeader(status)
	return publicPages.ExecuteTemplate(c.Response(), name, data)
}
