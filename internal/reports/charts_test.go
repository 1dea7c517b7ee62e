package reports_test

import (
	"encoding/xml"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/reports"
)

// TestBarChart: the chart is well-formed SVG, named and described for a
// screen reader, with its labels as text (escaped) and bars to scale.
func TestBarChart(t *testing.T) {
	t.Parallel()
	svg := string(reports.BarChart(`Clicks <b>& "joins"`, []reports.Bar{
		{Label: "clicks", Value: 200, Text: "200"},
		{Label: "<script>alert(1)</script>", Value: 100, Text: "100 (50.0%)"},
		{Label: "none", Value: 0, Text: "0"},
	}))
	dec := xml.NewDecoder(strings.NewReader(svg))
	var texts []string
	var widths []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed SVG: %v\n%s", err, svg)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			if v.Name.Local == "rect" {
				for _, a := range v.Attr {
					if a.Name.Local == "width" {
						widths = append(widths, a.Value)
					}
				}
			}
			for _, a := range v.Attr {
				if a.Name.Local == "style" || strings.HasPrefix(a.Name.Local, "on") {
					t.Errorf("attribute %s: a strict CSP refuses it", a.Name.Local)
				}
			}
		case xml.CharData:
			if s := strings.TrimSpace(string(v)); s != "" {
				texts = append(texts, s)
			}
		}
	}
	if strings.Contains(svg, "<script") || strings.Contains(svg, "<b>") {
		t.Errorf("text not escaped:\n%s", svg)
	}
	if !strings.Contains(svg, `role="img"`) || !regexp.MustCompile(`^<svg[^>]*aria-labelledby="(chart-[0-9a-f]+)-title chart-[0-9a-f]+-desc"[^>]*><title id="chart-[0-9a-f]+-title">`).MatchString(svg) {
		t.Errorf("not an accessible image:\n%s", svg)
	}
	want := []string{`Clicks <b>& "joins"`, `clicks: 200; <script>alert(1)</script>: 100 (50.0%); none: 0`,
		"clicks", "200", "<script>alert(1)</script>", "100 (50.0%)", "none", "0"}
	if strings.Join(texts, "|") != strings.Join(want, "|") {
		t.Errorf("texts %q, want %q", texts, want)
	}
	// 360 units for the largest value, half for half of it, none for 0.
	if strings.Join(widths, " ") != "360.0 180.0 0.0" {
		t.Errorf("bar widths %v", widths)
	}
	if empty := string(reports.BarChart("Nothing", nil)); !strings.Contains(empty, "No data") {
		t.Errorf("an empty chart says nothing: %s", empty)
	}
}

func TestReportCharts(t *testing.T) {
	t.Parallel()
	half := 0.5
	f := reports.Funnel{Header: reports.Header{From: "2026-11-01", To: "2026-11-30"}, Steps: []reports.FunnelStep{
		{Step: "clicks", Count: 12000}, {Step: "joins", Count: 6000, RateFromPrevious: &half}}}
	svg := string(f.Chart())
	for _, want := range []string{"Funnel, 2026-11-01 to 2026-11-30", ">12,000<", ">6,000 (50.0%)<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("funnel chart lacks %q:\n%s", want, svg)
		}
	}
	a := reports.ApprovalTime{Buckets: []reports.ApprovalBucket{{Label: "under 1 hour", Count: 3}}}
	if svg := string(a.Chart()); !strings.Contains(svg, ">under 1 hour<") || !strings.Contains(svg, ">3<") {
		t.Errorf("approval chart:\n%s", svg)
	}
}
