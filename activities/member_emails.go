package activities

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/internal/memberaccess"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/reward"
)

// Emails to members, exactly once per event as far as SMTP allows. Each
// event — a member joined (or was invited), a referral approved, a reward
// issued to the member — is one row of emails keyed by (kind, subject),
// written by QueueMemberEmail before anything is sent. SendMemberEmail then
// takes the row (a lease: one attempt at a time), and sends only a row
// still pending: a retried activity, a replayed local activity or a second
// workflow finds it sent and sends nothing.
//
// The one window SMTP leaves is between the server's acceptance of DATA and
// the row's update to sent. An attempt first records that it reached DATA
// (data_started_at); an attempt that died before that point sent nothing and
// is simply retried; one that died after it may have delivered the message,
// so its email is marked unknown and never sent again — at most once, the
// choice of docs/architecture.md ("Emails to members"), because a member
// told twice that they earned a reward is worse than a rare lost email that
// an admin can see (status unknown) and resend by hand.

// ErrTypeSMTPUnavailable is SendMemberEmail's retryable failure: the SMTP
// server could not be reached or did not take the message for now.
const ErrTypeSMTPUnavailable = "SMTPUnavailable"

// emailLease is how long an attempt holds its email: longer than the
// activity's start-to-close timeout, so a retry never runs beside a live
// attempt.
const emailLease = 2 * time.Minute

// EmailLinks makes the links emails carry. The worker and the api build it
// from the same configuration, so links either makes work in the other.
type EmailLinks struct {
	// PublicURL is REFERFLOW_PUBLIC_URL (no trailing slash).
	PublicURL   string
	Access      *memberaccess.Signer
	Unsubscribe *email.Unsubscriber
}

// NewEmailLinks builds the links' signers from the (first) encryption key.
func NewEmailLinks(publicURL string, encryptionKey []byte) EmailLinks {
	return EmailLinks{PublicURL: strings.TrimRight(publicURL, "/"), Access: memberaccess.NewSigner(encryptionKey), Unsubscribe: email.NewUnsubscriber(encryptionKey)}
}

