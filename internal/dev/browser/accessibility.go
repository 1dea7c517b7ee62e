package browser

import (
	_ "embed"
)

// accessibilityJS looks at the page as a person with a screen reader, a
// keyboard or weak eyes meets it, and lists what is in their way.
//
//go:embed accessibility.js
var accessibilityJS string

// AccessibilityProblems lists what keeps the page in the tab from being
// used by everyone, in words ("" items none): no <html lang> or <title>,
// not exactly one <h1>, a form field no label names, an image without alt
// text, a control taken out of the keyboard's reach (a negative tabindex
// outside an aria-hidden trap), and text whose contrast with its
// background is under WCAG AA's 4.5:1 (3:1 for large text). It reads the
// page through the DevTools protocol, so it works with the page's
// JavaScript off too.
func (b *Browser) AccessibilityProblems() []string {
	b.t.Helper()
	problems, err := Eval[[]string](b, accessibilityJS)
	if err != nil {
		b.t.Fatalf("browser: check accessibility: %v", err)
	}
	return problems
}
