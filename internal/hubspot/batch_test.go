package hubspot_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/referflow/referflow/internal/hubspot"
)

func TestBatchSplitsIntoCallsOfAHundredAndMerges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)

	inputs := make([]hubspot.CreateInput, 250)
	for i := range inputs {
		inputs[i] = hubspot.CreateInput{Properties: map[string]string{"email": fmt.Sprintf("m%03d@example.com", i), "firstname": "Member"}}
	}
	calls := func(do func()) int {
		before := e.sim.Requests(e.portal.ID)
		do()
		return e.sim.Requests(e.portal.ID) - before
	}

	var created *hubspot.BatchResult[hubspot.Object]
	if n := calls(func() {
		var err error
		if created, err = e.client.BatchCreate(ctx, hubspot.Contacts, inputs); err != nil {
			t.Fatal(err)
		}
	}); n != 3 {
		t.Errorf("batch create of 250 made %d calls, want 3", n)
	}
	if len(created.Results) != 250 || len(created.Errors) != 0 {
		t.Fatalf("batch create: %d results, %d errors", len(created.Results), len(created.Errors))
	}
	ids := make([]string, len(created.Results))
	for i, o := range created.Results {
		ids[i] = o.ID
	}
	if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 250 {
		t.Fatal("batch create returned duplicate IDs")
	}

	var read *hubspot.BatchResult[hubspot.Object]
	if n := calls(func() {
		var err error
		if read, err = e.client.BatchRead(ctx, hubspot.Contacts, ids, hubspot.BatchReadOptions{Properties: []string{"email"}}); err != nil {
			t.Fatal(err)
		}
	}); n != 3 {
		t.Errorf("batch read of 250 made %d calls, want 3", n)
	}
	if len(read.Results) != 250 {
		t.Fatalf("batch read: %d results", len(read.Results))
	}

	updates := make([]hubspot.UpdateInput, len(ids))
	for i, id := range ids {
		updates[i] = hubspot.UpdateInput{ID: id, Properties: map[string]string{"lifecyclestage": "lead"}}
	}
	var updated *hubspot.BatchResult[hubspot.Object]
	if n := calls(func() {
		var err error
		if updated, err = e.client.BatchUpdate(ctx, hubspot.Contacts, updates); err != nil {
			t.Fatal(err)
		}
	}); n != 3 {
		t.Errorf("batch update of 250 made %d calls, want 3", n)
	}
	if len(updated.Results) != 250 {
		t.Fatalf("batch update: %d results", len(updated.Results))
	}
	for _, o := range updated.Results {
		if o.Properties["lifecyclestage"] != "lead" {
			t.Fatalf("updated %s: %v", o.ID, o.Properties)
		}
	}

	// Upsert by email: 250 existing plus 50 new, in 3 calls.
	upserts := make([]hubspot.UpsertInput, 300)
	for i := range upserts {
		upserts[i] = hubspot.UpsertInput{ID: fmt.Sprintf("m%03d@example.com", i), IDProperty: "email", Properties: map[string]string{"lastname": "Upserted"}}
	}
	var upserted *hubspot.BatchResult[hubspot.UpsertedObject]
	if n := calls(func() {
		var err error
		if upserted, err = e.client.BatchUpsert(ctx, hubspot.Contacts, upserts); err != nil {
			t.Fatal(err)
		}
	}); n != 3 {
		t.Errorf("batch upsert of 300 made %d calls, want 3", n)
	}
	news := 0
	for _, o := range upserted.Results {
		if o.New {
			news++
		}
		if o.Properties["lastname"] != "Upserted" {
			t.Fatalf("upserted %s: %v", o.ID, o.Properties)
		}
	}
	if len(upserted.Results) != 300 || news != 50 {
		t.Errorf("upsert: %d results, %d new; want 300 and 50", len(upserted.Results), news)
	}

	// By email, through idProperty.
	byEmail, err := e.client.BatchRead(ctx, hubspot.Contacts, []string{"m000@example.com", "m299@example.com"}, hubspot.BatchReadOptions{IDProperty: "email", Properties: []string{"email", "lastname"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(byEmail.Results) != 2 {
		t.Errorf("batch read by email: %d results", len(byEmail.Results))
	}
}

func TestBatchPartialFailureIsResultsPlusErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)

	a, err := e.client.Create(ctx, hubspot.Contacts, hubspot.CreateInput{Properties: map[string]string{"email": "a@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.client.Create(ctx, hubspot.Contacts, hubspot.CreateInput{Properties: map[string]string{"email": "b@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.client.BatchRead(ctx, hubspot.Contacts, []string{a.ID, "999999999", b.ID}, hubspot.BatchReadOptions{Properties: []string{"email"}})
	if err != nil {
		t.Fatalf("a 207 must not fail the call: %v", err)
	}
	if len(res.Results) != 2 {
		t.Errorf("results = %d, want 2", len(res.Results))
	}
	if len(res.Errors) != 1 {
		t.Fatalf("errors = %+v, want one", res.Errors)
	}
	be := res.Errors[0]
	if be.Category != "OBJECT_NOT_FOUND" || !slices.Contains(be.IDs(), "999999999") {
		t.Errorf("batch error = %+v, want OBJECT_NOT_FOUND naming 999999999", be)
	}
}
