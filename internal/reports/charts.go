package reports

import (
	"fmt"
	"hash/fnv"
	"html/template"
	"strconv"
	"strings"
)

// Server-rendered charts: small inline SVGs the Reports page embeds, with no
// script, no style attribute (a strict Content-Security-Policy allows them)
// and every text escaped. Each is an image with a name (role="img", <title>)
// and a description listing every value (<desc>), and every bar carries its
// label and value as text, so the chart reads without seeing it.

// Bar is one bar of a chart: its label, its length, and the text shown at
// its end (e.g. "1,204" or "3 (60.0%)").
type Bar struct {
	Label string
	Value float64
	Text  string
}

// Layout of a horizontal bar chart, in SVG user units.
const (
	chartWidth  = 640
	labelWidth  = 170
	valueWidth  = 110
	rowHeight   = 30
	barHeight   = 20
	chartMargin = 6
)

// BarChart draws bars side by side, one row each, scaled to the largest
// value; a bar of a positive value is at least one unit long so it shows.
func BarChart(title string, bars []Bar) template.HTML {
	id := chartID(title, bars)
	height := chartMargin*2 + rowHeight*max(len(bars), 1)
	var top float64
	for _, b := range bars {
		top = max(top, b.Value)
	}
	var desc []string
	for _, b := range bars {
		desc = append(desc, b.Label+": "+b.Text)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-labelledby="%[1]s-title %[1]s-desc" viewBox="0 0 %[2]d %[3]d" width="100%%" preserveAspectRatio="xMinYMin meet">`,
		id, chartWidth, height)
	fmt.Fprintf(&sb, `<title id="%s-title">%s</title>`, id, esc(title))
	fmt.Fprintf(&sb, `<desc id="%s-desc">%s</desc>`, id, esc(strings.Join(desc, "; ")))
	if len(bars) == 0 {
		fmt.Fprintf(&sb, `<text x="0" y="%d" fill="currentColor">No data</text>`, chartMargin+rowHeight/2+5)
	}
	span := float64(chartWidth - labelWidth - valueWidth)
	for i, b := range bars {
		y := chartMargin + i*rowHeight
		w := 0.0
		if top > 0 && b.Value > 0 {
			w = max(1, b.Value/top*span)
		}
		fmt.Fprintf(&sb, `<g class="bar"><text x="%d" y="%d" text-anchor="end" fill="currentColor">%s</text>`,
			labelWidth-8, y+barHeight/2+5, esc(b.Label))
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%s" height="%d" fill="#2f6fdb"></rect>`,
			labelWidth, y, strconv.FormatFloat(w, 'f', 1, 64), barHeight)
		fmt.Fprintf(&sb, `<text x="%s" y="%d" fill="currentColor">%s</text></g>`,
			strconv.FormatFloat(float64(labelWidth)+w+6, 'f', 1, 64), y+barHeight/2+5, esc(b.Text))
	}
	sb.WriteString(`</svg>`)
	// Every text and attribute value above is escaped or a number.
	return template.HTML(sb.String()) //nolint:gosec // built from escaped parts
}

// esc escapes text for SVG content and attribute values.
func esc(s string) string { return template.HTMLEscapeString(s) }

// chartID names a chart's title and description uniquely enough for one
// page: the same chart twice gets the same ID, two charts different ones.
func chartID(title string, bars []Bar) string {
	h := fnv.New32a()
	h.Write([]byte(title))
	for _, b := range bars {
		h.Write([]byte("\x00" + b.Label + "\x00" + b.Text))
	}
	return fmt.Sprintf("chart-%08x", h.Sum32())
}

// Chart draws the funnel: a bar per step with its count and the rate from
// the step before.
func (f Funnel) Chart() template.HTML {
	bars := make([]Bar, 0, len(f.Steps))
	for _, st := range f.Steps {
		text := groupThousands(st.Count)
		if st.RateFromPrevious != nil {
			text += " (" + percent(st.RateFromPrevious) + "%)"
		}
		bars = append(bars, Bar{Label: st.Step, Value: float64(st.Count), Text: text})
	}
	return BarChart("Funnel, "+f.From+" to "+f.To, bars)
}

// Chart draws how many approvals took how long, a bar per bucket.
func (a ApprovalTime) Chart() template.HTML {
	bars := make([]Bar, 0, len(a.Buckets))
	for _, b := range a.Buckets {
		bars = append(bars, Bar{Label: b.Label, Value: float64(b.Count), Text: groupThousands(b.Count)})
	}
	return BarChart("Time from referral to approval, "+a.From+" to "+a.To, bars)
}

// groupThousands writes 1234567 as "1,234,567".
func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}
