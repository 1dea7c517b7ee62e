package api

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
)

const adminContextKey = "referflow.admin"

// requireAdmin lets a request through only with an admin's API key or
// session; the admin is then available to the handler through adminFrom. A
// write with the session cookie must also come from referflow's own pages
// (same_origin.go).
// Browser pages (not /api/) without a session are sent to the sign-in page
// and come back afterwards.
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		admin, err := s.deps.Auth.Authenticate(c.Request().Context(), c.Request())
		if errors.Is(err, adminauth.ErrUnauthenticated) {
			if !strings.HasPrefix(c.Request().URL.Path, "/api/") && c.Request().Method == http.MethodGet {
				return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
			}
			return NewError(http.StatusUnauthorized, "unauthorized", err.Error())
		}
		if err != nil {
			return err
		}
		if err := s.checkCookieWrite(c.Request()); err != nil {
			return err
		}
		c.Set(adminContextKey, admin)
		return next(c)
	}
}

// adminFrom is the admin requireAdmin authenticated.
func adminFrom(c echo.Context) db.Admin {
	admin, _ := c.Get(adminContextKey).(db.Admin)
	return admin
}

// AdminView is what the API shows of an admin.
type AdminView struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
	Email       string `json:"email"`
}

func (s *Server) me(c echo.Context) error {
	a := adminFrom(c)
	return c.JSON(http.StatusOK, AdminView{ID: a.ID.String(), WorkspaceID: a.WorkspaceID.String(), Email: a.Email})
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · referflow</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}
input{width:100%;padding:.5rem;margin:.5rem 0;font:inherit}button{padding:.5rem 1rem;font:inherit}
.error{color:#b00020}</style></head>
<body><h1>Sign in to referflow</h1>
{{if .Error}}<p class="error">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<label for="api_key">Admin API key</label>
<input id="api_key" name="api_key" type="password" autocomplete="current-password" placeholder="rfk_…" required>
<input type="hidden" name="next" value="{{.Next}}">
<button type="submit">Sign in</button></form>
<p>An admin API key comes from <code>referflow admin create</code> (with <code>make dev</code>: the file <code>.data/admin-api-key</code>).</p>
</body></html>`))

type loginData struct{ Error, Next string }

func (s *Server) loginForm(c echo.Context) error {
	return s.renderLogin(c, http.StatusOK, "", safeNext(c.QueryParam("next")))
}

func (s *Server) renderLogin(c echo.Context, status int, msg, next string) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return loginPage.Execute(c.Response(), loginData{Error: msg, Next: next})
}

// login turns an API key into a browser session and goes back where the
// admin was headed.
func (s *Server) login(c echo.Context) error {
	next := safeNext(c.FormValue("next"))
	key := strings.TrimSpace(c.FormValue("api_key"))
	admin, err := s.deps.Auth.AdminByAPIKey(c.Request().Context(), key)
	if errors.Is(err, adminauth.ErrUnauthenticated) {
		return s.renderLogin(c, http.StatusUnauthorized, "That API key is unknown or revoked.", next)
	}
	if err != nil {
		return err
	}
	c.SetCookie(s.sessionCookie(s.deps.Auth.Sessions.Issue(admin.ID), adminauth.SessionTTL))
	return c.Redirect(http.StatusSeeOther, next)
}

func (s *Server) logout(c echo.Context) error {
	c.SetCookie(s.sessionCookie("", -1))
	return c.Redirect(http.StatusSeeOther, "/login")
}

func (s *Server) sessionCookie(value string, ttl time.Duration) *http.Cookie {
	ck := &http.Cookie{
		Name:     adminauth.SessionCookie,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		// Lax: the cookie comes along when HubSpot redirects the browser back
		// to the OAuth callback (a top-level GET from another site).
		SameSite: http.SameSiteLaxMode,
		Secure:   s.deps.PublicURL != nil && s.deps.PublicURL.Scheme == "https",
	}
	if ttl < 0 {
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(ttl.Seconds())
	}
	return ck
}

// safeNext keeps post-login redirects on this site: only a local path
// without control characters is accepted, so the sign-in page cannot be
// used to send people elsewhere or to write odd bytes into a header.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsFunc(next, unicode.IsControl) || !utf8.ValidString(next) {
		return "/api/v1/me"
	}
	return next
}
