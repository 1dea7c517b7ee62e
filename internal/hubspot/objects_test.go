package hubspot_test

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/hubspot"
)

func TestContactCRUDAndByEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)

	created, err := e.client.Create(ctx, hubspot.Contacts, hubspot.CreateInput{Properties: map[string]string{
		"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.Properties["email"] != "ada@example.com" || created.CreatedAt.IsZero() || created.Archived {
		t.Fatalf("created = %+v", created)
	}

	got, err := e.client.Get(ctx, hubspot.Contacts, created.ID, hubspot.GetOptions{Properties: []string{"firstname", "lastname", "lifecyclestage"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != created.ID || got.Properties["firstname"] != "Ada" || got.Properties["lastname"] != "Lovelace" {
		t.Fatalf("get by ID = %+v", got)
	}
	if _, ok := got.Properties["lifecyclestage"]; !ok {
		t.Errorf("a property asked for must be present even without a value: %v", got.Properties)
	}

	byEmail, err := e.client.GetContactByEmail(ctx, "ada@example.com", "firstname")
	if err != nil {
		t.Fatal(err)
	}
	if byEmail.ID != created.ID || byEmail.Properties["firstname"] != "Ada" {
		t.Fatalf("get by email = %+v", byEmail)
	}

	updated, err := e.client.Update(ctx, hubspot.Contacts, created.ID, map[string]string{"lifecyclestage": "customer"})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Properties["lifecyclestage"] != "customer" {
		t.Fatalf("updated = %+v", updated)
	}
	if updated.UpdatedAt.Before(created.UpdatedAt) {
		t.Errorf("updatedAt went back: %v then %v", created.UpdatedAt, updated.UpdatedAt)
	}
	got, err = e.client.Get(ctx, hubspot.Contacts, created.ID, hubspot.GetOptions{Properties: []string{"lifecyclestage", "firstname"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Properties["lifecyclestage"] != "customer" || got.Properties["firstname"] != "Ada" {
		t.Fatalf("after PATCH = %v, want lifecyclestage=customer and firstname kept", got.Properties)
	}

	if err := e.client.Archive(ctx, hubspot.Contacts, created.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.Get(ctx, hubspot.Contacts, created.ID, hubspot.GetOptions{})
	nf := as[*hubspot.NotFoundError](t, err)
	if nf.StatusCode != 404 || nf.CorrelationID == "" {
		t.Errorf("not found = %+v", nf)
	}
	_, err = e.client.GetContactByEmail(ctx, "nobody@example.com")
	as[*hubspot.NotFoundError](t, err)
}

func TestDealsAndCompaniesCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)

	deal, err := e.client.Create(ctx, hubspot.Deals, hubspot.CreateInput{Properties: map[string]string{
		"dealname": "Referral: Acme", "pipeline": "default", "dealstage": "appointmentscheduled", "amount": "1200",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Update(ctx, hubspot.Deals, deal.ID, map[string]string{"dealstage": "closedwon"}); err != nil {
		t.Fatal(err)
	}
	got, err := e.client.Get(ctx, hubspot.Deals, deal.ID, hubspot.GetOptions{Properties: []string{"dealstage", "amount"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Properties["dealstage"] != "closedwon" || got.Properties["amount"] != "1200" {
		t.Fatalf("deal = %v", got.Properties)
	}

	company, err := e.client.Create(ctx, hubspot.Companies, hubspot.CreateInput{Properties: map[string]string{"name": "Acme", "domain": "acme.example"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err = e.client.Get(ctx, hubspot.Companies, company.ID, hubspot.GetOptions{Properties: []string{"name", "domain"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Properties["name"] != "Acme" || got.Properties["domain"] != "acme.example" {
		t.Fatalf("company = %v", got.Properties)
	}
	if err := e.client.Archive(ctx, hubspot.Companies, company.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.Get(ctx, hubspot.Companies, company.ID, hubspot.GetOptions{})
	as[*hubspot.NotFoundError](t, err)
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)

	want := map[string]bool{}
	for i := range 7 {
		c, err := e.client.Create(ctx, hubspot.Companies, hubspot.CreateInput{Properties: map[string]string{"name": fmt.Sprintf("Company %d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		want[c.ID] = true
	}

	var sizes []int
	seen := map[string]bool{}
	opts := hubspot.ListOptions{Limit: 3, Properties: []string{"name"}}
	for {
		page, err := e.client.List(ctx, hubspot.Companies, opts)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page.Results))
		for _, o := range page.Results {
			if seen[o.ID] {
				t.Fatalf("object %s on two pages", o.ID)
			}
			seen[o.ID] = true
			if o.Properties["name"] == "" {
				t.Errorf("object %s without the name asked for", o.ID)
			}
		}
		if page.After == "" {
			break
		}
		opts.After = page.After
	}
	if !slices.Equal(sizes, []int{3, 3, 1}) {
		t.Errorf("page sizes = %v, want [3 3 1]", sizes)
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("company %s never listed", id)
		}
	}

	before := e.sim.Requests(e.portal.ID)
	_, err := e.client.List(ctx, hubspot.Companies, hubspot.ListOptions{Limit: 101})
	if !errors.Is(err, hubspot.ErrInvalidRequest) {
		t.Fatalf("limit 101: err = %v, want ErrInvalidRequest", err)
	}
	if e.sim.Requests(e.portal.ID) != before {
		t.Error("a refused list still reached HubSpot")
	}
}

func TestSearchFiltersSortAndPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)

	var inputs []hubspot.CreateInput
	for i := range 25 {
		inputs = append(inputs, hubspot.CreateInput{Properties: map[string]string{
			"email": fmt.Sprintf("lead%02d@example.com", i), "firstname": fmt.Sprintf("Lead%02d", i), "lastname": "Pager",
		}})
	}
	inputs = append(inputs, hubspot.CreateInput{Properties: map[string]string{"email": "other@example.com", "lastname": "Other"}})
	if _, err := e.client.BatchCreate(ctx, hubspot.Contacts, inputs); err != nil {
		t.Fatal(err)
	}

	req := hubspot.SearchRequest{
		FilterGroups: []hubspot.FilterGroup{{Filters: []hubspot.Filter{{PropertyName: "lastname", Operator: hubspot.OpEQ, Value: "Pager"}}}},
		Sort:         &hubspot.Sort{PropertyName: "email", Descending: true},
		Properties:   []string{"email", "lastname"},
		Limit:        10,
	}
	first, err := e.client.Search(ctx, hubspot.Contacts, req)
	if err != nil {
		t.Fatal(err)
	}
	if first.Total != 25 || len(first.Results) != 10 || first.After == "" {
		t.Fatalf("first page: total %d, %d results, after %q", first.Total, len(first.Results), first.After)
	}
	if got := first.Results[0].Properties["email"]; got != "lead24@example.com" {
		t.Errorf("first result sorted descending by email = %s, want lead24@example.com", got)
	}

	var emails []string
	var sizes []int
	err = e.client.SearchAll(ctx, hubspot.Contacts, req, func(p *hubspot.SearchPage) error {
		sizes = append(sizes, len(p.Results))
		for _, o := range p.Results {
			if o.Properties["lastname"] != "Pager" {
				t.Errorf("result %s does not match the filter: %v", o.ID, o.Properties)
			}
			emails = append(emails, o.Properties["email"])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sizes, []int{10, 10, 5}) {
		t.Errorf("page sizes = %v, want [10 10 5]", sizes)
	}
	if !sort.IsSorted(sort.Reverse(sort.StringSlice(emails))) || len(emails) != 25 {
		t.Errorf("emails across pages = %v, want 25 in descending order", emails)
	}

	// OR of two groups.
	page, err := e.client.Search(ctx, hubspot.Contacts, hubspot.SearchRequest{
		FilterGroups: []hubspot.FilterGroup{
			{Filters: []hubspot.Filter{{PropertyName: "email", Operator: hubspot.OpEQ, Value: "lead03@example.com"}}},
			{Filters: []hubspot.Filter{{PropertyName: "email", Operator: hubspot.OpEQ, Value: "other@example.com"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 2 {
		t.Errorf("two ORed groups matched %d, want 2", page.Total)
	}

	stop := errors.New("stop")
	calls := 0
	err = e.client.SearchAll(ctx, hubspot.Contacts, req, func(*hubspot.SearchPage) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("callback error: err = %v after %d calls, want it returned after 1", err, calls)
	}
}

func TestSearchRefusesWhatHubSpotWouldBeforeSending(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)
	before := e.sim.Requests(e.portal.ID)

	sixFilters := hubspot.FilterGroup{Filters: make([]hubspot.Filter, 6)}
	for name, req := range map[string]hubspot.SearchRequest{
		"limit 201":            {Limit: 201},
		"6 groups":             {FilterGroups: make([]hubspot.FilterGroup, 6)},
		"7 filters in a group": {FilterGroups: []hubspot.FilterGroup{{Filters: make([]hubspot.Filter, 7)}}},
		"19 filters in all":    {FilterGroups: []hubspot.FilterGroup{sixFilters, sixFilters, sixFilters, {Filters: make([]hubspot.Filter, 1)}}},
	} {
		_, err := e.client.Search(ctx, hubspot.Contacts, req)
		if !errors.Is(err, hubspot.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", name, err)
		}
	}
	if e.sim.Requests(e.portal.ID) != before {
		t.Error("a refused search still reached HubSpot")
	}
}

func TestSearchAllStopsAtTheCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)

	// Seeded directly: through the API, 10,050 contacts would take 101 batch
	// calls, and paging from the start 51 searches, for no more coverage
	// than starting near the cap (the loop is the one the paging test runs).
	const n = hubspot.SearchResultCap + 50
	for i := range n {
		if _, err := e.sim.CreateObject(e.portal.ID, "contacts", map[string]string{"firstname": fmt.Sprintf("c%05d", i), "lastname": "Crowd"}); err != nil {
			t.Fatal(err)
		}
	}
	req := hubspot.SearchRequest{
		FilterGroups: []hubspot.FilterGroup{{Filters: []hubspot.Filter{{PropertyName: "lastname", Operator: hubspot.OpEQ, Value: "Crowd"}}}},
		Limit:        hubspot.MaxSearchLimit,
		Properties:   []string{"firstname"},
		After:        "9800",
	}

	// The last page under the cap is delivered, then the typed error.
	delivered, calls := 0, 0
	err := e.client.SearchAll(ctx, hubspot.Contacts, req, func(p *hubspot.SearchPage) error {
		calls++
		delivered += len(p.Results)
		return nil
	})
	capErr := as[*hubspot.SearchCapError](t, err)
	if calls != 1 || delivered != 200 || capErr.Total != n || capErr.Delivered != 200 {
		t.Errorf("%d pages, %d delivered, cap error %+v; want 1 page of 200 and the cap error with total %d", calls, delivered, capErr, n)
	}
	if !strings.Contains(capErr.Error(), "narrow the filter") {
		t.Errorf("cap error %q does not tell the caller what to do", capErr.Error())
	}

	// A cursor already at the cap: HubSpot's 400 becomes the same typed error.
	req.After = "10000"
	err = e.client.SearchAll(ctx, hubspot.Contacts, req, func(*hubspot.SearchPage) error {
		t.Error("a page was delivered past the cap")
		return nil
	})
	as[*hubspot.SearchCapError](t, err)
}
