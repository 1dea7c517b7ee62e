package workflows

import (
	"testing"
	"time"

	"github.com/referflow/referflow/internal/hubspot"
)

// The waiting step's timer backs off from a minute to six hours, never
// beyond.
func TestRetryAfterBacksOffToSixHours(t *testing.T) {
	for attempts, want := range map[int]time.Duration{
		1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 9: 256 * time.Minute, 10: 6 * time.Hour, 100: 6 * time.Hour,
	} {
		if got := retryAfter(attempts); got != want {
			t.Errorf("retryAfter(%d) = %v, want %v", attempts, got, want)
		}
	}
}

// workflows names HubSpot's error types without importing the client: the
// names must be the client's.
func TestHubSpotErrorTypesAreTheClients(t *testing.T) {
	if hubSpotErrConnectionBroken != hubspot.ErrorTypeConnectionBroken || hubSpotErrUnauthorized != hubspot.ErrorTypeUnauthorized {
		t.Fatalf("workflows' HubSpot error types %q, %q differ from internal/hubspot's %q, %q",
			hubSpotErrConnectionBroken, hubSpotErrUnauthorized, hubspot.ErrorTypeConnectionBroken, hubspot.ErrorTypeUnauthorized)
	}
}
