package activities_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/salesentry"
)

// A referral created as a contact learns its deal from an association, and
// follows its contact through a merge; a deletion is kept in its trail; each
// event written once however often it is retried.
func TestHubSpotObjectEventsKeepTheReferralPointingAtItsRecords(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	a := activities.New(d.Pool)
	ctx := context.Background()
	id := fx.Referral.ID.String()
	contact := int64(501)
	if _, err := d.Queries.ReferralSetHubSpotObjects(ctx, db.ReferralSetHubSpotObjectsParams{ID: fx.Referral.ID, HubspotContactID: &contact}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	apply := func(ev activities.HubSpotObjectEvent) string {
		t.Helper()
		ev.ReferralID, ev.OccurredAt = id, at
		var first string
		for attempt := 0; attempt < 2; attempt++ { // a retry changes nothing more
			out, err := a.ApplyHubSpotObjectEvent(ctx, ev)
			if err != nil {
				t.Fatalf("%s: %v", ev.Kind, err)
			}
			if attempt == 0 {
				first = out
			}
		}
		return first
	}
	held := func() (contact, deal int64) {
		t.Helper()
		r, err := d.Queries.ReferralGetByID(ctx, fx.Referral.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.HubspotContactID != nil {
			contact = *r.HubspotContactID
		}
		if r.HubspotDealID != nil {
			deal = *r.HubspotDealID
		}
		return
	}

	// The deal is associated with the referral's contact (HubSpot sends it
	// from the deal's side): the referral now has that deal.
	out := apply(activities.HubSpotObjectEvent{Kind: salesentry.ChangeAssociation, ObjectType: "deal", ObjectID: 9001,
		ToObjectType: "contact", ToObjectID: contact, IdempotencyKey: "hubspot:assoc-1"})
	if c, dl := held(); c != contact || dl != 9001 || !strings.Contains(out, "linked deal 9001") {
		t.Fatalf("after association: contact %d deal %d, outcome %q", c, dl, out)
	}
	// A second deal does not replace the first.
	out = apply(activities.HubSpotObjectEvent{Kind: salesentry.ChangeAssociation, ObjectType: "contact", ObjectID: contact,
		ToObjectType: "deal", ToObjectID: 9002, IdempotencyKey: "hubspot:assoc-2"})
	if _, dl := held(); dl != 9001 || !strings.Contains(out, "kept deal 9001") {
		t.Fatalf("second deal: deal %d, outcome %q", dl, out)
	}
	// The contact is merged into another: the referral follows the survivor.
	out = apply(activities.HubSpotObjectEvent{Kind: salesentry.ChangeMerge, ObjectType: "contact", ObjectID: contact,
		MergedObjectIDs: []int64{contact, 777}, SurvivingObjectID: 888, IdempotencyKey: "hubspot:merge-1"})
	if c, _ := held(); c != 888 || !strings.Contains(out, "now points to contact 888") {
		t.Fatalf("after merge: contact %d, outcome %q", c, out)
	}
	// A merge of records that are not the referral's changes nothing.
	out = apply(activities.HubSpotObjectEvent{Kind: salesentry.ChangeMerge, ObjectType: "contact", ObjectID: 1,
		MergedObjectIDs: []int64{1, 2}, SurvivingObjectID: 3, IdempotencyKey: "hubspot:merge-2"})
	if c, _ := held(); c != 888 || !strings.Contains(out, "none of the merged") {
		t.Fatalf("unrelated merge: contact %d, outcome %q", c, out)
	}
	out = apply(activities.HubSpotObjectEvent{Kind: salesentry.ChangeDeletion, ObjectType: "deal", ObjectID: 9001, IdempotencyKey: "hubspot:del-1"})
	if !strings.Contains(out, "deleted deal 9001") {
		t.Fatalf("deletion outcome %q", out)
	}

	events, err := d.Queries.ReferralEventListByReferral(ctx, fx.Referral.ID)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, ev := range events {
		kinds[ev.Kind]++
	}
	want := map[string]int{"hubspot_object_associated": 2, "hubspot_object_merged": 2, "hubspot_object_deleted": 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Fatalf("audit trail has %d %s events, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
}

// A change held for review is in the review queue until an admin decides,
// and opening it twice (a retried activity) queues it once.
func TestReferralReviewIsQueuedOnceAndClosed(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	a := activities.New(d.Pool)
	ctx := context.Background()
	review := activities.ReferralReview{ReferralID: fx.Referral.ID.String(), WorkflowID: "referral/" + fx.Referral.ID.String(),
		Reason: "denied_to_approved", Data: map[string]any{"to": "approved"}}
	first, err := a.OpenReferralReview(ctx, review)
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.OpenReferralReview(ctx, review)
	if err != nil || again != first {
		t.Fatalf("second open = %q, %v; want the same entry %q", again, err, first)
	}
	open, err := d.Queries.ReviewEntryListOpen(ctx, fx.Workspace.ID)
	if err != nil || len(open) != 1 || open[0].WorkflowID == nil || *open[0].WorkflowID != review.WorkflowID {
		t.Fatalf("review queue = %+v, %v", open, err)
	}
	if r, _ := d.Queries.ReferralGetByID(ctx, fx.Referral.ID); !r.InReview {
		t.Fatal("referral not flagged in review")
	}
	for i := 0; i < 2; i++ {
		if err := a.CloseReferralReview(ctx, review.ReferralID, "accepted", "admin:1"); err != nil {
			t.Fatal(err)
		}
	}
	if open, _ := d.Queries.ReviewEntryListOpen(ctx, fx.Workspace.ID); len(open) != 0 {
		t.Fatalf("review queue after the decision = %+v", open)
	}
	entry, err := d.Queries.ReviewEntryGetByID(ctx, open[0].ID)
	if err != nil || entry.Status != "resolved" || entry.Decision == nil || *entry.Decision != "accepted" {
		t.Fatalf("closed entry = %+v, %v", entry, err)
	}
	if r, _ := d.Queries.ReferralGetByID(ctx, fx.Referral.ID); r.InReview {
		t.Fatal("referral still flagged in review")
	}
}
