package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/workflows"
)

// The hosted lead form, GET/POST /c/{slug}/refer: where a referral link lands
// when the campaign has no landing page of its own. The referred person
// leaves their details and becomes a referral of the member whose link they
// followed (source form).
//
// Attribution: the campaign's attribution cookie (set by /r/{code}) and
// referflow_ref in the URL each may name a member. The campaign's model
// decides which counts when both do: first_touch prefers the cookie (the
// first link followed in the window; /r/{code} keeps it), last_touch the URL
// (the link just followed). One that names no member of the campaign is
// skipped. Without either, the page says a referral link is needed, shows no
// form and keeps nothing.
//
// After the door (CSRF, the visitor's limit), a filled honeypot is thanked
// and nothing kept; a lead the campaign already has is thanked the same way
// (the page never tells whether someone was referred before) and not added
// twice; otherwise the member's limit is taken and the referral added
// (activities.AddReferral) and its workflow started, and the visitor is sent
// to the thank-you page (303).

const (
	hostedFormPath   = "refer"
	hostedThanksPath = "refer/thanks"
)

func (s *Server) routeHostedForm(pages *echo.Group) {
	pages.GET("/"+hostedFormPath, s.hostedForm)
	pages.POST("/"+hostedFormPath, s.submitHostedForm)
	pages.GET("/"+hostedThanksPath, s.hostedFormThanks)
}

// hostedFormPage is the form's page (template hosted_form_page) and the
// no-link page (hosted_form_no_link).
type hostedFormPage struct {
	Title    string
	Company  string
	Referrer string // the member's first name, when they gave one
	publicForm
}

func hostedFormFields() []formField {
	return []formField{
		emailField(), firstNameField(), lastNameField(),
		{Name: "company", Label: "Company", Type: "text", Autocomplete: "organization", MaxLength: 200},
		{Name: "phone", Label: "Phone", Type: "tel", Autocomplete: "tel", MaxLength: 50},
		{Name: "note", Label: "Anything you would like us to know", Type: "textarea", MaxLength: 2000,
			Hint: "For example what you are looking for, or when to call."},
	}
}

func (s *Server) newHostedFormPage(pc publicCampaign, m db.Member) *hostedFormPage {
	p := &hostedFormPage{Company: pc.company, Referrer: deref(m.FirstName)}
	p.Title = "You were referred to " + pc.company
	if p.Referrer != "" {
		p.Title = p.Referrer + " referred you to " + pc.company
	}
	p.Fields = hostedFormFields()
	p.Action = pc.path(hostedFormPath) + "?" + RefParam + "=" + url.QueryEscape(m.ReferralCode)
	return p
}

func (s *Server) hostedForm(c echo.Context) error {
	pc, ok, err := s.campaignOfPage(c, true)
	if !ok {
		return err
	}
	m, ok, err := s.referringMember(c, pc)
	if err != nil {
		return err
	}
	if !ok {
		return hostedFormNoLink(c, pc, http.StatusOK)
	}
	p := s.newHostedFormPage(pc, m)
	p.CSRF = s.csrfToken(c, pc.path(hostedFormPath))
	return renderPage(c, http.StatusOK, "hosted_form_page", p)
}

