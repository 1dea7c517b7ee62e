package hubspotobject_test

import (
	"testing"

	"github.com/referflow/referflow/internal/hubspotobject"
)

func TestTypesAreNamedAsHubSpotNamesThem(t *testing.T) {
	for _, c := range []struct {
		t              hubspotobject.Type
		plural, typeID string
	}{
		{hubspotobject.Contact, "contacts", "0-1"},
		{hubspotobject.Company, "companies", "0-2"},
		{hubspotobject.Deal, "deals", "0-3"},
	} {
		if !c.t.Known() || c.t.Plural() != c.plural || hubspotobject.FromTypeID(c.typeID) != c.t {
			t.Errorf("%s: known %v, plural %q, type ID %s → %q", c.t, c.t.Known(), c.t.Plural(), c.typeID, hubspotobject.FromTypeID(c.typeID))
		}
	}
	if hubspotobject.Type("ticket").Known() || hubspotobject.FromTypeID("0-5") != "" {
		t.Error("tickets are not records referflow links referrals to")
	}
}

// A referral holds at most one record of each type, in its own column.
func TestIDsHoldOneRecordOfEachType(t *testing.T) {
	var ids hubspotobject.IDs
	if !ids.Set(hubspotobject.Deal, 42) || !ids.Set(hubspotobject.Contact, 7) {
		t.Fatal("Set refused a known type")
	}
	if ids.Set("ticket", 9) {
		t.Fatal("Set took a ticket")
	}
	if ids.Of(hubspotobject.Deal) != 42 || ids.Of(hubspotobject.Contact) != 7 || ids.Of(hubspotobject.Company) != 0 || ids.Company != nil {
		t.Fatalf("ids = %+v", ids)
	}
	if *ids.Deal != 42 || *ids.Contact != 7 {
		t.Fatalf("columns: deal %d, contact %d", *ids.Deal, *ids.Contact)
	}
}
