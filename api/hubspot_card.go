package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspot/signature"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/reward"
)

// The referral card on HubSpot records: the data endpoint of the app card
// shipped in hubspot-project/ (a HubSpot developer project), which runs
// inside HubSpot on contact, deal and company records and calls referflow
// with hubspot.fetch.
//
// HubSpot signs every hubspot.fetch request with the app's client secret
// (X-HubSpot-Signature-v3 over method, full URL, body and timestamp) and
// appends portalId, userId, userEmail and appId to the URL's query; the card
// adds the record it is on (associatedObjectType, associatedObjectId). The
// signature covers the whole URL, so after it is verified those values are
// HubSpot's word: the portal names the workspace (its connection), the user
// is who acts. Only v3 is accepted here: v1 signs the body alone, so a GET's
// v1 signature is the same for every URL and could be replayed forever.
//
// HubSpot's limits shape the answers: it waits at most 15 s (reads here
// give up after cardReadTimeout, decisions after the workflow update's 10 s),
// refuses answers over 1 MB (lists are capped and the encoded answer is cut
// to cardMaxAnswerBytes), and sends at most 20 requests at a time per
// account (cardGuard holds referflow to the same per portal and process).
// The card reads Postgres, which the referral's workflow writes before it
// answers an update, rather than querying each workflow: one indexed read
// per list instead of a round trip through Temporal and a worker per
// referral, which is what keeps the card's p95 well under 150 ms at 20
// concurrent fetches (docs/benchmarks.md).

// CardPath and CardActionPath are the card's endpoints; the card in
// hubspot-project/ calls exactly these (hubspot_card_project_test.go).
const (
	CardPath       = "/hubspot/card"
	CardActionPath = "/hubspot/card/actions/set-status"
)

// The card's limits.
const (
	// cardReadTimeout bounds a card read: HubSpot gives up after 15 s, and
	// a clear 503 the card can show beats a timeout it cannot.
	cardReadTimeout = 5 * time.Second
	// cardActionTimeout bounds a decision: the workflow update waits up to
	// 10 s (sendDecision), then the card is read again.
	cardActionTimeout = 13 * time.Second
	// cardMaxBodyBytes caps a card action's body (a referral ID, a status
	// and a reason of at most 1000 characters).
	cardMaxBodyBytes = 16 << 10
	// The lists' caps; an answer says how many there are in all.
	cardMaxReferrals  = 20
	cardMaxMembers    = 10
	cardMaxRewards    = 20
	cardMaxFraudFlags = 10
	// cardMaxText cuts long free text (denial reasons, fraud details).
	cardMaxText = 500
	// cardMaxAnswerBytes is well under HubSpot's 1 MB: the caps above keep
	// answers far smaller, this is the guarantee.
	cardMaxAnswerBytes = 512 << 10
	// CardConcurrencyPerPortal is HubSpot's own limit on hubspot.fetch
	// requests in flight per account.
	CardConcurrencyPerPortal = 20
)

// errCardUnconfigured is the answer when no client secret can check
// signatures.
const errCardUnconfigured = "the HubSpot card is not configured: set HUBSPOT_CLIENT_SECRET"

// The query parameters HubSpot appends to every hubspot.fetch URL, and the
// ones the card adds.
const (
	cardParamPortalID   = "portalId"
	cardParamUserID     = "userId"
	cardParamUserEmail  = "userEmail"
	cardParamAppID      = "appId"
	cardParamObjectType = "associatedObjectType"
	cardParamObjectID   = "associatedObjectId"
)

func (s *Server) routeHubSpotCard() {
	guard := newCardGuard(CardConcurrencyPerPortal)
	// Not under /api/v1: HubSpot authenticates by signature, not as an admin.
	s.echo.GET(CardPath, func(c echo.Context) error {
		req, release, err := s.cardRequest(c, guard)
		if err != nil {
			return err
		}
		defer release()
		ctx, cancel := context.WithTimeout(c.Request().Context(), cardReadTimeout)
		defer cancel()
		view, err := s.cardView(ctx, req)
		if err != nil {
			return cardReadError(ctx, err)
		}
		return cardJSON(c, http.StatusOK, view)
	})
	s.echo.POST(CardActionPath, func(c echo.Context) error {
		req, release, err := s.cardRequest(c, guard)
		if err != nil {
			return err
		}
		defer release()
		return s.cardSetStatus(c, req)
	}, limitBody(cardMaxBodyBytes))
}

