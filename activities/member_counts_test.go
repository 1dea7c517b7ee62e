package activities_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
)

// A member's counts are right the moment a referral of theirs is added,
// qualifies, is approved or is denied, and the member is marked for HubSpot
// in the same transaction once they have a contact.
func TestMemberCountsFollowEveryReferralChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t) // maya, one pending referral: 1/0
	a := activities.New(d.Pool)
	contact := int64(9001)
	member, err := d.Queries.MemberSetHubSpotContact(ctx, db.MemberSetHubSpotContactParams{ID: fx.Member.ID, HubspotContactID: &contact})
	if err != nil {
		t.Fatal(err)
	}
	counts := func(step string, total, converted int32) {
		t.Helper()
		m, err := d.Queries.MemberGetByID(ctx, member.ID)
		if err != nil {
			t.Fatal(err)
		}
		if m.ReferralCount != total || m.ConvertedReferralCount != converted {
			t.Fatalf("%s: counts %d/%d, want %d/%d", step, m.ReferralCount, m.ConvertedReferralCount, total, converted)
		}
		marks, err := d.Queries.MemberHubSpotWriteList(ctx, fx.Workspace.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(marks) != 1 || marks[0].MemberID != member.ID {
			t.Fatalf("%s: member marks %+v, want the member's", step, marks)
		}
	}

	added, err := activities.AddReferral(ctx, d.Pool, activities.NewReferral{
		Member: member, Lead: activities.Lead{Email: "ana@example.org"}, Source: referral.SourceAdminAPI, Actor: "admin:1",
	})
	if err != nil {
		t.Fatal(err)
	}
	counts("added", 2, 0)

	move := func(id string, from, to referral.Status) {
		t.Helper()
		ch := activities.StatusChange{ReferralID: id, From: from, To: to, Actor: "system", IdempotencyKey: fmt.Sprintf("%s:%s", id, to)}
		if to == referral.Denied {
			ch.Reason = "not a fit"
		}
		if err := a.ChangeReferralStatus(ctx, ch); err != nil {
			t.Fatalf("%s → %s: %v", from, to, err)
		}
	}
	move(added.ID.String(), referral.Pending, referral.Qualified)
	counts("qualified", 2, 1)
	move(added.ID.String(), referral.Qualified, referral.Approved)
	counts("approved", 2, 1)
	move(fx.Referral.ID.String(), referral.Pending, referral.Approved)
	counts("second approved", 2, 2)
	move(added.ID.String(), referral.Approved, referral.Denied)
	counts("denied", 2, 1)
}

// Referrals of one member that change at once are all counted: each
// increment waits for the one before it to commit, and adds to what it left.
func TestMemberCountsHoldUnderConcurrentChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	a := activities.New(d.Pool)
	const n = 24
	ids := make([]string, n)
	for i := range ids {
		r, err := activities.AddReferral(ctx, d.Pool, activities.NewReferral{
			Member: fx.Member, Lead: activities.Lead{Email: fmt.Sprintf("lead%d@example.org", i)}, Source: referral.SourceAdminAPI, Actor: "admin:1",
		})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.ID.String()
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, id := range ids {
		wg.Go(func() {
			errs <- a.ChangeReferralStatus(ctx, activities.StatusChange{ReferralID: id, From: referral.Pending, To: referral.Qualified, Actor: "system", IdempotencyKey: "q:" + id})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	m, err := d.Queries.MemberGetByID(ctx, fx.Member.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.ReferralCount != n+1 || m.ConvertedReferralCount != n {
		t.Fatalf("counts %d/%d, want %d/%d", m.ReferralCount, m.ConvertedReferralCount, n+1, n)
	}
	// The member has no contact: nothing to write, nothing marked.
	if marks, err := d.Queries.MemberHubSpotWriteList(ctx, fx.Workspace.ID); err != nil || len(marks) != 0 {
		t.Fatalf("member marks %+v, %v; want none for a member without a contact", marks, err)
	}
}
