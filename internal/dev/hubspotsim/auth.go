package hubspotsim

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// authInfo is who a CRM request acts as.
type authInfo struct {
	portal  *Portal
	private bool // private-app token: every scope, daily-limit headers
	appID   int64
	scopes  []string
}

// authFailure is a refused CRM request's token, when it was one of a
// portal's: the call still shows in that portal's call log, with the mode
// that refused it.
type authFailure struct {
	portal *Portal
	mode   string
}

type accessToken struct {
	token    string
	portalID int64
	scopes   []string
	expires  time.Time
	refresh  string
	revoked  bool
	epoch    int // the portal's token epoch when issued (ModeRevokedTokens)
}

type refreshToken struct {
	token    string
	portalID int64
	scopes   []string
	clientID string
	revoked  bool
	epoch    int
}

type authCode struct {
	code        string
	portalID    int64
	scopes      []string
	redirectURI string
	expires     time.Time
	used        bool
}

const authCodeTTL = 10 * time.Minute

// knownScopes are the scopes the simulated app may ask for.
var knownScopes = []string{
	"oauth",
	"crm.objects.contacts.read", "crm.objects.contacts.write",
	"crm.objects.companies.read", "crm.objects.companies.write",
	"crm.objects.deals.read", "crm.objects.deals.write",
	"crm.objects.owners.read",
	"crm.schemas.contacts.read", "crm.schemas.contacts.write",
	"crm.schemas.companies.read", "crm.schemas.companies.write",
	"crm.schemas.deals.read", "crm.schemas.deals.write",
	"crm.lists.read", "crm.lists.write",
	"automation",
}

// authenticate resolves the request's bearer token; a refused token of a
// known portal comes back as an authFailure too. The caller holds s.mu.
func (s *Simulator) authenticate(r *http.Request) (*authInfo, *authFailure, *apiError) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "bearer ")
	}
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" {
		return nil, nil, credentialsNotFound()
	}
	if p := s.privateToks[tok]; p != nil {
		return &authInfo{portal: p, private: true, scopes: knownScopes}, nil, nil
	}
	at := s.accessTokens[tok]
	if at == nil || at.revoked || s.portals[at.portalID] == nil {
		return nil, nil, credentialsNotFound()
	}
	p := s.portals[at.portalID]
	if p.tokenRevokedLocked(at.epoch, true, true, s.now()) {
		// HubSpot answers a revoked token as one it does not know.
		return nil, &authFailure{portal: p, mode: ModeRevokedTokens}, credentialsNotFound()
	}
	if now := s.now(); !now.Before(at.expires) {
		ago := now.Sub(at.expires)
		when := fmt.Sprintf("%d minute(s)", int(ago.Minutes()))
		if ago >= time.Hour {
			when = fmt.Sprintf("%d hour(s)", int(ago.Hours()))
		}
		e := newErr(http.StatusUnauthorized, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired "+when+" ago.")
		e.Context = map[string][]string{"expiration time": {at.expires.Format(time.RFC1123)}}
		return nil, &authFailure{portal: p}, e
	}
	return &authInfo{portal: p, appID: s.opts.AppID, scopes: at.scopes}, nil, nil
}