// cardRequest is one verified request of the card: who sent it from which
// portal and record, in which workspace.
type cardRequest struct {
	portalID    int64
	userID      int64
	userEmail   string
	workspaceID uuid.UUID
	object      hubspotobject.Ref
	body        []byte
}

// actor is who acts through the card, as the audit trail records it: the
// HubSpot user's ID and, when HubSpot sent it, their email (the admin API
// records an admin's ID; a HubSpot user has no row in referflow to point
// at).
func (r cardRequest) actor() string {
	a := "hubspot_user:" + strconv.FormatInt(r.userID, 10)
	if r.userEmail != "" {
		a += ":" + r.userEmail
	}
	return a
}

// cardRequest verifies the request's signature, then reads HubSpot's query
// parameters and the record, takes one of the portal's slots (release gives
// it back) and finds the portal's workspace. Nothing is read from Postgres
// before the signature is checked.
func (s *Server) cardRequest(c echo.Context, guard *cardGuard) (req cardRequest, release func(), err error) {
	if s.deps.WebhookSecret == "" {
		return req, nil, NewError(http.StatusServiceUnavailable, "unavailable", errCardUnconfigured)
	}
	r := c.Request()
	if req.body, err = readBody(c); err != nil {
		return req, nil, err
	}
	if r.Header.Get(signature.HeaderV3) == "" {
		return req, nil, NewError(http.StatusUnauthorized, "missing_signature",
			"the request carries no X-HubSpot-Signature-v3: the card's requests must come from HubSpot (hubspot.fetch)")
	}
	if err := s.webhookVerifier(r).Verify(r, req.body); err != nil {
		return req, nil, signatureError(err)
	}

	q := r.URL.Query()
	problems := map[string]string{}
	single := func(name string, required bool) string {
		switch v := q[name]; {
		case len(v) > 1:
			problems[name] = "is given more than once"
		case len(v) == 0 || v[0] == "":
			if required {
				problems[name] = "is required (HubSpot appends it to every hubspot.fetch request)"
			}
		default:
			return v[0]
		}
		return ""
	}
	id := func(name string) int64 {
		raw := single(name, true)
		if raw == "" {
			return 0
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			problems[name] = "must be a positive whole number"
		}
		return n
	}
	req.portalID = id(cardParamPortalID)
	req.userID = id(cardParamUserID)
	req.userEmail = single(cardParamUserEmail, false)
	if len(req.userEmail) > referral.MaxEmailLength {
		problems[cardParamUserEmail] = "is too long"
	}
	appID := single(cardParamAppID, false)
	if s.deps.HubSpotAppID != 0 && appID != strconv.FormatInt(s.deps.HubSpotAppID, 10) {
		problems[cardParamAppID] = "is not this referflow's HubSpot app (HUBSPOT_APP_ID)"
	}
	req.object.Type = cardObjectType(single(cardParamObjectType, true))
	if !req.object.Type.Known() && problems[cardParamObjectType] == "" {
		problems[cardParamObjectType] = "must be a contact, deal or company (0-1, 0-3, 0-2, or the name)"
	}
	req.object.ID = id(cardParamObjectID)
	if len(problems) > 0 {
		return req, nil, invalidQuery(problems)
	}

	release, ok := guard.acquire(req.portalID)
	if !ok {
		c.Response().Header().Set("Retry-After", "1")
		return req, nil, NewError(http.StatusTooManyRequests, "rate_limited",
			fmt.Sprintf("more than %d card requests of this portal are in flight; try again in a moment", guard.limit))
	}
	conn, err := s.queries().HubSpotConnectionGetActiveByPortal(r.Context(), req.portalID)
	if errors.Is(err, pgx.ErrNoRows) {
		release()
		return req, nil, NewError(http.StatusNotFound, "not_found",
			fmt.Sprintf("no referflow workspace is connected to HubSpot portal %d: connect it in referflow's admin UI (HubSpot page)", req.portalID))
	}
	if err != nil {
		release()
		return req, nil, NewError(http.StatusServiceUnavailable, "unavailable", "referflow cannot read its database right now; try again")
	}
	req.workspaceID = conn.WorkspaceID
	return req, release, nil
}

