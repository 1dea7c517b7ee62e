package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/email"
)

// The unsubscribe page, /u/{token}: the link at the foot of every email to
// a member and in its List-Unsubscribe header. The token is the member's ID
// signed (internal/email/unsubscribe.go): it never expires, and it can only
// unsubscribe. Opening the page changes nothing — mail scanners open every
// link — and asks to confirm; its form posts through the public pages' door
// (CSRF token, visitor rate limit, honeypot: api/public_guard.go).
//
// A mail client's own unsubscribe button posts List-Unsubscribe=One-Click
// to the same URL from the mail provider's servers (RFC 8058), with no
// cookie and no form to carry a CSRF token: that post is accepted without
// one (the visitor rate limit still applies). It needs no more: the signed
// token in the URL is the proof, and all it can do is stop emails.

const (
	unsubscribeRoute = email.UnsubscribePathPrefix + ":token"
	// oneClickField and oneClickValue are RFC 8058's one-click post body.
	oneClickField = "List-Unsubscribe"
	oneClickValue = "One-Click"
)

func (s *Server) routeEmailUnsubscribe() {
	s.echo.GET(unsubscribeRoute, s.unsubscribePage)
	s.echo.POST(unsubscribeRoute, s.unsubscribe, limitBody(maxPublicFormBytes))
}

// emailUnsubscribePage is what the unsubscribe template shows.
type emailUnsubscribePage struct {
	Title        string
	CampaignName string
	MaskedEmail  string
	// Done: the member is unsubscribed (now or before).
	Done bool
	Form *publicForm
}

// unsubscribeMember is the member an unsubscribe link names, or the page
// saying why it cannot be used.
func (s *Server) unsubscribeMember(c echo.Context) (db.MemberGetWithCampaignRow, *accessDenied, error) {
	id, err := s.unsubscriber.Parse(c.Param("token"))
	if err != nil {
		return db.MemberGetWithCampaignRow{}, denied(http.StatusNotFound, "This link is not valid",
			"The link you opened is not one we made, or it was not copied whole.",
			"Please open it again from the email it came in."), nil
	}
	row, err := s.queries().MemberGetWithCampaign(c.Request().Context(), id)
	if errors.Is(err, pgx.ErrNoRows) {
		return db.MemberGetWithCampaignRow{}, denied(http.StatusGone, "You get no more emails",
			"The membership this link was made for no longer exists, so no email goes to it."), nil
	}
	return row, nil, err
}

func (s *Server) unsubscribePage(c echo.Context) error {
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	row, deny, err := s.unsubscribeMember(c)
	if err != nil {
		return err
	}
	if deny != nil {
		return deny.render(c)
	}
	page := s.newUnsubscribePage(c, row)
	return renderPage(c, http.StatusOK, "email_unsubscribe_page", page)
}

func (s *Server) newUnsubscribePage(c echo.Context, row db.MemberGetWithCampaignRow) emailUnsubscribePage {
	page := emailUnsubscribePage{
		Title: "Unsubscribe from " + row.CampaignName, CampaignName: row.CampaignName,
		MaskedEmail: maskEmail(row.Member.Email), Done: row.Member.EmailUnsubscribedAt != nil,
	}
	if page.Done {
		page.Title = "You are unsubscribed"
		return page
	}
	action := email.UnsubscribePathPrefix + c.Param("token")
	page.Form = &publicForm{Action: action, CSRF: s.csrfToken(c, action)}
	return page
}

func (s *Server) unsubscribe(c echo.Context) error {
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	oneClick := strings.TrimSpace(c.FormValue(oneClickField)) == oneClickValue
	row, deny, err := s.unsubscribeMember(c)
	if err != nil {
		return err
	}
	if deny != nil {
		if oneClick {
			return c.NoContent(deny.status)
		}
		return deny.render(c)
	}
	if oneClick {
		if err := s.limitVisitor(s.visitor(c)); err != nil {
			var rl *rateLimitedError
			errors.As(err, &rl)
			return rateLimitedAnswer(c, rl)
		}
		if _, err := s.queries().MemberUnsubscribeFromEmails(c.Request().Context(), row.Member.ID); err != nil {
			return err
		}
		return c.NoContent(http.StatusOK)
	}
	action := email.UnsubscribePathPrefix + c.Param("token")
	if r := s.guardPost(c, action); r != nil {
		page := s.newUnsubscribePage(c, row)
		if page.Form != nil {
			s.refuse(c, r, page.Form, action)
		}
		return renderPage(c, r.status, "email_unsubscribe_page", page)
	}
	if !honeypotFilled(c) {
		m, err := s.queries().MemberUnsubscribeFromEmails(c.Request().Context(), row.Member.ID)
		if err != nil {
			return err
		}
		row.Member = m
	} else {
		// A bot: answered as a success, nothing done.
		now := row.Member.UpdatedAt
		row.Member.EmailUnsubscribedAt = &now
	}
	return renderPage(c, http.StatusOK, "email_unsubscribe_page", s.newUnsubscribePage(c, row))
}
