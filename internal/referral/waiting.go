package referral

// WaitStep is a step of a referral's life that needs the outside world and
// waits while it cannot succeed (referrals.waiting_step): the referral keeps
// its status, says why it waits, and the step runs again when the cause goes
// away, on its retry timer, or when an admin retries it; an admin may also
// give it up.
type WaitStep string

// The steps that wait.
const (
	// WaitSendLead: sending the lead to HubSpot (not connected, a broken
	// connection, a refused property, campaign setup required…).
	WaitSendLead WaitStep = "send_lead"
	// WaitIssueReward: issuing a reward and announcing it to the campaign's
	// fulfilment endpoint (a refused URL, an endpoint failing).
	WaitIssueReward WaitStep = "issue_reward"
	// WaitCompleteDecisionCallbacks: telling HubSpot workflows that wait
	// for the referral's decision ("Wait for referral decision") that it was
	// approved or denied, through HubSpot's callback API.
	WaitCompleteDecisionCallbacks WaitStep = "complete_decision_callbacks"
)

// WaitSteps are the steps that wait, in the order a referral meets them.
var WaitSteps = []WaitStep{WaitSendLead, WaitIssueReward, WaitCompleteDecisionCallbacks}

// MemberWaitStep is a step of a member's workflow (member/<id>) that needs
// the outside world and waits while it cannot succeed (members.waiting_step),
// as a referral's WaitStep does: it runs again when the cause goes away
// (HubSpot connected, the campaign's settings saved) or on its retry timer.
type MemberWaitStep string

// The member's steps that wait.
const (
	// MemberWaitSendToHubSpot: creating or updating the member's contact (or
	// deal) per the campaign's referrers settings (not connected, a broken
	// connection, a refused property, campaign setup required…).
	MemberWaitSendToHubSpot MemberWaitStep = "send_to_hubspot"
	// MemberWaitWriteBack: writing the member's referral code, link and
	// counts to their contact.
	MemberWaitWriteBack MemberWaitStep = "write_back"
	// MemberWaitLabelReferrals: once the member has a HubSpot contact,
	// labelling who referred whom on the referrals whose leads reached
	// HubSpot before it (the association labels "Referrer" / "Referred",
	// "Referred by").
	MemberWaitLabelReferrals MemberWaitStep = "label_referrals"
)

// MemberWaitSteps are the member's steps that wait, in the order a member
// meets them.
var MemberWaitSteps = []MemberWaitStep{MemberWaitSendToHubSpot, MemberWaitWriteBack, MemberWaitLabelReferrals}
