// Package browser_test is referflow's browser suite: its public pages —
// referral links, the tracking script on a customer's page of another
// origin, the join page, the hosted lead form — opened in a real headless
// Chromium (Debian's chromium, driven with chromedp through
// internal/dev/browser), over the real stack: Postgres, the Temporal dev
// server, the api on a loopback listener and the worker. Each test follows
// what a visitor does and checks what they see and what referflow kept.
//
// It runs only when asked: `make browser` (which installs chromium first),
// or
//
//	REFERFLOW_BROWSER=1 go test -race -count=1 -v ./e2e/browser/
//
// Chromium reaches nothing but loopback: its background traffic is off by
// its flags, and every request of its tab to another address is refused
// and fails the test.
package browser_test

import (
	"os"
	"testing"

	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/workflows"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.WithSearchAttributes(workflows.SearchAttributes)))
}
