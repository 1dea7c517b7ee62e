package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
)

// The join page, GET/POST /c/{slug}/join: the campaign's join link, where a
// person signs up to refer and gets their referral link. The post adds a
// member (activities.AddMember, source join_page) and redirects (303) to the
// result page GET /c/{slug}/joined/{code}: the link in a field with a copy
// button, its QR code (PNG, and SVG to download) and share links.
//
// Idempotent on email: an email the campaign already has is a returning
// member, sent to the same result page with their existing code. So anyone
// who types a member's email sees that member's referral link: the link is
// made to be shared publicly, and the page shows nothing else of them (not
// their name, not their email). What must stay the member's own, the access
// link to their personal page, is shown only to whoever just created the
// member, never to a returning email: the result page tells them apart by a
// short-lived signed cookie the post sets (joinedCookieName), which a GET of
// someone's result page does not carry.

const (
	joinPagePath = "join"
	joinedPath   = "joined/"
	// joinedCookieName holds which member the browser just joined as, for
	// joinedCookieTTL, on the result pages' path only.
	joinedCookieName = "referflow_joined"
	joinedCookieTTL  = 15 * time.Minute
)

func (s *Server) routeJoinPage(pages *echo.Group) {
	pages.GET("/"+joinPagePath, s.joinPage)
	pages.POST("/"+joinPagePath, s.submitJoinPage)
	pages.GET("/"+joinedPath+":code", s.joinedPage)
}

// joinPage is the join form's page (template join_page_form).
type joinPage struct {
	Title   string
	Company string
	publicForm
}

func newJoinPage(pc publicCampaign) *joinPage {
	p := &joinPage{Title: "Refer people to " + pc.company, Company: pc.company}
	p.Fields = []formField{emailField(), firstNameField(), lastNameField()}
	p.Action = pc.path(joinPagePath)
	return p
}

func (s *Server) joinPage(c echo.Context) error {
	pc, ok, err := s.campaignOfPage(c, true)
	if !ok {
		return err
	}
	p := newJoinPage(pc)
	p.CSRF = s.csrfToken(c, p.Action)
	return renderPage(c, http.StatusOK, "join_page_form", p)
}

func (s *Server) submitJoinPage(c echo.Context) error {
	pc, ok, err := s.campaignOfPage(c, true)
	if !ok {
		return err
	}
	p := newJoinPage(pc)
	valid := p.read(c)
	if r := s.guardPost(c, p.Action); r != nil {
		s.refuse(c, r, &p.publicForm, p.Action)
		return renderPage(c, r.status, "join_page_form", p)
	}
	if honeypotFilled(c) {
		// Answered as a success, and nothing kept.
		return renderPage(c, http.StatusOK, "public_message", messagePage{
			Title:      "Thank you",
			Paragraphs: []string{"Your request to join " + pc.company + "'s referral program was received."},
		})
	}
	if !valid {
		p.CSRF = s.csrfToken(c, p.Action)
		return renderPage(c, http.StatusUnprocessableEntity, "join_page_form", p)
	}
	m, err := activities.AddMember(c.Request().Context(), s.deps.Pool, activities.NewMember{
		WorkspaceID: pc.row.WorkspaceID, CampaignID: pc.row.ID,
		Email: p.value("email"), FirstName: p.value("first_name"), LastName: p.value("last_name"),
		Source: referral.MemberSourceJoinPage,
	})
	joined := joinedNew
	var dup *activities.DuplicateMemberError
	var notActive *campaign.NotActiveError
	switch {
	case errors.As(err, &dup):
		m, joined = dup.Existing, joinedReturning
	case errors.As(err, &notActive):
		return campaignPageNotFound(c)
	case err != nil:
		return err
	default:
		s.startMemberWorkflow(c.Request().Context(), m)
	}
	result := pc.path(joinedPath + url.PathEscape(m.ReferralCode))
	c.SetCookie(&http.Cookie{
		Name: joinedCookieName, Value: s.signJoined(m.ID, joined, time.Now().Add(joinedCookieTTL)),
		Path: pc.path(joinedPath), MaxAge: int(joinedCookieTTL / time.Second),
		HttpOnly: true, Secure: s.guard.secure, SameSite: http.SameSiteLaxMode,
	})
	return c.Redirect(http.StatusSeeOther, result)
}

