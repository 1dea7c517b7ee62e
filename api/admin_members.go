package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/reward"
)

// The admin UI's members pages: a campaign's members (search by email,
// name or code; keyset paging), a member's page (link, QR code, referrals,
// rewards, HubSpot contact, access link, add a referral) and the add-a-member
// form. Every action calls the JSON API's function (addMember, addReferral,
// memberAccessLink).

const navMembers = "members"

func (s *Server) routeAdminMembers(g *echo.Group) {
	g.GET("/members", s.adminMembers)
	g.POST("/members", s.adminAddMember)
	g.GET("/members/:id", s.adminMember)
	g.POST("/members/:id/access-link", s.adminMemberAccessLink)
	g.POST("/members/:id/referrals", s.adminMemberAddReferral)
}

type membersPage struct {
	AdminPage
	Campaigns  []adminOption
	Campaign   *db.Campaign
	Search     string
	Members    []MemberView
	NextCursor string
	Form       []adminField
}

// adminCampaignOptions are the workspace's campaigns for a select, the
// chosen one selected.
func (s *Server) adminCampaignOptions(c echo.Context, chosen uuid.UUID) ([]adminOption, []db.Campaign, error) {
	rows, err := s.queries().CampaignListByWorkspace(c.Request().Context(), adminFrom(c).WorkspaceID)
	if err != nil {
		return nil, nil, fmt.Errorf("list campaigns: %w", err)
	}
	opts := make([]adminOption, 0, len(rows))
	for _, r := range rows {
		opts = append(opts, adminOption{Value: r.ID.String(), Label: r.Name, Selected: r.ID == chosen})
	}
	return opts, rows, nil
}

// adminCampaignOf is the campaign a page's campaign_id names when it is the
// admin's (nil when none is named); another workspace's is not found.
func (s *Server) adminCampaignOf(c echo.Context, raw string) (*db.Campaign, error) {
	if raw == "" {
		return nil, nil
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return nil, campaignNotFound()
	}
	camp, err := s.queries().CampaignGetByID(c.Request().Context(), id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && camp.WorkspaceID != adminFrom(c).WorkspaceID) {
		return nil, campaignNotFound()
	}
	if err != nil {
		return nil, err
	}
	return &camp, nil
}

func (s *Server) adminMembers(c echo.Context) error {
	return s.renderMembers(c, http.StatusOK, nil, MemberInput{})
}

// renderMembers shows the members page: the campaign's members (the first
// campaign when none is chosen) and the add-a-member form, with a refused
// form's problems when failed is set.
func (s *Server) renderMembers(c echo.Context, status int, failed error, in MemberInput) error {
	p := membersPage{AdminPage: s.newAdminPage(c, "Members", navMembers), Search: strings.TrimSpace(c.QueryParam("q"))}
	raw := strings.TrimSpace(c.QueryParam("campaign_id"))
	if c.Request().Method == http.MethodPost {
		raw = adminFormValue(c, "campaign_id")
	}
	camp, err := s.adminCampaignOf(c, raw)
	if err != nil {
		return err
	}
	chosen := uuid.Nil
	if camp != nil {
		chosen = camp.ID
	}
	opts, all, err := s.adminCampaignOptions(c, chosen)
	if err != nil {
		return err
	}
	if camp == nil && len(all) > 0 {
		camp = &all[0]
		opts[0].Selected = true
	}
	p.Campaigns, p.Campaign = opts, camp
	if failed != nil && !p.SetProblems(failed) {
		return failed
	}
	if camp != nil {
		before, beforeID := endOfTime, maxUUID
		if raw := c.QueryParam("cursor"); raw != "" && c.Request().Method == http.MethodGet {
			q := newListQuery(c, "campaign_id", "q", "cursor")
			if cur, ok := q.cursor("members"); ok {
				before, beforeID = cur.timeAndUUID(q)
			}
			if err := q.err(); err != nil {
				return err
			}
		}
		page, err := s.memberList(c.Request().Context(), *camp, p.Search, before, beforeID, defaultPageSize)
		if err != nil {
			return err
		}
		p.Members, p.NextCursor = page.Members, deref(page.NextCursor)
	}
	p.Form = []adminField{
		{Name: "email", Label: "Email", Type: "email", Required: true, Value: in.Email, MaxLength: 254, Autocomplete: "off", Error: p.FieldError("email")},
		{Name: "first_name", Label: "First name", Type: "text", Value: deref(in.FirstName), MaxLength: 200, Error: p.FieldError("first_name")},
		{Name: "last_name", Label: "Last name", Type: "text", Value: deref(in.LastName), MaxLength: 200, Error: p.FieldError("last_name")},
		{Name: "external_id", Label: "External ID", Type: "text", Value: deref(in.ExternalID), MaxLength: 200, Hint: "Your own ID for this person, if you have one.", Error: p.FieldError("external_id")},
		{Name: "referral_code", Label: "Referral code", Type: "text", Value: deref(in.ReferralCode), MaxLength: 64, Hint: "Letters, digits, - or _; one is made when left empty.", Error: p.FieldError("referral_code")},
	}
	withIDs(p.Form)
	return renderAdmin(c, status, "admin_members", &p)
}

