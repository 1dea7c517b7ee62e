package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
)

// A member's referral link, GET /r/{code}: public, no admin auth. It records
// a click, sets the attribution cookie for the hosted lead form, and sends
// the visitor on to the campaign's landing page with referflow_ref=<code> in
// the query. An unknown code, or a campaign that is not active, gets a
// friendly 404 page, never a redirect.

// referralLinkRoute is the route of referral links.
const referralLinkRoute = "/r/:code"

// RefParam is the query parameter (and cookie name prefix) carrying a
// referral code to the landing page, the tracking script and the hosted form.
const RefParam = "referflow_ref"

// maxReferrerLength bounds the referring page stored with a click.
const maxReferrerLength = 512

func (s *Server) routeReferralLinks() {
	s.echo.GET(referralLinkRoute, s.followReferralLink)
	s.echo.HEAD(referralLinkRoute, s.followReferralLink)
}

func (s *Server) followReferralLink(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	// The landing page learns the code from its query, and nothing else
	// about the link.
	h.Set("Referrer-Policy", "no-referrer")
	ctx := c.Request().Context()
	link, ok, err := s.lookupReferralLink(ctx, c.Param("code"))
	if err != nil {
		return err
	}
	if !ok {
		return linkNotFound(c)
	}
	row, pub := link.row, link.public
	if !campaign.Status(row.CampaignStatus).TakesNew() {
		return linkNotFound(c)
	}
	if c.Request().Method == http.MethodGet {
		s.clicks.add(db.ClickInsertBatchParams{
			WorkspaceID: row.WorkspaceID, CampaignID: row.CampaignID, MemberID: row.MemberID,
			ClickedAt:   time.Now(),
			Referrer:    clickReferrer(c.Request().Referer()),
			VisitorHash: s.visitorHash(c.RealIP(), c.Request().UserAgent()),
		})
	}
	s.setAttributionCookie(c, row.CampaignID, row.ReferralCode, pub.Attribution)

	target, ok := landingTarget(pub.LandingURL, row.ReferralCode)
	if !ok && pub.LandingURL != "" {
		s.deps.Logger.WarnContext(ctx, "campaign landing URL is not an absolute http(s) URL; referral link shows the no-landing-page page",
			"campaign_id", row.CampaignID.String())
	}
	if !ok && pub.Slug != "" {
		// The hosted lead form of the campaign.
		target, ok = "/c/"+url.PathEscape(pub.Slug)+"/refer?"+RefParam+"="+url.QueryEscape(row.ReferralCode), true
	}
	if !ok {
		return renderPage(c, http.StatusNotFound, "referral_link.html", messagePage{
			Title: "This campaign has no landing page yet",
			Paragraphs: []string{
				"The referral link you followed is valid, but the campaign it belongs to has nowhere to send you yet.",
				"Please try the link again later, or ask the person who shared it.",
			},
		})
	}
	return c.Redirect(http.StatusFound, target)
}

// lookupReferralLink finds the member of a referral link's code and its
// campaign's public settings (from linkCache when they were looked up within
// its TTL); ok is false when no member has the code. The referral link and
// its QR code images share it.
func (s *Server) lookupReferralLink(ctx context.Context, code string) (referralLink, bool, error) {
	// Codes are 1 to 64 letters, digits, - or _ (the members table's check):
	// anything else cannot exist, and the database is not asked.
	if !referral.CodePattern.MatchString(code) {
		return referralLink{}, false, nil
	}
	if link, ok := s.linkCache.get(code); ok {
		return link, true, nil
	}
	row, err := s.queries().MemberGetByReferralLink(ctx, code)
	if errors.Is(err, pgx.ErrNoRows) {
		return referralLink{}, false, nil
	}
	if err != nil {
		return referralLink{}, false, err
	}
	// Only the public section was read: the others keep their defaults.
	settings, err := activities.CampaignSettings(db.Campaign{ID: row.CampaignID, PublicSettings: row.PublicSettings})
	if err != nil {
		return referralLink{}, false, err
	}
	link := referralLink{row: row, public: settings.Public}
	s.linkCache.put(code, link)
	return link, true, nil
}

func linkNotFound(c echo.Context) error {
	return renderPage(c, http.StatusNotFound, "referral_link.html", messagePage{
		Title: "This referral link is not valid",
		Paragraphs: []string{
			"The link you followed is unknown, or belongs to a campaign that is not running at the moment.",
			"Please check that the link was copied whole, or ask the person who shared it for a new one.",
		},
	})
}

