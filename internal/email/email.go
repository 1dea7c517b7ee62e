// Package email is referflow's emails to members: what kinds there are and
// their statuses (defined once, as internal/referral does for referrals),
// the SMTP server they go through (REFERFLOW_SMTP_URL, smtp_url.go; Sender,
// sender.go), the message a member receives — plain text and HTML as
// multipart/alternative, with List-Unsubscribe headers (message.go) — the
// templates that write it, with defaults and per-campaign versions checked
// on save (templates.go), and the signed unsubscribe links (unsubscribe.go).
//
// Who sends what, once, lives above: activities/member_emails.go decides and
// sends, keyed by the emails table; workflows/member_email.go retries and
// waits.
package email

// Kind is what an email to a member is about; stored in emails.kind and
// keying the campaign's settings.emails.
type Kind string

const (
	// Welcome: the member joined (or an admin invited them): their referral
	// link and the link to their portal. Its subject is the member.
	Welcome Kind = "welcome"
	// ReferralApproved: one of the member's referrals was approved. Its
	// subject is the referral.
	ReferralApproved Kind = "referral_approved"
	// RewardEarned: a reward was issued to the member. Its subject is the
	// reward.
	RewardEarned Kind = "reward_earned"
)

// Kinds are every kind, in the order a member meets them.
var Kinds = []Kind{Welcome, ReferralApproved, RewardEarned}

// Valid tells whether k is a known kind.
func (k Kind) Valid() bool {
	for _, known := range Kinds {
		if k == known {
			return true
		}
	}
	return false
}

// Status is where an email is, stored in emails.status.
type Status string

const (
	// Pending: to send (again); reason says why the last attempt did not.
	Pending Status = "pending"
	// Sending: an attempt holds it (emails.locked_until).
	Sending Status = "sending"
	// Sent: the SMTP server accepted it.
	Sent Status = "sent"
	// Skipped: nothing was sent, and nothing will be (the member
	// unsubscribed, the campaign turned the email off, no SMTP server).
	Skipped Status = "skipped"
	// Failed: refused for good by the SMTP server, or given up after the
	// retries' bounds.
	Failed Status = "failed"
	// Unknown: an attempt died after the SMTP server may have accepted the
	// message; it is not sent again (at most once).
	Unknown Status = "unknown"
)

// Statuses are every status.
var Statuses = []Status{Pending, Sending, Sent, Skipped, Failed, Unknown}

// Done tells whether an email in status s is settled: nothing more will be
// attempted.
func (s Status) Done() bool { return s != Pending && s != Sending }
