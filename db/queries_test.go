package db_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/referflow/referflow/db"
)

func TestGetReferralDetail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.mustReferral(t, f.member, "lead@example.com")
	got, err := f.q.ReferralGetDetail(testContext(t), r.ID)
	if err != nil {
		t.Fatalf("ReferralGetDetail: %v", err)
	}
	if got.Referral.ID != r.ID || got.MemberReferralCode != "ALICE1" || got.MemberEmail != "alice@example.com" || got.CampaignName != "Spring referrals" {
		t.Fatalf("ReferralGetDetail = %+v", got)
	}
	if _, err := f.q.ReferralGetDetail(testContext(t), uuid.New()); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("unknown referral: %v, want pgx.ErrNoRows", err)
	}
}

func TestListReferralsByCampaignPagesNewestFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	var created []db.Referral
	for i := range 5 {
		created = append(created, f.mustReferral(t, f.member, fmt.Sprintf("lead%d@example.com", i)))
	}
	// Two referrals share a created_at: the id breaks the tie.
	if _, err := f.d.Pool.Exec(ctx, "UPDATE referrals SET created_at = $1 WHERE id = ANY($2)",
		created[1].CreatedAt, []uuid.UUID{created[1].ID, created[2].ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.ReferralUpdateStatus(ctx, db.ReferralUpdateStatusParams{ID: created[3].ID, ExpectedStatus: "pending", NewStatus: "qualified"}); err != nil {
		t.Fatal(err)
	}

	// Walking the pages gives the same rows, in the same order, as one big
	// page: newest first, ties broken by id, nothing twice, nothing missed.
	all, err := f.q.ReferralListByCampaign(ctx, db.ReferralListByCampaignParams{CampaignID: f.campaign.ID, PageSize: 100})
	if err != nil || len(all) != 5 {
		t.Fatalf("ReferralListByCampaign = %d rows, %v; want 5", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		if b.CreatedAt.After(a.CreatedAt) || (b.CreatedAt.Equal(a.CreatedAt) && b.ID.String() > a.ID.String()) {
			t.Fatalf("not newest first: %v/%v before %v/%v", a.CreatedAt, a.ID, b.CreatedAt, b.ID)
		}
	}
	var paged []uuid.UUID
	params := db.ReferralListByCampaignParams{CampaignID: f.campaign.ID, PageSize: 2}
	for {
		page, err := f.q.ReferralListByCampaign(ctx, params)
		if err != nil {
			t.Fatalf("ReferralListByCampaign: %v", err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			paged = append(paged, r.ID)
		}
		last := page[len(page)-1]
		params.AfterCreatedAt, params.AfterID = &last.CreatedAt, &last.ID
	}
	if len(paged) != len(all) {
		t.Fatalf("paging saw %d referrals, want %d", len(paged), len(all))
	}
	for i := range all {
		if paged[i] != all[i].ID {
			t.Fatalf("page walk differs at %d: %v, want %v", i, paged, all)
		}
	}

	qualified, err := f.q.ReferralListByCampaign(ctx, db.ReferralListByCampaignParams{CampaignID: f.campaign.ID, Status: ptr("qualified"), PageSize: 10})
	if err != nil || len(qualified) != 1 || qualified[0].ID != created[3].ID {
		t.Fatalf("status filter = %v, %v", qualified, err)
	}
}

func TestCreateRewardIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	r := f.mustReferral(t, f.member, "lead@example.com")
	var amount pgtype.Numeric
	if err := amount.Scan("25.50"); err != nil {
		t.Fatal(err)
	}
	params := db.RewardCreateParams{
		WorkspaceID: r.WorkspaceID, ReferralID: r.ID, CampaignID: r.CampaignID, MemberID: &f.member.ID,
		Recipient: "member", Amount: amount, Currency: "EUR",
		IdempotencyKey: "reward/" + r.ID.String() + "/member/1",
	}
	first, err := f.q.RewardCreate(ctx, params)
	if err != nil {
		t.Fatalf("RewardCreate: %v", err)
	}
	if first.Status != "pending" || first.ConversionNumber != 1 {
		t.Errorf("defaults: %+v", first)
	}
	if _, err := f.q.RewardCreate(ctx, params); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("retried RewardCreate: %v, want pgx.ErrNoRows", err)
	}
	got, err := f.q.RewardGetByIdempotencyKey(ctx, params.IdempotencyKey)
	if err != nil || got.ID != first.ID {
		t.Fatalf("RewardGetByIdempotencyKey = %v, %v; want %v", got.ID, err, first.ID)
	}
	v, err := got.Amount.Value()
	if err != nil || v != "25.50" {
		t.Errorf("amount = %v, %v; want 25.50", v, err)
	}

	// The friend's reward has no member; a member reward must have one.
	friend := params
	friend.MemberID, friend.Recipient, friend.IdempotencyKey = nil, "friend", "reward/"+r.ID.String()+"/friend/1"
	if _, err := f.q.RewardCreate(ctx, friend); err != nil {
		t.Fatalf("friend reward: %v", err)
	}
	orphan := params
	orphan.MemberID, orphan.IdempotencyKey = nil, "reward/orphan"
	_, err = f.q.RewardCreate(ctx, orphan)
	requirePgError(t, err, "23514", "rewards_member_recipient_has_member")

	issued, err := f.q.RewardUpdateStatus(ctx, db.RewardUpdateStatusParams{ID: first.ID, ExpectedStatus: "pending", NewStatus: "issued"})
	if err != nil || issued.IssuedAt == nil {
		t.Fatalf("issue: %+v, %v", issued, err)
	}
	if _, err := f.q.RewardUpdateStatus(ctx, db.RewardUpdateStatusParams{ID: first.ID, ExpectedStatus: "pending", NewStatus: "issued"}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("issuing twice: %v, want pgx.ErrNoRows", err)
	}
	list, err := f.q.RewardListByReferral(ctx, r.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("RewardListByReferral = %d, %v; want 2", len(list), err)
	}
}

func TestInsertSalesEntryDeduplicatesRedeliveries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	payload := json.RawMessage(`{"eventId":1,"portalId":62515,"subscriptionType":"deal.propertyChange","objectId":123}`)
	params := db.SalesEntryInsertParams{
		PortalID: 62515, WorkspaceID: &f.workspace.ID, DedupeKey: "1:deal.propertyChange:123:1564113600000:dealstage:closedwon",
		EventID: ptr(int64(1)), SubscriptionType: "deal.propertyChange", ObjectType: "deal", ObjectID: 123,
		PropertyName: ptr("dealstage"), PropertyValue: ptr("closedwon"),
		OccurredAt: time.UnixMilli(1564113600000), AttemptNumber: ptr(int32(0)), ChangeSource: ptr("CRM"),
		Payload: payload,
	}
	first, err := f.q.SalesEntryInsert(ctx, params)
	if err != nil {
		t.Fatalf("SalesEntryInsert: %v", err)
	}
	if first.Status != "received" || string(first.Actions) != "[]" {
		t.Errorf("defaults: status %q, actions %s", first.Status, first.Actions)
	}
	params.AttemptNumber = ptr(int32(1))
	if _, err := f.q.SalesEntryInsert(ctx, params); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("redelivery: %v, want pgx.ErrNoRows", err)
	}
	// An unknown portal is still recorded, with no workspace.
	unknown := params
	unknown.PortalID, unknown.WorkspaceID = 999, nil
	if _, err := f.q.SalesEntryInsert(ctx, unknown); err != nil {
		t.Fatalf("entry of an unknown portal: %v", err)
	}

	r := f.mustReferral(t, f.member, "lead@example.com")
	done, err := f.q.SalesEntryUpdateResult(ctx, db.SalesEntryUpdateResultParams{
		ID: first.ID, Status: "processed", CampaignID: &r.CampaignID, ReferralID: &r.ID, MemberID: &r.MemberID,
		Actions: json.RawMessage(`[{"action":"status_changed","to":"approved"}]`),
	})
	if err != nil || done.ProcessedAt == nil || *done.ReferralID != r.ID {
		t.Fatalf("SalesEntryUpdateResult = %+v, %v", done, err)
	}
	got, err := f.q.SalesEntryGetByID(ctx, first.ID)
	if err != nil || got.Status != "processed" || !got.OccurredAt.Equal(params.OccurredAt) {
		t.Fatalf("SalesEntryGetByID = %+v, %v", got, err)
	}
}

