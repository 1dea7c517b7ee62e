package referral

// FraudReason names a fraud signal: why the checks at the door (run by a
// referral's workflow as soon as it starts, whichever way the referral came
// in) denied a referral or put it in review. The denial's reason, the audit
// trail's fraud_signal events and the review entry's data carry it, and a
// campaign's settings.fraud_checks has one entry per reason, saying what it
// does (deny, review or off) and its thresholds.
type FraudReason string

// The fraud reasons.
const (
	// FraudSelfReferral: the lead's mailbox is the member's own (compared
	// after normalising case, +tags and Gmail dots).
	FraudSelfReferral FraudReason = "self_referral"
	// FraudDuplicateLead: the campaign already has the lead, under another
	// spelling of the same mailbox.
	FraudDuplicateLead FraudReason = "duplicate_lead"
	// FraudDisposableEmail: the lead's email domain (or a domain it is a
	// subdomain of) is a disposable mailbox provider's.
	FraudDisposableEmail FraudReason = "disposable_email"
	// FraudVisitorVelocity: the visitor (keyed hash of IP and user agent)
	// who sent the referral through a public page sent more than the
	// campaign allows within its window.
	FraudVisitorVelocity FraudReason = "visitor_velocity"
	// FraudMemberVelocity: the member has more referrals within the window
	// than the campaign allows.
	FraudMemberVelocity FraudReason = "member_velocity"
	// FraudSharedVisitor: one visitor sent referrals for more distinct
	// members of the campaign than it allows within the window.
	FraudSharedVisitor FraudReason = "shared_visitor"
	// FraudCompanyDomain: the lead's email domain is the member's (a public
	// mailbox provider's domain, like gmail.com, never counts).
	FraudCompanyDomain FraudReason = "company_domain"
	// FraudSameHubSpotCompany: the lead's HubSpot contact and the member's
	// are associated with the same HubSpot company (colleagues, or one
	// person under two emails). It reads HubSpot, so it runs only when the
	// member has a contact and the workspace is connected.
	FraudSameHubSpotCompany FraudReason = "same_hubspot_company"
)

// FraudReasons lists them in the order the checks run and are documented.
var FraudReasons = []FraudReason{
	FraudSelfReferral, FraudDuplicateLead, FraudDisposableEmail,
	FraudVisitorVelocity, FraudMemberVelocity, FraudSharedVisitor, FraudCompanyDomain,
	FraudSameHubSpotCompany,
}
