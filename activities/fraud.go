package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/fraud"
	"github.com/referflow/referflow/internal/referral"
)

// FraudVerdict is the outcome of the checks that run before a referral's lead
// goes anywhere: every signal that fired, and what the strictest of them
// does.
type FraudVerdict struct {
	// Deny: the referral is denied for good (Action deny). Kept with Reason
	// as the verdict of workflows that ran before Action existed.
	Deny bool
	// Reason is every signal as "code: explanation", joined by "; " (the
	// denied_reason of a denial).
	Reason string
	// Action is the strictest action of the signals: deny, review, or ""
	// when none fired.
	Action  campaign.FraudAction `json:",omitempty"`
	Signals []FraudSignal        `json:",omitempty"`
	// SameHubSpotCompany is the action of the same_hubspot_company check
	// when it is on and can run (the member has a HubSpot contact): it reads
	// HubSpot, so the referral's workflow runs it as its own activity
	// (CheckSameHubSpotCompany) and adds its signal (Add). Empty otherwise.
	SameHubSpotCompany campaign.FraudAction `json:",omitempty"`
}

// Add records a signal that fired: the verdict's action becomes the
// stricter of the two, its reason lists every signal.
func (v *FraudVerdict) Add(s FraudSignal) {
	v.Signals = append(v.Signals, s)
	if s.Action.Stricter(v.Action) {
		v.Action = s.Action
	}
	reasons := make([]string, len(v.Signals))
	for i, s := range v.Signals {
		reasons[i] = s.String()
	}
	v.Reason = strings.Join(reasons, "; ")
	v.Deny = v.Action == campaign.FraudDeny
}

// FraudSignal is one check that fired.
type FraudSignal struct {
	Reason referral.FraudReason
	// Detail explains it to an admin (IDs, domains and counts only).
	Detail string
	// Action is what the campaign's setting makes of it (deny or review).
	Action campaign.FraudAction
}

// String is the signal as denied_reason and the Web UI show it.
func (s FraudSignal) String() string { return string(s.Reason) + ": " + s.Detail }

// CheckReferralFraud runs the campaign's fraud checks on a referral
// (settings.fraud_checks; a check set to off does not run) and returns every
// signal that fired, in the order of referral.FraudReasons:
//
//   - self_referral: the lead's mailbox is the member's own (compared after
//     normalising case, +tags and Gmail dots);
//   - duplicate_lead: the campaign already has the lead under another
//     spelling of the same mailbox (the exact same email cannot even be added
//     twice: the database refuses it);
//   - disposable_email: the lead's email domain, or a parent of it, is on
//     the disposable list (internal/fraud);
//   - visitor_velocity: the visitor who sent the referral through a public
//     page (referrals.visitor_hash; none for the admin API, HubSpot or an
//     import) sent more than the allowed number within the window;
//   - member_velocity: the member has more referrals through public pages
//     within the window than allowed;
//   - shared_visitor: that visitor sent referrals for more distinct members
//     of the campaign within the window than allowed;
//   - company_domain: the lead's email domain is the member's, unless it is
//     a public mailbox provider's (gmail.com);
//   - same_hubspot_company: not run here (it reads HubSpot): the verdict's
//     SameHubSpotCompany asks the workflow to run CheckSameHubSpotCompany.
//
// The velocity checks (visitor, member, shared visitor) look only at
// referrals that came in through a public page (tracking script, hosted
// form, member portal: those with a visitor hash): what an admin adds,
// HubSpot matches or an import brings is the customer's own doing, and a
// partner's thousand imported referrals are no abuse. Windows end at the
// referral's own creation, so checking it again later gives the same
// verdict.
func (a *Activities) CheckReferralFraud(ctx context.Context, referralID string) (FraudVerdict, error) {
	id, err := parseID(referralID)
	if err != nil {
		return FraudVerdict{}, err
	}
	row, err := a.Queries.ReferralGetDetail(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return FraudVerdict{}, temporal.NewNonRetryableApplicationError("referral "+referralID+" does not exist", "ReferralNotFound", err)
	}
	if err != nil {
		return FraudVerdict{}, fmt.Errorf("load referral %s: %w", referralID, err)
	}
	c, err := a.Queries.CampaignGetByID(ctx, row.Referral.CampaignID)
	if err != nil {
		return FraudVerdict{}, fmt.Errorf("load the campaign of referral %s: %w", referralID, err)
	}
	settings, err := CampaignSettings(c)
	if err != nil {
		return FraudVerdict{}, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidSettings", err)
	}
	chk := fraudCheck{q: a.Queries, r: row.Referral, memberEmail: row.MemberEmail, settings: settings.FraudChecks}
	var v FraudVerdict
	for _, reason := range referral.FraudReasons {
		action := settings.FraudChecks.ActionFor(reason)
		if action != campaign.FraudDeny && action != campaign.FraudReview {
			continue
		}
		if reason == referral.FraudSameHubSpotCompany {
			member, err := a.Queries.MemberGetByID(ctx, row.Referral.MemberID)
			if err != nil {
				return FraudVerdict{}, fmt.Errorf("load the member of referral %s: %w", referralID, err)
			}
			if member.HubspotContactID != nil {
				v.SameHubSpotCompany = action
			}
			continue
		}
		detail, fired, err := chk.run(ctx, reason)
		if err != nil {
			return FraudVerdict{}, fmt.Errorf("fraud check %s of referral %s: %w", reason, referralID, err)
		}
		if fired {
			v.Add(FraudSignal{Reason: reason, Detail: detail, Action: action})
		}
	}
	return v, nil
}