// optional is a form value as an optional input: nil when empty.
func optional(c echo.Context, name string) *string {
	if v := adminFormValue(c, name); v != "" {
		return &v
	}
	return nil
}

func (s *Server) adminAddMember(c echo.Context) error {
	in := MemberInput{Email: adminFormValue(c, "email"), FirstName: optional(c, "first_name"), LastName: optional(c, "last_name"),
		ExternalID: optional(c, "external_id"), ReferralCode: optional(c, "referral_code")}
	camp, err := s.adminCampaignOf(c, adminFormValue(c, "campaign_id"))
	if err != nil {
		return err
	}
	if camp == nil {
		return s.renderMembers(c, http.StatusUnprocessableEntity, invalid(map[string]string{"campaign_id": "choose the campaign the member joins"}), in)
	}
	m, err := s.addMember(c, *camp, in)
	if err != nil {
		return s.renderMembers(c, statusOf(err), err, in)
	}
	return s.redirectWithFlash(c, "/admin/members/"+m.ID.String(), m.Email+" was added to "+camp.Name+".")
}

type memberPage struct {
	AdminPage
	Member      MemberView
	Campaign    db.Campaign
	QRCodePath  string
	HubSpotURL  string
	Referrals   []ReferralView
	Rewards     []memberRewardRow
	AccessLink  *AccessLinkView
	LeadFields  []adminField
	AccessField adminField
}

// memberOfAdminPage loads the member in the path when it is the admin's.
func (s *Server) memberOfAdminPage(c echo.Context) (db.MemberGetWithCampaignRow, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return db.MemberGetWithCampaignRow{}, memberNotFound(c.Param("id"))
	}
	row, err := s.queries().MemberGetWithCampaign(c.Request().Context(), id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.Member.WorkspaceID != adminFrom(c).WorkspaceID) {
		return row, memberNotFound(c.Param("id"))
	}
	return row, err
}

func (s *Server) adminMember(c echo.Context) error {
	return s.renderMember(c, http.StatusOK, nil, nil, ReferralInput{})
}

