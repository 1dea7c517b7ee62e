package api

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
)

// Members of a campaign in the admin API: add one (a referral code and link
// are made for it) and list them.

// MemberView is a member as the admin API shows it.
type MemberView struct {
	ID                     string    `json:"id"`
	CampaignID             string    `json:"campaign_id"`
	Email                  string    `json:"email"`
	FirstName              string    `json:"first_name,omitempty"`
	LastName               string    `json:"last_name,omitempty"`
	ExternalID             string    `json:"external_id,omitempty"`
	ReferralCode           string    `json:"referral_code"`
	ReferralLink           string    `json:"referral_link"`
	ReferralCount          int32     `json:"referral_count"`
	ConvertedReferralCount int32     `json:"converted_referral_count"`
	CreatedAt              time.Time `json:"created_at"`
}

func (s *Server) memberView(m db.Member) MemberView {
	return MemberView{
		ID: m.ID.String(), CampaignID: m.CampaignID.String(), Email: m.Email,
		FirstName: deref(m.FirstName), LastName: deref(m.LastName), ExternalID: deref(m.ExternalID),
		ReferralCode: m.ReferralCode, ReferralLink: s.referralLink(m.ReferralCode),
		ReferralCount: m.ReferralCount, ConvertedReferralCount: m.ConvertedReferralCount, CreatedAt: m.CreatedAt,
	}
}

// referralLink is the link a member shares: /r/{code} on the public URL.
func (s *Server) referralLink(code string) string {
	base := "http://localhost:8080"
	if s.deps.PublicURL != nil {
		base = s.deps.PublicURL.String()
	}
	return base + "/r/" + code
}

// MemberInput adds a member.
type MemberInput struct {
	Email        string  `json:"email"` // referral.CheckEmail: RFC 5321 lengths
	FirstName    *string `json:"first_name" limit:"200"`
	LastName     *string `json:"last_name" limit:"200"`
	ExternalID   *string `json:"external_id" limit:"200"`
	ReferralCode *string `json:"referral_code"` // referralCodePattern: at most 64
}

var referralCodePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (in MemberInput) validate() map[string]string {
	problems := map[string]string{}
	if err := referral.CheckEmail(in.Email); err != nil {
		problems["email"] = err.Error()
	}
	if in.ReferralCode != nil && !referralCodePattern.MatchString(*in.ReferralCode) {
		problems["referral_code"] = "must be 1 to 64 letters, digits, - or _ (it goes into links)"
	}
	return problems
}

func (s *Server) createMember(c echo.Context) error {
	camp, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	var in MemberInput
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	if problems := in.validate(); len(problems) > 0 {
		return invalid(problems)
	}
	params := db.MemberCreateParams{
		WorkspaceID: camp.WorkspaceID, CampaignID: camp.ID, Email: strings.TrimSpace(in.Email),
		FirstName: in.FirstName, LastName: in.LastName, ExternalID: in.ExternalID, Source: "api",
	}
	// A generated code may collide with an existing one: try a few.
	for attempt := 0; ; attempt++ {
		params.ReferralCode = newReferralCode(deref(in.FirstName))
		if in.ReferralCode != nil {
			params.ReferralCode = *in.ReferralCode
		}
		m, err := s.addMember(c.Request().Context(), params)
		var notActive *campaign.NotActiveError
		if errors.As(err, &notActive) {
			return notActiveAnswer(notActive)
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			switch pgErr.ConstraintName {
			case "members_campaign_id_referral_code_key":
				if in.ReferralCode == nil && attempt < 5 {
					continue
				}
				return &APIError{Status: http.StatusConflict, Code: "conflict", Message: "that referral code is taken in this campaign", Fields: map[string]string{"referral_code": "is taken"}}
			case "members_campaign_id_email_key":
				return &APIError{Status: http.StatusConflict, Code: "conflict", Message: "this email is already a member of the campaign", Fields: map[string]string{"email": "is already a member"}}
			case "members_campaign_id_external_id_key":
				return &APIError{Status: http.StatusConflict, Code: "conflict", Message: "this external ID is already used in the campaign", Fields: map[string]string{"external_id": "is taken"}}
			}
		}
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, s.memberView(m))
	}
}

// addMember adds a member while its campaign is active
// (activities.CheckCampaignTakesNew holds the campaign's status until the
// member is written).
func (s *Server) addMember(ctx context.Context, params db.MemberCreateParams) (db.Member, error) {
	var m db.Member
	err := pgx.BeginFunc(ctx, s.deps.Pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if err := activities.CheckCampaignTakesNew(ctx, q, params.CampaignID); err != nil {
			return err
		}
		var err error
		m, err = q.MemberCreate(ctx, params)
		return err
	})
	return m, err
}

func (s *Server) listMembers(c echo.Context) error {
	camp, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	rows, err := s.queries().MemberListByCampaign(c.Request().Context(), camp.ID)
	if err != nil {
		return err
	}
	views := make([]MemberView, 0, len(rows))
	for _, m := range rows {
		views = append(views, s.memberView(m))
	}
	return c.JSON(http.StatusOK, map[string]any{"members": views})
}

// codeAlphabet leaves out characters people confuse (0/O, 1/I/L).
const codeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// newReferralCode is the member's first name (letters and digits, at most 8)
// and four random characters, e.g. MAYA-7Q2K: readable when shared aloud.
func newReferralCode(firstName string) string {
	var prefix strings.Builder
	for _, r := range strings.ToUpper(firstName) {
		if prefix.Len() >= 8 {
			break
		}
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			prefix.WriteRune(r)
		}
	}
	if prefix.Len() == 0 {
		prefix.WriteString("REF")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	suffix := make([]byte, 4)
	for i := range b {
		suffix[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return prefix.String() + "-" + string(suffix)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
