package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Search attributes carried by referral workflows, so an operator can find a
// run in the Temporal Web UI by campaign, status or member code (e.g.
// `ReferralStatus = "qualified" AND CampaignID = "..."`). Lists and reports
// read Postgres; these exist for looking inside one run. LeadEmail stays
// registered for runs that set it before personal data was sealed
// (internal/personaldata); no run sets it now: search attributes are stored
// in plain text, where erasing a lead could not reach them.
var (
	CampaignIDKey     = temporal.NewSearchAttributeKeyKeyword("CampaignID")
	ReferralStatusKey = temporal.NewSearchAttributeKeyKeyword("ReferralStatus")
	LeadEmailKey      = temporal.NewSearchAttributeKeyKeyword("LeadEmail")
	MemberCodeKey     = temporal.NewSearchAttributeKeyKeyword("MemberCode")
)

// SearchAttributes is what must be registered on the namespace before any
// workflow upserts them; the worker and the API register them at start-up.
var SearchAttributes = map[string]enumspb.IndexedValueType{
	CampaignIDKey.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	ReferralStatusKey.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	LeadEmailKey.GetName():      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	MemberCodeKey.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
}