func credentialsNotFound() *apiError {
	return newErr(http.StatusUnauthorized, "INVALID_AUTHENTICATION",
		"Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
}

// requireScope answers 403 MISSING_SCOPES unless the token has one of the
// scopes (private-app tokens have all).
func (c *reqCtx) requireScope(anyOf ...string) *apiError {
	if c.auth.private {
		return nil
	}
	for _, sc := range anyOf {
		if slices.Contains(c.auth.scopes, sc) {
			return nil
		}
	}
	return missingScopesErr(anyOf)
}

func (c *reqCtx) requireObjectScope(objType string, write bool) *apiError {
	if write {
		return c.requireScope("crm.objects." + objType + ".write")
	}
	return c.requireScope("crm.objects." + objType + ".read")
}

// IssueTokens grants the simulated app access to a portal as if a person had
// consented on the authorize page, and returns an access and a refresh
// token. With no scopes it grants every scope the simulator knows.
func (s *Simulator) IssueTokens(portalID int64, scopes ...string) (access, refresh string) {
	if len(scopes) == 0 {
		scopes = knownScopes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := &refreshToken{token: "na1-" + randomUUIDish(), portalID: portalID, scopes: scopes, clientID: s.opts.ClientID, epoch: s.epochLocked(portalID)}
	s.refreshToks[rt.token] = rt
	return s.newAccessToken(rt).token, rt.token
}

// epochLocked is the portal's current token epoch. The caller holds s.mu.
func (s *Simulator) epochLocked(portalID int64) int {
	if p := s.portals[portalID]; p != nil {
		return p.tokenEpoch
	}
	return 0
}

// refreshRevokedLocked tells whether ModeRevokedTokens refuses a refresh
// token. The caller holds s.mu.
func (s *Simulator) refreshRevokedLocked(rt *refreshToken, count bool) bool {
	return s.portals[rt.portalID].tokenRevokedLocked(rt.epoch, false, count, s.now())
}

// accessRevokedLocked tells whether an access token is refused: revoked, of
// a portal that is gone, or refused by ModeRevokedTokens. The caller holds
// s.mu.
func (s *Simulator) accessRevokedLocked(at *accessToken) bool {
	p := s.portals[at.portalID]
	return at.revoked || p == nil || p.tokenRevokedLocked(at.epoch, true, false, s.now())
}

func (s *Simulator) newAccessToken(rt *refreshToken) *accessToken {
	at := &accessToken{
		token: "CJ" + randomHex(24), portalID: rt.portalID, scopes: rt.scopes,
		expires: s.now().Add(s.opts.AccessTokenTTL), refresh: rt.token, epoch: s.epochLocked(rt.portalID),
	}
	s.accessTokens[at.token] = at
	return at
}

// RevokeRefreshTokens breaks every OAuth connection to the portal: the next
// refresh answers 400 invalid_grant / BAD_REFRESH_TOKEN. Access tokens
// already issued keep working until they expire.
func (s *Simulator) RevokeRefreshTokens(portalID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rt := range s.refreshToks {
		if rt.portalID == portalID {
			rt.revoked = true
		}
	}
}

func (s *Simulator) oauthRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /oauth/authorize", s.hAuthorizePage)
	mux.HandleFunc("POST /oauth/authorize", s.hAuthorizeDecision)
	for _, v := range []string{"v1", apiVersion, "v3"} {
		mux.HandleFunc("POST /oauth/"+v+"/token", s.hToken(v == "v1"))
	}
	for _, v := range []string{apiVersion, "v3"} {
		mux.HandleFunc("POST /oauth/"+v+"/token/introspect", s.hIntrospect)
		mux.HandleFunc("POST /oauth/"+v+"/token/revoke", s.hRevoke)
	}
	mux.HandleFunc("GET /oauth/v1/access-tokens/{token}", s.hAccessTokenInfo)
	mux.HandleFunc("GET /oauth/v1/refresh-tokens/{token}", s.hRefreshTokenInfo)
	mux.HandleFunc("DELETE /oauth/v1/refresh-tokens/{token}", s.hRefreshTokenDelete)
}

// oauthErr is HubSpot's OAuth error body, e.g.
// {"status":"BAD_REFRESH_TOKEN","message","correlationId","error":"invalid_grant","error_description"}.
func oauthErr(w http.ResponseWriter, status int, hsStatus, oauthError, msg string) {
	writeJSON(w, status, map[string]string{
		"status": hsStatus, "message": msg, "correlationId": randomUUIDish(),
		"error": oauthError, "error_description": msg,
	})
}

func (s *Simulator) clientOK(w http.ResponseWriter, r *http.Request) bool {
	if r.PostForm.Get("client_id") != s.opts.ClientID {
		oauthErr(w, http.StatusBadRequest, "BAD_CLIENT_ID", "invalid_client", "missing or unknown client id")
		return false
	}
	if r.PostForm.Get("client_secret") != s.opts.ClientSecret {
		oauthErr(w, http.StatusBadRequest, "BAD_CLIENT_SECRET", "invalid_client", "missing or invalid client secret")
		return false
	}
	return true
}

// hToken is the token endpoint: authorization_code and refresh_token grants,
// parameters form-encoded in the body.
func (s *Simulator) hToken(legacy bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			oauthErr(w, http.StatusBadRequest, "BAD_REQUEST", "invalid_request", "parameters must be form-encoded in the request body (application/x-www-form-urlencoded)")
			return
		}
		if err := r.ParseForm(); err != nil {
			oauthErr(w, http.StatusBadRequest, "BAD_REQUEST", "invalid_request", err.Error())
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.clientOK(w, r) {
			return
		}
		f := r.PostForm
		if f.Get("grant_type") == "client_credentials" {
			s.issueAppToken(w, r)
			return
		}
		var rt *refreshToken
		switch f.Get("grant_type") {
		case "authorization_code":
			ac := s.authCodes[f.Get("code")]
			if ac == nil || ac.used || !s.now().Before(ac.expires) {
				oauthErr(w, http.StatusBadRequest, "BAD_AUTH_CODE", "invalid_grant", "missing or unknown auth code")
				return
			}
			if f.Get("redirect_uri") != ac.redirectURI {
				oauthErr(w, http.StatusBadRequest, "BAD_REDIRECT_URI", "invalid_grant", "redirect_uri does not match the one the authorization code was issued for")
				return
			}
			ac.used = true
			rt = &refreshToken{token: "na1-" + randomUUIDish(), portalID: ac.portalID, scopes: ac.scopes, clientID: s.opts.ClientID, epoch: s.epochLocked(ac.portalID)}
			s.refreshToks[rt.token] = rt
		case "refresh_token":
			rt = s.refreshToks[f.Get("refresh_token")]
			if rt == nil || rt.revoked || rt.clientID != f.Get("client_id") || s.portals[rt.portalID] == nil || s.refreshRevokedLocked(rt, true) {
				oauthErr(w, http.StatusBadRequest, "BAD_REFRESH_TOKEN", "invalid_grant", "missing or unknown refresh token")
				return
			}
		default:
			oauthErr(w, http.StatusBadRequest, "BAD_GRANT_TYPE", "unsupported_grant_type", "grant_type must be authorization_code, refresh_token or client_credentials")
			return
		}
		at := s.newAccessToken(rt)
		body := map[string]any{
			"token_type":    "bearer",
			"access_token":  at.token,
			"refresh_token": rt.token,
			"expires_in":    int(s.opts.AccessTokenTTL.Seconds()),
		}
		if !legacy {
			body["hub_id"] = rt.portalID
			body["scopes"] = rt.scopes
		}
		writeJSON(w, http.StatusOK, body)
	}
}

