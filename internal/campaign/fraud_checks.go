package campaign

import "github.com/referflow/referflow/internal/referral"

// FraudAction is what a fraud signal does to the referral it fires on.
type FraudAction string

// The actions, strictest first: when several signals fire, the strictest
// action of them applies.
const (
	// FraudDeny denies the referral for good, naming the reasons.
	FraudDeny FraudAction = "deny"
	// FraudReview holds the referral in the review queue with the reasons:
	// nothing goes to HubSpot until an admin approves it (or rejects it,
	// which denies it).
	FraudReview FraudAction = "review"
	// FraudOff: the check does not run.
	FraudOff FraudAction = "off"
)

// FraudActions lists them.
var FraudActions = []FraudAction{FraudDeny, FraudReview, FraudOff}

// Stricter tells whether a is stricter than b (deny > review > off).
func (a FraudAction) Stricter(b FraudAction) bool { return a.rank() > b.rank() }

func (a FraudAction) rank() int {
	switch a {
	case FraudDeny:
		return 2
	case FraudReview:
		return 1
	}
	return 0
}

// FraudChecks say what each fraud signal does (settings.fraud_checks): one
// entry per referral.FraudReason. The checks run when a referral's workflow
// starts, for every way in.
type FraudChecks struct {
	SelfReferral    FraudCheck    `json:"self_referral"`
	DuplicateLead   FraudCheck    `json:"duplicate_lead"`
	DisposableEmail FraudCheck    `json:"disposable_email"`
	VisitorVelocity VelocityCheck `json:"visitor_velocity"`
	MemberVelocity  VelocityCheck `json:"member_velocity"`
	SharedVisitor   SharedVisitor `json:"shared_visitor"`
	CompanyDomain   FraudCheck    `json:"company_domain"`
	// SameHubSpotCompany: the lead's and the member's HubSpot contacts are
	// associated with the same company (read from HubSpot).
	SameHubSpotCompany FraudCheck `json:"same_hubspot_company"`
}

// FraudCheck is a check without a threshold.
type FraudCheck struct {
	Action FraudAction `json:"action"`
}

// VelocityCheck fires when more than MaxReferrals referrals (the one checked
// included) were added within WindowMinutes.
type VelocityCheck struct {
	Action        FraudAction `json:"action"`
	MaxReferrals  int         `json:"max_referrals"`
	WindowMinutes int         `json:"window_minutes"`
}

// SharedVisitor fires when one visitor sent referrals for more than
// MaxMembers distinct members within WindowMinutes.
type SharedVisitor struct {
	Action        FraudAction `json:"action"`
	MaxMembers    int         `json:"max_members"`
	WindowMinutes int         `json:"window_minutes"`
}

// Limits of the fraud checks' thresholds.
const (
	MaxFraudCount         = 10000
	MaxFraudWindowMinutes = 366 * 24 * 60
)

// DefaultFraudChecks: self-referral and the same lead twice are denied, as
// they always were; a disposable lead email, a visitor sending more than 5
// referrals in an hour, a member with more than 20 through public pages in a
// day and a visitor sending referrals for more than 3 members in 30 days wait
// for review;
// the lead at the member's own company is off (colleagues refer colleagues
// in many B2B programmes: a campaign turns it on when that is abuse); the
// lead and the member associated with the same HubSpot company waits for
// review (HubSpot's own record of who works where is stronger evidence than
// an email domain, but still no proof: a human decides).
func DefaultFraudChecks() FraudChecks {
	return FraudChecks{
		SelfReferral:       FraudCheck{Action: FraudDeny},
		DuplicateLead:      FraudCheck{Action: FraudDeny},
		DisposableEmail:    FraudCheck{Action: FraudReview},
		VisitorVelocity:    VelocityCheck{Action: FraudReview, MaxReferrals: 5, WindowMinutes: 60},
		MemberVelocity:     VelocityCheck{Action: FraudReview, MaxReferrals: 20, WindowMinutes: 24 * 60},
		SharedVisitor:      SharedVisitor{Action: FraudReview, MaxMembers: 3, WindowMinutes: 30 * 24 * 60},
		CompanyDomain:      FraudCheck{Action: FraudOff},
		SameHubSpotCompany: FraudCheck{Action: FraudReview},
	}
}