func (s *Server) renderMember(c echo.Context, status int, failed error, link *AccessLinkView, in ReferralInput) error {
	row, err := s.memberOfAdminPage(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	m := row.Member
	camp, err := s.queries().CampaignGetByID(ctx, m.CampaignID)
	if err != nil {
		return err
	}
	p := memberPage{AdminPage: s.newAdminPage(c, memberName(m), navMembers), Member: s.memberView(m), Campaign: camp,
		QRCodePath: referralQRPath(m.ReferralCode, "svg"), AccessLink: link}
	if failed != nil && !p.SetProblems(failed) {
		return failed
	}
	if m.HubspotContactID != nil {
		if conn, err := s.queries().HubSpotConnectionGetByWorkspace(ctx, m.WorkspaceID); err == nil && conn.PortalID != 0 && s.deps.HubSpot != nil {
			p.HubSpotURL = s.deps.HubSpot.RecordURL(conn.PortalID, "0-1", *m.HubspotContactID)
		}
	}
	refs, err := s.queries().ReferralListByMember(ctx, m.ID)
	if err != nil {
		return err
	}
	for _, r := range refs {
		p.Referrals = append(p.Referrals, referralView(r))
	}
	rewards, err := s.queries().RewardListForMemberPortal(ctx, db.RewardListForMemberPortalParams{MemberID: &m.ID, PageSize: 100})
	if err != nil {
		return err
	}
	for _, rw := range rewards {
		amount, _, err := reward.FromNumeric(rw.Amount, rw.Currency)
		if err != nil {
			return err
		}
		p.Rewards = append(p.Rewards, memberRewardRow{LeadEmail: rw.LeadEmail, Amount: amount.String(), Currency: rw.Currency, Status: rw.Status, PaidAt: rw.PaidAt})
	}
	p.LeadFields = []adminField{
		{Name: "lead_email", Label: "Friend's email", Type: "email", Required: true, Value: in.Lead.Email, MaxLength: 254, Autocomplete: "off", Error: p.FieldError("lead.email")},
		{Name: "lead_first_name", Label: "First name", Type: "text", Value: deref(in.Lead.FirstName), MaxLength: 200, Error: p.FieldError("lead.first_name")},
		{Name: "lead_last_name", Label: "Last name", Type: "text", Value: deref(in.Lead.LastName), MaxLength: 200, Error: p.FieldError("lead.last_name")},
		{Name: "lead_company", Label: "Company", Type: "text", Value: deref(in.Lead.Company), MaxLength: 200, Error: p.FieldError("lead.company")},
	}
	p.AccessField = adminField{Name: "expires_in_hours", Label: "Valid for (hours)", Type: "number", Value: "72",
		Hint: "1 to 2160 hours (90 days).", Error: p.FieldError("expires_in_hours")}
	withIDs(p.LeadFields)
	p.AccessField.ID = p.AccessField.Name
	return renderAdmin(c, status, "admin_member", &p)
}

// memberRewardRow is one of a member's rewards on their page.
type memberRewardRow struct {
	LeadEmail, Amount, Currency, Status string
	PaidAt                              *time.Time
}

// memberName is how a page names a member: their name, else their email.
func memberName(m db.Member) string {
	if n := strings.TrimSpace(deref(m.FirstName) + " " + deref(m.LastName)); n != "" {
		return n
	}
	return m.Email
}

func (s *Server) adminMemberAccessLink(c echo.Context) error {
	row, err := s.memberOfAdminPage(c)
	if err != nil {
		return err
	}
	var in AccessLinkInput
	if raw := adminFormValue(c, "expires_in_hours"); raw != "" {
		var h int
		if _, err := fmt.Sscanf(raw, "%d", &h); err != nil || fmt.Sprint(h) != raw {
			return s.renderMember(c, http.StatusUnprocessableEntity, invalid(map[string]string{"expires_in_hours": "must be a whole number of hours"}), nil, ReferralInput{})
		}
		in.ExpiresInHours = &h
	}
	v, err := s.memberAccessLink(c, row.Member.ID, in)
	if err != nil {
		return s.renderMember(c, statusOf(err), err, nil, ReferralInput{})
	}
	return s.renderMember(c, http.StatusOK, nil, &v, ReferralInput{})
}

func (s *Server) adminMemberAddReferral(c echo.Context) error {
	row, err := s.memberOfAdminPage(c)
	if err != nil {
		return err
	}
	id := row.Member.ID.String()
	in := ReferralInput{MemberID: &id, Lead: LeadInput{Email: adminFormValue(c, "lead_email"),
		FirstName: optional(c, "lead_first_name"), LastName: optional(c, "lead_last_name"), Company: optional(c, "lead_company")}}
	camp, err := s.queries().CampaignGetByID(c.Request().Context(), row.Member.CampaignID)
	if err != nil {
		return err
	}
	r, _, err := s.addReferral(c, camp, in)
	if err != nil {
		return s.renderMember(c, statusOf(err), err, nil, in)
	}
	return s.redirectWithFlash(c, "/admin/referrals/"+r.ID.String(), "The referral of "+r.LeadEmail+" was added.")
}

// withIDs gives each field without an ID its name as ID.
func withIDs(fields []adminField) {
	for i := range fields {
		if fields[i].ID == "" {
			fields[i].ID = fields[i].Name
		}
	}
}
