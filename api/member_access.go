package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/memberaccess"
)

// A member's access link to their portal, <PUBLIC_URL>/m/{token}: signed
// and expiring, made and read by internal/memberaccess (the worker puts the
// same links in the emails it sends members).

// DefaultMemberAccessTTL is how long an access link works unless the admin
// asks otherwise; MaxMemberAccessTTL is the longest an admin may ask for.
const (
	DefaultMemberAccessTTL = memberaccess.DefaultTTL
	MaxMemberAccessTTL     = memberaccess.MaxTTL
)

// memberPortalPrefix starts the member portal's routes; memberAccessRoute is
// the portal itself.
const (
	memberPortalPrefix = memberaccess.PathPrefix
	memberAccessRoute  = memberPortalPrefix + ":token"
)

// memberAccessURL is the member's access link, valid for ttl (truncated to
// the second), and when it expires.
func (s *Server) memberAccessURL(m db.Member, ttl time.Duration) (string, time.Time) {
	expires := time.Now().Add(ttl).Truncate(time.Second)
	return s.access.URL(s.publicBase(), m.ID, expires), expires
}

// memberAccessToken signs the member's ID and the expiry.
func (s *Server) memberAccessToken(memberID uuid.UUID, expires time.Time) string {
	return s.access.Token(memberID, expires)
}

var (
	errAccessInvalid = memberaccess.ErrInvalid
	errAccessExpired = memberaccess.ErrExpired
)

// parseMemberAccessToken verifies a token and returns its member and
// expiry; an expired token still names its member.
func (s *Server) parseMemberAccessToken(token string, now time.Time) (uuid.UUID, time.Time, error) {
	return s.access.Parse(token, now)
}

// publicBase is the public URL links are made on, without a trailing slash.
func (s *Server) publicBase() string {
	if s.deps.PublicURL != nil {
		return s.deps.PublicURL.String()
	}
	return "http://localhost:8080"
}

// accessDenied is the page answering an access link that cannot be used.
type accessDenied struct {
	status int
	page   messagePage
}

func denied(status int, title string, paragraphs ...string) *accessDenied {
	return &accessDenied{status: status, page: messagePage{Title: title, Paragraphs: paragraphs}}
}

// render answers with the page; nothing is cached.
func (d *accessDenied) render(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return renderPage(c, d.status, "public_message", d.page)
}

// memberOfAccessToken is the member an access link opens, with their
// campaign; or, when the link cannot be used, the page saying why and how to
// get a new one: 404 for a link referflow did not make (malformed, tampered,
// signed under another key), 410 for one that has expired, whose member was
// deleted, or whose campaign was archived.
func (s *Server) memberOfAccessToken(ctx context.Context, token string) (db.MemberGetWithCampaignRow, *accessDenied, error) {
	id, _, err := s.parseMemberAccessToken(token, time.Now())
	if errors.Is(err, errAccessInvalid) {
		return db.MemberGetWithCampaignRow{}, denied(http.StatusNotFound, "This link is not valid",
			"The link you opened is not one we made, or it was not copied whole.",
			"Please open it again from the message it came in, or ask the team that runs the referral program for a new one."), nil
	}
	row, qerr := s.queries().MemberGetWithCampaign(ctx, id)
	if errors.Is(qerr, pgx.ErrNoRows) {
		return db.MemberGetWithCampaignRow{}, denied(http.StatusGone, "This link no longer works",
			"The membership this link was made for no longer exists.",
			"If you think this is a mistake, ask the team that runs the referral program."), nil
	}
	if qerr != nil {
		return db.MemberGetWithCampaignRow{}, nil, qerr
	}
	if campaign.Status(row.CampaignStatus) == campaign.Archived {
		return db.MemberGetWithCampaignRow{}, denied(http.StatusGone, "This referral program has ended",
			"“"+row.CampaignName+"” is closed, and so are its members’ pages.",
			"Thank you for taking part. For questions about your referrals or rewards, contact the team that ran the program."), nil
	}
	if errors.Is(err, errAccessExpired) {
		return db.MemberGetWithCampaignRow{}, denied(http.StatusGone, "This link has expired",
			"Links to your referral page work for a limited time, so that an old message cannot open it.",
			"Ask the team that runs “"+row.CampaignName+"” for a new link: your referrals and rewards are all still there."), nil
	}
	return row, nil, nil
}

// AccessLinkInput asks for a member's access link; the body is optional.
type AccessLinkInput struct {
	// ExpiresInHours is the link's lifetime: 1 to 2160 (90 days); default
	// 720 (30 days).
	ExpiresInHours *int `json:"expires_in_hours"`
}

// AccessLinkView is a member's access link.
type AccessLinkView struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// createMemberAccessLink makes a member's access link: POST
// /api/v1/members/{id}/access-link, for the admin's workspace's members only
// (another's is not found).
func (s *Server) createMemberAccessLink(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return memberNotFound(c.Param("id"))
	}
	var in AccessLinkInput
	body, err := io.ReadAll(c.Request().Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return bodyTooLarge(tooLarge.Limit)
	}
	if err != nil {
		return NewError(http.StatusBadRequest, "bad_request", "the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) > 0 {
		c.Request().Body = io.NopCloser(bytes.NewReader(body))
		if err := decodeStrict(c, &in); err != nil {
			return err
		}
	}
	v, err := s.memberAccessLink(c, id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, v)
}

// memberAccessLink makes an access link for the admin's workspace's member:
// the JSON API's and the admin UI's.
func (s *Server) memberAccessLink(c echo.Context, id uuid.UUID, in AccessLinkInput) (AccessLinkView, error) {
	ttl := DefaultMemberAccessTTL
	if in.ExpiresInHours != nil {
		h := *in.ExpiresInHours
		if h < 1 || time.Duration(h)*time.Hour > MaxMemberAccessTTL {
			return AccessLinkView{}, invalid(map[string]string{"expires_in_hours": "must be 1 to " + strconv.Itoa(int(MaxMemberAccessTTL/time.Hour)) + " hours (90 days)"})
		}
		ttl = time.Duration(h) * time.Hour
	}
	row, err := s.queries().MemberGetWithCampaign(c.Request().Context(), id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.Member.WorkspaceID != adminFrom(c).WorkspaceID) {
		return AccessLinkView{}, memberNotFound(c.Param("id"))
	}
	if err != nil {
		return AccessLinkView{}, err
	}
	if st := campaign.Status(row.CampaignStatus); st == campaign.Archived {
		return AccessLinkView{}, NewError(http.StatusConflict, "conflict", "the member's campaign is archived: its member portal is closed, and access links to it do not work")
	}
	u, expires := s.memberAccessURL(row.Member, ttl)
	return AccessLinkView{URL: u, ExpiresAt: expires.UTC()}, nil
}

func memberNotFound(id string) error {
	return NewError(http.StatusNotFound, "not_found", "no member "+strconv.Quote(id)+" in this workspace")
}