// ActionFor is what the signal named reason does.
func (f FraudChecks) ActionFor(reason referral.FraudReason) FraudAction {
	switch reason {
	case referral.FraudSelfReferral:
		return f.SelfReferral.Action
	case referral.FraudDuplicateLead:
		return f.DuplicateLead.Action
	case referral.FraudDisposableEmail:
		return f.DisposableEmail.Action
	case referral.FraudVisitorVelocity:
		return f.VisitorVelocity.Action
	case referral.FraudMemberVelocity:
		return f.MemberVelocity.Action
	case referral.FraudSharedVisitor:
		return f.SharedVisitor.Action
	case referral.FraudCompanyDomain:
		return f.CompanyDomain.Action
	case referral.FraudSameHubSpotCompany:
		return f.SameHubSpotCompany.Action
	}
	return FraudOff
}

// normalize fills what was left out (an empty action, a 0 threshold) with
// its default.
func (f *FraudChecks) normalize() {
	d := DefaultFraudChecks()
	action := func(a *FraudAction, def FraudAction) {
		if *a == "" {
			*a = def
		}
	}
	count := func(n *int, def int) {
		if *n == 0 {
			*n = def
		}
	}
	action(&f.SelfReferral.Action, d.SelfReferral.Action)
	action(&f.DuplicateLead.Action, d.DuplicateLead.Action)
	action(&f.DisposableEmail.Action, d.DisposableEmail.Action)
	action(&f.VisitorVelocity.Action, d.VisitorVelocity.Action)
	count(&f.VisitorVelocity.MaxReferrals, d.VisitorVelocity.MaxReferrals)
	count(&f.VisitorVelocity.WindowMinutes, d.VisitorVelocity.WindowMinutes)
	action(&f.MemberVelocity.Action, d.MemberVelocity.Action)
	count(&f.MemberVelocity.MaxReferrals, d.MemberVelocity.MaxReferrals)
	count(&f.MemberVelocity.WindowMinutes, d.MemberVelocity.WindowMinutes)
	action(&f.SharedVisitor.Action, d.SharedVisitor.Action)
	count(&f.SharedVisitor.MaxMembers, d.SharedVisitor.MaxMembers)
	count(&f.SharedVisitor.WindowMinutes, d.SharedVisitor.WindowMinutes)
	action(&f.CompanyDomain.Action, d.CompanyDomain.Action)
	action(&f.SameHubSpotCompany.Action, d.SameHubSpotCompany.Action)
}

func (v *validator) fraudChecks(f FraudChecks) {
	const at = "fraud_checks."
	action := func(name referral.FraudReason, a FraudAction) {
		switch a {
		case FraudDeny, FraudReview, FraudOff:
		default:
			v.add(at+string(name)+".action", "must be deny, review or off, not %q", a)
		}
	}
	between := func(field string, n, lo, hi int) {
		if n < lo || n > hi {
			v.add(at+field, "must be between %d and %d, not %d", lo, hi, n)
		}
	}
	for _, r := range referral.FraudReasons {
		action(r, f.ActionFor(r))
	}
	between("visitor_velocity.max_referrals", f.VisitorVelocity.MaxReferrals, 1, MaxFraudCount)
	between("visitor_velocity.window_minutes", f.VisitorVelocity.WindowMinutes, 1, MaxFraudWindowMinutes)
	between("member_velocity.max_referrals", f.MemberVelocity.MaxReferrals, 1, MaxFraudCount)
	between("member_velocity.window_minutes", f.MemberVelocity.WindowMinutes, 1, MaxFraudWindowMinutes)
	between("shared_visitor.max_members", f.SharedVisitor.MaxMembers, 1, MaxFraudCount)
	between("shared_visitor.window_minutes", f.SharedVisitor.WindowMinutes, 1, MaxFraudWindowMinutes)
}
