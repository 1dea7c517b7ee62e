package salesentry_test

import (
	"fmt"
	"time"

	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/salesentry"
)

// A deal's stage change becomes the hubspot-change signal for the referral
// holding the deal; a creation changes nothing a referral holds.
func ExampleEntry_ChangeFor() {
	entry := salesentry.Entry{
		ID: 81, SubscriptionType: "deal.propertyChange", ObjectType: hubspotobject.Deal, ObjectID: 5102,
		PropertyName: "dealstage", PropertyValue: "closedwon", DedupeKey: "9f2c",
		OccurredAt: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC),
	}
	change, ok := entry.ChangeFor(entry.Object())
	fmt.Println(ok, change.Kind, change.ObjectType, change.ObjectID, change.Property, change.Value, change.SalesEntryID)

	entry.SubscriptionType, entry.PropertyName, entry.PropertyValue = "deal.creation", "", ""
	_, ok = entry.ChangeFor(entry.Object())
	fmt.Println(ok)
	// Output:
	// true property_change deal 5102 dealstage closedwon 81
	// false
}

// An association reaches each referral from its own record's side.
func ExampleEntry_ChangeFor_association() {
	contact := hubspotobject.Ref{Type: hubspotobject.Contact, ID: 5}
	deal := hubspotobject.Ref{Type: hubspotobject.Deal, ID: 8}
	entry := salesentry.Entry{
		ID: 82, SubscriptionType: "contact.associationChange", ObjectType: hubspotobject.Contact, ObjectID: 5,
		AssociationFrom: contact, AssociationTo: deal,
	}
	fromDeal, _ := entry.ChangeFor(deal)
	fromContact, _ := entry.ChangeFor(contact)
	fmt.Println(fromDeal.ObjectType, fromDeal.ObjectID, "with", fromDeal.ToObjectType, fromDeal.ToObjectID)
	fmt.Println(fromContact.ObjectType, fromContact.ObjectID, "with", fromContact.ToObjectType, fromContact.ToObjectID)
	// Output:
	// deal 8 with contact 5
	// contact 5 with deal 8
}

// HubSpot's privacy deletion is its own kind (the person is erased); the
// generic object.* events read like the named ones.
func ExampleKindOf() {
	fmt.Println(salesentry.KindOf("contact.privacyDeletion"), salesentry.KindOf("object.propertyChange"), salesentry.KindOf("deal.merge"))
	// Output: privacyDeletion propertyChange merge
}
