package reports

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Period is the stretch of time a report covers: whole days in UTC, From
// and To both included. Reports compare times with [Start, End).
type Period struct {
	From time.Time // midnight UTC of the first day
	To   time.Time // midnight UTC of the last day
}

// Start is the first instant of the period.
func (p Period) Start() time.Time { return p.From }

// End is the first instant after the period (midnight after its last day).
func (p Period) End() time.Time { return p.To.AddDate(0, 0, 1) }

// Days is how many days the period covers.
func (p Period) Days() int { return int(p.End().Sub(p.From).Hours()/24 + 0.5) }

// String is the period as the API and CSV file names show it.
func (p Period) String() string {
	return p.From.Format(DateLayout) + " to " + p.To.Format(DateLayout)
}

// DateLayout is how a report's from and to dates are written: 2026-11-30.
const DateLayout = "2006-01-02"

// MaxDays is the longest period a report covers: a year, leap day included.
// Longer ranges are refused rather than left to run long on big programs.
const MaxDays = 366

// Presets are the periods offered without typing dates: the last 7, 30 or
// 90 days, today included.
var Presets = []string{"7d", "30d", "90d"}

// DefaultPreset is the period of a report when none is asked for.
const DefaultPreset = "30d"

// LastDays is the period of n days ending with today (UTC).
func LastDays(n int, now time.Time) Period {
	today := now.UTC().Truncate(24 * time.Hour)
	return Period{From: today.AddDate(0, 0, -(n - 1)), To: today}
}

// ParsePeriod reads a period as a request gives it: a preset ("7d", "30d",
// "90d"), or from and to dates (both needed, both included), or nothing
// (DefaultPreset). It returns the problems by input name ("period", "from",
// "to"), each saying what to fix, when the input is not a period.
func ParsePeriod(preset, from, to string, now time.Time) (Period, map[string]string) {
	preset, from, to = strings.TrimSpace(preset), strings.TrimSpace(from), strings.TrimSpace(to)
	problems := map[string]string{}
	if preset != "" {
		if from != "" || to != "" {
			problems["period"] = "give either period or from and to, not both"
			return Period{}, problems
		}
		if !slices.Contains(Presets, strings.ToLower(preset)) {
			problems["period"] = "must be one of " + strings.Join(Presets, ", ") + " (the last 7, 30 or 90 days)"
			return Period{}, problems
		}
	}
	if from == "" && to == "" {
		if preset == "" {
			preset = DefaultPreset
		}
		var n int
		_, _ = fmt.Sscanf(strings.ToLower(preset), "%dd", &n)
		return LastDays(n, now), nil
	}
	date := func(name, raw string) time.Time {
		if raw == "" {
			problems[name] = "is missing: give both from and to (dates such as 2026-11-30), or a period"
			return time.Time{}
		}
		t, err := time.Parse(DateLayout, raw)
		if err != nil {
			problems[name] = fmt.Sprintf("%q is not a date: write it as YYYY-MM-DD, e.g. 2026-11-30", raw)
			return time.Time{}
		}
		if t.Year() < 2000 {
			problems[name] = "must be in the year 2000 or later"
		}
		return t
	}
	p := Period{From: date("from", from), To: date("to", to)}
	if len(problems) > 0 {
		return Period{}, problems
	}
	switch {
	case p.To.Before(p.From):
		problems["to"] = fmt.Sprintf("is before from (%s): the period runs from from to to, both included", from)
	case p.Days() > MaxDays:
		problems["to"] = fmt.Sprintf("is %d days after from: a report covers at most %d days", p.Days()-1, MaxDays)
	}
	if len(problems) > 0 {
		return Period{}, problems
	}
	return p, nil
}
