package campaign

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The lifecycle, spelled out move by move: every pair of statuses is either
// allowed or refused with a message naming what is allowed.
func TestCampaignStatusTransitions(t *testing.T) {
	allowed := map[[2]Status]bool{
		{Draft, Active}: true, {Draft, Archived}: true,
		{Active, Paused}: true, {Active, Archived}: true,
		{Paused, Active}: true, {Paused, Archived}: true,
	}
	for _, from := range Statuses {
		for _, to := range Statuses {
			err := CheckTransition(from, to)
			switch {
			case from == to:
				if err != nil {
					t.Errorf("%s → %s (no move) refused: %v", from, to, err)
				}
			case allowed[[2]Status{from, to}]:
				if err != nil {
					t.Errorf("%s → %s refused: %v", from, to, err)
				}
			default:
				var te *TransitionError
				if !errors.As(err, &te) {
					t.Errorf("%s → %s allowed, want refused", from, to)
					continue
				}
				for _, a := range AllowedTransitions(from) {
					if !strings.Contains(err.Error(), string(a)) {
						t.Errorf("%s → %s: %q does not name the allowed %s", from, to, err, a)
					}
				}
			}
		}
	}
	if got := AllowedTransitions(Archived); len(got) != 0 {
		t.Fatalf("archived can become %v, want nothing", got)
	}
	if err := CheckTransition(Archived, Active); err == nil || !strings.Contains(err.Error(), "final") {
		t.Fatalf("archived → active: %v", err)
	}
	if got := fmt.Sprint(AllowedTransitions(Paused)); got != "[active archived]" {
		t.Fatalf("from paused: %s", got)
	}
}

func TestOnlyActiveCampaignsTakeNewMembersAndReferrals(t *testing.T) {
	for _, s := range Statuses {
		err := CheckTakesNew(s)
		if (s == Active) != (err == nil) {
			t.Errorf("%s: CheckTakesNew = %v", s, err)
		}
		if err != nil && !strings.Contains(err.Error(), string(s)) {
			t.Errorf("%s: the refusal %q does not say the status", s, err)
		}
	}
	if !slices.Equal(InitialStatuses, []Status{Draft, Active}) {
		t.Fatalf("initial statuses %v", InitialStatuses)
	}
	if _, err := ParseStatus("Active"); err == nil {
		t.Fatal("a status in another case parsed")
	}
}
