package activities_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/salesentry"
)

// A draft, paused or archived campaign takes no referral from HubSpot: its
// matching rules are not applied (a contact carrying a member's code goes to
// the next active campaign whose rule it meets, or matches nothing), and
// AddReferral — the one way in every path calls — refuses it, writing
// nothing.
func TestOnlyActiveCampaignsTakeReferralsFromHubSpot(t *testing.T) {
	t.Parallel()
	w := newMatchWorld(t)
	ctx := context.Background()
	rule := campaign.ProcessRules{MatchingRules: []campaign.MatchingRule{
		{Object: "contact", Property: hubspotobject.PropReferredByCode, Holds: campaign.HoldsReferralCode},
	}}
	w.rules(t, rule)

	// A second, active campaign whose rule reads the same property and
	// whose member has the same code.
	active := string(campaign.Active)
	next, err := w.db.Queries.CampaignCreate(ctx, db.CampaignCreateParams{WorkspaceID: w.fx.Workspace.ID, Name: "Autumn", Status: &active})
	if err != nil {
		t.Fatal(err)
	}
	s := campaign.Defaults()
	s.ProcessRules = rule
	w.db.SetCampaignSettings(t, next, s)
	nextMember, err := w.db.Queries.MemberCreate(ctx, db.MemberCreateParams{
		WorkspaceID: w.fx.Workspace.ID, CampaignID: next.ID, ReferralCode: w.fx.Member.ReferralCode, Email: "maya@example.com", Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}

	before, _ := w.db.Queries.MemberGetByID(ctx, w.fx.Member.ID)
	for i, st := range []campaign.Status{campaign.Draft, campaign.Paused, campaign.Archived} {
		status := string(st)
		if _, err := w.db.Queries.CampaignUpdateDetails(ctx, db.CampaignUpdateDetailsParams{ID: w.fx.Campaign.ID, WorkspaceID: w.fx.Workspace.ID, Status: &status}); err != nil {
			t.Fatal(err)
		}
		email := status + "@example.net"
		c := w.create(t, "contacts", map[string]string{"email": email, hubspotobject.PropReferredByCode: w.fx.Member.ReferralCode})
		e := w.entry(t, "contact", c, "", "")
		got := onlyCandidate(t, w.match(t, e, nil), salesentry.MatchMember)
		if got.CampaignID != next.ID.String() || got.MemberID != nextMember.ID.String() {
			t.Fatalf("%s campaign: the code matched %+v, want the active campaign's member", st, got)
		}

		// Had matching picked the campaign's member before it left active,
		// adding the referral is refused with the reason.
		_, err := w.a.AddReferralFromHubSpot(ctx, activities.AddFromHubSpotInput{
			SalesEntryID: e.ID, WorkspaceID: e.WorkspaceID, MemberID: w.fx.Member.ID.String(), ObjectType: "contact", ObjectID: c,
			Lead: activities.Lead{Email: email}, How: "member: rule", Actor: "system",
		})
		if errType(err) != activities.ErrTypeCampaignNotActive || !strings.Contains(err.Error(), status) {
			t.Fatalf("%s campaign: AddReferralFromHubSpot = %v, want CampaignNotActive naming the status", st, err)
		}
		_, err = activities.AddReferral(ctx, w.db.Pool, activities.NewReferral{
			Member: w.fx.Member, Lead: activities.Lead{Email: "admin-" + email}, Source: referral.SourceAdminAPI, Actor: "admin:x",
		})
		var notActive *campaign.NotActiveError
		if !errors.As(err, &notActive) || notActive.Status != st {
			t.Fatalf("%s campaign: AddReferral = %v, want NotActiveError", st, err)
		}
		refs, err := w.db.Queries.ReferralListByHubSpotObject(ctx, db.ReferralListByHubSpotObjectParams{WorkspaceID: w.fx.Workspace.ID, ObjectType: "contact", ObjectID: c})
		if err != nil || len(refs) != 0 {
			t.Fatalf("%s campaign: referrals holding the contact = %d, %v", st, len(refs), err)
		}
		m, _ := w.db.Queries.MemberGetByID(ctx, w.fx.Member.ID)
		if m.ReferralCount != before.ReferralCount {
			t.Fatalf("after %d refusals the member has %d referrals, want %d", i+1, m.ReferralCount, before.ReferralCount)
		}
	}
}

// An archived campaign's lead is not sent to HubSpot; a draft's waits until
// it is active (only referrals from before statuses were enforced can be a
// draft's); a paused campaign's existing referral keeps living and its lead
// is sent.
func TestLeadsOfCampaignsThatAreNotActive(t *testing.T) {
	t.Parallel()
	w := newMatchWorld(t)
	ctx := context.Background()
	s := campaign.Defaults()
	s.Leads = campaign.CRMSettings{Action: campaign.ActionCreateContact, DuplicateHandling: campaign.DuplicateDoNothing, FieldMapping: []campaign.FieldMapping{
		{Object: "contact", Source: "email", Property: "email"},
		{Object: "contact", Source: "first_name", Property: "firstname"},
	}}
	w.db.SetCampaignSettings(t, w.fx.Campaign, s)
	setStatus := func(st campaign.Status) {
		status := string(st)
		if _, err := w.db.Queries.CampaignUpdateDetails(ctx, db.CampaignUpdateDetailsParams{ID: w.fx.Campaign.ID, WorkspaceID: w.fx.Workspace.ID, Status: &status}); err != nil {
			t.Fatal(err)
		}
	}
	id := w.fx.Referral.ID.String()

	setStatus(campaign.Archived)
	res, err := w.hs.SendLeadToHubSpot(ctx, id)
	if err != nil || !strings.Contains(res.Skipped, "archived") || res.ContactID != "" {
		t.Fatalf("archived: %+v, %v; want skipped", res, err)
	}
	setStatus(campaign.Draft)
	if _, err := w.hs.SendLeadToHubSpot(ctx, id); errType(err) != activities.ErrTypeCampaignNotActive {
		t.Fatalf("draft: %v, want CampaignNotActive", err)
	}
	setStatus(campaign.Paused)
	if res, err := w.hs.SendLeadToHubSpot(ctx, id); err != nil || res.ContactID == "" || !res.ContactCreated {
		t.Fatalf("paused: %+v, %v; want the lead sent", res, err)
	}
}

// A status change cannot slip between the check and the write: while an
// addition holds its campaign (CheckCampaignTakesNew, in the addition's
// transaction), the row lock an UPDATE of the campaign needs is refused, and
// granted once the addition commits.
func TestAddingHoldsTheCampaignStatus(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	ctx := context.Background()
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := activities.CheckCampaignTakesNew(ctx, db.New(tx), fx.Campaign.ID); err != nil {
		t.Fatalf("an active campaign: %v", err)
	}
	lockForUpdate := func() error {
		_, err := d.Pool.Exec(ctx, `SELECT 1 FROM campaigns WHERE id = $1 FOR NO KEY UPDATE NOWAIT`, fx.Campaign.ID)
		return err
	}
	var pgErr *pgconn.PgError
	if err := lockForUpdate(); !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
		t.Fatalf("an UPDATE's lock while an addition holds the campaign: %v, want lock_not_available", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lockForUpdate(); err != nil {
		t.Fatalf("after the addition: %v", err)
	}
}
