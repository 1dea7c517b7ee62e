package testenv

import (
	"context"
	"testing"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
)

// ReferralFixture is a referral with everything it belongs to.
type ReferralFixture struct {
	Workspace db.Workspace
	Campaign  db.Campaign
	Member    db.Member
	Referral  db.Referral
}

// SeedReferral writes a workspace, an active campaign, a member and one
// pending referral of that member, the smallest world a referral workflow can
// live in.
func (d *Database) SeedReferral(t testing.TB) ReferralFixture {
	t.Helper()
	ctx := context.Background()
	var f ReferralFixture
	var err error
	if f.Workspace, err = d.Queries.WorkspaceCreate(ctx, db.WorkspaceCreateParams{
		Name: "Acme", WebhookSigningSecret: "whsec-" + randomHex(8),
	}); err != nil {
		t.Fatalf("seed workspace: %v", err)
	}
	active := "active"
	if f.Campaign, err = d.Queries.CampaignCreate(ctx, db.CampaignCreateParams{
		WorkspaceID: f.Workspace.ID, Name: "Spring referrals", Status: &active,
	}); err != nil {
		t.Fatalf("seed campaign: %v", err)
	}
	first := "Maya"
	if f.Member, err = d.Queries.MemberCreate(ctx, db.MemberCreateParams{
		WorkspaceID: f.Workspace.ID, CampaignID: f.Campaign.ID,
		ReferralCode: "MAYA-" + randomHex(3), Email: "maya@example.com", FirstName: &first, Source: "admin",
	}); err != nil {
		t.Fatalf("seed member: %v", err)
	}
	lead := "Leo"
	if f.Referral, err = d.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
		WorkspaceID: f.Workspace.ID, CampaignID: f.Campaign.ID, MemberID: f.Member.ID,
		LeadEmail: "leo@example.org", LeadEmailNormalized: "leo@example.org", LeadFirstName: &lead, Source: "admin",
	}); err != nil {
		t.Fatalf("seed referral: %v", err)
	}
	// Counted on its member as AddReferral would (Member keeps the row as
	// inserted, 0/0).
	if err := d.Queries.MemberAddToReferralCounts(ctx, db.MemberAddToReferralCountsParams{ID: f.Member.ID, Referrals: 1}); err != nil {
		t.Fatalf("count the seeded referral: %v", err)
	}
	return f
}

// SetCampaignSettings validates settings and stores them on the campaign, as
// the admin API would.
func (d *Database) SetCampaignSettings(t testing.TB, c db.Campaign, s campaign.Settings) {
	t.Helper()
	if problems := s.Validate(); len(problems) > 0 {
		t.Fatalf("invalid test settings: %+v", problems)
	}
	cols, err := s.Columns()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Queries.CampaignUpdateSettings(context.Background(), db.CampaignUpdateSettingsParams{
		ID: c.ID, WorkspaceID: c.WorkspaceID,
		LeadSettings: cols.LeadSettings, ReferrerSettings: cols.ReferrerSettings, StatusRules: cols.StatusRules,
		PropertyUpdates: cols.PropertyUpdates, ProcessRules: cols.ProcessRules, RewardRules: cols.RewardRules, PublicSettings: cols.PublicSettings, FraudChecks: cols.FraudChecks, EmailSettings: cols.EmailSettings,
	}); err != nil {
		t.Fatal(err)
	}
}