func (s *Server) submitHostedForm(c echo.Context) error {
	pc, ok, err := s.campaignOfPage(c, true)
	if !ok {
		return err
	}
	path := pc.path(hostedFormPath)
	m, ok, err := s.referringMember(c, pc)
	if err != nil {
		return err
	}
	if !ok {
		return hostedFormNoLink(c, pc, http.StatusUnprocessableEntity)
	}
	p := s.newHostedFormPage(pc, m)
	valid := p.read(c)
	if r := s.guardPost(c, path); r != nil {
		s.refuse(c, r, &p.publicForm, path)
		return renderPage(c, r.status, "hosted_form_page", p)
	}
	thanks := pc.path(hostedThanksPath)
	if honeypotFilled(c) {
		return c.Redirect(http.StatusSeeOther, thanks)
	}
	if !valid {
		p.CSRF = s.csrfToken(c, path)
		return renderPage(c, http.StatusUnprocessableEntity, "hosted_form_page", p)
	}
	ctx := c.Request().Context()
	email := p.value("email")
	// A lead already referred is thanked before the member's limit is
	// taken: sending the form twice costs the member nothing.
	if _, err := s.queries().ReferralGetByLeadEmail(ctx, db.ReferralGetByLeadEmailParams{CampaignID: pc.row.ID, LeadEmail: email}); err == nil {
		return c.Redirect(http.StatusSeeOther, thanks)
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if err := s.limitMember(m.ID.String()); err != nil {
		r := rateLimitedRefusal(err, "through this referral link")
		s.refuse(c, r, &p.publicForm, path)
		return renderPage(c, r.status, "hosted_form_page", p)
	}
	row, err := activities.AddReferral(ctx, s.deps.Pool, activities.NewReferral{
		Member: m, Source: referral.SourceHostedForm, Actor: "system",
		Lead: activities.Lead{
			Email: email, FirstName: p.value("first_name"), LastName: p.value("last_name"),
			Company: p.value("company"), Phone: p.value("phone"),
		},
		Note:        p.value("note"),
		VisitorHash: s.visitor(c),
	})
	var dup *activities.DuplicateLeadError
	if errors.As(err, &dup) {
		return c.Redirect(http.StatusSeeOther, thanks)
	}
	var notActive *campaign.NotActiveError
	if errors.As(err, &notActive) {
		return campaignPageNotFound(c)
	}
	if err != nil {
		return err
	}
	s.startPublicReferral(ctx, row)
	return c.Redirect(http.StatusSeeOther, thanks)
}

// startPublicReferral starts the workflow of a referral a public page added.
// When Temporal cannot be reached the visitor is thanked all the same: the
// referral is stored, and the worker's reconciler starts its workflow.
func (s *Server) startPublicReferral(ctx context.Context, row db.Referral) {
	if _, err := workflows.StartReferralWorkflow(ctx, s.deps.Temporal, s.deps.TaskQueue, s.deps.HubSpotTaskQueue, row.ID.String()); err != nil {
		s.deps.Logger.WarnContext(ctx, "referral's workflow not started yet (Temporal unreachable); the reconciler will",
			"referral_id", row.ID.String(), "error", err.Error())
	}
}

func (s *Server) hostedFormThanks(c echo.Context) error {
	// Thanks are given even if the campaign stopped meanwhile.
	pc, ok, err := s.campaignOfPage(c, false)
	if !ok {
		return err
	}
	return renderPage(c, http.StatusOK, "public_message", messagePage{
		Title: "Thank you",
		Paragraphs: []string{
			"Your details were sent to " + pc.company + ". Someone from " + pc.company + " will be in touch.",
			"You can close this page.",
		},
	})
}

func hostedFormNoLink(c echo.Context, pc publicCampaign, status int) error {
	return renderPage(c, status, "public_message", messagePage{
		Title: "This form needs a referral link",
		Paragraphs: []string{
			"This page is for people referred to " + pc.company + " by someone they know. Open the referral link you were sent: it brings you back here, and your details are then credited to the person who referred you.",
			"Nothing you send here without one can be kept.",
		},
	})
}

// referringMember finds the member a hosted form's visitor was referred by
// (see the top of this file); ok is false when neither the cookie nor the URL
// names a member of the campaign.
func (s *Server) referringMember(c echo.Context, pc publicCampaign) (db.Member, bool, error) {
	fromCookie := ""
	if ck, err := c.Cookie(AttributionCookieName(pc.row.ID)); err == nil {
		fromCookie = ck.Value
	}
	codes := []string{c.QueryParam(RefParam), fromCookie}
	if pc.settings.Public.Attribution.Model == campaign.FirstTouch {
		codes[0], codes[1] = codes[1], codes[0]
	}
	for _, code := range codes {
		m, ok, err := s.memberByCode(c.Request().Context(), pc.row.ID, code)
		if ok || err != nil {
			return m, ok, err
		}
	}
	return db.Member{}, false, nil
}

// memberByCode finds the campaign's member with the referral code, as
// written or in upper case (generated codes are upper case; people retype
// links in lower case).
func (s *Server) memberByCode(ctx context.Context, campaignID uuid.UUID, code string) (db.Member, bool, error) {
	if !referral.CodePattern.MatchString(code) {
		return db.Member{}, false, nil
	}
	spellings := []string{code}
	if upper := strings.ToUpper(code); upper != code {
		spellings = append(spellings, upper)
	}
	for _, c := range spellings {
		m, err := s.queries().MemberGetByCode(ctx, db.MemberGetByCodeParams{CampaignID: campaignID, ReferralCode: c})
		if err == nil {
			return m, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return db.Member{}, false, err
		}
	}
	return db.Member{}, false, nil
}