// invalidQuery is a 400 naming each bad query parameter.
func invalidQuery(problems map[string]string) error {
	return &APIError{Status: http.StatusBadRequest, Code: "bad_request",
		Message: "the card's request is missing or has bad query parameters: " + strings.Join(slices.Sorted(maps.Keys(problems)), ", "), Fields: problems}
}

// cardObjectType reads the record's type as the card sends it: HubSpot's
// objectTypeId from the card's context (0-1, 0-2, 0-3) or a name in any
// case ("CONTACT", "deals").
func cardObjectType(raw string) hubspotobject.Type {
	if t := hubspotobject.FromTypeID(raw); t != "" {
		return t
	}
	name := strings.ToLower(strings.TrimSpace(raw))
	for _, t := range hubspotobject.Types {
		if name == string(t) || name == t.Plural() {
			return t
		}
	}
	return ""
}

// cardReadError answers a read that failed: a deadline passed is 503 with
// what to do, anything else the database's 503.
func cardReadError(ctx context.Context, err error) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return NewError(http.StatusServiceUnavailable, "unavailable", "referflow took too long to read this record's referrals; reload the card")
	}
	return NewError(http.StatusServiceUnavailable, "unavailable", "referflow cannot read its database right now; reload the card")
}

// CardView is what the card shows for one record.
type CardView struct {
	PortalID   int64  `json:"portal_id"`
	ObjectType string `json:"object_type"`
	ObjectID   string `json:"object_id"`
	// Summary is the card's headline: "No referral", "2 referrals", ...
	Summary string `json:"summary"`
	// Referrals are the record's referrals (as the lead's contact or deal,
	// or of a company's contacts and deals), newest first, at most
	// cardMaxReferrals of ReferralsTotal.
	Referrals      []CardReferral `json:"referrals"`
	ReferralsTotal int            `json:"referrals_total"`
	// Members are the member a contact is, one per campaign, at most
	// cardMaxMembers of MembersTotal.
	Members      []CardMember `json:"members"`
	MembersTotal int          `json:"members_total"`
	// Truncated says a list was cut to keep the answer small.
	Truncated bool `json:"truncated"`
	// Message is what a decision did ("The referral is now approved.").
	Message string `json:"message,omitempty"`
}

// CardReferral is one referral on the card.
type CardReferral struct {
	ID           string          `json:"id"`
	CampaignID   string          `json:"campaign_id"`
	CampaignName string          `json:"campaign_name"`
	Status       referral.Status `json:"status"`
	// InReview: held for an admin's decision (a hold, not a status).
	InReview     bool       `json:"in_review"`
	DeniedReason string     `json:"denied_reason,omitempty"`
	Lead         CardPerson `json:"lead"`
	Member       CardPerson `json:"member"`
	// HoldUntil is when the earliest held reward is issued.
	HoldUntil  *time.Time      `json:"hold_until,omitempty"`
	Rewards    []CardReward    `json:"rewards"`
	FraudFlags []CardFraudFlag `json:"fraud_flags"`
	// Waiting says what the referral waits on (HubSpot unreachable...).
	Waiting string `json:"waiting,omitempty"`
	// CanApprove and CanDeny are the card's buttons; the workflow's
	// validator has the last word.
	CanApprove bool      `json:"can_approve"`
	CanDeny    bool      `json:"can_deny"`
	AdminURL   string    `json:"admin_url"`
	CreatedAt  time.Time `json:"created_at"`
}

// CardPerson is a lead or a member as the card names them.
type CardPerson struct {
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
	Code  string `json:"code,omitempty"`
}

// CardReward is one reward of a referral.
type CardReward struct {
	Recipient string     `json:"recipient"`
	Amount    string     `json:"amount"`
	Currency  string     `json:"currency"`
	Status    string     `json:"status"`
	HoldUntil *time.Time `json:"hold_until,omitempty"`
}