func (s *Simulator) tokenInfo(token string) (map[string]any, bool) {
	if at := s.accessTokens[token]; at != nil && !s.accessRevokedLocked(at) {
		left := int(at.expires.Sub(s.now()).Seconds())
		return map[string]any{
			"token": token, "token_type": "access", "hub_id": at.portalID, "app_id": s.opts.AppID,
			"scopes": at.scopes, "expires_in": maxInt(0, left), "user": userEmail(at.portalID),
			"user_id": userID(at.portalID), "hub_domain": hubDomain(at.portalID), "active": left > 0,
			"client_id": s.opts.ClientID,
		}, true
	}
	if rt := s.refreshToks[token]; rt != nil && !rt.revoked && !s.refreshRevokedLocked(rt, false) {
		return map[string]any{
			"token": token, "token_type": "refresh", "hub_id": rt.portalID, "client_id": rt.clientID,
			"scopes": rt.scopes, "user": userEmail(rt.portalID), "user_id": userID(rt.portalID),
			"hub_domain": hubDomain(rt.portalID), "active": true, "app_id": s.opts.AppID,
		}, true
	}
	return nil, false
}

func userEmail(portalID int64) string { return fmt.Sprintf("admin@portal%d.example.com", portalID) }
func userID(portalID int64) int64     { return 5000000 + portalID }
func hubDomain(portalID int64) string { return fmt.Sprintf("portal%d.example.com", portalID) }

