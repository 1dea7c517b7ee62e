package db_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/db"
)

func TestReferralCodeIsUniquePerCampaign(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	_, err := f.createMember(t, f.campaign, f.member.ReferralCode, "bob@example.com")
	requirePgError(t, err, "23505", "members_campaign_id_referral_code_key")

	other := f.newCampaign(t, f.workspace, "Autumn referrals")
	if _, err := f.createMember(t, other, f.member.ReferralCode, "bob@example.com"); err != nil {
		t.Fatalf("the same code in another campaign was refused: %v", err)
	}

	got, err := f.q.MemberGetByCode(testContext(t), db.MemberGetByCodeParams{CampaignID: f.campaign.ID, ReferralCode: f.member.ReferralCode})
	if err != nil || got.ID != f.member.ID {
		t.Fatalf("MemberGetByCode = %v, %v; want %v", got.ID, err, f.member.ID)
	}
}

func TestMemberEmailIsUniquePerCampaignWhateverTheCase(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := f.createMember(t, f.campaign, "ALICE2", "ALICE@Example.COM")
	requirePgError(t, err, "23505", "members_campaign_id_email_key")

	got, err := f.q.MemberGetByEmail(testContext(t), db.MemberGetByEmailParams{CampaignID: f.campaign.ID, Email: "Alice@EXAMPLE.com"})
	if err != nil || got.ID != f.member.ID {
		t.Fatalf("MemberGetByEmail = %v, %v; want %v", got.ID, err, f.member.ID)
	}
}

func TestReferralCodeMustBeURLSafe(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, code := range []string{"", "has space", "a/b", strings.Repeat("x", 65)} {
		_, err := f.createMember(t, f.campaign, code, code+"x@example.com")
		requirePgError(t, err, "23514", "members_referral_code_check")
	}
}

func TestOneReferralPerLeadEmailPerCampaign(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustReferral(t, f.member, "lead@example.com")

	// Another member referring the same lead, in another case: a duplicate.
	bob := f.mustMember(t, f.campaign, "BOB1", "bob@example.com")
	_, err := f.createReferral(t, bob, "Lead@Example.com")
	requirePgError(t, err, "23505", "referrals_campaign_id_lead_email_key")

	other := f.newCampaign(t, f.workspace, "Autumn referrals")
	carol := f.mustMember(t, other, "CAROL1", "carol@example.com")
	if _, err := f.createReferral(t, carol, "lead@example.com"); err != nil {
		t.Fatalf("the same lead in another campaign was refused: %v", err)
	}
}

// A referral's member must belong to the referral's campaign, and a
// campaign's rows to its workspace: the composite keys refuse mix-ups.
func TestReferralMemberMustBeInTheCampaign(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := f.newCampaign(t, f.workspace, "Autumn referrals")
	_, err := f.q.ReferralInsert(testContext(t), db.ReferralInsertParams{
		WorkspaceID: f.workspace.ID, CampaignID: other.ID, MemberID: f.member.ID,
		LeadEmail: "lead@example.com", LeadEmailNormalized: "lead@example.com", Source: "api",
	})
	requirePgError(t, err, "23503", "referrals_member_fkey")

	otherWS := f.newWorkspace(t, "Globex")
	_, err = f.q.MemberCreate(testContext(t), db.MemberCreateParams{
		WorkspaceID: otherWS.ID, CampaignID: f.campaign.ID, ReferralCode: "X1", Email: "x@example.com", Source: "api",
	})
	requirePgError(t, err, "23503", "members_campaign_fkey")
}

func TestPortalIsConnectedToOneWorkspaceAtATime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	const portal = 62515
	connect := func(ws db.Workspace) (db.HubspotConnection, error) {
		return f.q.HubSpotConnectionUpsert(ctx, db.HubSpotConnectionUpsertParams{
			WorkspaceID:            ws.ID,
			PortalID:               portal,
			Scopes:                 []string{"oauth", "crm.objects.contacts.read"},
			AccessTokenCiphertext:  []byte("access"),
			RefreshTokenCiphertext: []byte("refresh"),
			EncryptionKeyID:        ptr("k1"),
			AccessTokenExpiresAt:   ptr(time.Now().Add(30 * time.Minute)),
			ConnectedBy:            ptr("admin:1"),
		})
	}
	first, err := connect(f.workspace)
	if err != nil {
		t.Fatalf("connect the first workspace: %v", err)
	}
	globex := f.newWorkspace(t, "Globex")
	_, err = connect(globex)
	requirePgError(t, err, "23505", "hubspot_connections_active_portal_key")

	// The caller names the workspace that holds the portal.
	holder, err := f.q.HubSpotConnectionGetActiveByPortal(ctx, portal)
	if err != nil || holder.WorkspaceID != f.workspace.ID {
		t.Fatalf("HubSpotConnectionGetActiveByPortal = %v, %v; want workspace %v", holder.WorkspaceID, err, f.workspace.ID)
	}

	// Reconnecting the same workspace updates its one row.
	again, err := connect(f.workspace)
	if err != nil || again.ID != first.ID {
		t.Fatalf("reconnect = %v, %v; want the same row %v", again.ID, err, first.ID)
	}

	disconnected, err := f.q.HubSpotConnectionDisconnect(ctx, f.workspace.ID)
	if err != nil {
		t.Fatalf("HubSpotConnectionDisconnect: %v", err)
	}
	if disconnected.Status != "disconnected" || disconnected.DisconnectedAt == nil || disconnected.AccessTokenCiphertext != nil {
		t.Fatalf("after disconnect: %+v", disconnected)
	}
	if _, err := f.q.HubSpotConnectionGetActiveByPortal(ctx, portal); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("a disconnected portal still routes: %v", err)
	}

	second, err := connect(globex)
	if err != nil {
		t.Fatalf("connecting the portal to a second workspace after the first disconnected: %v", err)
	}
	if second.Status != "connected" || second.WorkspaceID != globex.ID {
		t.Fatalf("second connection: %+v", second)
	}
	// And now the first workspace cannot take it back.
	_, err = connect(f.workspace)
	requirePgError(t, err, "23505", "hubspot_connections_active_portal_key")
}

func TestAuditTrailIsAppendOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	r := f.mustReferral(t, f.member, "lead@example.com")
	ev, err := f.q.ReferralEventInsert(ctx, db.ReferralEventInsertParams{
		ReferralID: r.ID, WorkspaceID: r.WorkspaceID, Kind: "created", ToStatus: ptr("pending"), Actor: "system",
	})
	if err != nil {
		t.Fatalf("ReferralEventInsert: %v", err)
	}
	if string(ev.Details) != "{}" {
		t.Errorf("details default = %s, want {}", ev.Details)
	}

	for _, stmt := range []string{
		"UPDATE referral_events SET kind = 'rewritten' WHERE id = $1",
		"DELETE FROM referral_events WHERE id = $1",
	} {
		_, err := f.d.Pool.Exec(ctx, stmt, ev.ID)
		pgErr := requirePgError(t, err, "23001", "")
		if !strings.Contains(pgErr.Message, "append-only") {
			t.Errorf("%s: message %q does not say the audit trail is append-only", stmt, pgErr.Message)
		}
	}
	_, err = f.d.Pool.Exec(ctx, "TRUNCATE referral_events")
	requirePgError(t, err, "23001", "")

	// Deleting the referral is refused too: its history outlives it.
	_, err = f.d.Pool.Exec(ctx, "DELETE FROM referrals WHERE id = $1", r.ID)
	requirePgError(t, err, "23503", "referral_events_referral_id_fkey")

	events, err := f.q.ReferralEventListByReferral(ctx, r.ID)
	if err != nil || len(events) != 1 || events[0].Kind != "created" {
		t.Fatalf("ReferralEventListByReferral = %+v, %v; want the one untouched event", events, err)
	}
}

func TestInsertReferralEventIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	r := f.mustReferral(t, f.member, "lead@example.com")
	params := db.ReferralEventInsertParams{
		ReferralID: r.ID, WorkspaceID: r.WorkspaceID, Kind: "status_changed",
		FromStatus: ptr("pending"), ToStatus: ptr("qualified"), Actor: "hubspot",
		Details:        json.RawMessage(`{"property":"dealstage","value":"closedwon"}`),
		IdempotencyKey: ptr("referral/" + r.ID.String() + "/status/1"),
	}
	first, err := f.q.ReferralEventInsert(ctx, params)
	if err != nil {
		t.Fatalf("first ReferralEventInsert: %v", err)
	}
	// The activity is retried.
	_, err = f.q.ReferralEventInsert(ctx, params)
	if !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("retried ReferralEventInsert: err = %v, want pgx.ErrNoRows (already written)", err)
	}
	// Events without a key never clash.
	for range 2 {
		if _, err := f.q.ReferralEventInsert(ctx, db.ReferralEventInsertParams{
			ReferralID: r.ID, WorkspaceID: r.WorkspaceID, Kind: "note", Actor: "admin:1",
		}); err != nil {
			t.Fatalf("ReferralEventInsert without a key: %v", err)
		}
	}
	events, err := f.q.ReferralEventListByReferral(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 || events[0].ID != first.ID {
		t.Fatalf("ReferralEventListByReferral = %d events, first %v; want 3, first %v", len(events), events[0].ID, first.ID)
	}
	var details map[string]string
	if err := json.Unmarshal(events[0].Details, &details); err != nil || details["value"] != "closedwon" {
		t.Fatalf("details = %s, %v", events[0].Details, err)
	}
}