// CardFraudFlag is a fraud check that fired on a referral.
type CardFraudFlag struct {
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
	Action string `json:"action,omitempty"`
}

// CardMember is the member a contact is in one campaign.
type CardMember struct {
	ID                     string `json:"id"`
	CampaignID             string `json:"campaign_id"`
	CampaignName           string `json:"campaign_name"`
	Name                   string `json:"name,omitempty"`
	Email                  string `json:"email"`
	Code                   string `json:"code"`
	Link                   string `json:"link"`
	ReferralCount          int32  `json:"referral_count"`
	ConvertedReferralCount int32  `json:"converted_referral_count"`
	AdminURL               string `json:"admin_url"`
}

// cardView reads what the card shows for the request's record: its
// referrals with their rewards and fraud flags, and on a contact the member
// it is. Four indexed reads at most, whatever the record holds.
func (s *Server) cardView(ctx context.Context, req cardRequest) (CardView, error) {
	q := s.queries()
	v := CardView{PortalID: req.portalID, ObjectType: string(req.object.Type), ObjectID: strconv.FormatInt(req.object.ID, 10),
		Referrals: []CardReferral{}, Members: []CardMember{}}
	var ids hubspotobject.IDs
	ids.Set(req.object.Type, req.object.ID)
	rows, err := q.ReferralListForHubSpotCard(ctx, db.ReferralListForHubSpotCardParams{
		WorkspaceID: req.workspaceID, ContactID: ids.Contact, DealID: ids.Deal, CompanyID: ids.Company, MaxResults: cardMaxReferrals,
	})
	if err != nil {
		return v, err
	}
	refIDs := make([]uuid.UUID, 0, len(rows))
	for _, row := range rows {
		v.ReferralsTotal = int(row.Total)
		v.Referrals = append(v.Referrals, s.cardReferral(row))
		refIDs = append(refIDs, row.Referral.ID)
	}
	if len(refIDs) > 0 {
		if err := s.cardRewardsAndFlags(ctx, q, refIDs, v.Referrals); err != nil {
			return v, err
		}
	}
	if req.object.Type == hubspotobject.Contact {
		members, err := q.MemberListForHubSpotCard(ctx, db.MemberListForHubSpotCardParams{
			WorkspaceID: req.workspaceID, HubspotContactID: &req.object.ID, MaxResults: cardMaxMembers,
		})
		if err != nil {
			return v, err
		}
		for _, m := range members {
			v.MembersTotal = int(m.Total)
			v.Members = append(v.Members, CardMember{
				ID: m.Member.ID.String(), CampaignID: m.Member.CampaignID.String(), CampaignName: m.CampaignName,
				Name: personName(m.Member.FirstName, m.Member.LastName), Email: m.Member.Email,
				Code: m.Member.ReferralCode, Link: s.referralLink(m.Member.ReferralCode),
				ReferralCount: m.Member.ReferralCount, ConvertedReferralCount: m.Member.ConvertedReferralCount,
				AdminURL: s.adminURL("/admin/members/" + m.Member.ID.String()),
			})
		}
	}
	v.Truncated = v.ReferralsTotal > len(v.Referrals) || v.MembersTotal > len(v.Members)
	v.Summary = cardSummary(v)
	return v, nil
}

func (s *Server) cardReferral(row db.ReferralListForHubSpotCardRow) CardReferral {
	r := row.Referral
	status := referral.Status(r.Status)
	cr := CardReferral{
		ID: r.ID.String(), CampaignID: r.CampaignID.String(), CampaignName: row.CampaignName,
		Status: status, InReview: r.InReview, DeniedReason: clip(deref(r.DeniedReason)),
		Lead:    CardPerson{Name: personName(r.LeadFirstName, r.LeadLastName), Email: r.LeadEmail},
		Member:  CardPerson{ID: r.MemberID.String(), Name: personName(row.MemberFirstName, row.MemberLastName), Email: row.MemberEmail, Code: row.MemberCode},
		Rewards: []CardReward{}, FraudFlags: []CardFraudFlag{},
		CanApprove: status != referral.Approved, CanDeny: status != referral.Denied,
		AdminURL: s.adminURL("/admin/referrals/" + r.ID.String()), CreatedAt: r.CreatedAt,
	}
	if r.WaitingReason != nil {
		cr.Waiting = clip(*r.WaitingReason)
	}
	return cr
}

