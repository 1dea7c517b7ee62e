package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/workflows"
)

// Emails to members, for a workspace's admins: whether email is configured
// (REFERFLOW_SMTP_URL), a campaign's emails with what became of each, and
// one-off invites — the welcome email sent to chosen members, such as those
// a contact sync brought in, who get none on their own. The worker does the
// sending (activities/member_emails.go, workflows/member_email.go).

func (s *Server) routeMemberEmails(g *echo.Group) {
	g.GET("/email/status", s.emailStatus)
	g.GET("/campaigns/:id/emails", s.listCampaignEmails)
	g.POST("/campaigns/:id/invites", s.inviteMembers)
}

// EmailStatusView says whether emails go out and through what.
type EmailStatusView struct {
	// Configured: REFERFLOW_SMTP_URL is set; without it no email is sent.
	Configured bool `json:"configured"`
	// Server is host:port; Security "starttls", "tls" or "none"; From the
	// sender's address. Set when configured.
	Server   string `json:"server,omitempty"`
	Security string `json:"security,omitempty"`
	From     string `json:"from,omitempty"`
	// Message says in words what the status means.
	Message string `json:"message"`
}

func (s *Server) emailStatus(c echo.Context) error {
	srv := s.deps.SMTP
	if srv == nil {
		return c.JSON(http.StatusOK, EmailStatusView{Message: "No SMTP server is configured (REFERFLOW_SMTP_URL is not set): no email is sent to members."})
	}
	return c.JSON(http.StatusOK, EmailStatusView{
		Configured: true, Server: srv.Address(), Security: srv.Security(), From: srv.From.Address,
		Message: "Emails to members go through " + srv.Address() + " from " + srv.From.Address + ".",
	})
}

