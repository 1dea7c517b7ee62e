package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/contactsync"
	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/reports"
	"github.com/referflow/referflow/internal/webhookdelivery"
)

// Every limit the document states (maxLength, maxItems, maxProperties,
// minItems, minimum, maximum, pattern) is the code's: the input types'
// `limit` tags, the settings' constants, the email lengths of RFC 5321, the
// page size. A limit added on one side only fails here.
func TestOpenAPILimitsAreTheCode(t *testing.T) {
	want := map[string]string{}
	inputs := map[string]any{
		"CampaignInput": CampaignInput{}, "MemberInput": MemberInput{}, "ReferralInput": ReferralInput{}, "LeadInput": LeadInput{},
		"DecisionInput": DecisionInput{}, "RewardDecisionInput": RewardDecisionInput{}, "GiveUpInput": GiveUpInput{},
		"ReviewDecisionInput": ReviewDecisionInput{}, "ConversionInput": ConversionInput{}, "PrivateAppTokenInput": PrivateAppTokenInput{},
		"SyncInput": SyncInput{}, "SyncPatch": SyncPatch{}, "AdminAddInput": AdminAddInput{}, "APIKeyCreateInput": APIKeyCreateInput{},
		"PrivacyPersonInput": PrivacyPersonInput{},
	}
	for schema, v := range inputs {
		tagLimits(t, reflect.TypeOf(v), "components/schemas/"+schema, want)
	}
	n := strconv.Itoa
	for at, v := range map[string]string{
		"components/schemas/MemberInput/properties/email/maxLength":                    n(referral.MaxEmailLength),
		"components/schemas/LeadInput/properties/email/maxLength":                      n(referral.MaxEmailLength),
		"components/schemas/MemberInput/properties/referral_code/pattern":              referral.CodePattern.String(),
		"components/schemas/Campaign/properties/publishable_key/pattern":               campaign.PublishableKeyPattern,
		"components/schemas/PublicSettings/properties/slug/pattern":                    campaign.SlugPattern,
		"components/schemas/PublicSettings/properties/landing_url/maxLength":           n(campaign.MaxURLLength),
		"components/schemas/PublicSettings/properties/allowed_origins/maxItems":        n(campaign.MaxAllowedOrigins),
		"components/schemas/PublicSettings/properties/allowed_origins/items/maxLength": n(campaign.MaxURLLength),
		"components/schemas/Attribution/properties/window_days/minimum":                "0",
		"components/schemas/Attribution/properties/window_days/maximum":                n(campaign.MaxAttributionWindowDays),
		"components/schemas/FraudVelocityCheck/properties/max_referrals/minimum":       "0",
		"components/schemas/FraudVelocityCheck/properties/max_referrals/maximum":       n(campaign.MaxFraudCount),
		"components/schemas/FraudVelocityCheck/properties/window_minutes/minimum":      "0",
		"components/schemas/FraudVelocityCheck/properties/window_minutes/maximum":      n(campaign.MaxFraudWindowMinutes),
		"components/schemas/FraudSharedVisitorCheck/properties/max_members/minimum":    "0",
		"components/schemas/FraudSharedVisitorCheck/properties/max_members/maximum":    n(campaign.MaxFraudCount),
		"components/schemas/FraudSharedVisitorCheck/properties/window_minutes/minimum": "0",
		"components/schemas/FraudSharedVisitorCheck/properties/window_minutes/maximum": n(campaign.MaxFraudWindowMinutes),
		"components/schemas/CRMSettings/properties/field_mapping/maxItems":             n(campaign.MaxFieldMappingRows),
		"components/schemas/FieldMapping/properties/value/maxLength":                   n(campaign.MaxValueLength),
		"components/schemas/FieldMapping/properties/property/pattern":                  campaign.PropertyNamePattern,
		"components/schemas/StatusRule/properties/property/pattern":                    campaign.PropertyNamePattern,
		"components/schemas/StatusRule/properties/values/minItems":                     "1",
		"components/schemas/StatusRule/properties/values/maxItems":                     n(campaign.MaxStatusRuleValues),
		"components/schemas/EnrolMembers/properties/on_lifecycle_stages/maxItems":      n(campaign.MaxStatusRuleValues),
		"components/schemas/EnrolMembers/properties/on_list_ids/maxItems":              n(campaign.MaxEnrolListIDs),
		"components/schemas/EnrolMembers/properties/on_list_ids/items/pattern":         campaign.ListIDPattern,
		"components/schemas/StatusRule/properties/values/items/maxLength":              n(campaign.MaxValueLength),
		"components/schemas/PropertyValue/properties/property/pattern":                 campaign.PropertyNamePattern,
		"components/schemas/PropertyValue/properties/value/maxLength":                  n(campaign.MaxValueLength),
		"components/schemas/PropertyUpdates/properties/mappings/maxItems":              n(campaign.MaxPropertyUpdates),
		"components/schemas/PropertyUpdate/properties/property/pattern":                campaign.PropertyNamePattern,
		"components/schemas/MatchingRule/properties/property/pattern":                  campaign.PropertyNamePattern,
		"components/schemas/ProcessRules/properties/external_id_property/pattern":      campaign.PropertyNamePattern,
		"components/schemas/ProcessRules/properties/matching_rules/maxItems":           n(campaign.MaxMatchingRules),
		"components/schemas/RewardRule/properties/amount/pattern":                      campaign.AmountPattern,
		"components/schemas/RewardRule/properties/percent/pattern":                     campaign.PercentPattern,
		"components/schemas/Rewards/properties/hold_days/minimum":                      "0",
		"components/schemas/Rewards/properties/hold_days/maximum":                      n(campaign.MaxHoldDays),
		"components/schemas/Rewards/properties/expire_after_days/minimum":              "0",
		"components/schemas/Rewards/properties/expire_after_days/maximum":              n(campaign.MaxExpireAfterDays),
		"paths//referrals/get/parameters/limit/schema/minimum":                         "1",
		"paths//webhook-deliveries/get/parameters/limit/schema/minimum":                "1",
		"paths//webhook-deliveries/get/parameters/limit/schema/maximum":                n(maxPageSize),
		"paths//rewards/get/parameters/limit/schema/minimum":                           "1",
		"paths//rewards/get/parameters/limit/schema/maximum":                           n(maxPageSize),
		"components/schemas/AccessLinkInput/properties/expires_in_hours/minimum":       "1",
		"components/schemas/AccessLinkInput/properties/expires_in_hours/maximum":       n(int(MaxMemberAccessTTL / time.Hour)),
		"components/schemas/RotateSecretInput/properties/grace_period_hours/minimum":   "0",
		"components/schemas/RotateSecretInput/properties/grace_period_hours/maximum":   n(int(webhookdelivery.MaxGrace / time.Hour)),
		"paths//referrals/get/parameters/limit/schema/maximum":                         n(maxPageSize),
		"paths//sales-entries/get/parameters/limit/schema/minimum":                     "1",
		"paths//sales-entries/get/parameters/limit/schema/maximum":                     n(maxPageSize),
		"paths//review-entries/get/parameters/limit/schema/minimum":                    "1",
		"paths//review-entries/get/parameters/limit/schema/maximum":                    n(maxPageSize),
		"paths//sales-entries/get/parameters/object_id/schema/minimum":                 "1",
		"paths//sales-entries/{id}/get/parameters/id/schema/minimum":                   "1",
		"paths//sales-entries/{id}/rerun/post/parameters/id/schema/minimum":            "1",
		"paths//campaigns/{id}/emails/get/parameters/limit/schema/minimum":             "1",
		"paths//campaigns/{id}/members/get/parameters/limit/schema/minimum":            "1",
		"paths//campaigns/{id}/members/get/parameters/limit/schema/maximum":            n(maxPageSize),
		"paths//campaigns/{id}/members/get/parameters/q/schema/maxLength":              n(maxQueryValueLength),
		"paths//campaigns/{id}/emails/get/parameters/limit/schema/maximum":             n(maxPageSize),
		"components/schemas/InviteInput/properties/member_ids/minItems":                "1",
		"components/schemas/InviteInput/properties/member_ids/maxItems":                n(MaxInviteMembers),
		"components/schemas/EmailSetting/properties/subject/maxLength":                 n(email.MaxSubjectBytes),
		"components/schemas/EmailSetting/properties/text/maxLength":                    n(email.MaxBodyBytes),
		"components/schemas/EmailSetting/properties/html/maxLength":                    n(email.MaxBodyBytes),
	} {
		want[at] = v
	}
	want["paths//attribution/{publishable_key}/get/parameters/publishable_key/schema/pattern"] = campaign.PublishableKeyPattern
	want["paths//reports/leaderboard/get/parameters/limit/schema/minimum"] = "1"
	want["paths//reports/leaderboard/get/parameters/limit/schema/maximum"] = n(reports.MaxLeaderboardSize)
	for _, f := range contactsync.MemberFields() {
		want["components/schemas/SyncMapping/properties/"+f+"/pattern"] = campaign.PropertyNamePattern
	}
	for _, f := range contactsync.ReturnFieldNames() {
		want["components/schemas/SyncReturnFields/properties/"+f+"/pattern"] = campaign.PropertyNamePattern
	}

	var doc any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	collectLimits(doc, found)
	for at, v := range found {
		w, ok := want[at]
		switch {
		case !ok:
			t.Errorf("%s = %s: tie it to the code in this test", at, v)
		case w != v:
			t.Errorf("%s = %s; the code says %s", at, v, w)
		}
	}
	for at, w := range want {
		if _, ok := found[at]; !ok {
			t.Errorf("%s: the code says %s; the document says nothing", at, w)
		}
	}

	// The body limit is stated.
	tooLarge := doc.(map[string]any)["components"].(map[string]any)["responses"].(map[string]any)["BodyTooLarge"].(map[string]any)["description"].(string)
	if !strings.Contains(tooLarge, n(MaxAdminBodyBytes)+" bytes") {
		t.Errorf("BodyTooLarge says %q, not the admin API's %d bytes", tooLarge, MaxAdminBodyBytes)
	}
}

