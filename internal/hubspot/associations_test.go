package hubspot_test

import (
	"context"
	"testing"

	"github.com/referflow/referflow/internal/hubspot"
)

// associatedIDs lists the IDs associated with an object, with the type IDs
// of each association.
func associatedIDs(ctx context.Context, t *testing.T, c *hubspot.Client, from hubspot.ObjectType, id string, to hubspot.ObjectType) map[string][]int {
	t.Helper()
	out := map[string][]int{}
	opts := hubspot.AssociationListOptions{Limit: 1}
	for {
		page, err := c.ListAssociations(ctx, from, id, to, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Results {
			for _, typ := range a.Types {
				out[a.ToObjectID] = append(out[a.ToObjectID], typ.TypeID)
			}
		}
		if page.After == "" {
			return out
		}
		opts.After = page.After
	}
}

func hasType(types []int, id int) bool {
	for _, t := range types {
		if t == id {
			return true
		}
	}
	return false
}

func TestDealContactAssociationsBothWays(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)

	contact, err := e.client.Create(ctx, hubspot.Contacts, hubspot.CreateInput{Properties: map[string]string{"email": "lead@example.com", "firstname": "Lead"}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.client.Create(ctx, hubspot.Contacts, hubspot.CreateInput{Properties: map[string]string{"email": "other@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	// A deal created with its contact (deal→contact, type 3).
	deal, err := e.client.Create(ctx, hubspot.Deals, hubspot.CreateInput{
		Properties:   map[string]string{"dealname": "Referral deal", "pipeline": "default", "dealstage": "appointmentscheduled"},
		Associations: []hubspot.AssociationInput{hubspot.AssociateWith(contact.ID, hubspot.DealToContact)},
	})
	if err != nil {
		t.Fatal(err)
	}

	if got := associatedIDs(ctx, t, e.client, hubspot.Deals, deal.ID, hubspot.Contacts); !hasType(got[contact.ID], hubspot.DealToContact) || len(got) != 1 {
		t.Errorf("deal→contacts = %v, want %s with type %d", got, contact.ID, hubspot.DealToContact)
	}
	if got := associatedIDs(ctx, t, e.client, hubspot.Contacts, contact.ID, hubspot.Deals); !hasType(got[deal.ID], hubspot.ContactToDeal) {
		t.Errorf("contact→deals = %v, want %s with type %d", got, deal.ID, hubspot.ContactToDeal)
	}

	// The default association, made afterwards from the contact's side.
	if err := e.client.AssociateDefault(ctx, hubspot.Contacts, other.ID, hubspot.Deals, deal.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.client.AssociateDefault(ctx, hubspot.Contacts, other.ID, hubspot.Deals, deal.ID); err != nil {
		t.Fatalf("associating twice: %v", err)
	}
	got := associatedIDs(ctx, t, e.client, hubspot.Deals, deal.ID, hubspot.Contacts)
	if len(got) != 2 || !hasType(got[other.ID], hubspot.DealToContact) {
		t.Errorf("deal→contacts after the default association = %v", got)
	}

	// Associations on a read.
	read, err := e.client.Get(ctx, hubspot.Deals, deal.ID, hubspot.GetOptions{Associations: []hubspot.ObjectType{hubspot.Contacts}})
	if err != nil {
		t.Fatal(err)
	}
	var onRead []string
	for _, a := range read.Associations["contacts"] {
		onRead = append(onRead, a.ID)
	}
	if len(onRead) < 2 {
		t.Errorf("associations on read = %+v, want both contacts", read.Associations)
	}

	if err := e.client.RemoveAssociations(ctx, hubspot.Deals, deal.ID, hubspot.Contacts, other.ID); err != nil {
		t.Fatal(err)
	}
	if got := associatedIDs(ctx, t, e.client, hubspot.Contacts, other.ID, hubspot.Deals); len(got) != 0 {
		t.Errorf("contact→deals after removal = %v, want none (both directions go)", got)
	}
}

func TestContactCompanyAssociation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := testContext(t)

	company, err := e.client.Create(ctx, hubspot.Companies, hubspot.CreateInput{Properties: map[string]string{"name": "Acme"}})
	if err != nil {
		t.Fatal(err)
	}
	contact, err := e.client.Create(ctx, hubspot.Contacts, hubspot.CreateInput{
		Properties:   map[string]string{"email": "emp@acme.example"},
		Associations: []hubspot.AssociationInput{hubspot.AssociateWith(company.ID, hubspot.ContactToCompany)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := associatedIDs(ctx, t, e.client, hubspot.Contacts, contact.ID, hubspot.Companies); !hasType(got[company.ID], hubspot.ContactToCompany) {
		t.Errorf("contact→companies = %v, want %s with type %d", got, company.ID, hubspot.ContactToCompany)
	}
	if got := associatedIDs(ctx, t, e.client, hubspot.Companies, company.ID, hubspot.Contacts); len(got[contact.ID]) == 0 {
		t.Errorf("company→contacts = %v, want %s", got, contact.ID)
	}

	// A labelled association through the explicit-type call.
	second, err := e.client.Create(ctx, hubspot.Contacts, hubspot.CreateInput{Properties: map[string]string{"email": "two@acme.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.Associate(ctx, hubspot.Contacts, second.ID, hubspot.Companies, company.ID,
		hubspot.AssociationType{Category: hubspot.HubSpotDefined, TypeID: hubspot.ContactToCompany}); err != nil {
		t.Fatal(err)
	}
	if got := associatedIDs(ctx, t, e.client, hubspot.Contacts, second.ID, hubspot.Companies); !hasType(got[company.ID], hubspot.ContactToCompany) {
		t.Errorf("contact→companies after Associate = %v", got)
	}

	// An association to an object that does not exist.
	err = e.client.AssociateDefault(ctx, hubspot.Contacts, contact.ID, hubspot.Companies, "999999999")
	if err == nil {
		t.Fatal("associating with a missing company succeeded")
	}
}
