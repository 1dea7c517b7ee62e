package campaign

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/referflow/referflow/internal/hubspotobject"
)

// WebhookSubscription is one subscription HubSpot's app needs so that the
// Sales Receiver hears what a campaign's rules act on. HubSpot sends only
// the events an app subscribes to (a propertyChange subscription names one
// property), and nothing tells referflow which ones the admin set up: so the
// campaign says what it needs, and the connection status lists the
// workspace's whole set to paste into the app's Webhooks page.
type WebhookSubscription struct {
	// Type is HubSpot's subscription type, e.g. "deal.propertyChange".
	Type string `json:"type"`
	// Property is the property of a propertyChange subscription.
	Property string `json:"property,omitempty"`
	// ListIDs are the lists of a JournalListMembership subscription.
	ListIDs []string `json:"list_ids,omitempty"`
	// Journal is set for a subscription of HubSpot's webhooks journal, which
	// referflow creates and keeps itself (through the app's client
	// credentials) and polls: nothing to set up on the app's Webhooks page.
	Journal bool `json:"journal,omitempty"`
	// NeededBy lists the settings fields that need it, e.g.
	// "status_rules.qualified".
	NeededBy []string `json:"needed_by"`
}

// JournalListMembership is the webhooks journal's subscription type for
// records added to and removed from lists: the only way HubSpot reports a
// contact added to a list (classic webhooks have no such event).
const JournalListMembership = "LIST_MEMBERSHIP"

// EnrolListIDs are the HubSpot lists whose additions enrol members in any
// of the settings, each once, sorted.
func EnrolListIDs(all ...Settings) []string {
	var out []string
	for _, s := range all {
		if e := s.ProcessRules.EnrolMembers; e != nil {
			for _, id := range e.OnListIDs {
				if !slices.Contains(out, id) {
					out = append(out, id)
				}
			}
		}
	}
	slices.SortFunc(out, compareListIDs)
	return out
}

// compareListIDs orders list IDs as numbers.
func compareListIDs(a, b string) int {
	return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b))
}

// The event kinds of HubSpot's subscription types that the Sales Receiver
// acts on.
const (
	subCreation          = "creation"
	subPropertyChange    = "propertyChange"
	subDeletion          = "deletion"
	subMerge             = "merge"
	subAssociationChange = "associationChange"
)