func TestRoutingReferralsByHubSpotObject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	r, err := f.q.ReferralInsert(ctx, db.ReferralInsertParams{
		WorkspaceID: f.workspace.ID, CampaignID: f.campaign.ID, MemberID: f.member.ID,
		LeadEmail: "lead@example.com", LeadEmailNormalized: "lead@example.com", Source: "hubspot", HubspotContactID: ptr(int64(11)), HubspotDealID: ptr(int64(22)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		objectType string
		id         int64
		want       int
	}{{"contact", 11, 1}, {"deal", 22, 1}, {"deal", 11, 0}, {"company", 22, 0}, {"ticket", 11, 0}} {
		got, err := f.q.ReferralListByHubSpotObject(ctx, db.ReferralListByHubSpotObjectParams{WorkspaceID: f.workspace.ID, ObjectType: tc.objectType, ObjectID: tc.id})
		if err != nil || len(got) != tc.want || (tc.want == 1 && got[0].ID != r.ID) {
			t.Errorf("%s %d: %d referrals, %v; want %d", tc.objectType, tc.id, len(got), err, tc.want)
		}
	}
}

func TestReviewQueue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	r := f.mustReferral(t, f.member, "lead@example.com")
	e1, err := f.q.ReviewEntryCreate(ctx, db.ReviewEntryCreateParams{WorkspaceID: f.workspace.ID, CampaignID: &f.campaign.ID, ReferralID: &r.ID, Reason: "denied_to_approved"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.ReviewEntryCreate(ctx, db.ReviewEntryCreateParams{WorkspaceID: f.workspace.ID, Reason: "no_member_match", Data: json.RawMessage(`{"email":"x@example.com"}`)}); err != nil {
		t.Fatal(err)
	}
	decided, err := f.q.ReviewEntryDecide(ctx, db.ReviewEntryDecideParams{ID: e1.ID, Status: "resolved", Decision: ptr("approve"), DecidedBy: ptr("admin:1")})
	if err != nil || decided.DecidedAt == nil {
		t.Fatalf("ReviewEntryDecide = %+v, %v", decided, err)
	}
	if _, err := f.q.ReviewEntryDecide(ctx, db.ReviewEntryDecideParams{ID: e1.ID, Status: "dismissed"}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("deciding twice: %v, want pgx.ErrNoRows", err)
	}
	open, err := f.q.ReviewEntryListOpen(ctx, f.workspace.ID)
	if err != nil || len(open) != 1 || open[0].Reason != "no_member_match" {
		t.Fatalf("ReviewEntryListOpen = %+v, %v", open, err)
	}
}

func TestMemberReferralCountsAreRecomputed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	r1 := f.mustReferral(t, f.member, "a@example.com")
	f.mustReferral(t, f.member, "b@example.com")
	if _, err := f.q.ReferralUpdateStatus(ctx, db.ReferralUpdateStatusParams{ID: r1.ID, ExpectedStatus: "pending", NewStatus: "approved"}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a retried activity counts nothing twice
		m, err := f.q.MemberRefreshReferralCounts(ctx, f.member.ID)
		if err != nil || m.ReferralCount != 2 || m.ConvertedReferralCount != 1 {
			t.Fatalf("MemberRefreshReferralCounts = %d/%d, %v; want 2/1", m.ReferralCount, m.ConvertedReferralCount, err)
		}
	}
}

func TestCampaignSettingsRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	c, err := f.q.CampaignCreate(ctx, db.CampaignCreateParams{
		WorkspaceID: f.workspace.ID, Name: "Deals", Status: ptr("active"),
		StatusRules: json.RawMessage(`{"approved":{"object":"deal","property":"dealstage","values":["closedwon"]}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(c.LeadSettings) != "{}" || c.Status != "active" {
		t.Errorf("defaults: %s, %s", c.LeadSettings, c.Status)
	}
	var rules map[string]map[string]any
	if err := json.Unmarshal(c.StatusRules, &rules); err != nil || rules["approved"]["property"] != "dealstage" {
		t.Fatalf("status_rules = %s, %v", c.StatusRules, err)
	}
	_, err = f.q.CampaignCreate(ctx, db.CampaignCreateParams{WorkspaceID: f.workspace.ID, Name: "Deals"})
	requirePgError(t, err, "23505", "campaigns_workspace_id_name_key")

	list, err := f.q.CampaignListByWorkspace(ctx, f.workspace.ID)
	if err != nil || len(list) != 2 || list[0].ID != f.campaign.ID {
		t.Fatalf("CampaignListByWorkspace = %d, %v", len(list), err)
	}
	// Secrets stay out of JSON.
	ws, err := f.q.WorkspaceGetByID(ctx, f.workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(ws)
	if err != nil || ws.WebhookSigningSecret == "" || strings.Contains(string(out), ws.WebhookSigningSecret) {
		t.Fatalf("workspace JSON leaks the signing secret: %s, %v", out, err)
	}
}
