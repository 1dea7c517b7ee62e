package api

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/contactsync"
	"github.com/referflow/referflow/internal/currency"
	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/privacy"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/reports"
	"github.com/referflow/referflow/internal/review"
	"github.com/referflow/referflow/internal/reward"
	"github.com/referflow/referflow/internal/salesentry"
	"github.com/referflow/referflow/internal/webhookdelivery"
	"github.com/referflow/referflow/salesreceiver"
)

// The document is written by hand, but its enumerations are the Go
// vocabularies' values: every enum in it is tied here to the one home of
// those words, so a status, kind or action added to the code and not to the
// document (or the other way round) fails this test.
func TestOpenAPIEnumsAreTheVocabularies(t *testing.T) {
	referralStatuses := words(referral.Statuses)
	objectTypes := words(hubspotobject.Types)
	importKinds := words(referral.ImportKinds)
	vocabularies := map[string][]string{
		"paths//referrals/get/parameters/status":                                                            referralStatuses,
		"components/schemas/PrivacyErasure/properties/status":                                               words(privacy.Statuses),
		"components/schemas/PrivacyErasure/properties/source":                                               words(privacy.Sources),
		"paths//sales-entries/get/parameters/status":                                                        words(salesentry.Statuses),
		"paths//sales-entries/get/parameters/object_type":                                                   objectTypes,
		"paths//hubspot/properties/get/parameters/object":                                                   objectTypes,
		"components/schemas/PortalPropertyList/properties/object":                                           objectTypes,
		"components/schemas/PortalList/properties/object":                                                   objectTypes,
		"components/schemas/PortalList/properties/processing_type":                                          {hubspot.ListManual, hubspot.ListDynamic, hubspot.ListSnapshot},
		"paths//review-entries/get/parameters/status":                                                       words(review.Statuses),
		"components/schemas/HubSpotStatus/properties/status":                                                {hubspotconn.StatusConnected, hubspotconn.StatusBroken, hubspotconn.StatusDisconnected, hubspotconn.StatusNotConnected},
		"components/schemas/HubSpotStatus/properties/kind":                                                  {hubspotconn.KindOAuth, hubspotconn.KindPrivateApp},
		"components/schemas/HubSpotStatus/properties/property_setup/properties/status":                      {hubspotconn.SetupPending, hubspotconn.SetupDone, hubspotconn.SetupFailed},
		"components/schemas/FieldMapping/properties/object":                                                 objectTypes,
		"components/schemas/CRMSettings/properties/action":                                                  {campaign.ActionCreateContact, campaign.ActionCreateDeal, campaign.ActionNone},
		"components/schemas/CRMSettings/properties/duplicate_handling":                                      {campaign.DuplicateDoNothing, campaign.DuplicateUpdateExisting},
		"components/schemas/StatusRule/properties/object":                                                   objectTypes,
		"components/schemas/PropertyUpdate/properties/object":                                               objectTypes,
		"components/schemas/PropertyUpdate/properties/field":                                                campaign.ReferralFields,
		"components/schemas/MatchingRule/properties/object":                                                 objectTypes,
		"components/schemas/MatchingRule/properties/holds":                                                  campaign.MatchingHolds,
		"components/schemas/RewardRule/properties/kind":                                                     {campaign.RewardFixed, campaign.RewardPercentage},
		"components/schemas/Rewards/properties/on_status":                                                   words([]referral.Status{referral.Qualified, referral.Approved}),
		"components/schemas/Attribution/properties/model":                                                   {campaign.FirstTouch, campaign.LastTouch},
		"components/schemas/Campaign/properties/status":                                                     campaignStatuses,
		"components/schemas/Campaign/properties/allowed_transitions/items":                                  campaignStatuses,
		"components/schemas/CampaignInput/properties/status":                                                campaignStatuses,
		"components/schemas/Reward/properties/recipient":                                                    {reward.Member, reward.Friend},
		"components/schemas/Referral/properties/status":                                                     referralStatuses,
		"components/schemas/DecisionInput/properties/status":                                                referralStatuses,
		"components/schemas/DecisionResult/properties/status":                                               referralStatuses,
		"components/schemas/ReviewResult/properties/status":                                                 referralStatuses,
		"components/schemas/SalesEntry/properties/object_type":                                              objectTypes,
		"components/schemas/SalesEntry/properties/status":                                                   words(salesentry.Statuses),
		"components/schemas/ReviewEntry/properties/reason":                                                  words(review.Reasons),
		"components/schemas/ReviewEntry/properties/status":                                                  words(review.Statuses),
		"components/schemas/ReviewDecisionInput/properties/action":                                          words(review.Actions),
		"components/schemas/Waiting/properties/step":                                                        words(referral.WaitSteps),
		"components/schemas/MemberWaiting/properties/step":                                                  words(referral.MemberWaitSteps),
		"components/schemas/WaitingResult/properties/status":                                                referralStatuses,
		"components/schemas/HubSpotCause/properties/object_type":                                            objectTypes,
		"components/schemas/Referral/properties/workflow_status":                                            workflowStatuses,
		"paths//webhook-deliveries/get/parameters/status":                                                   words(webhookdelivery.Statuses),
		"paths//webhook-deliveries/get/parameters/event_type":                                               webhookdelivery.EventTypes,
		"paths//webhook-deliveries/replay/post/parameters/event_type":                                       webhookdelivery.EventTypes,
		"components/schemas/WebhookDelivery/properties/status":                                              words(webhookdelivery.Statuses),
		"components/schemas/WebhookDelivery/properties/event_type":                                          webhookdelivery.EventTypes,
		"components/schemas/Currency":                                                                       currency.Codes(),
		"paths//campaigns/{id}/imports/post/parameters/kind":                                                importKinds,
		"paths//campaigns/{id}/imports/post/requestBody/content/multipart/form-data/schema/properties/kind": importKinds,
		"components/schemas/Import/properties/kind":                                                         importKinds,
		"components/schemas/Sync/properties/source":                                                         words(contactsync.Sources),
		"components/schemas/SyncInput/properties/source":                                                    words(contactsync.Sources),
		"components/schemas/Sync/properties/mode":                                                           words(contactsync.Modes),
		"components/schemas/SyncInput/properties/mode":                                                      words(contactsync.Modes),
		"components/schemas/Sync/properties/status":                                                         words(contactsync.Statuses),
		"components/schemas/SyncRun/properties/status":                                                      words(contactsync.RunStatuses),
		"components/schemas/Import/properties/status":                                                       words(referral.ImportStatuses),
		"components/schemas/FraudAction":                                                                    words(campaign.FraudActions),
		"components/schemas/FraudReason":                                                                    words(referral.FraudReasons),
		"components/schemas/Email/properties/kind":                                                          words(email.Kinds),
		"components/schemas/Email/properties/status":                                                        words(email.Statuses),
		"components/schemas/EmailStatus/properties/security":                                                email.Securities,
	}
	vocabularies["components/schemas/Conversion/properties/status"] = []string{ConversionReceived}
	for _, at := range []string{"TestEventInput/properties/object_type", "TestEventChange/properties/object_type"} {
		vocabularies["components/schemas/"+at] = words(salesreceiver.TestEventObjects)
	}
	vocabularies["components/schemas/TestEventReferral/properties/status"] = referralStatuses
	vocabularies["components/schemas/TestEventReferral/properties/moves_to"] = referralStatuses
	vocabularies["paths//rewards/get/parameters/status"] = rewardStatuses
	vocabularies["paths//rewards/get/parameters/recipient"] = rewardRecipients
	vocabularies["paths//rewards/get/parameters/format"] = ReportFormats
	vocabularies["components/schemas/RewardListItem/properties/recipient"] = []string{reward.Member, reward.Friend}
	for _, name := range reports.Names {
		vocabularies["paths//reports/"+name+"/get/parameters/period"] = reports.Presets
		vocabularies["paths//reports/"+name+"/get/parameters/format"] = ReportFormats
	}
	vocabularies["components/schemas/FunnelStep/properties/step"] = reports.Steps
	var doc any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	found := map[string][]string{}
	collectEnums(doc, found)
	for at, enum := range found {
		want, ok := vocabularies[at]
		if !ok {
			t.Errorf("%s enumerates %v: tie it to its vocabulary in this test", at, enum)
			continue
		}
		if !sameWords(enum, want) {
			t.Errorf("%s enumerates %v; the code's vocabulary is %v", at, enum, want)
		}
	}
	for at := range vocabularies {
		if _, ok := found[at]; !ok {
			t.Errorf("%s: no enum there any more; drop it from this test", at)
		}
	}
}

// collectEnums finds every "enum" in the document by its path: object keys,
// and a parameter by its name rather than its index.
func collectEnums(doc any, out map[string][]string) {
	walkOpenAPI(doc, nil, func(path []string, n map[string]any) {
		if enum, ok := n["enum"].([]any); ok {
			at := strings.Join(path, "/")
			at = strings.TrimSuffix(at, "/schema") // a parameter's schema
			for _, v := range enum {
				s, _ := v.(string)
				out[at] = append(out[at], s)
			}
		}
	})
}

// walkOpenAPI calls visit with every object of the document and its path:
// object keys, and a list item by its "name" (a parameter) or its index.
func walkOpenAPI(node any, path []string, visit func(path []string, obj map[string]any)) {
	switch n := node.(type) {
	case map[string]any:
		visit(path, n)
		for k, v := range n {
			walkOpenAPI(v, append(slices.Clone(path), k), visit)
		}
	case []any:
		for i, v := range n {
			key := strconv.Itoa(i)
			if m, ok := v.(map[string]any); ok {
				if name, ok := m["name"].(string); ok {
					key = name
				}
			}
			walkOpenAPI(v, append(slices.Clone(path), key), visit)
		}
	}
}

func sameWords(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}
