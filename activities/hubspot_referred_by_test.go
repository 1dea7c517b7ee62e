package activities_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/referral"
)

// A referral whose lead reached HubSpot while its member had no contact is
// labelled once the member gets one: the lead's contact gets the member as
// Referrer (the labels made on the way: this connection never ran the
// setup), its trail a referred_by_labelled event; running again changes
// nothing.
func TestLabelMemberReferralsOnceTheMemberHasAContact(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	ctx := context.Background()
	lead, err := w.sim.CreateObject(w.portal, "contacts", map[string]string{"email": w.fx.Referral.LeadEmail})
	if err != nil {
		t.Fatal(err)
	}
	leadID, _ := strconv.ParseInt(lead, 10, 64)
	if _, err := w.db.Queries.ReferralSetHubSpotObjects(ctx, db.ReferralSetHubSpotObjectsParams{ID: w.fx.Referral.ID, HubspotContactID: &leadID}); err != nil {
		t.Fatal(err)
	}
	// Its workflow found no member contact: it said so.
	out, err := w.acts.AssociateReferredByInHubSpot(ctx, w.fx.Referral.ID.String())
	if err != nil || !out.MemberWaits {
		t.Fatalf("before the member's contact: %+v %v", out, err)
	}
	details, _ := json.Marshal(map[string]any{"skipped": out.Skipped, "member_waits": true})
	key := "referred_by:" + w.fx.Referral.ID.String()
	if _, err := w.db.Queries.ReferralEventInsert(ctx, db.ReferralEventInsertParams{
		ReferralID: w.fx.Referral.ID, WorkspaceID: w.fx.Workspace.ID, Kind: string(referral.EventReferredByNotLabelled), Actor: "system", Details: details, IdempotencyKey: &key,
	}); err != nil {
		t.Fatal(err)
	}
	if res, err := w.acts.LabelMemberReferralsInHubSpot(ctx, w.fx.Member.ID.String()); err != nil || res.Labelled != 0 {
		t.Fatalf("a member still without a contact: %+v %v", res, err)
	}

	member, err := w.sim.CreateObject(w.portal, "contacts", map[string]string{"email": w.fx.Member.Email})
	if err != nil {
		t.Fatal(err)
	}
	memberID, _ := strconv.ParseInt(member, 10, 64)
	if _, err := w.db.Queries.MemberSetHubSpotContact(ctx, db.MemberSetHubSpotContactParams{ID: w.fx.Member.ID, HubspotContactID: &memberID}); err != nil {
		t.Fatal(err)
	}
	res, err := w.acts.LabelMemberReferralsInHubSpot(ctx, w.fx.Member.ID.String())
	if err != nil || res.Labelled != 1 || len(res.Associated) != 1 {
		t.Fatalf("labelled: %+v %v", res, err)
	}
	c, _, err := w.acts.Conn.Client(ctx, w.fx.Workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.ListAssociations(ctx, hubspot.Contacts, lead, hubspot.Contacts, hubspot.AssociationListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, a := range page.Results {
		for _, at := range a.Types {
			if a.ToObjectID == member && at.Category == hubspot.UserDefined {
				labels = append(labels, at.Label)
			}
		}
	}
	if len(labels) != 1 || labels[0] != hubspotconn.LabelReferrer {
		t.Fatalf("the lead's contact sees the member as %q", labels)
	}
	conn, err := w.db.Queries.HubSpotConnectionGetByWorkspace(ctx, w.fx.Workspace.ID)
	if err != nil || conn.ReferrerAssociationTypeID == nil || conn.ReferredByAssociationTypeID == nil {
		t.Fatalf("the labels made on the way are stored: %+v %v", conn, err)
	}
	var n int
	if err := w.db.Pool.QueryRow(ctx, `SELECT count(*) FROM referral_events WHERE referral_id = $1 AND kind = $2`, w.fx.Referral.ID, string(referral.EventReferredByLabelled)).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d referred_by_labelled events (%v)", n, err)
	}
	if again, err := w.acts.LabelMemberReferralsInHubSpot(ctx, w.fx.Member.ID.String()); err != nil || again.Labelled != 0 {
		t.Fatalf("again: %+v %v", again, err)
	}
}
