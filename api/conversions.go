package api

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/workflows"
)

// The tracking script's endpoints, public (no admin, no cookies of
// referflow's) and called from the customer's own pages:
//
//   - POST /api/public/v1/conversions: a lead converted on the customer's
//     page with a referral code the script kept; it becomes a referral
//     (source tracking_script) through activities.AddReferral.
//   - GET /api/public/v1/attribution/{publishable_key}: what the script needs
//     of the campaign (its attribution window and model), so the admin's
//     setting stays the one that counts.
//
// CORS: a browser request is accepted only from the campaign's
// settings.public.allowed_origins; the answer echoes that exact origin with
// Vary: Origin, and never allows credentials. A request whose Origin is not
// allowed is refused with 403 and nothing is kept: CORS alone would only
// stop the page reading the answer, not the request arriving (the script
// posts text/plain, which needs no preflight). A request without an Origin
// is not a browser's (every current browser sends one on a cross-origin
// POST): it is accepted, as a server may post conversions too — the
// publishable key is public anyway, and what protects the campaign is the
// rate limits, the code's own check and the fraud checks of the referral's
// workflow, not the origin.

const (
	conversionsRoute    = "/api/public/v1/conversions"
	publicCampaignRoute = "/api/public/v1/attribution/:publishable_key"
)

// MaxPublicBodyBytes caps a public endpoint's body: a conversion is a few
// hundred bytes.
const MaxPublicBodyBytes = 16 << 10

// publicCORSMaxAge is how long a browser may reuse a preflight's answer.
const publicCORSMaxAge = "600"

var publishableKey = regexp.MustCompile(campaign.PublishableKeyPattern)

func (s *Server) routeConversions() {
	s.echo.POST(conversionsRoute, s.postConversion, limitBody(MaxPublicBodyBytes))
	s.echo.OPTIONS(conversionsRoute, s.preflightConversion)
	s.echo.GET(publicCampaignRoute, s.getPublicCampaign)
}

// ConversionInput is what the tracking script (or a server) posts: the
// campaign's publishable key, the referral code kept from the landing URL,
// and the lead.
type ConversionInput struct {
	PublishableKey string    `json:"publishable_key" limit:"100"`
	ReferralCode   string    `json:"referral_code" limit:"100"`
	Lead           LeadInput `json:"lead"`
	ExternalID     *string   `json:"external_id" limit:"200"`
}

// ConversionView is the answer to an accepted conversion. It is the same
// whether the lead was new or already referred (by this member or another):
// see postConversion.
type ConversionView struct {
	// ConversionID names this conversion: the same member and lead always
	// get the same one.
	ConversionID string `json:"conversion_id"`
	// Status is always "received": the referral's fraud checks run after.
	Status string `json:"status"`
}

// ConversionReceived is ConversionView's one status.
const ConversionReceived = "received"

// PublicCampaignView is what the tracking script reads of a campaign.
type PublicCampaignView struct {
	Attribution campaign.Attribution `json:"attribution"`
}

