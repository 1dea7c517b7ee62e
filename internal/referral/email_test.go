package referral

import (
	"strings"
	"testing"
)

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		" Maya@Example.com ":         "maya@example.com",
		"maya+referflow@example.com": "maya@example.com",
		"J.Doe+x@gmail.com":          "jdoe@gmail.com",
		"j.doe@googlemail.com":       "jdoe@gmail.com",
		"j.doe@company.com":          "j.doe@company.com",
		"+tag@example.com":           "+tag@example.com",
		"not-an-email":               "not-an-email",
	} {
		if got := NormalizeEmail(in); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckEmail(t *testing.T) {
	longest := strings.Repeat("l", MaxEmailLocalLength) + "@" + strings.Repeat("d", MaxEmailLength-MaxEmailLocalLength-5) + ".com"
	for _, ok := range []string{"leo@example.org", "a.b+c@sub.example.co.uk", longest} {
		if err := CheckEmail(ok); err != nil {
			t.Errorf("CheckEmail(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "leo", "leo@", "Leo <leo@example.org>", "leo@localhost", "a b@example.org",
		strings.Repeat("l", 5000) + "@example.org", strings.Repeat("l", MaxEmailLocalLength+1) + "@example.org", "l@" + strings.Repeat("d", MaxEmailLength) + ".com"} {
		if err := CheckEmail(bad); err == nil {
			t.Errorf("CheckEmail(%q) accepted", bad)
		}
	}
}
