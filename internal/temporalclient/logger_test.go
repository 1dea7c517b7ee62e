package temporalclient

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
)

// A HubSpot error the SDK logs keeps its type and loses its message (it
// may quote an email); other errors are logged whole.
func TestSDKLogsWithholdHubSpotMessages(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(slog.New(slog.NewJSONHandler(&buf, nil)))
	hub := temporal.NewNonRetryableApplicationError(`Property values were not valid: "ana@example.com" is not a valid email`, "HubSpotValidation", nil)
	l.Error("Activity error.", "WorkflowID", "referral/123", "Error", hub)
	l.Error("Activity error.", "WorkflowID", "referral/456", "Error", errors.New("dial tcp 127.0.0.1:5432: connection refused"))
	out := buf.String()
	if strings.Contains(out, "ana@example.com") || !strings.Contains(out, "HubSpotValidation") || !strings.Contains(out, "referral/123") {
		t.Fatalf("the HubSpot error's message reached the log, or its type did not:\n%s", out)
	}
	if !strings.Contains(out, "connection refused") {
		t.Fatalf("another error lost its message:\n%s", out)
	}
}
