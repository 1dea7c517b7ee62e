package campaign

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/referral"
)

// settings.fraud_checks has one entry per fraud reason, named by it.
func TestFraudChecksHaveOneEntryPerReason(t *testing.T) {
	var keys []string
	typ := reflect.TypeOf(FraudChecks{})
	for i := range typ.NumField() {
		keys = append(keys, strings.Split(typ.Field(i).Tag.Get("json"), ",")[0])
	}
	var reasons []string
	for _, r := range referral.FraudReasons {
		reasons = append(reasons, string(r))
		if DefaultFraudChecks().ActionFor(r) == "" {
			t.Errorf("%s has no default action", r)
		}
	}
	if !slices.Equal(keys, reasons) {
		t.Fatalf("fraud_checks keys %v; the reasons are %v", keys, reasons)
	}
}

func TestFraudChecksAreValidated(t *testing.T) {
	s := Defaults()
	s.FraudChecks.SelfReferral.Action = "block"
	s.FraudChecks.VisitorVelocity = VelocityCheck{Action: FraudDeny, MaxReferrals: -1, WindowMinutes: MaxFraudWindowMinutes + 1}
	s.FraudChecks.SharedVisitor.MaxMembers = MaxFraudCount + 1
	got := fields(s.Validate())
	for field, want := range map[string]string{
		"fraud_checks.self_referral.action":            `deny, review or off, not "block"`,
		"fraud_checks.visitor_velocity.max_referrals":  "between 1 and 10000",
		"fraud_checks.visitor_velocity.window_minutes": "between 1 and 527040",
		"fraud_checks.shared_visitor.max_members":      "between 1 and 10000",
	} {
		if !strings.Contains(got[field], want) {
			t.Errorf("%s: %q, want it to say %q", field, got[field], want)
		}
		delete(got, field)
	}
	if len(got) > 0 {
		t.Errorf("unexpected problems: %v", got)
	}
}

// What an admin leaves out takes its default, both when saving (Normalize)
// and when reading a campaign stored before the checks existed.
func TestFraudChecksDefaults(t *testing.T) {
	s := Defaults()
	if err := json.Unmarshal([]byte(`{"fraud_checks": {"company_domain": {"action": "review"}, "member_velocity": {"max_referrals": 0, "window_minutes": 60}}}`), &s); err != nil {
		t.Fatal(err)
	}
	s.Normalize()
	f := s.FraudChecks
	if f.CompanyDomain.Action != FraudReview || f.SelfReferral.Action != FraudDeny ||
		f.MemberVelocity != (VelocityCheck{Action: FraudReview, MaxReferrals: 20, WindowMinutes: 60}) {
		t.Fatalf("merged fraud checks = %+v", f)
	}
	if p := s.Validate(); len(p) > 0 {
		t.Fatalf("defaults are invalid: %+v", p)
	}
	old, err := FromColumns([16]byte{}, Columns{FraudChecks: []byte("{}")})
	if err != nil || old.FraudChecks != DefaultFraudChecks() {
		t.Fatalf("a campaign stored without fraud checks reads %+v, %v", old.FraudChecks, err)
	}
	if !FraudDeny.Stricter(FraudReview) || !FraudReview.Stricter(FraudOff) || FraudReview.Stricter(FraudDeny) {
		t.Fatal("deny > review > off")
	}
}
