package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
)

func errType(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		return appErr.Type()
	}
	return ""
}

func TestLoadReferral(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	a := activities.New(d.Pool)
	ctx := context.Background()

	got, err := a.LoadReferral(ctx, fx.Referral.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	if got.MemberCode != fx.Member.ReferralCode || got.Status != referral.Pending || got.CampaignID != fx.Campaign.ID.String() {
		t.Fatalf("loaded %+v", got)
	}
	// A referral that does not exist never will: retrying would only spin.
	if _, err := a.LoadReferral(ctx, uuid.NewString()); errType(err) != "ReferralNotFound" {
		t.Fatalf("missing referral: %v, want a non-retryable ReferralNotFound", err)
	}
	if _, err := a.LoadReferral(ctx, "not-a-uuid"); errType(err) != "InvalidInput" {
		t.Fatalf("bad ID: %v, want a non-retryable InvalidInput", err)
	}
}

// A retried status change (the first attempt committed but its answer was
// lost) changes nothing twice and records one event.
func TestChangeReferralStatusIsIdempotent(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	a := activities.New(d.Pool)
	ctx := context.Background()
	change := activities.StatusChange{
		ReferralID: fx.Referral.ID.String(), From: referral.Pending, To: referral.Denied,
		Reason: "self-referral", Actor: "admin:1", IdempotencyKey: "update:abc",
	}
	for attempt := 1; attempt <= 3; attempt++ {
		if err := a.ChangeReferralStatus(ctx, change); err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
	}
	ref, err := d.Queries.ReferralGetByID(ctx, fx.Referral.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Status != "denied" || ref.DeniedReason == nil || *ref.DeniedReason != "self-referral" || ref.DeniedAt == nil {
		t.Fatalf("referral after denial: %+v", ref)
	}
	events, err := d.Queries.ReferralEventListByReferral(ctx, fx.Referral.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Kind != "status_changed" || *events[0].ToStatus != "denied" || events[0].Actor != "admin:1" {
		t.Fatalf("audit trail after 3 attempts: %+v", events)
	}
}

// A decision made on a status that has since changed is refused, not applied
// over the newer status.
func TestChangeReferralStatusRefusesAStaleDecision(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	a := activities.New(d.Pool)
	ctx := context.Background()
	id := fx.Referral.ID.String()
	if err := a.ChangeReferralStatus(ctx, activities.StatusChange{ReferralID: id, From: referral.Pending, To: referral.Qualified, Actor: "system", IdempotencyKey: "k1"}); err != nil {
		t.Fatal(err)
	}
	err := a.ChangeReferralStatus(ctx, activities.StatusChange{ReferralID: id, From: referral.Pending, To: referral.Denied, Reason: "x", Actor: "admin:2", IdempotencyKey: "k2"})
	if errType(err) != "StatusConflict" {
		t.Fatalf("stale decision: %v, want a non-retryable StatusConflict", err)
	}
	ref, _ := d.Queries.ReferralGetByID(ctx, fx.Referral.ID)
	events, _ := d.Queries.ReferralEventListByReferral(ctx, fx.Referral.ID)
	if ref.Status != "qualified" || len(events) != 1 {
		t.Fatalf("after a refused decision: status %s, %d events", ref.Status, len(events))
	}
}

func TestRecordReferralEventIsIdempotent(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	a := activities.New(d.Pool)
	ctx := context.Background()
	ev := activities.ReferralEvent{ReferralID: fx.Referral.ID.String(), Kind: "workflow_started", Actor: "system", IdempotencyKey: "started"}
	for range 2 {
		if err := a.RecordReferralEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	events, err := d.Queries.ReferralEventListByReferral(ctx, fx.Referral.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || string(events[0].Details) != "{}" {
		t.Fatalf("events = %+v", events)
	}
}

// With notify_on_status_change on, each status change queues one
// referral.status_changed webhook in its own transaction (none for a
// retried change, none when the switch is off).
func TestChangeReferralStatusQueuesItsAnnouncement(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	a := activities.New(d.Pool)
	ctx := context.Background()
	url := "http://127.0.0.1:9/hook" // never called here
	if _, err := d.Queries.CampaignUpdateDetails(ctx, db.CampaignUpdateDetailsParams{ID: fx.Campaign.ID, WorkspaceID: fx.Workspace.ID, FulfilmentWebhookUrl: &url}); err != nil {
		t.Fatal(err)
	}
	id := fx.Referral.ID.String()
	queued := func() []db.WebhookDelivery {
		t.Helper()
		rows, err := d.Queries.WebhookDeliveryListFiltered(ctx, db.WebhookDeliveryListFilteredParams{
			WorkspaceID: fx.Workspace.ID, BeforeCreatedAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), BeforeID: uuid.Max, PageSize: 10,
		})
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	if err := a.ChangeReferralStatus(ctx, activities.StatusChange{ReferralID: id, From: referral.Pending, To: referral.Qualified, Actor: "system", IdempotencyKey: "k1"}); err != nil {
		t.Fatal(err)
	}
	if rows := queued(); len(rows) != 0 {
		t.Fatalf("switch off: %d deliveries queued", len(rows))
	}
	s := campaign.Defaults()
	s.ProcessRules.NotifyOnStatusChange = true
	d.SetCampaignSettings(t, fx.Campaign, s)
	change := activities.StatusChange{ReferralID: id, From: referral.Qualified, To: referral.Approved, Reason: "deal won", Actor: "system", IdempotencyKey: "k2"}
	for range 2 {
		if err := a.ChangeReferralStatus(ctx, change); err != nil {
			t.Fatal(err)
		}
	}
	rows := queued()
	if len(rows) != 1 || rows[0].EventType != "referral.status_changed" || rows[0].Status != "pending" {
		t.Fatalf("queued %+v, want one pending referral.status_changed", rows)
	}
	var ev struct {
		ID   string                               `json:"id"`
		Data activities.ReferralStatusChangedData `json:"data"`
	}
	if err := json.Unmarshal(rows[0].Body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ID != rows[0].EventID || ev.Data.ReferralID != id || ev.Data.From != "qualified" || ev.Data.To != "approved" || ev.Data.Reason != "deal won" {
		t.Fatalf("event %s", rows[0].Body)
	}
}
