package reports_test

import (
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/reports"
)

func TestParsePeriod(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 16, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		preset, from, to string
		want             string // "2026-11-04 to 2026-12-03", or the field with a problem
		problem          string // part of the problem's message
	}{
		{"", "", "", "2026-11-04 to 2026-12-03", ""},
		{"7d", "", "", "2026-11-27 to 2026-12-03", ""},
		{"90D", "", "", "2026-09-05 to 2026-12-03", ""},
		{"", "2026-11-01", "2026-11-30", "2026-11-01 to 2026-11-30", ""},
		{"", "2026-11-01", "2026-11-01", "2026-11-01 to 2026-11-01", ""},
		{"", "2025-01-01", "2025-12-31", "2025-01-01 to 2025-12-31", ""},
		{"365d", "", "", "period", "must be one of 7d, 30d, 90d"},
		{"7d", "2026-11-01", "", "period", "not both"},
		{"", "2026-11-01", "", "to", "is missing"},
		{"", "", "2026-11-01", "from", "is missing"},
		{"", "2026-11-31", "2026-12-01", "from", "is not a date"},
		{"", "01/11/2026", "2026-12-01", "from", "YYYY-MM-DD"},
		{"", "2026-12-01", "2026-11-01", "to", "is before from"},
		{"", "2024-01-01", "2025-01-02", "to", "at most 366 days"},
		{"", "1999-12-31", "2000-01-01", "from", "2000 or later"},
	} {
		p, problems := reports.ParsePeriod(tc.preset, tc.from, tc.to, now)
		if tc.problem == "" {
			if problems != nil || p.String() != tc.want {
				t.Errorf("ParsePeriod(%q, %q, %q) = %s, %v; want %s", tc.preset, tc.from, tc.to, p, problems, tc.want)
			}
			continue
		}
		if !strings.Contains(problems[tc.want], tc.problem) {
			t.Errorf("ParsePeriod(%q, %q, %q) problems %v; want %s: ...%s...", tc.preset, tc.from, tc.to, problems, tc.want, tc.problem)
		}
	}
	if d := reports.LastDays(7, now).Days(); d != 7 {
		t.Errorf("7 days has %d days", d)
	}
}