// postConversion adds the referral of a conversion.
//
// A lead already referred in the campaign is never added twice. The answer
// is nonetheless the same as for a new lead — 202 with a conversion ID
// derived from the member and the lead's email — whether the earlier
// referral is this member's (a retried request: its workflow is started if
// it was not yet) or another member's. This endpoint is public and anyone
// may call it with any member's code: answering "already referred" (or 201
// for new and 200 for known) would tell an arbitrary caller who is a lead
// of the customer. The admin sees the one referral, with its member.
func (s *Server) postConversion(c echo.Context) error {
	h := c.Response().Header()
	h.Add("Vary", "Origin")
	h.Set("Cache-Control", "no-store")
	ctx := c.Request().Context()

	body, err := readBody(c)
	if err != nil {
		return err
	}
	// The campaign first, leniently, so that even a refused body is
	// answered readably to an allowed origin.
	var named struct {
		PublishableKey any `json:"publishable_key"`
	}
	if json.Unmarshal(body, &named) != nil {
		// Not a JSON object: the strict reading says what is wrong.
		c.Request().Body = io.NopCloser(bytes.NewReader(body))
		if err := decodeStrict(c, &ConversionInput{}); err != nil {
			return err
		}
		return NewError(http.StatusBadRequest, "bad_request", "the body is not valid JSON: send one JSON object")
	}
	key, _ := named.PublishableKey.(string)
	camp, err := s.campaignByPublishableKey(c, key)
	if err != nil {
		return err
	}
	if err := s.allowOrigin(c, camp); err != nil {
		return err
	}
	visitor := s.visitor(c)
	var limited *rateLimitedError
	if err := s.limitVisitor(visitor); errors.As(err, &limited) {
		return rateLimitedAnswer(c, limited)
	}
	if mt, _, err := mime.ParseMediaType(c.Request().Header.Get("Content-Type")); err != nil || (mt != "application/json" && mt != "text/plain") {
		return NewError(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send the conversion as a JSON body, with Content-Type application/json (or text/plain, as the tracking script does to need no preflight)")
	}
	c.Request().Body = io.NopCloser(bytes.NewReader(body))
	var in ConversionInput
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	problems := map[string]string{}
	if err := referral.CheckEmail(in.Lead.Email); err != nil {
		problems["lead.email"] = err.Error()
	}
	if !referral.CodePattern.MatchString(in.ReferralCode) {
		problems["referral_code"] = "is required: the referflow_ref code of the referral link the visitor came through (1 to 64 letters, digits, - or _)"
	}
	if len(problems) > 0 {
		return invalid(problems)
	}
	if err := campaign.CheckTakesNew(campaign.Status(camp.Status)); err != nil {
		var notActive *campaign.NotActiveError
		if errors.As(err, &notActive) {
			return notActiveAnswer(notActive)
		}
		return err
	}
	member, ok, err := s.memberByCode(ctx, camp.ID, in.ReferralCode)
	if err != nil {
		return err
	}
	if !ok {
		return &APIError{Status: http.StatusUnprocessableEntity, Code: "unknown_referral_code",
			Message: "no member of this campaign has this referral code: the conversion was not kept",
			Fields:  map[string]string{"referral_code": "is no member's code in this campaign"}}
	}
	if err := s.limitMember(member.ID.String()); errors.As(err, &limited) {
		return rateLimitedAnswer(c, limited)
	}
	row, err := activities.AddReferral(ctx, s.deps.Pool, activities.NewReferral{
		Member: member, Source: referral.SourceTrackingScript, Actor: string(referral.SourceTrackingScript),
		ExternalID: in.ExternalID, VisitorHash: visitor,
		Lead: activities.Lead{Email: in.Lead.Email, FirstName: deref(in.Lead.FirstName), LastName: deref(in.Lead.LastName), Company: deref(in.Lead.Company)},
	})
	var dup *activities.DuplicateLeadError
	var notActive *campaign.NotActiveError
	switch {
	case errors.As(err, &dup):
		if dup.Existing.MemberID == member.ID {
			s.startConversionWorkflow(c, dup.Existing.ID.String())
		}
		s.deps.Logger.InfoContext(ctx, "conversion of a lead already referred in the campaign; nothing added",
			"campaign_id", camp.ID.String(), "member_id", member.ID.String(), "referral_id", dup.Existing.ID.String())
	case errors.As(err, &notActive):
		return notActiveAnswer(notActive)
	case err != nil:
		return err
	default:
		s.startConversionWorkflow(c, row.ID.String())
	}
	return c.JSON(http.StatusAccepted, ConversionView{
		ConversionID: s.conversionID(camp, member, in.Lead.Email), Status: ConversionReceived,
	})
}

// startConversionWorkflow starts a referral's workflow; when Temporal is
// unreachable the referral is kept all the same and the worker's reconciler
// starts it, so the conversion is accepted either way.
func (s *Server) startConversionWorkflow(c echo.Context, referralID string) {
	ctx := c.Request().Context()
	_, err := workflows.StartReferralWorkflow(ctx, s.deps.Temporal, s.deps.TaskQueue, s.deps.HubSpotTaskQueue, referralID)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		s.deps.Logger.WarnContext(ctx, "referral's workflow not started yet (Temporal unreachable); the reconciler will", "referral_id", referralID)
	}
}

