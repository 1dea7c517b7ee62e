package browser

import (
	_ "embed"
)

// accessibilityJS checks the two things referflow's pages promise that
// axe-core (see AxeViolations) does not check: it is kept for those only.
//
//go:embed accessibility.js
var accessibilityJS string

// OwnAccessibilityProblems lists, in words, what the page in the tab
// breaks of the two rules axe-core lacks: exactly one <h1> (axe's
// page-has-heading-one wants at least one, as a moderate best practice),
// and no visible control taken out of the keyboard's reach by a negative
// tabindex outside an aria-hidden trap (axe has no rule for it). Language,
// title, labels, alt text and contrast are axe-core's: see CheckAccessible,
// which runs both. It reads the page through the DevTools protocol, so it
// works with the page's JavaScript off too.
func (b *Browser) OwnAccessibilityProblems() []string {
	b.t.Helper()
	problems, err := Eval[[]string](b, accessibilityJS)
	if err != nil {
		b.t.Fatalf("browser: check accessibility: %v", err)
	}
	return problems
}