// WebhookSubscriptions lists the subscriptions the settings' rules need,
// each once, sorted by type and property:
//
//   - a status rule, a property update, the external ID property: the
//     propertyChange of the property they read;
//   - a matching rule: the creation of its object and the propertyChange of
//     its property (a code written later is matched too);
//   - the records leads create (and every object a rule reads): creation
//     (a lead's referral ID, written by referflow, is matched on it),
//     deletion and merge, which keep referrals pointing at live records;
//   - a rule on an object the leads action does not create (a deal stage
//     for a campaign that creates contacts): that object's
//     associationChange, through which the record joins the referral when
//     sales associates it with the lead's record;
//   - enrolling members: the creation of contacts, the propertyChange of
//     their lifecyclestage, and the journal's LIST_MEMBERSHIP subscription
//     of the lists chosen (Journal: referflow keeps it itself).
func (s Settings) WebhookSubscriptions() []WebhookSubscription {
	need := map[[2]string][]string{}
	add := func(object hubspotobject.Type, kind, property, field string) {
		if !object.Known() {
			return
		}
		key := [2]string{string(object) + "." + kind, property}
		if !slices.Contains(need[key], field) {
			need[key] = append(need[key], field)
		}
	}
	created := objectsFor(s.Leads)
	lifecycle := func(object hubspotobject.Type, field string) {
		add(object, subDeletion, "", field)
		add(object, subMerge, "", field)
		if len(created) > 0 && !slices.Contains(created, object) {
			add(object, subAssociationChange, "", field)
		}
	}
	for _, o := range created {
		add(o, subCreation, "", "leads.action")
		add(o, subDeletion, "", "leads.action")
		add(o, subMerge, "", "leads.action")
	}
	for _, rule := range []struct {
		name string
		r    *StatusRule
	}{{"qualified", s.StatusRules.Qualified}, {"approved", s.StatusRules.Approved}, {"denied", s.StatusRules.Denied}} {
		if rule.r == nil {
			continue
		}
		field := "status_rules." + rule.name
		add(rule.r.Object, subPropertyChange, rule.r.Property, field)
		lifecycle(rule.r.Object, field)
	}
	for i, u := range s.PropertyUpdates.Mappings {
		field := "property_updates.mappings[" + strconv.Itoa(i) + "]"
		add(u.Object, subPropertyChange, u.Property, field)
		lifecycle(u.Object, field)
	}
	if p := s.ProcessRules.ExternalIDProperty; p != "" {
		for _, o := range created {
			add(o, subPropertyChange, p, "process_rules.external_id_property")
		}
	}
	for i, r := range s.ProcessRules.MatchingRules {
		field := "process_rules.matching_rules[" + strconv.Itoa(i) + "]"
		add(r.Object, subCreation, "", field)
		add(r.Object, subPropertyChange, r.Property, field)
	}
	if e := s.ProcessRules.EnrolMembers; e != nil {
		if e.OnContactCreated {
			add(hubspotobject.Contact, subCreation, "", "process_rules.enrol_members.on_contact_created")
		}
		if len(e.OnLifecycleStages) > 0 {
			add(hubspotobject.Contact, subPropertyChange, LifecycleStageProperty, "process_rules.enrol_members.on_lifecycle_stages")
		}
	}
	out := sortedSubscriptions(need)
	if lists := EnrolListIDs(s); len(lists) > 0 {
		out = append(out, WebhookSubscription{Type: JournalListMembership, ListIDs: lists, Journal: true, NeededBy: []string{"process_rules.enrol_members.on_list_ids"}})
	}
	return out
}

// CampaignSubscriptions are one campaign's subscriptions, under its name.
type CampaignSubscriptions struct {
	Campaign      string
	Subscriptions []WebhookSubscription
}

// MergeWebhookSubscriptions merges several campaigns' subscriptions into one
// list, each subscription once, its NeededBy naming the campaign of each
// need ("Spring referrals: status_rules.qualified"), in the campaigns' order.
func MergeWebhookSubscriptions(campaigns []CampaignSubscriptions) []WebhookSubscription {
	need := map[[2]string][]string{}
	var journal *WebhookSubscription
	for _, c := range campaigns {
		for _, sub := range c.Subscriptions {
			if sub.Journal {
				if journal == nil {
					journal = &WebhookSubscription{Type: sub.Type, Journal: true}
				}
				for _, id := range sub.ListIDs {
					if !slices.Contains(journal.ListIDs, id) {
						journal.ListIDs = append(journal.ListIDs, id)
					}
				}
				for _, f := range sub.NeededBy {
					journal.NeededBy = append(journal.NeededBy, c.Campaign+": "+f)
				}
				continue
			}
			key := [2]string{sub.Type, sub.Property}
			for _, f := range sub.NeededBy {
				need[key] = append(need[key], c.Campaign+": "+f)
			}
		}
	}
	out := sortedSubscriptions(need)
	if journal != nil {
		slices.SortFunc(journal.ListIDs, compareListIDs)
		out = append(out, *journal)
	}
	return out
}

func sortedSubscriptions(need map[[2]string][]string) []WebhookSubscription {
	out := make([]WebhookSubscription, 0, len(need))
	for key, fields := range need {
		out = append(out, WebhookSubscription{Type: key[0], Property: key[1], NeededBy: fields})
	}
	slices.SortFunc(out, func(a, b WebhookSubscription) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Property, b.Property))
	})
	return out
}
