package api

import (
	"errors"
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

// Signing in to the admin web UI. A sign-in method identifies the admin and
// then calls signIn, which starts the browser session; the API key form is
// the one method today. Another (OIDC, say) adds a section to
// templates/admin_login.html (a button to GET /login/oidc, which sends the
// browser to the identity provider) and a callback route that finds the
// admin by the verified email and calls signIn with the same next.
//
// The sign-in form is the one form without a CSRF token: there is no
// session yet to bind a token to. It is guarded by refuseCrossSite instead
// (a browser's Origin and Sec-Fetch-Site must say referflow's own page), and
// it stays token-less so scripts can sign in with their key.

// loginPage is the data of the admin_login template.
type loginPage struct {
	AdminPage
	Next     string
	KeyField adminField
}

func (s *Server) loginForm(c echo.Context) error {
	return s.renderLogin(c, http.StatusOK, "", safeNext(c.QueryParam("next")))
}

func (s *Server) renderLogin(c echo.Context, status int, msg, next string) error {
	p := loginPage{AdminPage: AdminPage{Title: "Sign in", Error: msg}, Next: next,
		KeyField: adminField{Name: "api_key", ID: "api_key", Label: "Admin API key", Type: "password", Required: true,
			Autocomplete: "current-password", Hint: "It starts with rfk_."}}
	if msg != "" {
		p.KeyField.Error = msg
	}
	return renderAdmin(c, status, "admin_login", p)
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
	return s.signIn(c, admin, next)
}

// signIn starts a browser session for an admin a sign-in method identified
// and sends the browser on to next (a local path: safeNext).
func (s *Server) signIn(c echo.Context, admin db.Admin, next string) error {
	c.SetCookie(s.sessionCookie(s.deps.Auth.Sessions.Issue(admin.ID), adminauth.SessionTTL))
	return c.Redirect(http.StatusSeeOther, next)
}

// logout ends the browser session. A signed-in browser must send the
// session's CSRF token (the nav's "Sign out" form does), so no other page
// can sign an admin out; without a session there is nothing to protect.
func (s *Server) logout(c echo.Context) error {
	if ck, err := c.Cookie(adminauth.SessionCookie); err == nil {
		if _, err := s.deps.Auth.SessionAdmin(c.Request().Context(), ck.Value); err == nil &&
			!s.deps.Auth.Sessions.CheckCSRFToken(ck.Value, c.FormValue(csrfField)) {
			return errAdminCSRF
		}
	}
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
		return "/admin"
	}
	return next
}
