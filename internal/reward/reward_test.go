package reward_test

import (
	"errors"
	"math/big"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/reward"
)

func sale(t *testing.T, s, currency string) *reward.Amount {
	t.Helper()
	a, err := reward.ParseAmount(s, currency)
	if err != nil {
		t.Fatal(err)
	}
	return &a
}

func TestCompute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		r      campaign.Reward
		sale   *reward.Amount
		want   string
		wantCc string
	}{
		{"fixed", campaign.Reward{Kind: "fixed", Amount: "50", Currency: "EUR"}, nil, "50.00", "EUR"},
		{"fixed with cents", campaign.Reward{Kind: "fixed", Amount: "19.9", Currency: "USD"}, sale(t, "10", "EUR"), "19.90", "USD"},
		{"10% of 1234.55 rounds half up", campaign.Reward{Kind: "percentage", Percent: "10"}, sale(t, "1234.55", "EUR"), "123.46", "EUR"},
		{"2.5% of 99.99 rounds half up", campaign.Reward{Kind: "percentage", Percent: "2.5"}, sale(t, "99.99", "USD"), "2.50", "USD"},
		{"rounds down below half", campaign.Reward{Kind: "percentage", Percent: "10"}, sale(t, "0.04", "USD"), "0.00", "USD"},
		{"exactly half rounds up", campaign.Reward{Kind: "percentage", Percent: "10"}, sale(t, "0.05", "USD"), "0.01", "USD"},
		{"four decimal places", campaign.Reward{Kind: "percentage", Percent: "33.3333"}, sale(t, "300", "GBP"), "100.00", "GBP"},
		{"100% of the largest amount", campaign.Reward{Kind: "percentage", Percent: "100"}, sale(t, "99999999999999.99", "JPY"), "99999999999999.99", "JPY"},
		{"0.0001% of the largest amount", campaign.Reward{Kind: "percentage", Percent: "0.0001"}, sale(t, "99999999999999.99", "USD"), "100000000.00", "USD"},
		{"matching currency", campaign.Reward{Kind: "percentage", Percent: "1", Currency: "EUR"}, sale(t, "1000", "EUR"), "10.00", "EUR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := reward.Compute(tc.r, tc.sale)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want || got.Currency != tc.wantCc {
				t.Fatalf("got %s %s, want %s %s", got, got.Currency, tc.want, tc.wantCc)
			}
		})
	}
}

func TestComputeErrors(t *testing.T) {
	t.Parallel()
	if _, err := reward.Compute(campaign.Reward{Kind: "percentage", Percent: "10"}, nil); !errors.Is(err, reward.ErrNoSaleValue) {
		t.Fatalf("percentage without a sale value: %v, want ErrNoSaleValue", err)
	}
	for _, r := range []campaign.Reward{
		{Kind: "fixed", Amount: "1.005", Currency: "EUR"},
		{Kind: "fixed", Amount: "-1", Currency: "EUR"},
		{Kind: "fixed", Amount: "1e3", Currency: "EUR"},
		{Kind: "fixed", Amount: "10", Currency: "eur"},
		{Kind: "fixed", Amount: "10"},
		{Kind: "percentage", Percent: "0"},
		{Kind: "percentage", Percent: "100.0001"},
		{Kind: "percentage", Percent: "1.00001"},
		{Kind: "percentage", Percent: "10", Currency: "USD"}, // sale is in EUR
		{Kind: "bonus"},
	} {
		if got, err := reward.Compute(r, sale(t, "100", "EUR")); err == nil {
			t.Errorf("%+v: got %s, want an error", r, got)
		}
	}
}

func TestFromNumeric(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    pgtype.Numeric
		want string
	}{
		{pgtype.Numeric{Int: big.NewInt(123455), Exp: -2, Valid: true}, "1234.55"},
		{pgtype.Numeric{Int: big.NewInt(12), Exp: 1, Valid: true}, "120.00"},
		{pgtype.Numeric{Int: big.NewInt(1234500), Exp: -4, Valid: true}, "123.45"},
	} {
		got, ok, err := reward.FromNumeric(tc.n, "EUR")
		if err != nil || !ok || got.String() != tc.want {
			t.Errorf("%+v: %s %v %v, want %s", tc.n, got, ok, err, tc.want)
		}
		if back := got.Numeric(); back.Int.Int64() != got.Cents || back.Exp != -2 {
			t.Errorf("round trip of %s: %+v", got, back)
		}
	}
	if _, ok, err := reward.FromNumeric(pgtype.Numeric{}, "EUR"); ok || err != nil {
		t.Errorf("NULL: ok %v, err %v", ok, err)
	}
	if _, _, err := reward.FromNumeric(pgtype.Numeric{Int: big.NewInt(1), Exp: -3, Valid: true}, "EUR"); err == nil {
		t.Error("a tenth of a cent was accepted")
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	a := reward.IdempotencyKey("r1", reward.Member, 1)
	if a != reward.IdempotencyKey("r1", reward.Member, 1) {
		t.Fatal("not stable")
	}
	for _, b := range []string{
		reward.IdempotencyKey("r1", reward.Friend, 1),
		reward.IdempotencyKey("r1", reward.Member, 2),
		reward.IdempotencyKey("r2", reward.Member, 1),
	} {
		if a == b {
			t.Fatalf("%s is not unique", a)
		}
	}
}
