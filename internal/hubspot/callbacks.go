package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// callbacksPath is HubSpot's callback API for blocked custom workflow
// action executions (2026-03; the legacy path is
// /automation/v4/actions/callbacks).
const callbacksPath = "/automation/actions/callbacks/" + APIVersion

// CompleteCallback completes a blocked workflow action execution with its
// output fields, on which the HubSpot workflow branches. HubSpot answers an
// unknown (or expired) callback 404, a *NotFoundError.
func (c *Client) CompleteCallback(ctx context.Context, callbackID string, outputFields map[string]string) error {
	if callbackID == "" {
		return fmt.Errorf("%w: complete a callback: no callbackId", ErrInvalidRequest)
	}
	body := map[string]any{"outputFields": outputFields}
	return c.do(ctx, request{method: http.MethodPost, path: callbacksPath + "/" + url.PathEscape(callbackID) + "/complete", body: body}, nil)
}