// fraudCheck runs the checks on one referral.
type fraudCheck struct {
	q           *db.Queries
	r           db.Referral
	memberEmail string
	settings    campaign.FraudChecks
}

// run runs the check named reason: whether it fired, and why.
func (c fraudCheck) run(ctx context.Context, reason referral.FraudReason) (string, bool, error) {
	r := c.r
	since := func(minutes int) time.Time { return r.CreatedAt.Add(-time.Duration(minutes) * time.Minute) }
	switch reason {
	case referral.FraudSelfReferral:
		return "the lead's email is the member's own", referral.NormalizeEmail(c.memberEmail) == r.LeadEmailNormalized, nil
	case referral.FraudDuplicateLead:
		first, err := c.q.ReferralGetFirstOfNormalizedLead(ctx, db.ReferralGetFirstOfNormalizedLeadParams{
			CampaignID: r.CampaignID, LeadEmailNormalized: r.LeadEmailNormalized,
		})
		if err != nil {
			return "", false, fmt.Errorf("look for earlier referrals of the lead: %w", err)
		}
		return "the campaign already has this lead as referral " + first.ID.String(), first.ID != r.ID, nil
	case referral.FraudDisposableEmail:
		domain := fraud.Domain(r.LeadEmail)
		listed, ok := fraud.DisposableDomain(domain)
		detail := "the lead's email domain " + domain + " is a disposable mailbox provider's"
		if listed != domain {
			detail += " (" + listed + ")"
		}
		return detail, ok, nil
	case referral.FraudVisitorVelocity:
		s := c.settings.VisitorVelocity
		if len(r.VisitorHash) == 0 {
			return "", false, nil // not sent through a public page
		}
		n, err := c.q.ReferralCountOfVisitorSince(ctx, db.ReferralCountOfVisitorSinceParams{
			CampaignID: r.CampaignID, VisitorHash: r.VisitorHash, Since: since(s.WindowMinutes), Until: r.CreatedAt,
		})
		detail := fmt.Sprintf("the visitor who sent it sent %d referrals to the campaign in %s (more than %d)", n, window(s.WindowMinutes), s.MaxReferrals)
		return detail, n > int64(s.MaxReferrals), err
	case referral.FraudMemberVelocity:
		s := c.settings.MemberVelocity
		if len(r.VisitorHash) == 0 {
			return "", false, nil // the customer's own: admin API, HubSpot, import
		}
		n, err := c.q.ReferralCountPublicOfMemberSince(ctx, db.ReferralCountPublicOfMemberSinceParams{
			MemberID: r.MemberID, Since: since(s.WindowMinutes), Until: r.CreatedAt,
		})
		detail := fmt.Sprintf("the member has %d referrals through public pages in %s (more than %d)", n, window(s.WindowMinutes), s.MaxReferrals)
		return detail, n > int64(s.MaxReferrals), err
	case referral.FraudSharedVisitor:
		s := c.settings.SharedVisitor
		if len(r.VisitorHash) == 0 {
			return "", false, nil
		}
		n, err := c.q.ReferralCountMembersOfVisitorSince(ctx, db.ReferralCountMembersOfVisitorSinceParams{
			CampaignID: r.CampaignID, VisitorHash: r.VisitorHash, Since: since(s.WindowMinutes), Until: r.CreatedAt,
		})
		detail := fmt.Sprintf("the visitor who sent it sent referrals for %d members of the campaign in %s (more than %d)", n, window(s.WindowMinutes), s.MaxMembers)
		return detail, n > int64(s.MaxMembers), err
	case referral.FraudCompanyDomain:
		lead, member := fraud.Domain(r.LeadEmail), fraud.Domain(c.memberEmail)
		fired := lead != "" && lead == member && !fraud.PublicMailbox(lead)
		return "the lead's email domain " + lead + " is the member's", fired, nil
	}
	return "", false, nil
}

// window says a number of minutes the way people count them.
func window(minutes int) string {
	switch {
	case minutes%(24*60) == 0:
		return plural(minutes/(24*60), "day")
	case minutes%60 == 0:
		return plural(minutes/60, "hour")
	}
	return plural(minutes, "minute")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