// POST /oauth/2026-03/token/introspect: RFC 7662 style, {"active":false}
// for unknown, revoked or expired tokens.
func (s *Simulator) hIntrospect(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthErr(w, http.StatusBadRequest, "BAD_REQUEST", "invalid_request", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.clientOK(w, r) {
		return
	}
	info, ok := s.tokenInfo(r.PostForm.Get("token"))
	if !ok || info["active"] == false {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// POST /oauth/2026-03/token/revoke: deletes a refresh token (uninstalling
// the app: access tokens issued from it stop working too).
func (s *Simulator) hRevoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthErr(w, http.StatusBadRequest, "BAD_REQUEST", "invalid_request", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.clientOK(w, r) {
		return
	}
	s.revokeLocked(r.PostForm.Get("token"))
	w.WriteHeader(http.StatusOK)
}

func (s *Simulator) revokeLocked(token string) bool {
	if rt := s.refreshToks[token]; rt != nil {
		delete(s.refreshToks, token)
		for _, at := range s.accessTokens {
			if at.refresh == token {
				at.revoked = true
			}
		}
		return true
	}
	if at := s.accessTokens[token]; at != nil {
		at.revoked = true
		return true
	}
	return false
}

// GET /oauth/v1/access-tokens/{token}
func (s *Simulator) hAccessTokenInfo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := r.PathValue("token")
	at := s.accessTokens[tok]
	if at == nil || s.accessRevokedLocked(at) {
		writeErr(w, notFoundErr("Token not found"))
		return
	}
	if !s.now().Before(at.expires) {
		writeErr(w, newErr(http.StatusUnauthorized, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired."))
		return
	}
	info, _ := s.tokenInfo(tok)
	delete(info, "active")
	delete(info, "client_id")
	writeJSON(w, http.StatusOK, info)
}

// GET /oauth/v1/refresh-tokens/{token}
func (s *Simulator) hRefreshTokenInfo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := s.refreshToks[r.PathValue("token")]
	if rt == nil || rt.revoked || s.refreshRevokedLocked(rt, false) {
		writeErr(w, notFoundErr("Refresh token not found"))
		return
	}
	info, _ := s.tokenInfo(rt.token)
	delete(info, "active")
	delete(info, "app_id")
	writeJSON(w, http.StatusOK, info)
}

// DELETE /oauth/v1/refresh-tokens/{token}
func (s *Simulator) hRefreshTokenDelete(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refreshToks[r.PathValue("token")] == nil {
		writeErr(w, notFoundErr("Refresh token not found"))
		return
	}
	s.revokeLocked(r.PathValue("token"))
	w.WriteHeader(http.StatusNoContent)
}

// The authorize page.

type consentPage struct {
	ClientID, RedirectURI, Scope, OptionalScope, State string
	Scopes                                             []string
	Portals                                            []*Portal
	Error                                              string
}

var consentTmpl = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>HubSpot simulator — connect an app</title>
<style>body{font-family:sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}label{display:block;margin:.4rem 0}.err{color:#b00}</style>
</head><body>
{{if .Error}}<h1>Authorization failed</h1><p class="err" id="error">{{.Error}}</p>{{else}}
<h1>Connect app to a HubSpot portal</h1>
<p>The app <code>{{.ClientID}}</code> asks for these scopes:</p>
<ul id="scopes">{{range .Scopes}}<li><code>{{.}}</code></li>{{end}}</ul>
<form method="post" action="/oauth/authorize">
<input type="hidden" name="client_id" value="{{.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="scope" value="{{.Scope}}">
<input type="hidden" name="optional_scope" value="{{.OptionalScope}}">
<input type="hidden" name="state" value="{{.State}}">
<fieldset><legend>Choose a portal</legend>
{{range $i, $p := .Portals}}<label><input type="radio" name="portal_id" value="{{$p.ID}}"{{if eq $i 0}} checked{{end}}> {{$p.Name}} ({{$p.ID}})</label>
{{end}}<label><input type="radio" name="portal_id" value="new"{{if not .Portals}} checked{{end}}> Create a new portal named <input type="text" name="portal_name" value="New portal"></label>
</fieldset>
<p><button type="submit" name="decision" value="allow">Connect app</button>
<button type="submit" name="decision" value="deny">Cancel</button></p>
</form>{{end}}
<p><a href="/">Browse and edit the portals' contacts and deals</a></p>
</body></html>
`))

func (s *Simulator) consentError(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = consentTmpl.Execute(w, consentPage{Error: msg})
}

// checkAuthorize validates the authorize parameters; it returns the scopes
// granted (scope + optional_scope) or an error message.
func (s *Simulator) checkAuthorize(v url.Values) ([]string, string) {
	if v.Get("client_id") != s.opts.ClientID {
		return nil, "Authorization failed because the client_id is missing or unknown."
	}
	ru, err := url.Parse(v.Get("redirect_uri"))
	if v.Get("redirect_uri") == "" || err != nil || (ru.Scheme != "http" && ru.Scheme != "https") || ru.Host == "" {
		return nil, "Authorization failed because the redirect_uri is missing or not an absolute http(s) URL."
	}
	scopes := strings.Fields(v.Get("scope"))
	if len(scopes) == 0 {
		return nil, "Authorization failed because no scope was requested."
	}
	for _, sc := range append(append([]string{}, scopes...), strings.Fields(v.Get("optional_scope"))...) {
		if !slices.Contains(knownScopes, sc) {
			return nil, fmt.Sprintf("Authorization failed because there is a mismatch between the scopes in the install URL and the app's configured scopes (unknown scope %q).", sc)
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	return scopes, ""
}

// GET /oauth/authorize?client_id&scope&redirect_uri&state[&optional_scope]
func (s *Simulator) hAuthorizePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	scopes, msg := s.checkAuthorize(q)
	if msg != "" {
		s.consentError(w, msg)
		return
	}
	page := consentPage{
		ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), Scope: q.Get("scope"),
		OptionalScope: q.Get("optional_scope"), State: q.Get("state"), Scopes: scopes, Portals: s.Portals(),
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = consentTmpl.Execute(w, page)
}

// POST /oauth/authorize: the consent form. Fields: client_id, redirect_uri,
// scope, optional_scope, state (as received), portal_id (a portal ID or
// "new"), portal_name (for "new"), decision ("allow" or "deny").
func (s *Simulator) hAuthorizeDecision(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.consentError(w, err.Error())
		return
	}
	f := r.PostForm
	scopes, msg := s.checkAuthorize(f)
	if msg != "" {
		s.consentError(w, msg)
		return
	}
	target, _ := url.Parse(f.Get("redirect_uri"))
	q := target.Query()
	if st := f.Get("state"); st != "" {
		q.Set("state", st)
	}
	if f.Get("decision") != "allow" {
		q.Set("error", "access_denied")
		q.Set("error_description", "The user declined to connect the app.")
		target.RawQuery = q.Encode()
		http.Redirect(w, r, target.String(), http.StatusFound)
		return
	}
	s.mu.Lock()
	var portal *Portal
	if f.Get("portal_id") == "new" {
		portal = s.createPortalLocked(strings.TrimSpace(f.Get("portal_name")), "")
	} else if id, err := strconv.ParseInt(f.Get("portal_id"), 10, 64); err == nil {
		portal = s.portals[id]
	}
	if portal == nil {
		s.mu.Unlock()
		s.consentError(w, "Choose a portal.")
		return
	}
	ac := &authCode{code: randomUUIDish(), portalID: portal.ID, scopes: scopes, redirectURI: f.Get("redirect_uri"), expires: s.now().Add(authCodeTTL)}
	s.authCodes[ac.code] = ac
	s.mu.Unlock()
	q.Set("code", ac.code)
	target.RawQuery = q.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}
