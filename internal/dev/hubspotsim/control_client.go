package hubspotsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// ControlClient calls the control API of a simulator running as its own
// process: what the Go helpers do in-process, over HTTP.
type ControlClient struct {
	// BaseURL is the simulator's address, e.g. http://127.0.0.1:8090.
	BaseURL string
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
}

// CreateObject creates a contact, company or deal as a person in HubSpot
// would, and returns its ID.
func (c *ControlClient) CreateObject(ctx context.Context, portalID int64, objectType string, props map[string]string) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	err := c.do(ctx, http.MethodPost, c.objectPath(portalID, objectType, ""), controlObjectInput{Properties: props}, &out)
	return out.ID, err
}

// UpdateObject changes properties of a record as a person in HubSpot would.
func (c *ControlClient) UpdateObject(ctx context.Context, portalID int64, objectType, id string, props map[string]string) (Object, error) {
	var o Object
	err := c.do(ctx, http.MethodPatch, c.objectPath(portalID, objectType, id), controlObjectInput{Properties: props}, &o)
	return o, err
}

// GetObject reads a record.
func (c *ControlClient) GetObject(ctx context.Context, portalID int64, objectType, id string) (Object, error) {
	var o Object
	err := c.do(ctx, http.MethodGet, c.objectPath(portalID, objectType, id), nil, &o)
	return o, err
}

// Deliveries returns the delivery log from entry offset on, and the log's
// length (the offset to ask next).
func (c *ControlClient) Deliveries(ctx context.Context, offset int) (DeliveryPage, error) {
	var page DeliveryPage
	err := c.do(ctx, http.MethodGet, "/webhooks/deliveries?offset="+strconv.Itoa(offset), nil, &page)
	return page, err
}

// WebhookStats returns the delivery counters.
func (c *ControlClient) WebhookStats(ctx context.Context) (WebhookStats, error) {
	var st WebhookStats
	err := c.do(ctx, http.MethodGet, "/webhooks/stats", nil, &st)
	return st, err
}

func (c *ControlClient) objectPath(portalID int64, objectType, id string) string {
	p := fmt.Sprintf("/portals/%d/objects/%s", portalID, url.PathEscape(objectType))
	if id != "" {
		p += "/" + url.PathEscape(id)
	}
	return p
}

// do sends one request; an answer other than 2xx is an *APIError with
// HubSpot's category and message.
func (c *ControlClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e apiError
		_ = json.Unmarshal(raw, &e)
		return &APIError{Status: resp.StatusCode, Category: e.Category, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}
