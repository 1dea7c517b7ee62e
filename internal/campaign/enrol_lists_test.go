package campaign

import (
	"slices"
	"strings"
	"testing"
)

func TestEnrolListIDsAreValidated(t *testing.T) {
	s := dealCampaign()
	s.ProcessRules.EnrolMembers = &EnrolMembers{OnListIDs: []string{"12", "abc", "12", " 7", ""}}
	got := fields(s.Validate())
	at := "process_rules.enrol_members.on_list_ids"
	if _, bad := got[at+"[0]"]; bad {
		t.Errorf("list 12 refused: %v", got)
	}
	for _, i := range []string{"[1]", "[3]", "[4]"} {
		if !strings.Contains(got[at+i], "must be a HubSpot list ID") {
			t.Errorf("%s%s: got %q, want a list ID problem", at, i, got[at+i])
		}
	}
	if !strings.Contains(got[at+"[2]"], "already named") {
		t.Errorf("duplicate list not refused: %q", got[at+"[2]"])
	}
	many := make([]string, MaxEnrolListIDs+1)
	for i := range many {
		many[i] = strings.Repeat("1", i+1)
	}
	s.ProcessRules.EnrolMembers.OnListIDs = many
	if msg := fields(s.Validate())[at]; !strings.Contains(msg, "at most") {
		t.Errorf("%d lists accepted: %q", len(many), msg)
	}
}

func TestEnrolListsNeedTheJournalSubscription(t *testing.T) {
	a, b := dealCampaign(), dealCampaign()
	a.ProcessRules.EnrolMembers = &EnrolMembers{OnListIDs: []string{"30", "4"}}
	b.ProcessRules.EnrolMembers = &EnrolMembers{OnListIDs: []string{"4", "100"}}
	subs := a.WebhookSubscriptions()
	last := subs[len(subs)-1]
	if last.Type != JournalListMembership || !last.Journal || !slices.Equal(last.ListIDs, []string{"4", "30"}) {
		t.Fatalf("campaign's journal subscription: %+v", last)
	}
	merged := MergeWebhookSubscriptions([]CampaignSubscriptions{{"A", subs}, {"B", b.WebhookSubscriptions()}})
	j := merged[len(merged)-1]
	if !j.Journal || !slices.Equal(j.ListIDs, []string{"4", "30", "100"}) || len(j.NeededBy) != 2 || !strings.HasPrefix(j.NeededBy[1], "B: ") {
		t.Fatalf("merged journal subscription: %+v", j)
	}
	if got := EnrolListIDs(a, b); !slices.Equal(got, []string{"4", "30", "100"}) {
		t.Fatalf("EnrolListIDs = %v", got)
	}
	if (&EnrolMembers{OnListIDs: []string{"4"}}).EnrolsOnList("40") || !(&EnrolMembers{OnListIDs: []string{"4"}}).EnrolsOnList("4") {
		t.Fatal("EnrolsOnList matches the wrong lists")
	}
}
