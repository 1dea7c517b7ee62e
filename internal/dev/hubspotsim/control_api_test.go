package hubspotsim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// The control API does over HTTP what the Go helpers do in-process: a
// person's changes make webhooks, and the delivery log shows each delivery
// with its answer.
func TestControlAPI(t *testing.T) {
	t.Parallel()
	e, rc := webhookEnv(t, WebhookOptions{}, func(n int, _ []WebhookEvent) (int, time.Duration) {
		if n == 0 {
			return http.StatusServiceUnavailable, 0
		}
		return http.StatusOK, 0
	}, "contact.creation", "contact.propertyChange lifecyclestage")
	srv := httptest.NewServer(e.sim.Handler())
	t.Cleanup(srv.Close)
	c := &ControlClient{BaseURL: srv.URL}
	ctx := context.Background()

	id, err := c.CreateObject(ctx, e.p.ID, "contacts", map[string]string{"email": "ann@example.com", "lifecyclestage": "lead"})
	if err != nil || id == "" {
		t.Fatalf("create: %q %v", id, err)
	}
	o, err := c.UpdateObject(ctx, e.p.ID, "contacts", id, map[string]string{"lifecyclestage": "customer"})
	if err != nil || o.Properties["lifecyclestage"] != "customer" || o.Properties["email"] != "ann@example.com" {
		t.Fatalf("update: %+v %v", o, err)
	}
	if o, err := c.GetObject(ctx, e.p.ID, "contacts", id); err != nil || o.ID != id || o.Properties["lifecyclestage"] != "customer" {
		t.Fatalf("get: %+v %v", o, err)
	}
	changes := e.sim.Changes(e.p.ID)
	if last := changes[len(changes)-1]; last.ChangeSource != SourceCRMUI || last.PropertyValue != "customer" {
		t.Fatalf("the update is not a person's change: %+v", last)
	}

	e.waitIdle()
	rc.check()
	page, err := c.Deliveries(ctx, 0)
	if err != nil || page.Total < 2 || len(page.Deliveries) != page.Total {
		t.Fatalf("deliveries: %+v %v", page, err)
	}
	first := page.Deliveries[0]
	if first.OK || first.StatusCode != http.StatusServiceUnavailable || len(first.EventIDs) == 0 {
		t.Fatalf("first delivery: %+v", first)
	}
	delivered := 0
	for _, d := range page.Deliveries {
		if d.OK {
			delivered += len(d.EventIDs)
		}
	}
	if delivered != 3 { // the creation and two lifecyclestage values
		t.Fatalf("%d events delivered per the log, want 3: %+v", delivered, page.Deliveries)
	}
	if rest, err := c.Deliveries(ctx, page.Total); err != nil || len(rest.Deliveries) != 0 || rest.Total != page.Total {
		t.Fatalf("deliveries from the end: %+v %v", rest, err)
	}
	if st, err := c.WebhookStats(ctx); err != nil || st.Delivered != 3 || st.Pending != 0 {
		t.Fatalf("stats: %+v %v", st, err)
	}

	var apiErr *APIError
	if _, err := c.GetObject(ctx, 999, "contacts", id); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("unknown portal: %v", err)
	}
	if _, err := c.UpdateObject(ctx, e.p.ID, "contacts", id, map[string]string{"lifecyclestage": "astronaut"}); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("invalid value: %v", err)
	}
	if _, err := c.UpdateObject(ctx, e.p.ID, "contacts", "12345", map[string]string{"lifecyclestage": "lead"}); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("unknown record: %v", err)
	}
}

// Rotating a portal's private-app token over the control API: the old token
// is refused as an unknown one, the new one works.
func TestControlAPIRotatesThePrivateAppToken(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	p := s.CreatePortal("Acme")
	old := p.PrivateAppToken
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	details := func(tok string) int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/account-info/2026-03/details", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := details(old); code != http.StatusOK {
		t.Fatalf("the token before rotation: %d", code)
	}
	resp, err := http.Post(srv.URL+"/portals/"+strconv.FormatInt(p.ID, 10)+"/private-app-token/rotate", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Token == "" || out.Token == old {
		t.Fatalf("rotate: %d %+v %v", resp.StatusCode, out, err)
	}
	resp.Body.Close()
	if code := details(old); code != http.StatusUnauthorized {
		t.Fatalf("the rotated-out token: %d, want 401", code)
	}
	if code := details(out.Token); code != http.StatusOK {
		t.Fatalf("the new token: %d", code)
	}
	if resp, err := http.Post(srv.URL+"/portals/999/private-app-token/rotate", "application/json", nil); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("rotate an unknown portal: %v %v", resp, err)
	}
}
