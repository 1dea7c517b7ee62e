package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/workflows"
)

// Members of a campaign in the admin API: add one (a referral code and link
// are made for it) and list them.

// MemberView is a member as the admin API shows it.
type MemberView struct {
	ID                     string `json:"id"`
	CampaignID             string `json:"campaign_id"`
	Email                  string `json:"email"`
	FirstName              string `json:"first_name,omitempty"`
	LastName               string `json:"last_name,omitempty"`
	ExternalID             string `json:"external_id,omitempty"`
	ReferralCode           string `json:"referral_code"`
	ReferralLink           string `json:"referral_link"`
	ReferralCount          int32  `json:"referral_count"`
	ConvertedReferralCount int32  `json:"converted_referral_count"`
	// HubSpotContactID is the member's HubSpot contact, once referflow
	// knows it (omitted until then), as referral views show theirs;
	// HubSpotDealID the deal made for them (referrers action create_deal).
	HubSpotContactID string `json:"hubspot_contact_id,omitempty"`
	HubSpotDealID    string `json:"hubspot_deal_id,omitempty"`
	// Waiting is set while a step of the member's workflow (sending them to
	// HubSpot, writing their link back) waits on the outside world.
	Waiting   *MemberWaitingView `json:"waiting,omitempty"`
	CreatedAt time.Time          `json:"created_at"`
}

