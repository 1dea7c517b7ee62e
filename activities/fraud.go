package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/referral"
)

// Denial reasons the fraud checks give; the audit trail and the admin see
// them.
const (
	ReasonSelfReferral  = "self_referral"
	ReasonDuplicateLead = "duplicate_lead"
)

// FraudVerdict is the outcome of the checks that run before a referral's lead
// goes anywhere.
type FraudVerdict struct {
	Deny bool
	// Reason is a code (ReasonSelfReferral, ...) followed by an explanation.
	Reason string
}

// CheckReferralFraud refuses a referral whose lead is the member themself
// (compared after normalising case, +tags and Gmail dots) or a lead the
// campaign already has under another spelling of the same mailbox. The exact
// same email cannot even be added twice: the database refuses it.
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
	r := row.Referral
	if referral.NormalizeEmail(row.MemberEmail) == r.LeadEmailNormalized {
		return FraudVerdict{Deny: true, Reason: ReasonSelfReferral + ": the lead's email is the member's own"}, nil
	}
	first, err := a.Queries.ReferralGetFirstOfNormalizedLead(ctx, db.ReferralGetFirstOfNormalizedLeadParams{
		CampaignID: r.CampaignID, LeadEmailNormalized: r.LeadEmailNormalized,
	})
	if err != nil {
		return FraudVerdict{}, fmt.Errorf("look for earlier referrals of the lead: %w", err)
	}
	if first.ID != r.ID {
		return FraudVerdict{Deny: true, Reason: fmt.Sprintf("%s: the campaign already has this lead as referral %s", ReasonDuplicateLead, first.ID)}, nil
	}
	return FraudVerdict{}, nil
}