func TestUpdateReferralStatusIsACompareAndSet(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	r := f.mustReferral(t, f.member, "lead@example.com")

	// A writer that believes the referral is still qualified lost a race.
	_, err := f.q.ReferralUpdateStatus(ctx, db.ReferralUpdateStatusParams{
		ID: r.ID, ExpectedStatus: "qualified", NewStatus: "approved",
	})
	if !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("stale ReferralUpdateStatus: err = %v, want pgx.ErrNoRows", err)
	}
	unchanged, err := f.q.ReferralGetByID(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if unchanged.Status != "pending" || !unchanged.UpdatedAt.Equal(r.UpdatedAt) || unchanged.ApprovedAt != nil {
		t.Fatalf("a stale update changed the referral: %+v", unchanged)
	}

	q, err := f.q.ReferralUpdateStatus(ctx, db.ReferralUpdateStatusParams{ID: r.ID, ExpectedStatus: "pending", NewStatus: "qualified"})
	if err != nil || q.Status != "qualified" || q.QualifiedAt == nil || q.ApprovedAt != nil {
		t.Fatalf("pending→qualified = %+v, %v", q, err)
	}
	d, err := f.q.ReferralUpdateStatus(ctx, db.ReferralUpdateStatusParams{
		ID: r.ID, ExpectedStatus: "qualified", NewStatus: "denied", DeniedReason: ptr("self-referral"),
	})
	if err != nil || d.Status != "denied" || d.DeniedAt == nil || d.DeniedReason == nil || *d.DeniedReason != "self-referral" {
		t.Fatalf("qualified→denied = %+v, %v", d, err)
	}
	a, err := f.q.ReferralUpdateStatus(ctx, db.ReferralUpdateStatusParams{ID: r.ID, ExpectedStatus: "denied", NewStatus: "approved"})
	if err != nil || a.Status != "approved" || a.ApprovedAt == nil || a.QualifiedAt == nil || a.DeniedAt != nil || a.DeniedReason != nil {
		t.Fatalf("denied→approved (admin decision) = %+v, %v", a, err)
	}
	if !a.UpdatedAt.After(r.UpdatedAt) {
		t.Errorf("updated_at did not move: %v then %v", r.UpdatedAt, a.UpdatedAt)
	}
}

func TestCheckConstraintsRefuseBadValues(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	r := f.mustReferral(t, f.member, "lead@example.com")

	_, err := f.q.ReferralUpdateStatus(ctx, db.ReferralUpdateStatusParams{ID: r.ID, ExpectedStatus: "pending", NewStatus: "won"})
	requirePgError(t, err, "23514", "referrals_status_check")

	_, err = f.q.CampaignCreate(ctx, db.CampaignCreateParams{WorkspaceID: f.workspace.ID, Name: "Bad", Status: ptr("live")})
	requirePgError(t, err, "23514", "campaigns_status_check")

	_, err = f.q.CampaignCreate(ctx, db.CampaignCreateParams{WorkspaceID: f.workspace.ID, Name: "Bad", RewardRules: json.RawMessage(`[1]`)})
	requirePgError(t, err, "23514", "campaigns_reward_rules_check")

	_, err = f.q.CampaignCreate(ctx, db.CampaignCreateParams{WorkspaceID: f.workspace.ID, Name: "  "})
	requirePgError(t, err, "23514", "campaigns_name_check")

	_, err = f.q.ReferralInsert(ctx, db.ReferralInsertParams{
		WorkspaceID: f.workspace.ID, CampaignID: f.campaign.ID, MemberID: f.member.ID,
		LeadEmail: "other@example.com", LeadEmailNormalized: "other@example.com", Source: "carrier_pigeon",
	})
	requirePgError(t, err, "23514", "referrals_source_check")

	_, err = f.q.ReferralEventInsert(ctx, db.ReferralEventInsertParams{
		ReferralID: r.ID, WorkspaceID: r.WorkspaceID, Kind: "status_changed", ToStatus: ptr("won"), Actor: "system",
	})
	requirePgError(t, err, "23514", "referral_events_to_status_check")

	empty := json.RawMessage(`{}`)
	_, err = f.q.SyncCreate(ctx, db.SyncCreateParams{ID: uuid.New(), WorkspaceID: f.workspace.ID, CampaignID: f.campaign.ID, Source: "list", Mode: "one_time", Mapping: empty, ReturnFields: empty})
	requirePgError(t, err, "23514", "syncs_list_id_required")

	_, err = f.q.SyncCreate(ctx, db.SyncCreateParams{ID: uuid.New(), WorkspaceID: f.workspace.ID, CampaignID: f.campaign.ID, Source: "all_contacts", Mode: "ongoing", Mapping: empty, ReturnFields: empty})
	requirePgError(t, err, "23514", "syncs_cron_spec_required")

	s, err := f.q.SyncCreate(ctx, db.SyncCreateParams{
		ID: uuid.New(), WorkspaceID: f.workspace.ID, CampaignID: f.campaign.ID, Source: "list", ListID: ptr("42"),
		Mode: "ongoing", CronSpec: ptr("0 * * * *"), Mapping: empty, ReturnFields: empty,
	})
	if err != nil || s.Status != "active" {
		t.Fatalf("a valid ongoing list sync: %+v, %v", s, err)
	}
	got, err := f.q.SyncGetByID(ctx, s.ID)
	if err != nil || got.LastRunStats != nil {
		t.Fatalf("SyncGetByID = %+v, %v; want NULL stats as a nil RawMessage", got, err)
	}

	_, err = f.q.ReviewEntryCreate(ctx, db.ReviewEntryCreateParams{WorkspaceID: f.workspace.ID, Reason: "because"})
	requirePgError(t, err, "23514", "review_entries_reason_check")
}