// cardRewardsAndFlags fills the referrals' rewards, hold timers and fraud
// flags, two reads for all of them.
func (s *Server) cardRewardsAndFlags(ctx context.Context, q *db.Queries, ids []uuid.UUID, refs []CardReferral) error {
	byID := make(map[uuid.UUID]*CardReferral, len(refs))
	for i := range refs {
		byID[ids[i]] = &refs[i]
	}
	rewards, err := q.RewardListByReferrals(ctx, ids)
	if err != nil {
		return err
	}
	for _, rw := range rewards {
		cr := byID[rw.ReferralID]
		if cr == nil || len(cr.Rewards) >= cardMaxRewards {
			continue
		}
		amount, _, err := reward.FromNumeric(rw.Amount, rw.Currency)
		if err != nil {
			return err
		}
		cr.Rewards = append(cr.Rewards, CardReward{Recipient: rw.Recipient, Amount: amount.String(), Currency: rw.Currency, Status: rw.Status, HoldUntil: rw.HoldUntil})
		if rw.HoldUntil != nil && rw.Status == string(reward.Pending) && (cr.HoldUntil == nil || rw.HoldUntil.Before(*cr.HoldUntil)) {
			cr.HoldUntil = rw.HoldUntil
		}
	}
	events, err := q.ReferralEventListOfKindByReferrals(ctx, db.ReferralEventListOfKindByReferralsParams{ReferralIds: ids, Kind: string(referral.EventFraudSignal)})
	if err != nil {
		return err
	}
	for _, ev := range events {
		cr := byID[ev.ReferralID]
		if cr == nil || len(cr.FraudFlags) >= cardMaxFraudFlags {
			continue
		}
		var d struct{ Reason, Detail, Action string }
		_ = json.Unmarshal(ev.Details, &d) // a malformed detail shows as an empty flag, never an error
		cr.FraudFlags = append(cr.FraudFlags, CardFraudFlag{Reason: clip(d.Reason), Detail: clip(d.Detail), Action: clip(d.Action)})
	}
	return nil
}

func cardSummary(v CardView) string {
	var parts []string
	switch v.ReferralsTotal {
	case 0:
	case 1:
		parts = append(parts, "1 referral")
	default:
		parts = append(parts, fmt.Sprintf("%d referrals", v.ReferralsTotal))
	}
	if v.MembersTotal > 0 {
		parts = append(parts, "a referring member")
	}
	if len(parts) == 0 {
		return "No referral: this " + v.ObjectType + " is neither a referred lead nor a member in referflow"
	}
	return strings.Join(parts, " and ")
}

func personName(first, last *string) string {
	return strings.TrimSpace(deref(first) + " " + deref(last))
}

// clip cuts free text to cardMaxText bytes, on a character boundary.
func clip(s string) string {
	if len(s) <= cardMaxText {
		return s
	}
	cut := s[:cardMaxText]
	for !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1]
	}
	return cut + "…"
}

// adminURL is a page of referflow's admin UI on the public URL, for the
// card's "Open in referflow" links.
func (s *Server) adminURL(path string) string {
	base := "http://localhost:8080"
	if s.deps.PublicURL != nil {
		base = strings.TrimRight(s.deps.PublicURL.String(), "/")
	}
	return base + path
}

// cardJSON writes the card's answer, cutting the lists (and saying so)
// when it would be larger than cardMaxAnswerBytes.
func cardJSON(c echo.Context, status int, v CardView) error {
	body, err := json.Marshal(v)
	for err == nil && len(body) > cardMaxAnswerBytes && (len(v.Referrals) > 0 || len(v.Members) > 0) {
		if len(v.Referrals) > 0 {
			v.Referrals = v.Referrals[:len(v.Referrals)-1]
		} else {
			v.Members = v.Members[:len(v.Members)-1]
		}
		v.Truncated = true
		body, err = json.Marshal(v)
	}
	if err != nil {
		return err
	}
	return c.JSONBlob(status, body)
}