// messageIDHost is the domain of Message-IDs: the public URL's host.
func (l EmailLinks) messageIDHost() string {
	if u, err := url.Parse(l.PublicURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "referflow.invalid"
}

// QueueEmailInput asks for one email.
type QueueEmailInput struct {
	Kind email.Kind
	// SubjectID is the member (welcome), the referral (referral_approved)
	// or the reward (reward_earned).
	SubjectID string
	// Invite is an admin's one-off invite (welcome only): sent whatever the
	// member's source and the campaign's welcome switch.
	Invite bool
	// Actor is who asked ("system" for an event, "admin:<id>").
	Actor string
}

// QueueEmailResult says what became of the request.
type QueueEmailResult struct {
	// EmailID is the email's row, when there is one.
	EmailID string `json:",omitempty"`
	// Queued: the email is to send: start its workflow (again: starting
	// it twice is harmless).
	Queued bool
	// Status is the row's status; Reason why nothing is to send.
	Status email.Status `json:",omitempty"`
	Reason string       `json:",omitempty"`
}

// QueueMemberEmail queues an email as an activity (see QueueEmail).
func (a *Activities) QueueMemberEmail(ctx context.Context, in QueueEmailInput) (QueueEmailResult, error) {
	return QueueEmail(ctx, a.Queries, a.Email != nil, a.EmailLinks, in)
}

// QueueEmail records the email of an event once, unless no email is to go:
// no SMTP server (configured false), the campaign turned the email off, a
// member a contact sync brought in (welcome, unless invited), a member who
// unsubscribed, a friend's reward. It is the one way an email is queued: the
// workflows call it as a local activity, the admin API's invites directly.
func QueueEmail(ctx context.Context, q *db.Queries, configured bool, links EmailLinks, in QueueEmailInput) (QueueEmailResult, error) {
	notQueued := func(reason string) (QueueEmailResult, error) { return QueueEmailResult{Reason: reason}, nil }
	if !configured {
		// First: without email there is nothing to look up.
		return notQueued("no SMTP server is configured (REFERFLOW_SMTP_URL): no email is sent")
	}
	if !in.Kind.Valid() {
		return QueueEmailResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%q is not a kind of email", in.Kind), "InvalidInput", nil)
	}
	subject, err := parseEntityID(in.SubjectID, "subject")
	if err != nil {
		return QueueEmailResult{}, err
	}
	memberID, reason, err := emailMember(ctx, q, in.Kind, subject)
	if err != nil || reason != "" {
		return QueueEmailResult{Reason: reason}, err
	}
	m, err := q.MemberGetByID(ctx, memberID)
	if errors.Is(err, pgx.ErrNoRows) {
		return notQueued("the member no longer exists")
	}
	if err != nil {
		return QueueEmailResult{}, fmt.Errorf("load member %s: %w", memberID, err)
	}
	c, err := q.CampaignGetByID(ctx, m.CampaignID)
	if err != nil {
		return QueueEmailResult{}, fmt.Errorf("load campaign %s: %w", m.CampaignID, err)
	}
	settings, err := CampaignSettings(c)
	if err != nil {
		return QueueEmailResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidSettings", nil)
	}
	switch {
	case m.EmailUnsubscribedAt != nil:
		return notQueued("the member unsubscribed from the campaign's emails")
	case campaign.Status(c.Status) == campaign.Archived:
		return notQueued("the campaign is archived")
	case in.Kind == email.Welcome && in.Invite:
	case !settings.Emails.For(in.Kind).Enabled:
		return notQueued("the campaign's " + string(in.Kind) + " email is off (settings.emails." + string(in.Kind) + ".enabled)")
	case in.Kind == email.Welcome && referral.MemberSource(m.Source).FromHubSpot():
		return notQueued("members brought in from HubSpot (a contact sync, an enrolment) get a welcome only when an admin invites them")
	}
	row, err := q.EmailQueue(ctx, db.EmailQueueParams{
		WorkspaceID: m.WorkspaceID, CampaignID: m.CampaignID, MemberID: m.ID, Kind: string(in.Kind), SubjectID: subject,
		MessageID: fmt.Sprintf("%s.%s@%s", in.Kind, subject, links.messageIDHost()), Actor: actorOr(in.Actor),
	})
	if err != nil {
		return QueueEmailResult{}, fmt.Errorf("queue the %s email of %s: %w", in.Kind, subject, err)
	}
	st := email.Status(row.Status)
	res := QueueEmailResult{EmailID: row.ID.String(), Status: st, Queued: !st.Done()}
	if st.Done() {
		res.Reason = "this email was queued before and is " + string(st)
	}
	return res, nil
}

// emailMember is the member an email about subject goes to, or why none
// does.
func emailMember(ctx context.Context, q *db.Queries, kind email.Kind, subject uuid.UUID) (uuid.UUID, string, error) {
	switch kind {
	case email.Welcome:
		return subject, "", nil
	case email.ReferralApproved:
		r, err := q.ReferralGetByID(ctx, subject)
		if errors.Is(err, pgx.ErrNoRows) {
			return uuid.Nil, "the referral no longer exists", nil
		}
		if err != nil {
			return uuid.Nil, "", fmt.Errorf("load referral %s: %w", subject, err)
		}
		return r.MemberID, "", nil
	default:
		rw, err := q.RewardGetByID(ctx, subject)
		if errors.Is(err, pgx.ErrNoRows) {
			return uuid.Nil, "the reward no longer exists", nil
		}
		if err != nil {
			return uuid.Nil, "", fmt.Errorf("load reward %s: %w", subject, err)
		}
		if rw.Recipient != reward.Member || rw.MemberID == nil {
			return uuid.Nil, "a friend's reward: the friend is not a member", nil
		}
		return *rw.MemberID, "", nil
	}
}

// SendEmailResult is what became of an email.
type SendEmailResult struct {
	Status email.Status
	Reason string `json:",omitempty"`
}

// SendMemberEmail sends a queued email, once: only an email still pending
// is sent (see the top of this file). An SMTP server that cannot be reached
// or answers 4xx fails the attempt, retryably (ErrTypeSMTPUnavailable); one
// that refuses the recipient or the message for good (5xx) fails the email;
// a member who unsubscribed or a campaign that turned the email off since it
// was queued skips it.
func (a *Activities) SendMemberEmail(ctx context.Context, emailID string) (SendEmailResult, error) {
	id, err := parseEntityID(emailID, "email")
	if err != nil {
		return SendEmailResult{}, err
	}
	q := a.Queries
	row, err := q.EmailClaim(ctx, db.EmailClaimParams{ID: id, LeaseSeconds: emailLease.Seconds()})
	if errors.Is(err, pgx.ErrNoRows) {
		return a.unclaimed(ctx, id)
	}
	if err != nil {
		return SendEmailResult{}, fmt.Errorf("claim email %s: %w", id, err)
	}
	finish := func(st email.Status, reason string) (SendEmailResult, error) {
		if err := q.EmailFinish(ctx, db.EmailFinishParams{ID: id, Status: string(st), Reason: &reason}); err != nil {
			return SendEmailResult{}, fmt.Errorf("record email %s %s: %w", id, st, err)
		}
		return SendEmailResult{Status: st, Reason: reason}, nil
	}
	if a.Email == nil {
		return finish(email.Skipped, "no SMTP server is configured (REFERFLOW_SMTP_URL)")
	}
	msg, skip, err := a.composeEmail(ctx, row)
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.NonRetryable() {
			return finish(email.Failed, appErr.Message())
		}
		_ = q.EmailAttemptFailed(ctx, db.EmailAttemptFailedParams{ID: id, Reason: ptr(err.Error())})
		return SendEmailResult{}, err
	}
	if skip != "" {
		return finish(email.Skipped, skip)
	}
	raw, err := msg.Bytes()
	if err != nil {
		return finish(email.Failed, "the message could not be written: "+err.Error())
	}
	err = a.Email.Send(ctx, msg.To.Address, raw, func() error { return q.EmailMarkDataStarted(ctx, id) })
	var sendErr *email.SendError
	switch {
	case err == nil:
		if err := markSent(ctx, q, id); err != nil {
			// The row stays "sending" past DATA: its next attempt marks it
			// unknown rather than send it again.
			return SendEmailResult{}, fmt.Errorf("email %s was sent, but recording it failed: %w", id, err)
		}
		return SendEmailResult{Status: email.Sent}, nil
	case errors.As(err, &sendErr) && sendErr.MaybeDelivered:
		logUnknownEmail(ctx, id, row.Kind)
		return finish(email.Unknown, "the connection broke after the message was handed to the SMTP server: it may have been delivered, and is not sent again ("+err.Error()+")")
	case errors.As(err, &sendErr) && sendErr.Permanent:
		return finish(email.Failed, err.Error())
	default:
		if rerr := q.EmailAttemptFailed(ctx, db.EmailAttemptFailedParams{ID: id, Reason: ptr(err.Error())}); rerr != nil {
			return SendEmailResult{}, fmt.Errorf("record the failed attempt of email %s: %w", id, rerr)
		}
		return SendEmailResult{}, temporal.NewApplicationError(err.Error(), ErrTypeSMTPUnavailable)
	}
}

