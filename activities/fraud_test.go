package activities_test

import (
	"context"
	"strings"
	"testing"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
)

func addReferral(t *testing.T, d *testenv.Database, fx testenv.ReferralFixture, email string) db.Referral {
	t.Helper()
	r, err := d.Queries.ReferralInsert(context.Background(), db.ReferralInsertParams{
		WorkspaceID: fx.Workspace.ID, CampaignID: fx.Campaign.ID, MemberID: fx.Member.ID,
		LeadEmail: email, LeadEmailNormalized: referral.NormalizeEmail(email), Source: "api",
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFraudChecks(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t) // member maya@example.com, lead leo@example.org
	a := activities.New(d.Pool)
	ctx := context.Background()

	v, err := a.CheckReferralFraud(ctx, fx.Referral.ID.String())
	if err != nil || v.Deny {
		t.Fatalf("an ordinary referral: %+v %v", v, err)
	}

	self := addReferral(t, d, fx, "Maya+friends@Example.com")
	v, err = a.CheckReferralFraud(ctx, self.ID.String())
	if err != nil || !v.Deny || !strings.HasPrefix(v.Reason, activities.ReasonSelfReferral) {
		t.Fatalf("the member referring themself: %+v %v", v, err)
	}

	first := addReferral(t, d, fx, "j.doe@gmail.com")
	again := addReferral(t, d, fx, "jdoe+promo@googlemail.com")
	if v, err := a.CheckReferralFraud(ctx, first.ID.String()); err != nil || v.Deny {
		t.Fatalf("the first referral of a lead: %+v %v", v, err)
	}
	v, err = a.CheckReferralFraud(ctx, again.ID.String())
	if err != nil || !v.Deny || !strings.HasPrefix(v.Reason, activities.ReasonDuplicateLead) || !strings.Contains(v.Reason, first.ID.String()) {
		t.Fatalf("the same mailbox again: %+v %v", v, err)
	}
}