// joinedPage is the result page (template join_page_result).
type joinedPage struct {
	Title      string
	Company    string
	FirstName  string
	Joined     string // joinedNew, joinedReturning, or "" (someone opening the page)
	Code       string
	Link       string
	QRPNG      string
	QRSVG      string
	Share      []shareLink
	PortalURL  string // the member's personal page: only when Joined is joinedNew
	CopyScript template.JS
}

// shareLink is a plain link that shares the referral link elsewhere.
type shareLink struct {
	Label string
	URL   string
}

// How the browser came to the result page.
const (
	joinedNew       = "new"
	joinedReturning = "returning"
)

func (s *Server) joinedPage(c echo.Context) error {
	pc, ok, err := s.campaignOfPage(c, true)
	if !ok {
		return err
	}
	m, ok, err := s.memberByCode(c.Request().Context(), pc.row.ID, c.Param("code"))
	if err != nil {
		return err
	}
	if !ok {
		return campaignPageNotFound(c)
	}
	p := &joinedPage{
		Company: pc.company, Code: m.ReferralCode, Link: s.referralLink(m.ReferralCode),
		QRPNG: referralQRPath(m.ReferralCode, "png"), QRSVG: referralQRPath(m.ReferralCode, "svg"),
		CopyScript: template.JS(copyScript),
	}
	if ck, err := c.Cookie(joinedCookieName); err == nil {
		p.Joined = s.checkJoined(ck.Value, m.ID)
	}
	switch p.Joined {
	case joinedNew:
		// The member was made by this browser a moment ago: their access
		// link to their personal page is theirs to keep.
		p.PortalURL, _ = s.memberAccessURL(m, DefaultMemberAccessTTL)
		p.FirstName = deref(m.FirstName)
		p.Title = "You are in: here is your referral link"
		if p.FirstName != "" {
			p.Title = "Welcome, " + p.FirstName + ": here is your referral link"
		}
	case joinedReturning:
		p.Title = "Welcome back: here is your referral link"
	default:
		p.Title = "Your referral link for " + pc.company
	}
	p.Share = shareLinks(pc.company, p.Link)
	return renderPage(c, http.StatusOK, "join_page_result", p)
}

// shareLinks are the links sharing a referral link by email, LinkedIn, X
// and WhatsApp: plain links, no script and no tracking.
func shareLinks(company, link string) []shareLink {
	text := "I recommend " + company + ". If you get in touch through my referral link, they will know I sent you: " + link
	return []shareLink{
		{Label: "Share by email", URL: "mailto:?subject=" + mailtoEscape("An introduction to "+company) + "&body=" + mailtoEscape(text)},
		{Label: "Share on LinkedIn", URL: "https://www.linkedin.com/sharing/share-offsite/?url=" + url.QueryEscape(link)},
		{Label: "Share on X", URL: "https://x.com/intent/tweet?text=" + url.QueryEscape("I recommend "+company+":") + "&url=" + url.QueryEscape(link)},
		{Label: "Share on WhatsApp", URL: "https://wa.me/?text=" + url.QueryEscape(text)},
	}
}

// mailtoEscape encodes a mailto: header value (RFC 6068: spaces as %20).
func mailtoEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// signJoined is the joined cookie's value: the member, how they joined, and
// until when it holds, signed.
func (s *Server) signJoined(memberID uuid.UUID, joined string, until time.Time) string {
	msg := memberID.String() + "." + joined + "." + strconv.FormatInt(until.Unix(), 10)
	return msg + "." + base64.RawURLEncoding.EncodeToString(s.joinedMAC(msg))
}

// checkJoined answers how the browser joined as the member (joinedNew,
// joinedReturning), or "" when the cookie is not a valid one of theirs.
func (s *Server) checkJoined(value string, memberID uuid.UUID) string {
	i := strings.LastIndexByte(value, '.')
	if i < 0 {
		return ""
	}
	msg, mac := value[:i], value[i+1:]
	want := base64.RawURLEncoding.EncodeToString(s.joinedMAC(msg))
	if !hmac.Equal([]byte(mac), []byte(want)) {
		return ""
	}
	parts := strings.Split(msg, ".")
	if len(parts) != 3 || parts[0] != memberID.String() {
		return ""
	}
	until, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || time.Now().Unix() > until {
		return ""
	}
	return parts[1]
}

func (s *Server) joinedMAC(msg string) []byte {
	key := hmac.New(sha256.New, s.guard.csrfKey)
	key.Write([]byte("referflow joined cookie v1"))
	m := hmac.New(sha256.New, key.Sum(nil))
	m.Write([]byte(msg))
	return m.Sum(nil)
}
