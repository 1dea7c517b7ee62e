package api

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
)

// The member portal's "refer someone" form, POST /m/{token}/referrals: how a
// B2B referrer refers — they know the person and send their details
// themselves. The access link is the member's credential (checked again at
// the post), and the public door applies: CSRF token, honeypot, rate limits
// per visitor and per member. The referral is added with source
// member_portal and its workflow started; then POST/redirect/GET back to the
// portal, which confirms it.

// memberPortalReferRoute is the form's route.
const memberPortalReferRoute = memberAccessRoute + "/referrals"

// newReferForm is the form, empty, posting to the member's path. Its
// fields are the hosted lead form's, about the person referred.
func newReferForm(token string) *publicForm {
	email, first, last := emailField(), firstNameField(), lastNameField()
	email.Label, email.Missing, email.Autocomplete = "Their email address", "Enter their email address.", "off"
	first.Label, first.Missing, first.Autocomplete = "Their first name", "Enter their first name.", "off"
	last.Label, last.Autocomplete = "Their last name", "off"
	return &publicForm{
		Action: memberPortalPrefix + token + "/referrals",
		Fields: []formField{
			email, first, last,
			{Name: "company", Label: "Their company", Type: "text", Autocomplete: "off", MaxLength: 200},
			{Name: "phone", Label: "Their phone number", Type: "tel", Autocomplete: "off", MaxLength: 50},
			{Name: "note", Label: "A note for the team", Type: "textarea", MaxLength: 2000,
				Hint: "For example what they need, or when to call them."},
		},
	}
}

// setFieldError marks the named field with a message, and the form with
// one above it.
func setFieldError(f *publicForm, name, message string) {
	for i := range f.Fields {
		if f.Fields[i].Name == name {
			f.Fields[i].Error = message
		}
	}
	f.FormError = "Nothing was sent yet: one field below needs fixing."
}

func (s *Server) memberPortalRefer(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", portalReferrerPolicy)
	ctx := c.Request().Context()
	token := c.Param("token")
	// The link must still be good when the form is sent.
	row, deny, err := s.memberOfAccessToken(ctx, token)
	if err != nil {
		return err
	}
	if deny != nil {
		return deny.render(c)
	}
	m := row.Member
	form := newReferForm(token)
	valid := form.read(c)
	if r := s.guardPost(c, form.Action); r != nil {
		return s.renderPortalRefused(c, row, form, r)
	}
	if honeypotFilled(c) {
		// A bot: answered as a success, nothing kept.
		return s.portalSent(c, token)
	}
	if !campaign.Status(row.CampaignStatus).TakesNew() {
		return s.renderPortal(c, http.StatusConflict, row, form)
	}
	email := form.value("email")
	if valid && referral.NormalizeEmail(email) == referral.NormalizeEmail(m.Email) {
		setFieldError(form, "email", "This is your own email address: refer someone else.")
		valid = false
	}
	if !valid {
		return s.renderPortal(c, http.StatusUnprocessableEntity, row, form)
	}
	if err := s.limitMember(m.ID.String()); err != nil {
		return s.renderPortalRefused(c, row, form, rateLimitedRefusal(err, "through your referral link"))
	}
	added, err := activities.AddReferral(ctx, s.deps.Pool, activities.NewReferral{
		Member: m, Source: referral.SourceMemberPortal, Actor: "member:" + m.ID.String(),
		Lead: activities.Lead{
			Email: email, FirstName: form.value("first_name"), LastName: form.value("last_name"),
			Company: form.value("company"), Phone: form.value("phone"),
		},
		Note: form.value("note"), VisitorHash: s.visitor(c),
	})
	var dup *activities.DuplicateLeadError
	var notActive *campaign.NotActiveError
	switch {
	case errors.As(err, &dup) && dup.Existing.MemberID == m.ID:
		// The member sent it again (a double click, a reload): the same
		// referral, its workflow started if the first post could not.
		s.startPublicReferral(ctx, dup.Existing)
		return s.portalSent(c, token)
	case errors.As(err, &dup):
		setFieldError(form, "email", "This person has already been referred to “"+row.CampaignName+"”, so they cannot be referred again.")
		form.FormError = "Nothing was sent: this person was already referred."
		return s.renderPortal(c, http.StatusConflict, row, form)
	case errors.As(err, &notActive):
		row.CampaignStatus = string(notActive.Status)
		return s.renderPortal(c, http.StatusConflict, row, form)
	case err != nil:
		return err
	}
	// When Temporal does not answer the referral is kept all the same, and
	// the worker's reconciler starts its workflow.
	s.startPublicReferral(ctx, added)
	return s.portalSent(c, token)
}

// portalSent redirects to the portal, which confirms the referral.
func (s *Server) portalSent(c echo.Context, token string) error {
	return c.Redirect(http.StatusSeeOther, memberPortalPrefix+token+"?"+portalSentParam+"=1")
}

// renderPortalRefused shows the form again after the door refused the
// post (CSRF, a rate limit): its values kept, the message above it.
func (s *Server) renderPortalRefused(c echo.Context, row db.MemberGetWithCampaignRow, form *publicForm, r *formRefusal) error {
	s.refuse(c, r, form, form.Action)
	return s.renderPortal(c, r.status, row, form)
}

// renderPortal shows the portal (its first page) with the form as posted:
// its values kept, its messages, a fresh CSRF token.
func (s *Server) renderPortal(c echo.Context, status int, row db.MemberGetWithCampaignRow, form *publicForm) error {
	page, err := s.memberPortalPage(c.Request().Context(), row, c.Param("token"), "")
	if err != nil {
		return err
	}
	s.attachReferForm(c, row, &page, form)
	return renderPage(c, status, "member_portal_page", page)
}

// attachReferForm puts the refer-someone form on the page (a new one when
// form is nil) with a fresh CSRF token, or, when the campaign takes no
// referrals, says so instead.
func (s *Server) attachReferForm(c echo.Context, row db.MemberGetWithCampaignRow, page *memberPortalPage, form *publicForm) {
	if !campaign.Status(row.CampaignStatus).TakesNew() {
		page.NotTakingReferrals = true
		return
	}
	if form == nil {
		form = newReferForm(c.Param("token"))
	}
	form.CSRF = s.csrfToken(c, form.Action)
	page.Form = form
}