// tagLimits reads the `limit` and `itemlimit` tags of an input type as the
// document's keywords.
func tagLimits(t *testing.T, typ reflect.Type, at string, out map[string]string) {
	t.Helper()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		limit, item := f.Tag.Get("limit"), f.Tag.Get("itemlimit")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		p := at + "/properties/" + name
		switch {
		case ft.Kind() == reflect.Struct:
			continue // its own schema
		case limit == "":
		case ft.Kind() == reflect.String:
			out[p+"/maxLength"] = limit
		case ft.Kind() == reflect.Slice:
			out[p+"/maxItems"] = limit
		case ft.Kind() == reflect.Map:
			out[p+"/maxProperties"] = limit
		default:
			t.Fatalf("%s: a limit on a %s", p, ft)
		}
		switch {
		case item == "":
		case ft.Kind() == reflect.Slice:
			out[p+"/items/maxLength"] = item
		case ft.Kind() == reflect.Map:
			out[p+"/additionalProperties/maxLength"] = item
		}
	}
}

var limitKeywords = []string{"maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern"}

// collectLimits finds every limit keyword in the document by its path (a
// parameter by its name), as collectEnums does for enums.
func collectLimits(doc any, out map[string]string) {
	walkOpenAPI(doc, nil, func(path []string, n map[string]any) {
		for k, v := range n {
			if slices.Contains(limitKeywords, k) {
				out[strings.Join(append(slices.Clone(path), k), "/")] = fmt.Sprint(v)
			}
		}
	})
}
