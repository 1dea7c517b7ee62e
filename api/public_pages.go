package api

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"

	"github.com/labstack/echo/v4"
)

// The public pages (referral links, the join page, the hosted lead form, the
// member portal) are server-rendered from templates embedded in the binary:
// no front-end build, no JavaScript needed. They share one look
// (templates/public_layout.html: public_head, public_foot and the form
// pieces); all templates are parsed together, so each names what it defines
// after its page.

//go:embed templates/*.html
var templateFS embed.FS

var publicPages = template.Must(template.ParseFS(templateFS, publicTemplateFiles()...))

// messagePage is a page that only says something: a title and paragraphs
// (the template public_message).
type messagePage struct {
	Title      string
	Paragraphs []string
}

// copyScript is the only script of the public pages: it makes the "Copy"
// buttons next to a referral link work (they are hidden without it, and the
// link stays selectable in its field). The pages' CSP allows this exact
// script by its hash and nothing else.
const copyScript = `document.querySelectorAll("button[data-copy]").forEach(function (b) {
  var input = document.getElementById(b.getAttribute("data-copy"));
  var status = document.getElementById(b.getAttribute("data-copy") + "-status");
  b.hidden = false;
  b.addEventListener("click", function () {
    input.focus();
    input.select();
    var done = function () { status.textContent = "Copied to the clipboard."; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { if (document.execCommand("copy")) done(); });
    } else if (document.execCommand("copy")) {
      done();
    }
  });
});`

// publicCSP is the public pages' Content-Security-Policy: styles inline,
// images (the QR codes) and form posts from referflow itself, copyScript and
// no other script, no frames, no plugins.
var publicCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; script-src '" + scriptHash(copyScript) + "'"

func scriptHash(script string) string {
	sum := sha256.Sum256([]byte(script))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// renderPage answers with the named template as an HTML page. Unless the
// handler said otherwise, caches do not store it (a form carries its CSRF
// token) and only referflow's own pages learn where a visitor came from.
func renderPage(c echo.Context, status int, name string, data any) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", publicCSP)
	for k, v := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "same-origin"} {
		if h.Get(k) == "" {
			h.Set(k, v)
		}
	}
	c.Response().WriteHeader(status)
	return publicPages.ExecuteTemplate(c.Response(), name, data)
}