// unclaimed answers an email SendMemberEmail could not take: settled,
// held by a live attempt, or left by an attempt that died past DATA.
func (a *Activities) unclaimed(ctx context.Context, id uuid.UUID) (SendEmailResult, error) {
	q := a.Queries
	row, err := q.EmailGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return SendEmailResult{Status: email.Skipped, Reason: "the email no longer exists (its member was deleted)"}, nil
	}
	if err != nil {
		return SendEmailResult{}, fmt.Errorf("load email %s: %w", id, err)
	}
	st := email.Status(row.Status)
	switch {
	case st.Done():
		return SendEmailResult{Status: st, Reason: deref(row.Reason)}, nil
	case st == email.Sending && row.DataStartedAt != nil && row.LockedUntil != nil && row.LockedUntil.Before(time.Now()):
		reason := "an attempt stopped after handing the message to the SMTP server: it may have been delivered, and is not sent again"
		if err := q.EmailFinish(ctx, db.EmailFinishParams{ID: id, Status: string(email.Unknown), Reason: &reason}); err != nil {
			return SendEmailResult{}, fmt.Errorf("record email %s unknown: %w", id, err)
		}
		logUnknownEmail(ctx, id, row.Kind)
		return SendEmailResult{Status: email.Unknown, Reason: reason}, nil
	default:
		return SendEmailResult{}, temporal.NewApplicationError("another attempt is sending this email; trying again once its lease ends", ErrTypeSMTPUnavailable)
	}
}

// logUnknownEmail logs, at ERROR, an email that may or may not have been
// delivered (outside an activity, as tests call it, nothing is logged).
func logUnknownEmail(ctx context.Context, id uuid.UUID, kind string) {
	if activity.IsActivity(ctx) {
		activity.GetLogger(ctx).Error("an email may or may not have been delivered; it is not sent again", "email_id", id, "kind", kind)
	}
}

// markSent records the server's acceptance, trying a few times over about
// ten seconds: a lost update here would leave the email unknown.
func markSent(ctx context.Context, q *db.Queries, id uuid.UUID) error {
	var err error
	for wait := 250 * time.Millisecond; wait < 10*time.Second; wait *= 2 {
		if err = q.EmailMarkSent(ctx, id); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
	}
	return err
}

