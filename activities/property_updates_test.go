package activities_test

import (
	"context"
	"testing"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
)

func TestApplyPropertyUpdate(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	a := activities.New(d.Pool)
	ctx := context.Background()
	id := fx.Referral.ID.String()
	amount := campaign.PropertyUpdate{Object: "deal", Property: "amount", Field: "sale_value", Currency: "EUR"}

	if err := a.ApplyPropertyUpdate(ctx, activities.PropertyUpdateInput{ReferralID: id, Update: amount, Value: "1234.5"}); err != nil {
		t.Fatal(err)
	}
	r, _ := d.Queries.ReferralGetByID(ctx, fx.Referral.ID)
	if v, _ := r.SaleValue.Float64Value(); !r.SaleValue.Valid || v.Float64 != 1234.5 || r.Currency == nil || *r.Currency != "EUR" {
		t.Fatalf("sale value = %+v %v", r.SaleValue, r.Currency)
	}
	if err := a.ApplyPropertyUpdate(ctx, activities.PropertyUpdateInput{ReferralID: id, Update: amount, Value: "a lot"}); errType(err) != "InvalidPropertyValue" {
		t.Fatalf("a non-number amount: %v", err)
	}

	// An email another referral of the campaign already has is refused.
	other := addReferral(t, d, fx, "other@example.org")
	email := campaign.PropertyUpdate{Object: "contact", Property: "email", Field: "email"}
	if err := a.ApplyPropertyUpdate(ctx, activities.PropertyUpdateInput{ReferralID: other.ID.String(), Update: email, Value: "LEO@example.org"}); errType(err) != "DuplicateLead" {
		t.Fatalf("duplicate email: %v", err)
	}
	if err := a.ApplyPropertyUpdate(ctx, activities.PropertyUpdateInput{ReferralID: other.ID.String(), Update: email, Value: "o.new@example.org"}); err != nil {
		t.Fatal(err)
	}
	r, _ = d.Queries.ReferralGetByID(ctx, other.ID)
	if r.LeadEmail != "o.new@example.org" || r.LeadEmailNormalized != "o.new@example.org" {
		t.Fatalf("email = %s / %s", r.LeadEmail, r.LeadEmailNormalized)
	}
}