// EmailView is one email to a member.
type EmailView struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	MemberID  string `json:"member_id"`
	SubjectID string `json:"subject_id"`
	Status    string `json:"status"`
	// Reason says why the email was skipped or failed, or why its last
	// attempt did not send it.
	Reason        *string    `json:"reason"`
	Attempts      int32      `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	SentAt        *time.Time `json:"sent_at"`
	Actor         string     `json:"actor"`
	CreatedAt     time.Time  `json:"created_at"`
}

// EmailList is one page of a campaign's emails, newest first.
type EmailList struct {
	Emails     []EmailView `json:"emails"`
	NextCursor *string     `json:"next_cursor"`
}

func emailView(e db.Email) EmailView {
	return EmailView{
		ID: e.ID.String(), Kind: e.Kind, MemberID: e.MemberID.String(), SubjectID: e.SubjectID.String(), Status: e.Status,
		Reason: e.Reason, Attempts: e.Attempts, NextAttemptAt: e.NextAttemptAt, SentAt: e.SentAt, Actor: e.Actor, CreatedAt: e.CreatedAt,
	}
}

func (s *Server) listCampaignEmails(c echo.Context) error {
	camp, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	q := newListQuery(c, "limit", "cursor")
	params := db.EmailListByCampaignParams{CampaignID: camp.ID, BeforeCreatedAt: endOfTime, BeforeID: maxUUID}
	limit := q.limit()
	if cur, ok := q.cursor("emails"); ok {
		params.BeforeCreatedAt, params.BeforeID = cur.timeAndUUID(q)
	}
	if err := q.err(); err != nil {
		return err
	}
	params.PageSize = limit + 1
	rows, err := s.queries().EmailListByCampaign(c.Request().Context(), params)
	if err != nil {
		return fmt.Errorf("list campaign %s's emails: %w", camp.ID, err)
	}
	out := EmailList{Emails: make([]EmailView, 0, min(len(rows), int(limit)))}
	for i, e := range rows {
		if i == int(limit) {
			last := rows[i-1]
			out.NextCursor = pageCursor{Kind: "emails", At: &last.CreatedAt, ID: last.ID.String()}.encode()
			break
		}
		out.Emails = append(out.Emails, emailView(e))
	}
	return c.JSON(http.StatusOK, out)
}

// MaxInviteMembers is how many members one invite names.
const MaxInviteMembers = 1000

// InviteInput names the members to send the welcome email to.
type InviteInput struct {
	MemberIDs []string `json:"member_ids"`
}

// InviteResult says, per member, whether the welcome email was queued.
type InviteResult struct {
	// Invited are the members whose welcome email is on its way.
	Invited []string `json:"invited"`
	// NotInvited are the others, each with why (unsubscribed, already
	// welcomed, not a member of this campaign).
	NotInvited []NotInvitedView `json:"not_invited"`
}

// NotInvitedView is a member who was not invited, and why.
type NotInvitedView struct {
	MemberID string `json:"member_id"`
	Reason   string `json:"reason"`
}

// inviteMembers sends the welcome email, once, to chosen members of a
// campaign: POST /api/v1/campaigns/{id}/invites. It is how members a
// contact sync added — who get no welcome on their own — are told, and it
// ignores the campaign's welcome switch (the admin asked). A member already
// welcomed is not emailed again. 202: the emails are queued; the worker
// sends them.
func (s *Server) inviteMembers(c echo.Context) error {
	camp, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	var in InviteInput
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	switch n := len(in.MemberIDs); {
	case n == 0:
		return invalid(map[string]string{"member_ids": "name at least one member"})
	case n > MaxInviteMembers:
		return invalid(map[string]string{"member_ids": "names " + strconv.Itoa(n) + " members; at most " + strconv.Itoa(MaxInviteMembers) + " an invite"})
	}
	ids := make([]uuid.UUID, 0, len(in.MemberIDs))
	problems := map[string]string{}
	seen := map[uuid.UUID]bool{}
	for i, raw := range in.MemberIDs {
		id, err := uuid.Parse(raw)
		if err != nil {
			problems[fmt.Sprintf("member_ids[%d]", i)] = "is not a member ID (a UUID)"
			continue
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(problems) > 0 {
		return invalid(problems)
	}
	if s.deps.SMTP == nil {
		return NewError(http.StatusConflict, "email_not_configured", "no SMTP server is configured (REFERFLOW_SMTP_URL is not set): no email can be sent")
	}
	if st := campaign.Status(camp.Status); st == campaign.Archived {
		return campaignReadOnly(st)
	}
	ctx := c.Request().Context()
	q := s.queries()
	links := activities.EmailLinks{PublicURL: s.publicBase()}
	actor := "admin:" + adminFrom(c).ID.String()
	out := InviteResult{Invited: []string{}, NotInvited: []NotInvitedView{}}
	var starts []workflows.MemberEmailInput
	for _, id := range ids {
		m, err := q.MemberGetByID(ctx, id)
		if err != nil || m.CampaignID != camp.ID {
			out.NotInvited = append(out.NotInvited, NotInvitedView{MemberID: id.String(), Reason: "not a member of this campaign"})
			continue
		}
		res, err := activities.QueueEmail(ctx, q, true, links, activities.QueueEmailInput{Kind: email.Welcome, SubjectID: id.String(), Invite: true, Actor: actor})
		if err != nil {
			return fmt.Errorf("queue the invite of member %s: %w", id, err)
		}
		if !res.Queued {
			out.NotInvited = append(out.NotInvited, NotInvitedView{MemberID: id.String(), Reason: res.Reason})
			continue
		}
		out.Invited = append(out.Invited, id.String())
		starts = append(starts, workflows.MemberEmailInput{EmailID: res.EmailID, Kind: email.Welcome, SubjectID: id.String()})
	}
	for _, in := range starts {
		if err := workflows.StartMemberEmailWorkflow(ctx, s.deps.Temporal, s.deps.TaskQueue, in); err != nil {
			s.deps.Logger.Error("an invite could not start its workflow", "email_id", in.EmailID, "error", err)
			return NewError(http.StatusServiceUnavailable, "temporal_unavailable",
				"the invites are saved, but their sending could not start (Temporal is unreachable): send the same invite again; no member gets two emails")
		}
	}
	return c.JSON(http.StatusAccepted, out)
}
