package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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

// ActionDefinitionsPath is where an app's custom workflow action definitions
// live, authenticated with the developer account's API key (?hapikey=), not
// a portal's token: definitions belong to the app, for every portal that
// installs it.
func ActionDefinitionsPath(appID int64) string {
	return "/automation/v4/actions/" + strconv.FormatInt(appID, 10)
}

// CreateActionDefinition creates a custom workflow action definition for the
// app appID (POST /automation/v4/actions/{appId}?hapikey=) and returns its
// ID. hc nil is a client with DefaultTimeout.
func CreateActionDefinition(ctx context.Context, hc *http.Client, baseURL string, appID int64, developerAPIKey string, definition json.RawMessage) (string, error) {
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	target := strings.TrimRight(baseURL, "/") + ActionDefinitionsPath(appID) + "?" + url.Values{"hapikey": {developerAPIKey}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(definition))
	if err != nil {
		return "", fmt.Errorf("hubspot: create action definition: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", DefaultUserAgent)
	resp, err := hc.Do(req)
	if err != nil {
		// The URL carries the key: never in an error.
		return "", fmt.Errorf("hubspot: create action definition: %w", errors.Unwrap(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return "", fmt.Errorf("hubspot: create action definition: reading the answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var body errorBody
		_ = json.Unmarshal(data, &body)
		return "", fmt.Errorf("hubspot: create action definition: %d %s", resp.StatusCode, body.Message)
	}
	var out struct {
		ID flexString `json:"id"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.ID == "" {
		return "", fmt.Errorf("hubspot: create action definition: the answer has no id: %s", snippet(data))
	}
	return string(out.ID), nil
}
