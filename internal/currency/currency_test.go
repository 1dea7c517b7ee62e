package currency

import (
	"slices"
	"testing"
)

func TestKnownCurrencies(t *testing.T) {
	if !slices.IsSorted(codes) || len(slices.Compact(slices.Clone(codes))) != len(codes) {
		t.Fatal("the list is not sorted and unique: Known's binary search would miss codes")
	}
	for _, c := range []string{"USD", "EUR", "GBP", "JPY", "CHF", "XOF", "ZWG", "AED", "XCG"} {
		if !Known(c) {
			t.Errorf("%s is a currency", c)
		}
	}
	for _, c := range []string{"XXX", "XTS", "XAU", "XDR", "usd", "US", "USDX", "", "HRK", "ZWL", "ABC", "CHE"} {
		if Known(c) {
			t.Errorf("%q is not a currency anyone pays in", c)
		}
	}
	if n := len(Codes()); n < 150 || n > 165 {
		t.Fatalf("%d codes: ISO 4217 has about 155 active currencies", n)
	}
}