// composeEmail writes the email of a row with its campaign's template, or
// says why it is skipped now.
func (a *Activities) composeEmail(ctx context.Context, row db.Email) (email.Message, string, error) {
	q := a.Queries
	m, err := q.MemberGetByID(ctx, row.MemberID)
	if errors.Is(err, pgx.ErrNoRows) {
		return email.Message{}, "the member no longer exists", nil
	}
	if err != nil {
		return email.Message{}, "", fmt.Errorf("load member %s: %w", row.MemberID, err)
	}
	if m.EmailUnsubscribedAt != nil {
		return email.Message{}, "the member unsubscribed from the campaign's emails", nil
	}
	c, err := q.CampaignGetByID(ctx, m.CampaignID)
	if err != nil {
		return email.Message{}, "", fmt.Errorf("load campaign %s: %w", m.CampaignID, err)
	}
	settings, err := CampaignSettings(c)
	if err != nil {
		return email.Message{}, "", temporal.NewNonRetryableApplicationError(err.Error(), "InvalidSettings", nil)
	}
	kind := email.Kind(row.Kind)
	invite := row.Actor != "system"
	switch {
	case campaign.Status(c.Status) == campaign.Archived:
		return email.Message{}, "the campaign is archived", nil
	case !settings.Emails.For(kind).Enabled && !(kind == email.Welcome && invite):
		return email.Message{}, "the campaign's " + string(kind) + " email was turned off", nil
	}
	links := a.EmailLinks
	expires := time.Now().Add(memberaccess.DefaultTTL).Truncate(time.Second)
	data := email.Data{
		FirstName: deref(m.FirstName), LastName: deref(m.LastName), CampaignName: c.Name,
		ReferralLink: links.PublicURL + "/r/" + m.ReferralCode, ReferralCode: m.ReferralCode,
		PortalLink: links.Access.URL(links.PublicURL, m.ID, expires), PortalLinkExpires: expires.UTC().Format("2 January 2006"),
		UnsubscribeLink: links.Unsubscribe.URL(links.PublicURL, m.ID),
	}
	if err := emailSubjectData(ctx, q, kind, row.SubjectID, &data); err != nil {
		return email.Message{}, "", err
	}
	r, err := email.Render(kind, settings.Emails.For(kind).Template, data)
	if err != nil {
		return email.Message{}, "", temporal.NewNonRetryableApplicationError("the campaign's "+string(kind)+" template failed: "+err.Error(), "InvalidTemplate", nil)
	}
	name := strings.TrimSpace(deref(m.FirstName) + " " + deref(m.LastName))
	return email.Message{
		From: a.Email.Server.From, To: mail.Address{Name: name, Address: m.Email},
		Subject: r.Subject, Text: r.Text, HTML: r.HTML, MessageID: row.MessageID,
		UnsubscribeURL: data.UnsubscribeLink, Date: time.Now(),
	}, "", nil
}

// emailSubjectData adds what the email's subject (referral, reward) tells.
func emailSubjectData(ctx context.Context, q *db.Queries, kind email.Kind, subject uuid.UUID, data *email.Data) error {
	referralID := subject
	switch kind {
	case email.Welcome:
		return nil
	case email.RewardEarned:
		rw, err := q.RewardGetByID(ctx, subject)
		if err != nil {
			return fmt.Errorf("load reward %s: %w", subject, err)
		}
		amount, _, err := reward.FromNumeric(rw.Amount, rw.Currency)
		if err != nil {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("reward %s's amount: %v", subject, err), "InvalidReward", nil)
		}
		data.Reward.Amount = amount.String() + " " + rw.Currency
		referralID = rw.ReferralID
	}
	r, err := q.ReferralGetByID(ctx, referralID)
	if err != nil {
		return fmt.Errorf("load referral %s: %w", referralID, err)
	}
	data.Referral.LeadFirstName = deref(r.LeadFirstName)
	return nil
}

// MemberEmailWaiting records when an email's workflow tries again.
type MemberEmailWaiting struct {
	EmailID     string
	NextAttempt time.Time
}

// SetMemberEmailWaiting records when the email's next attempt is (its
// reason is the last attempt's, written by SendMemberEmail).
func (a *Activities) SetMemberEmailWaiting(ctx context.Context, in MemberEmailWaiting) error {
	id, err := parseEntityID(in.EmailID, "email")
	if err != nil {
		return err
	}
	next := in.NextAttempt
	return a.Queries.EmailSetNextAttempt(ctx, db.EmailSetNextAttemptParams{ID: id, NextAttemptAt: &next})
}

// GiveUpMemberEmail marks an email failed after its workflow's bounds, with
// why.
type GiveUpEmailInput struct {
	EmailID string
	Reason  string
}

// GiveUpMemberEmail fails an email for good (a sent one stays sent).
func (a *Activities) GiveUpMemberEmail(ctx context.Context, in GiveUpEmailInput) error {
	id, err := parseEntityID(in.EmailID, "email")
	if err != nil {
		return err
	}
	return a.Queries.EmailFinish(ctx, db.EmailFinishParams{ID: id, Status: string(email.Failed), Reason: &in.Reason})
}

func ptr[T any](v T) *T { return &v }
