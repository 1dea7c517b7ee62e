package campaign

import "github.com/referflow/referflow/internal/email"

// Emails is settings.emails: which emails the campaign's members get, and
// how each is written. Emails go out only when an SMTP server is configured
// (REFERFLOW_SMTP_URL); then each is on unless turned off here. A member who
// unsubscribed gets none.
type Emails struct {
	// Welcome goes to a member who joins (join page, admin API, CSV
	// import), with their referral link and the link to their portal.
	// Members a contact sync brings in get it only when an admin invites
	// them (POST /api/v1/campaigns/{id}/invites).
	Welcome EmailSettings `json:"welcome"`
	// ReferralApproved goes to the member when one of their referrals is
	// approved.
	ReferralApproved EmailSettings `json:"referral_approved"`
	// RewardEarned goes to the member when a reward is issued to them.
	RewardEarned EmailSettings `json:"reward_earned"`
}

// EmailSettings turns one email on or off and may replace parts of its
// default template (empty parts keep the default's).
type EmailSettings struct {
	Enabled bool `json:"enabled"`
	email.Template
}

// DefaultEmails: every email on, with the default templates.
func DefaultEmails() Emails {
	return Emails{Welcome: EmailSettings{Enabled: true}, ReferralApproved: EmailSettings{Enabled: true}, RewardEarned: EmailSettings{Enabled: true}}
}

// For is the settings of kind's email.
func (e Emails) For(kind email.Kind) EmailSettings {
	switch kind {
	case email.Welcome:
		return e.Welcome
	case email.ReferralApproved:
		return e.ReferralApproved
	case email.RewardEarned:
		return e.RewardEarned
	}
	return EmailSettings{}
}

// emails checks every template: one that does not parse, uses a field
// emails do not have, or leaves out the unsubscribe link is refused with
// its field and why.
func (v *validator) emails(e Emails) {
	for _, kind := range email.Kinds {
		for _, p := range email.CheckTemplate(kind, e.For(kind).Template) {
			v.add("emails."+string(kind)+"."+p.Part, "%s", p.Message)
		}
	}
}
