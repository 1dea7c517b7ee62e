package activities_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// The member of the leads world (SeedReferral) is maya@example.com with one
// pending referral, leo@example.org.

func (w *leadWorld) writeMember(t *testing.T, memberID uuid.UUID) activities.MemberWriteResult {
	t.Helper()
	res, err := w.acts.WriteMemberToHubSpot(context.Background(), memberID.String())
	if err != nil {
		t.Fatalf("WriteMemberToHubSpot: %v", err)
	}
	return res
}

func (w *leadWorld) member(t *testing.T) db.Member {
	t.Helper()
	m, err := w.db.Queries.MemberGetByID(context.Background(), w.fx.Member.ID)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// addReferral adds a referral of the world's member in the given status and
// recomputes the member's counts, as the referral workflows do.
func (w *leadWorld) addReferral(t *testing.T, email, status string) db.Member {
	t.Helper()
	ctx := context.Background()
	r, err := w.db.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
		WorkspaceID: w.fx.Workspace.ID, CampaignID: w.fx.Campaign.ID, MemberID: w.fx.Member.ID,
		LeadEmail: email, LeadEmailNormalized: email, Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	if status != "pending" {
		if _, err := w.db.Queries.ReferralUpdateStatus(ctx, db.ReferralUpdateStatusParams{ID: r.ID, ExpectedStatus: "pending", NewStatus: status}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := w.db.Queries.MemberRefreshReferralCounts(ctx, w.fx.Member.ID)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// memberContact is a contact HubSpot has for the member.
func (w *leadWorld) memberContact(t *testing.T) string {
	t.Helper()
	id, err := w.sim.CreateObject(w.portal, "contacts", map[string]string{"email": "maya@example.com", "firstname": "Maya"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// checkMemberContact checks that the contact holds the member row's values.
func (w *leadWorld) checkMemberContact(t *testing.T, contactID string, m db.Member) {
	t.Helper()
	c, ok := w.sim.GetObject(w.portal, "contacts", contactID)
	if !ok {
		t.Fatalf("contact %s not in HubSpot", contactID)
	}
	for prop, want := range map[string]string{
		hubspotobject.PropReferralCode:           m.ReferralCode,
		hubspotobject.PropReferralLink:           leadPublicURL + "/r/" + m.ReferralCode,
		hubspotobject.PropReferralCount:          strconv.Itoa(int(m.ReferralCount)),
		hubspotobject.PropConvertedReferralCount: strconv.Itoa(int(m.ConvertedReferralCount)),
		"firstname":                              "Maya", // untouched
	} {
		if got := c.Properties[prop]; got != want {
			t.Errorf("contact %s: %s = %q, want %q", contactID, prop, got, want)
		}
	}
}

func TestWriteMemberFindsTheContactByEmailThenWritesByID(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	id := w.memberContact(t)
	m := w.addReferral(t, "ana@example.org", "approved")
	if m.ReferralCount != 2 || m.ConvertedReferralCount != 1 {
		t.Fatalf("member counts %d/%d, want 2/1", m.ReferralCount, m.ConvertedReferralCount)
	}

	res := w.writeMember(t, m.ID)
	if res.Skipped != "" || res.ContactID != id || !res.ContactLinked {
		t.Fatalf("first write: %+v, want contact %s linked", res, id)
	}
	m = w.member(t)
	if got := stored(m.HubspotContactID); got != id {
		t.Fatalf("stored contact ID %q, want %s", got, id)
	}
	w.checkMemberContact(t, id, m)
	if res.Properties[hubspotobject.PropReferralCount] != "2" || res.Properties[hubspotobject.PropConvertedReferralCount] != "1" {
		t.Fatalf("written properties %v", res.Properties)
	}

	// The second write goes by the stored ID: the contact's email changed in
	// HubSpot and the member's counts changed in referflow.
	if err := w.sim.UpdateObject(w.portal, "contacts", id, map[string]string{"email": "maya.new@example.com"}); err != nil {
		t.Fatal(err)
	}
	m = w.addReferral(t, "bo@example.org", "approved")
	res = w.writeMember(t, m.ID)
	if res.Skipped != "" || res.ContactID != id || res.ContactLinked {
		t.Fatalf("second write: %+v, want contact %s by ID", res, id)
	}
	w.checkMemberContact(t, id, m)
	if c, _ := w.sim.GetObject(w.portal, "contacts", id); c.Properties[hubspotobject.PropReferralCount] != "3" || c.Properties[hubspotobject.PropConvertedReferralCount] != "2" {
		t.Fatalf("counts in HubSpot %s/%s, want 3/2", c.Properties[hubspotobject.PropReferralCount], c.Properties[hubspotobject.PropConvertedReferralCount])
	}
	if n := len(w.sim.Objects(w.portal, "contacts")); n != 1 {
		t.Fatalf("%d contacts in HubSpot, want 1", n)
	}

	// Idempotent: the same values again change nothing.
	again := w.writeMember(t, m.ID)
	if again.ContactID != id || again.ContactLinked || again.Skipped != "" {
		t.Fatalf("third write: %+v", again)
	}
	w.checkMemberContact(t, id, w.member(t))
}

func TestWriteMemberWithoutAContactIsSkipped(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	// Another person's contact: not the member's.
	other, err := w.sim.CreateObject(w.portal, "contacts", map[string]string{"email": "someone@example.com"})
	if err != nil {
		t.Fatal(err)
	}

	res := w.writeMember(t, w.fx.Member.ID)
	if res.Skipped != "no HubSpot contact with the member's email" || res.ContactID != "" || res.ContactLinked || res.Properties != nil {
		t.Fatalf("result %+v, want skipped", res)
	}
	if got := stored(w.member(t).HubspotContactID); got != "" {
		t.Fatalf("stored contact ID %q, want none", got)
	}
	if n := len(w.sim.Objects(w.portal, "contacts")); n != 1 {
		t.Fatalf("%d contacts in HubSpot, want 1 (no contact created)", n)
	}
	if c, _ := w.sim.GetObject(w.portal, "contacts", other); c.Properties[hubspotobject.PropReferralCode] != "" {
		t.Fatalf("another person's contact got the member's code: %v", c.Properties)
	}
}

func TestWriteMemberWhoseContactWasDeletedFindsItAgainByEmail(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	old := w.memberContact(t)
	if res := w.writeMember(t, w.fx.Member.ID); res.ContactID != old {
		t.Fatalf("first write: %+v", res)
	}
	if err := w.sim.ArchiveObject(w.portal, "contacts", old); err != nil {
		t.Fatal(err)
	}

	// Deleted, and no other contact has the email: skipped, nothing created.
	res := w.writeMember(t, w.fx.Member.ID)
	if res.Skipped == "" || res.ContactID != "" {
		t.Fatalf("write after delete: %+v, want skipped", res)
	}
	if n := len(w.sim.Objects(w.portal, "contacts")); n != 0 {
		t.Fatalf("%d contacts in HubSpot, want 0", n)
	}

	// Recreated with the member's email: found and stored.
	recreated := w.memberContact(t)
	res = w.writeMember(t, w.fx.Member.ID)
	if res.ContactID != recreated || !res.ContactLinked {
		t.Fatalf("write after recreate: %+v, want contact %s linked", res, recreated)
	}
	m := w.member(t)
	if got := stored(m.HubspotContactID); got != recreated {
		t.Fatalf("stored contact ID %q, want %s", got, recreated)
	}
	w.checkMemberContact(t, recreated, m)
}

func TestWriteMemberWhoseContactWasMergedStoresTheSurvivor(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	loser := w.memberContact(t)
	if res := w.writeMember(t, w.fx.Member.ID); res.ContactID != loser {
		t.Fatalf("first write: %+v", res)
	}
	winner, err := w.sim.CreateObject(w.portal, "contacts", map[string]string{"email": "maya.work@example.com", "firstname": "Maya"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.sim.MergeObjects(w.portal, "contacts", winner, loser); err != nil {
		t.Fatal(err)
	}

	res := w.writeMember(t, w.fx.Member.ID)
	if res.ContactID != winner || !res.ContactLinked {
		t.Fatalf("write after merge: %+v, want contact %s linked", res, winner)
	}
	m := w.member(t)
	if got := stored(m.HubspotContactID); got != winner {
		t.Fatalf("stored contact ID %q, want %s", got, winner)
	}
	w.checkMemberContact(t, winner, m)
}

func TestWriteMemberErrors(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	ctx := context.Background()

	// A workspace without a HubSpot connection: not retryable.
	unconnected := w.db.SeedReferral(t)
	_, err := w.acts.WriteMemberToHubSpot(ctx, unconnected.Member.ID.String())
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != hubspot.ErrorTypeConnectionBroken || !appErr.NonRetryable() {
		t.Fatalf("unconnected workspace: %v, want non-retryable %s", err, hubspot.ErrorTypeConnectionBroken)
	}

	_, err = w.acts.WriteMemberToHubSpot(ctx, uuid.NewString())
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrorTypeMemberNotFound || !appErr.NonRetryable() {
		t.Fatalf("unknown member: %v, want non-retryable %s", err, activities.ErrorTypeMemberNotFound)
	}

	_, err = w.acts.WriteMemberToHubSpot(ctx, "not-a-uuid")
	if !errors.As(err, &appErr) || !appErr.NonRetryable() {
		t.Fatalf("invalid member ID: %v, want non-retryable", err)
	}

	noURL := *w.acts
	noURL.PublicURL = ""
	_, err = noURL.WriteMemberToHubSpot(ctx, w.fx.Member.ID.String())
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrorTypeHubSpotNotConfigured || !appErr.NonRetryable() {
		t.Fatalf("no public URL: %v, want non-retryable %s", err, activities.ErrorTypeHubSpotNotConfigured)
	}
}