// conversionID names a conversion without saying whether its referral is
// new: a keyed hash of the campaign, the member and the lead's email.
func (s *Server) conversionID(camp db.Campaign, member db.Member, email string) string {
	m := hmac.New(sha256.New, s.clickKey)
	m.Write([]byte("conversion\x00" + camp.ID.String() + "\x00" + member.ID.String() + "\x00" + strings.ToLower(strings.TrimSpace(email))))
	return "cv_" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// campaignByPublishableKey finds the campaign a public request names.
func (s *Server) campaignByPublishableKey(c echo.Context, key string) (db.Campaign, error) {
	unknown := &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid",
		Message: "no campaign has this publishable key: copy the snippet again from the campaign (a rotated key stops working)",
		Fields:  map[string]string{"publishable_key": "names no campaign"}}
	if !publishableKey.MatchString(key) {
		return db.Campaign{}, unknown
	}
	camp, err := s.queries().CampaignGetByPublishableKey(c.Request().Context(), key)
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Campaign{}, unknown
	}
	return camp, err
}

// allowOrigin lets a request through when it has no Origin (not a browser)
// or one of the campaign's allowed origins, which the answer then echoes;
// otherwise it answers 403.
func (s *Server) allowOrigin(c echo.Context, camp db.Campaign) error {
	origin, ok := c.Request().Header["Origin"]
	if !ok {
		return nil
	}
	settings, err := activities.CampaignSettings(camp)
	if err != nil {
		return err
	}
	if len(origin) == 1 && originAllowed(origin[0], settings.Public.AllowedOrigins) {
		h := c.Response().Header()
		h.Set("Access-Control-Allow-Origin", origin[0])
		h.Set("Access-Control-Expose-Headers", "Retry-After")
		return nil
	}
	return originRefused()
}

// originAllowed tells whether a browser's Origin header is one of allowed
// (normalised origins, as the settings keep them). A "null" origin
// (sandboxed frames, files) is never allowed.
func originAllowed(origin string, allowed []string) bool {
	n, err := campaign.NormalizeOrigin(origin)
	// A browser serialises its origin as NormalizeOrigin does; one that
	// differs is not a browser's, and echoing it would not match anyway.
	return err == nil && n == origin && slices.Contains(allowed, n)
}

func originRefused() error {
	return NewError(http.StatusForbidden, "origin_not_allowed",
		"this page's origin is not allowed to send conversions to this campaign: add it to the campaign's settings.public.allowed_origins")
}

// preflightConversion answers a browser's CORS preflight before a JSON
// POST (the tracking script sends text/plain and needs none). A preflight
// carries no body, so no publishable key: the origin must be allowed by a
// campaign, and the POST itself is then checked against its own campaign's
// list.
func (s *Server) preflightConversion(c echo.Context) error {
	h := c.Response().Header()
	h.Add("Vary", "Origin")
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	origin := c.Request().Header.Get("Origin")
	n, err := campaign.NormalizeOrigin(origin)
	if err != nil || n != origin {
		return originRefused()
	}
	if m := c.Request().Header.Get("Access-Control-Request-Method"); m != http.MethodPost {
		return forbidden("conversions are sent with POST")
	}
	for _, name := range strings.Split(c.Request().Header.Get("Access-Control-Request-Headers"), ",") {
		if name = strings.ToLower(strings.TrimSpace(name)); name != "" && name != "content-type" {
			return forbidden("a conversion needs no request header but Content-Type (not " + name + ")")
		}
	}
	allowed, err := s.queries().CampaignAllowsOrigin(c.Request().Context(), n)
	if err != nil {
		return err
	}
	if !allowed {
		return originRefused()
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", http.MethodPost)
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", publicCORSMaxAge)
	return c.NoContent(http.StatusNoContent)
}

// getPublicCampaign answers what the tracking script needs of a campaign:
// public, cacheable for a few minutes, readable from its allowed origins.
func (s *Server) getPublicCampaign(c echo.Context) error {
	h := c.Response().Header()
	h.Add("Vary", "Origin")
	camp, err := s.campaignByPublishableKey(c, c.Param("publishable_key"))
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return NewError(http.StatusNotFound, "not_found", apiErr.Message)
	}
	if err != nil {
		return err
	}
	if err := s.allowOrigin(c, camp); err != nil {
		return err
	}
	settings, err := activities.CampaignSettings(camp)
	if err != nil {
		return err
	}
	h.Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, PublicCampaignView{Attribution: settings.Public.Attribution})
}