// MemberWaitingView is what a member's workflow waits on: the step
// (referral.MemberWaitSteps), the kind of trouble and what went wrong.
type MemberWaitingView struct {
	Step   string    `json:"step"`
	Cause  string    `json:"cause"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

func (s *Server) memberView(m db.Member) MemberView {
	return MemberView{
		ID: m.ID.String(), CampaignID: m.CampaignID.String(), Email: m.Email,
		FirstName: deref(m.FirstName), LastName: deref(m.LastName), ExternalID: deref(m.ExternalID),
		ReferralCode: m.ReferralCode, ReferralLink: s.referralLink(m.ReferralCode),
		ReferralCount: m.ReferralCount, ConvertedReferralCount: m.ConvertedReferralCount, CreatedAt: m.CreatedAt,
		HubSpotContactID: hubSpotIDString(m.HubspotContactID), HubSpotDealID: hubSpotIDString(m.HubspotDealID),
		Waiting: waitingOfMember(m),
	}
}

// waitingOfMember is what the member's row says their workflow waits on, or
// nil.
func waitingOfMember(m db.Member) *MemberWaitingView {
	if m.WaitingStep == nil {
		return nil
	}
	w := &MemberWaitingView{Step: *m.WaitingStep, Cause: deref(m.WaitingCause), Reason: deref(m.WaitingReason)}
	if m.WaitingSince != nil {
		w.Since = *m.WaitingSince
	}
	return w
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
	ReferralCode *string `json:"referral_code"` // referral.CodePattern: at most 64
}

func (in MemberInput) validate() map[string]string {
	problems := map[string]string{}
	if err := referral.CheckEmail(in.Email); err != nil {
		problems["email"] = err.Error()
	}
	if in.ReferralCode != nil && !referral.CodePattern.MatchString(*in.ReferralCode) {
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
	m, err := s.addMember(c, camp, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.memberView(m))
}

// addMember adds a member to the campaign and starts their workflow: the
// JSON API's and the admin UI's "add a member".
func (s *Server) addMember(c echo.Context, camp db.Campaign, in MemberInput) (db.Member, error) {
	if problems := in.validate(); len(problems) > 0 {
		return db.Member{}, invalid(problems)
	}
	m, err := activities.AddMember(c.Request().Context(), s.deps.Pool, activities.NewMember{
		WorkspaceID: camp.WorkspaceID, CampaignID: camp.ID, Email: in.Email,
		FirstName: deref(in.FirstName), LastName: deref(in.LastName), ExternalID: deref(in.ExternalID),
		ReferralCode: deref(in.ReferralCode), Source: referral.MemberSourceAPI,
	})
	var notActive *campaign.NotActiveError
	var dup *activities.DuplicateMemberError
	var codeTaken *activities.CodeTakenError
	var externalTaken *activities.ExternalIDTakenError
	switch {
	case errors.As(err, &dup):
		return db.Member{}, &APIError{Status: http.StatusConflict, Code: "conflict", Message: "this email is already a member of the campaign", Fields: map[string]string{"email": "is already a member"}}
	case errors.As(err, &notActive):
		return db.Member{}, notActiveAnswer(notActive)
	case errors.As(err, &codeTaken):
		return db.Member{}, &APIError{Status: http.StatusConflict, Code: "conflict", Message: "that referral code is taken in this campaign", Fields: map[string]string{"referral_code": "is taken"}}
	case errors.As(err, &externalTaken):
		return db.Member{}, &APIError{Status: http.StatusConflict, Code: "conflict", Message: "this external ID is already used in the campaign", Fields: map[string]string{"external_id": "is taken"}}
	case err != nil:
		return db.Member{}, err
	}
	s.startMemberWorkflow(c.Request().Context(), m)
	return m, nil
}

// startMemberWorkflow starts the workflow of a member who just joined
// (workflows.StartMemberWorkflow: it sends them to HubSpot). It never fails
// the join: a member whose workflow could not start (Temporal unreachable)
// is started by the worker's reconciler.
func (s *Server) startMemberWorkflow(ctx context.Context, m db.Member) {
	if s.deps.Temporal == nil {
		return
	}
	err := workflows.StartMemberWorkflow(ctx, s.deps.Temporal, s.deps.TaskQueue, s.deps.HubSpotTaskQueue, m.ID.String())
	var ended *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &ended) {
		s.deps.Logger.WarnContext(ctx, "member's workflow not started yet; the reconciler will", "member_id", m.ID.String(), "error", err.Error())
	}
}

// MemberList is one page of a campaign's members, newest first;
// NextCursor, when not null, fetches the next page.
type MemberList struct {
	Members    []MemberView `json:"members"`
	NextCursor *string      `json:"next_cursor"`
}

func (s *Server) listMembers(c echo.Context) error {
	camp, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	q := newListQuery(c, "q", "limit", "cursor")
	search, limit := q.get("q"), q.limit()
	before, beforeID := endOfTime, maxUUID
	if cur, ok := q.cursor("members"); ok {
		before, beforeID = cur.timeAndUUID(q)
	}
	if err := q.err(); err != nil {
		return err
	}
	out, err := s.memberList(c.Request().Context(), camp, search, before, beforeID, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// memberList is one page of a campaign's members, newest first, created
// before (before, beforeID): all of them, or those whose email or name
// contains search (in any case) or whose referral code is search. The JSON
// list and the admin UI's members page both read it.
func (s *Server) memberList(ctx context.Context, camp db.Campaign, search string, before time.Time, beforeID uuid.UUID, limit int32) (MemberList, error) {
	params := db.MemberSearchByCampaignParams{CampaignID: camp.ID, WorkspaceID: camp.WorkspaceID,
		BeforeCreatedAt: before, BeforeID: beforeID, PageSize: limit + 1}
	if search != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(search)) + "%"
		params.Search, params.Code = &like, &search
	}
	rows, err := s.queries().MemberSearchByCampaign(ctx, params)
	if err != nil {
		return MemberList{}, fmt.Errorf("search members: %w", err)
	}
	out := MemberList{Members: make([]MemberView, 0, min(len(rows), int(limit)))}
	for i, m := range rows {
		if i == int(limit) {
			last := rows[i-1]
			out.NextCursor = pageCursor{Kind: "members", At: &last.CreatedAt, ID: last.ID.String()}.encode()
			break
		}
		out.Members = append(out.Members, s.memberView(m))
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// wakeWaitingMembers signals the workspace's members whose workflow waits
// (of one campaign when campaignID is set) to run their waiting step again
// now, because cause may have fixed it (HubSpot connected, the campaign's
// referrers settings saved). It never fails the request: a member it cannot
// reach retries on its own timer.
func (s *Server) wakeWaitingMembers(ctx context.Context, workspaceID uuid.UUID, campaignID *uuid.UUID, cause string) {
	ids, err := s.queries().MemberListWaiting(ctx, db.MemberListWaitingParams{
		WorkspaceID: workspaceID, CampaignID: campaignID, MaxResults: maxWoken,
	})
	if err != nil {
		s.deps.Logger.ErrorContext(ctx, "list waiting members to wake", "workspace_id", workspaceID.String(), "error", err.Error())
		return
	}
	failed := s.signalEach(ctx, ids, func(ctx context.Context, id string) error {
		return workflows.SignalRetryWaitingMember(ctx, s.deps.Temporal, id, cause)
	})
	if len(ids) > 0 {
		s.deps.Logger.InfoContext(ctx, "woke waiting members", "workspace_id", workspaceID.String(), "cause", cause,
			"woken", len(ids)-failed, "not_reached", failed)
	}
}
