package api

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// Cross-site request forgery. A browser sends the admin's session cookie
// with any request to this site, including one a page on another site (or
// another port of the same host: SameSite=Lax treats them as one site)
// makes with a plain form or fetch. So a write authenticated by the cookie
// must prove it comes from referflow's own pages:
//
//   - its Content-Type is application/json, which no cross-site form can
//     send and a cross-site fetch can send only after a CORS preflight that
//     referflow never answers;
//   - and its Origin is this site's (REFERFLOW_PUBLIC_URL's origin, or the
//     request's own Host), or, without an Origin, Sec-Fetch-Site says
//     same-origin. A "null" Origin (sandboxed frames, some redirects) is
//     refused.
//
// A write with an API key (the Authorization header) is not a browser's
// ambient credential and is not checked. Sign-in and sign-out are forms:
// they keep their form encoding, but a cross-site one is refused too, so no
// page can sign an admin in to an attacker's session or out of their own.

// isWrite tells whether a method changes something.
func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// checkCookieWrite refuses a cookie-authenticated write that may come from
// another site; nil lets it through.
func (s *Server) checkCookieWrite(r *http.Request) error {
	if !isWrite(r.Method) || r.Header.Get("Authorization") != "" {
		return nil
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return forbidden("a write signed in with the session cookie must be sent as Content-Type: application/json (a form or text/plain body could come from another site)")
	}
	return s.checkSameOrigin(r, true)
}

// checkSameOrigin refuses a request a browser says comes from another
// origin. requireProof also refuses one that says nothing (no Origin, no
// Sec-Fetch-Site): what a cookie-authenticated write must not do, since
// every current browser sends one of them.
func (s *Server) checkSameOrigin(r *http.Request, requireProof bool) error {
	site := r.Header.Get("Sec-Fetch-Site")
	if site != "" && site != "same-origin" && !(site == "none" && !requireProof) {
		return forbidden("the browser says this request comes from another site (Sec-Fetch-Site: " + site + "); referflow's writes are accepted from its own pages only")
	}
	origin := r.Header.Get("Origin")
	switch {
	case origin == "null":
		return forbidden("the request's Origin is null (a sandboxed or opaque page); referflow's writes are accepted from its own pages only")
	case origin != "":
		if !s.sameOrigin(origin, r.Host) {
			return forbidden("the request's Origin " + origin + " is not this site's; referflow's writes are accepted from its own pages only")
		}
	case site == "" && requireProof:
		return forbidden("a write signed in with the session cookie needs an Origin header (or Sec-Fetch-Site: same-origin) showing it comes from referflow's own pages; scripts should use an API key (Authorization: Bearer rfk_…)")
	}
	return nil
}

// sameOrigin tells whether origin is REFERFLOW_PUBLIC_URL's origin or names
// the host the request was sent to.
func (s *Server) sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	if p := s.deps.PublicURL; p != nil && strings.EqualFold(u.Scheme, p.Scheme) && strings.EqualFold(u.Host, p.Host) {
		return true
	}
	return host != "" && strings.EqualFold(u.Host, host)
}

// refuseCrossSite guards the sign-in and sign-out forms.
func (s *Server) refuseCrossSite(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.checkSameOrigin(c.Request(), false); err != nil {
			return err
		}
		return next(c)
	}
}

func forbidden(msg string) error {
	return NewError(http.StatusForbidden, "forbidden", msg)
}