// CardActionInput is a decision taken on the card: approve or deny one of
// the record's referrals.
type CardActionInput struct {
	ReferralID string `json:"referral_id" limit:"100"`
	Status     string `json:"status" limit:"20"`
	Reason     string `json:"reason" limit:"1000"`
}

// cardSetStatus is Approve or Deny on the card: the referral's set-status
// workflow update (decideReferralStatus, as the admin API's decisions),
// recorded in the audit trail as the HubSpot user. The referral must be one
// the record shows. A refusal by the workflow's validator (already
// approved, a denial without a reason, held by the fraud checks) is 422 with
// its message, which the card shows; the answer to an accepted decision is
// the record's card, read again, with what was done.
func (s *Server) cardSetStatus(c echo.Context, req cardRequest) error {
	var in CardActionInput
	if err := decodeJSON(req.body, &in, ""); err != nil {
		return err
	}
	if problems := textProblems(&in, ""); len(problems) > 0 {
		return invalid(problems)
	}
	status, err := referral.ParseStatus(in.Status)
	if err != nil || (status != referral.Approved && status != referral.Denied) {
		return invalid(map[string]string{"status": "the card can approve or deny a referral: approved or denied"})
	}
	id, err := uuid.Parse(in.ReferralID)
	if err != nil {
		return invalid(map[string]string{"referral_id": "must be the ID (a UUID) of a referral the card shows"})
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), cardActionTimeout)
	defer cancel()
	r, err := s.queries().ReferralGetByID(ctx, id)
	var ids hubspotobject.IDs
	ids.Set(req.object.Type, req.object.ID)
	held := hubspotobject.IDs{Contact: r.HubspotContactID, Deal: r.HubspotDealID, Company: r.HubspotCompanyID}
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && (r.WorkspaceID != req.workspaceID || held.Of(req.object.Type) != req.object.ID)):
		return NewError(http.StatusNotFound, "not_found", "this record has no such referral (it may have been moved to another record); reload the card")
	case err != nil:
		return NewError(http.StatusServiceUnavailable, "unavailable", "referflow cannot read its database right now; try again")
	}
	c.SetRequest(c.Request().WithContext(ctx))
	state, err := s.decideReferralStatus(c, r, DecisionInput{Status: string(status), Reason: in.Reason}, req.actor())
	if err != nil {
		return err
	}
	s.deps.Logger.InfoContext(ctx, "referral decided on the HubSpot card",
		"referral_id", r.ID.String(), "status", string(state.Status), "portal_id", req.portalID, "hubspot_user_id", req.userID)
	view, err := s.cardView(ctx, req)
	if err != nil {
		return cardReadError(ctx, err)
	}
	view.Message = "The referral is now " + string(state.Status) + "."
	return cardJSON(c, http.StatusOK, view)
}

// cardGuard holds each portal to a number of card requests in flight, as
// HubSpot holds each account: a request over it is answered 429 at once
// (HubSpot's own answer to a 21st hubspot.fetch), so a flood of signed
// requests for one portal cannot take every database connection. It counts
// per process: N API processes allow N times the limit, as HubSpot never
// sends more than its 20.
type cardGuard struct {
	limit    int
	mu       sync.Mutex
	inFlight map[int64]int
}

func newCardGuard(limit int) *cardGuard {
	return &cardGuard{limit: limit, inFlight: map[int64]int{}}
}

func (g *cardGuard) acquire(portal int64) (release func(), ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inFlight[portal] >= g.limit {
		return nil, false
	}
	g.inFlight[portal]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.inFlight[portal]--; g.inFlight[portal] == 0 {
				delete(g.inFlight, portal)
			}
		})
	}, true
}

// CardURL is the card endpoint's URL on a public base URL with the record's
// query, as the card builds it (before HubSpot appends its parameters).
func CardURL(base *url.URL, path string, object hubspotobject.Ref) string {
	q := url.Values{cardParamObjectType: {string(object.Type)}, cardParamObjectID: {strconv.FormatInt(object.ID, 10)}}
	return strings.TrimRight(base.String(), "/") + path + "?" + q.Encode()
}
