package hubspot_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/referflow/referflow/internal/hubspot"
)

// rawCall makes a HubSpot call the client has no method for (referflow reads
// lists, it does not make them), as an admin's tool would.
func rawCall(t *testing.T, e *env, method, path string, body, out any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.portal.PrivateAppToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var msg bytes.Buffer
		_, _ = msg.ReadFrom(resp.Body)
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, msg.String())
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

func createList(t *testing.T, e *env, name, processingType string) string {
	t.Helper()
	body := map[string]any{"name": name, "objectTypeId": hubspot.ContactObjectTypeID, "processingType": processingType}
	if processingType == hubspot.ListDynamic {
		body["filterBranch"] = map[string]any{
			"filterBranchType": "OR",
			"filters":          []any{},
			"filterBranches": []any{map[string]any{
				"filterBranchType": "AND",
				"filterBranches":   []any{},
				"filters": []any{map[string]any{
					"filterType": "PROPERTY", "property": "lifecyclestage",
					"operation": map[string]any{"operationType": "ENUMERATION", "operator": "IS_ANY_OF", "values": []string{"customer"}},
				}},
			}},
		}
	}
	var out struct {
		List struct {
			ListID json.Number `json:"listId"`
		} `json:"list"`
	}
	rawCall(t, e, http.MethodPost, "/crm/lists/2026-03", body, &out)
	if out.List.ListID == "" {
		t.Fatalf("creating list %q returned no ID", name)
	}
	return out.List.ListID.String()
}

func TestListsSearchGetAndMemberships(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)

	var ids []string
	for i := range 7 {
		stage := "lead"
		if i%2 == 0 {
			stage = "customer"
		}
		c, err := e.client.Create(ctx, hubspot.Contacts, hubspot.CreateInput{Properties: map[string]string{
			"email": fmt.Sprintf("l%d@example.com", i), "lifecyclestage": stage,
		}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	manualID := createList(t, e, "Referral advocates", hubspot.ListManual)
	rawCall(t, e, http.MethodPut, "/crm/lists/2026-03/"+manualID+"/memberships/add", ids[:5], nil)
	dynamicID := createList(t, e, "Customers", hubspot.ListDynamic)

	// Search by name and by processing type.
	page, err := e.client.SearchLists(ctx, hubspot.ListSearchRequest{Query: "advocates"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Lists) != 1 || page.Lists[0].ListID != manualID || page.Lists[0].ProcessingType != hubspot.ListManual {
		t.Fatalf("search by name = %+v", page)
	}
	page, err = e.client.SearchLists(ctx, hubspot.ListSearchRequest{ProcessingTypes: []string{hubspot.ListDynamic}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Lists) != 1 || page.Lists[0].ListID != dynamicID {
		t.Fatalf("search by processing type = %+v", page)
	}
	page, err = e.client.SearchLists(ctx, hubspot.ListSearchRequest{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Lists) != 1 || !page.HasMore || page.Total != 2 {
		t.Fatalf("first page of one = %+v, want one list, more to come, 2 in all", page)
	}
	next, err := e.client.SearchLists(ctx, hubspot.ListSearchRequest{Count: 1, Offset: page.Offset})
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Lists) != 1 || next.HasMore || next.Lists[0].ListID == page.Lists[0].ListID {
		t.Fatalf("second page of one = %+v", next)
	}

	list, err := e.client.GetList(ctx, manualID)
	if err != nil {
		t.Fatal(err)
	}
	if list.Name != "Referral advocates" || list.ObjectTypeID != hubspot.ContactObjectTypeID || list.ProcessingType != hubspot.ListManual {
		t.Errorf("get list = %+v", list)
	}
	_, err = e.client.GetList(ctx, "987654")
	as[*hubspot.NotFoundError](t, err)

	members := func(listID string) []string {
		var out []string
		opts := hubspot.MembershipOptions{Limit: 2}
		for {
			p, err := e.client.ListMemberships(ctx, listID, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Results) > 2 {
				t.Fatalf("page of %d members with limit 2", len(p.Results))
			}
			for _, m := range p.Results {
				out = append(out, m.RecordID)
			}
			if p.After == "" {
				return out
			}
			opts.After = p.After
		}
	}
	if got := members(manualID); len(got) != 5 || !sameSet(got, ids[:5]) {
		t.Errorf("manual list members = %v, want %v", got, ids[:5])
	}
	want := []string{ids[0], ids[2], ids[4], ids[6]}
	if got := members(dynamicID); !sameSet(got, want) {
		t.Errorf("dynamic list members = %v, want the customers %v", got, want)
	}
	if _, err := e.client.ListMemberships(ctx, manualID, hubspot.MembershipOptions{Limit: 251}); err == nil {
		t.Error("a memberships limit of 251 was not refused")
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		seen[x]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}