// landingTarget is the landing URL with referflow_ref=<code> added to its
// query (replacing one already there), its own query and fragment kept as
// written. ok is false when the URL is empty or not an absolute http(s) URL.
func landingTarget(landing, code string) (string, bool) {
	if landing == "" {
		return "", false
	}
	u, err := url.Parse(landing)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	var kept []string
	for _, part := range strings.Split(u.RawQuery, "&") {
		key, _, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); part == "" || (err == nil && k == RefParam) {
			continue
		}
		kept = append(kept, part)
	}
	u.RawQuery = strings.Join(append(kept, RefParam+"="+url.QueryEscape(code)), "&")
	return u.String(), true
}

// clickReferrer is the referring page kept with a click: scheme, host and
// path only — its query and fragment may carry personal data — truncated to
// maxReferrerLength; nil when absent or not an http(s) URL.
func clickReferrer(raw string) *string {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil
	}
	v := strings.ToValidUTF8(u.Scheme+"://"+u.Host+u.EscapedPath(), "")
	if len(v) > maxReferrerLength {
		v = v[:maxReferrerLength]
		for !utf8.ValidString(v) {
			v = v[:len(v)-1]
		}
	}
	return &v
}

// AttributionCookieName is the hosted form's attribution cookie of a
// campaign: one per campaign, so a visitor referred to two campaigns keeps
// both attributions.
func AttributionCookieName(campaignID uuid.UUID) string {
	return RefParam + "_" + strings.ReplaceAll(campaignID.String(), "-", "")
}

// setAttributionCookie remembers the referral code on referflow's own domain
// for the campaign's attribution window. First touch keeps a code already
// there; last touch replaces it.
func (s *Server) setAttributionCookie(c echo.Context, campaignID uuid.UUID, code string, attr campaign.Attribution) {
	name := AttributionCookieName(campaignID)
	if attr.Model == campaign.FirstTouch {
		if old, err := c.Cookie(name); err == nil && referral.CodePattern.MatchString(old.Value) {
			return
		}
	}
	days := attr.WindowDays
	if days <= 0 {
		days = campaign.DefaultAttributionWindowDays
	}
	c.SetCookie(&http.Cookie{
		Name: name, Value: code, Path: "/",
		MaxAge:   days * 24 * 60 * 60,
		HttpOnly: true,
		Secure:   s.deps.PublicURL != nil && s.deps.PublicURL.Scheme == "https",
		SameSite: http.SameSiteLaxMode,
	})
}

// visitorHash is the keyed hash stored with a click instead of the IP
// address: HMAC-SHA256 of the IP and the user agent under clickKey.
func (s *Server) visitorHash(ip, userAgent string) []byte {
	m := hmac.New(sha256.New, s.clickKey)
	m.Write([]byte(ip))
	m.Write([]byte{0})
	m.Write([]byte(userAgent))
	return m.Sum(nil)
}

// referralLink is what a referral link's lookup found: the member's row and
// its campaign's public settings, decoded once per lookup.
type referralLink struct {
	row    db.MemberGetByReferralLinkRow
	public campaign.Public
}

// linkCache remembers the lookups of referral links that found a member for
// a short while (Deps.ReferralLinkCacheTTL, 1 s by default): a link shared
// widely is clicked many times a second, and each click need not ask
// Postgres again. What it costs: a campaign paused, or its landing URL
// changed, takes up to the TTL to show on its links. Unknown codes are never
// remembered, so a new member's link works at once.
type linkCache struct {
	ttl     time.Duration
	m       sync.Map // code as requested → linkCacheEntry
	inserts atomic.Int64
}

type linkCacheEntry struct {
	link  referralLink
	until time.Time
}

// linkCacheSweepEvery is how many insertions pass between two removals of
// expired entries, so codes clicked once do not stay in memory.
const linkCacheSweepEvery = 10_000

func (l *linkCache) get(code string) (referralLink, bool) {
	if l.ttl <= 0 {
		return referralLink{}, false
	}
	v, ok := l.m.Load(code)
	if !ok || time.Now().After(v.(linkCacheEntry).until) {
		return referralLink{}, false
	}
	return v.(linkCacheEntry).link, true
}

func (l *linkCache) put(code string, link referralLink) {
	if l.ttl <= 0 {
		return
	}
	now := time.Now()
	l.m.Store(code, linkCacheEntry{link: link, until: now.Add(l.ttl)})
	if l.inserts.Add(1)%linkCacheSweepEvery == 0 {
		l.m.Range(func(k, v any) bool {
			if now.After(v.(linkCacheEntry).until) {
				l.m.Delete(k)
			}
			return true
		})
	}
}
